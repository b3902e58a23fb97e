/**
 * The convolution family (NCHW; weights [out, in, kh, kw] as in PyTorch; float32 and float64), with
 * the gradient-table entries of `conv2d` and `conv_transpose2d`.
 *
 * Common options: `stride` 1 or 2 (one integer or [sh, sw]; default 1) and `padding` ≥ 0 (one integer
 * or [ph, pw]; default ⌊kh/2⌋, ⌊kw/2⌋, i.e. "same" for odd kernels at stride 1). Kernel sizes 1..7.
 * Cost of each op: 2·N·O·C·kh·kw·Ho·Wo flops (a GEMM per image on the CPU, an implicit GEMM on CUDA).
 */
import { defineGradient, GradContext } from '../autograd/table';
import { check } from '../errors';
import { Tensor } from '../tensor';
import { sum } from './reduce';
import { describe, requireTensor, run1 } from './run';

/** A size given for both spatial dims at once, or as [height, width]. */
export type ConvPair = number | [number, number];

export interface Conv2dOptions {
  /** 1 or 2 (or [sh, sw]). Default 1. */
  stride?: ConvPair;
  /** Zero padding on each side, ≥ 0 (or [ph, pw]). Default ⌊k/2⌋ per dim. */
  padding?: ConvPair;
  /** Optional bias [O], added to every output pixel of its channel. */
  bias?: Tensor;
}

export interface ConvTranspose2dOptions {
  /** 1 or 2 (or [sh, sw]). Default 1. */
  stride?: ConvPair;
  /** The padding of the conv2d this op is the adjoint of (or [ph, pw]). Default ⌊k/2⌋ per dim. */
  padding?: ConvPair;
  /** Extra rows/columns at the bottom/right of the output, 0 ≤ outputPadding < stride. Default 0. */
  outputPadding?: ConvPair;
  /** Optional bias [Cout]. */
  bias?: Tensor;
}

/** stride/padding as given to conv2d (shared by the backward ops). */
export interface ConvGeometryOptions {
  stride?: ConvPair;
  padding?: ConvPair;
}

/** Checks the options object and returns the attrs to pass (keys that are set, bias removed). */
function convAttrs(o: unknown, op: string, allowed: readonly string[]): { attrs: Record<string, unknown>; bias?: Tensor } {
  if (o === undefined) return { attrs: {} };
  check(typeof o === 'object' && o !== null && !Array.isArray(o) && !(o instanceof Tensor), 'ERR_ARGUMENT',
    () => `${op}: options must be an object { ${allowed.join('?, ')}? }, got ${describe(o)}`);
  const attrs: Record<string, unknown> = {};
  let bias: Tensor | undefined;
  for (const [key, v] of Object.entries(o as Record<string, unknown>)) {
    check(allowed.includes(key), 'ERR_ARGUMENT', () => `${op}: unknown option '${key}' (supported: ${allowed.join(', ')})`);
    if (v === undefined) continue;
    if (key === 'bias') bias = requireTensor(v, op, 'bias');
    else attrs[key] = v;
  }
  return { attrs, bias };
}

const CONV_OPTIONS = ['stride', 'padding', 'bias'] as const;
const TRANSPOSE_OPTIONS = ['stride', 'padding', 'outputPadding', 'bias'] as const;
const GEOMETRY_OPTIONS = ['stride', 'padding'] as const;

/**
 * 2-d cross-correlation (PyTorch's conv2d): x [N, C, H, W] ⊛ w [O, C, kh, kw] (+ bias [O]) →
 * [N, O, Ho, Wo] with Ho = ⌊(H + 2ph − kh)/sh⌋ + 1 (Wo likewise). The bias may be given as the third
 * argument or as `options.bias`. Differentiable in x, w and bias.
 */
export function conv2d(x: Tensor, w: Tensor, options?: Conv2dOptions): Tensor;
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null | undefined, options?: Conv2dOptions): Tensor;
export function conv2d(x: Tensor, w: Tensor, a?: Tensor | Conv2dOptions | null, b?: Conv2dOptions): Tensor {
  const op = 'conv2d';
  const positional = a instanceof Tensor || a === null || (a === undefined && b !== undefined);
  const { attrs, bias: optBias } = convAttrs(positional ? b : a, op, CONV_OPTIONS);
  const bias = positional ? (a == null ? optBias : requireTensor(a, op, 'bias')) : optBias;
  check(!(positional && a != null && optBias), 'ERR_ARGUMENT', `${op}: bias given twice (argument and options.bias)`);
  const inputs = [requireTensor(x, op, 'x'), requireTensor(w, op, 'w')];
  if (bias) inputs.push(bias);
  return run1(op, inputs, attrs);
}

/**
 * Transposed convolution (PyTorch's conv_transpose2d): x [N, Cin, H, W], w [Cin, Cout, kh, kw] (+ bias
 * [Cout]) → [N, Cout, (H − 1)·sh − 2ph + kh + oph, (W − 1)·sw − 2pw + kw + opw]: the adjoint of
 * `conv2d` with weight w (plus the bias). Differentiable in x, w and bias.
 */
export function convTranspose2d(x: Tensor, w: Tensor, options?: ConvTranspose2dOptions): Tensor;
export function convTranspose2d(x: Tensor, w: Tensor, bias: Tensor | null | undefined, options?: ConvTranspose2dOptions): Tensor;
export function convTranspose2d(x: Tensor, w: Tensor, a?: Tensor | ConvTranspose2dOptions | null, b?: ConvTranspose2dOptions): Tensor {
  const op = 'conv_transpose2d';
  const positional = a instanceof Tensor || a === null || (a === undefined && b !== undefined);
  const { attrs, bias: optBias } = convAttrs(positional ? b : a, op, TRANSPOSE_OPTIONS);
  const bias = positional ? (a == null ? optBias : requireTensor(a, op, 'bias')) : optBias;
  check(!(positional && a != null && optBias), 'ERR_ARGUMENT', `${op}: bias given twice (argument and options.bias)`);
  const inputs = [requireTensor(x, op, 'x'), requireTensor(w, op, 'w')];
  if (bias) inputs.push(bias);
  return run1(op, inputs, attrs);
}

/**
 * The gradient of `conv2d` in x (its adjoint in x): gradOut [N, O, Ho, Wo], w [O, C, kh, kw] →
 * [N, C, H, W] = `inputShape`. With stride 2, input rows/columns no window reaches get 0.
 */
export function conv2dBackwardInput(gradOut: Tensor, w: Tensor, inputShape: number[], options: ConvGeometryOptions = {}): Tensor {
  const op = 'conv2d_backward_input';
  const { attrs } = convAttrs(options, op, GEOMETRY_OPTIONS);
  return run1(op, [requireTensor(gradOut, op, 'gradOut'), requireTensor(w, op, 'w')], { ...attrs, inputShape });
}

/**
 * The gradient of `conv2d` in w: x [N, C, H, W], gradOut [N, O, Ho, Wo] → [O, C, kh, kw] =
 * Σ over images and output pixels of gradOut · (the input window). `kernelSize`: k or [kh, kw].
 */
export function conv2dBackwardWeight(x: Tensor, gradOut: Tensor, kernelSize: ConvPair, options: ConvGeometryOptions = {}): Tensor {
  const op = 'conv2d_backward_weight';
  const { attrs } = convAttrs(options, op, GEOMETRY_OPTIONS);
  return run1(op, [requireTensor(x, op, 'x'), requireTensor(gradOut, op, 'gradOut')], { ...attrs, kernelSize });
}

/** stride/padding of a recorded call (the backward ops take the same defaults as the forward). */
function geometryOf(ctx: GradContext): ConvGeometryOptions {
  const g: ConvGeometryOptions = {};
  if (ctx.attrs.stride !== undefined) g.stride = ctx.attrs.stride as ConvPair;
  if (ctx.attrs.padding !== undefined) g.padding = ctx.attrs.padding as ConvPair;
  return g;
}

/** Σ of gradOut over N, H, W: the gradient of a per-channel bias. */
const biasGrad = (g: Tensor): Tensor => sum(g, [0, 2, 3]);

// y = conv2d(x, w) + b: dx = conv2dᵀ_x(g), dw = conv2d_backward_weight(x, g), db = Σ_{n,h,w} g.
defineGradient('conv2d', {
  grad([g], ctx) {
    const [x, w] = ctx.inputs;
    const geo = geometryOf(ctx);
    return [
      ctx.needsGrad[0] ? conv2dBackwardInput(g, w, x.shape, geo) : null,
      ctx.needsGrad[1] ? conv2dBackwardWeight(x, g, [w.shape[2], w.shape[3]], geo) : null,
      ...(ctx.inputs.length > 2 ? [ctx.needsGrad[2] ? biasGrad(g) : null] : []),
    ];
  },
});

// y = conv2dᵀ_w(x) + b (the adjoint of conv2d with weight w): dx = conv2d(g, w), and since
// ⟨conv2dᵀ_w(x), g⟩ = ⟨x, conv2d_w(g)⟩, dw = conv2d_backward_weight(g, x); db = Σ_{n,h,w} g.
defineGradient('conv_transpose2d', {
  grad([g], ctx) {
    const [x, w] = ctx.inputs;
    const geo = geometryOf(ctx);
    return [
      ctx.needsGrad[0] ? conv2d(g, w, geo) : null,
      ctx.needsGrad[1] ? conv2dBackwardWeight(g, x, [w.shape[2], w.shape[3]], geo) : null,
      ...(ctx.inputs.length > 2 ? [ctx.needsGrad[2] ? biasGrad(g) : null] : []),
    ];
  },
});

// The two backward ops are linear in each input, so their gradients are convolutions again (double
// backward). conv2d_backward_input(gOut, w) = conv2dᵀ_w(gOut): its adjoint in gOut is conv2d(·, w), and
// ⟨conv2dᵀ_w(gOut), G⟩ = ⟨gOut, conv2d_w(G)⟩ gives dw = conv2d_backward_weight(G, gOut).
defineGradient('conv2d_backward_input', {
  grad([g], ctx) {
    const [gOut, w] = ctx.inputs;
    const geo = geometryOf(ctx);
    return [
      ctx.needsGrad[0] ? conv2d(g, w, geo) : null,
      ctx.needsGrad[1] ? conv2dBackwardWeight(g, gOut, [w.shape[2], w.shape[3]], geo) : null,
    ];
  },
});

// conv2d_backward_weight(x, gOut) = B with ⟨B, V⟩ = ⟨conv2d_V(x), gOut⟩ for every kernel V; for the
// upstream gradient G (a kernel): dx = conv2dᵀ_G(gOut), dgOut = conv2d_G(x).
defineGradient('conv2d_backward_weight', {
  grad([g], ctx) {
    const [x, gOut] = ctx.inputs;
    const geo = geometryOf(ctx);
    return [
      ctx.needsGrad[0] ? conv2dBackwardInput(gOut, g, x.shape, geo) : null,
      ctx.needsGrad[1] ? conv2d(x, g, geo) : null,
    ];
  },
});
