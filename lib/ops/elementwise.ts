/** Elementwise ops. Binary ops broadcast like numpy; a number operand becomes a 0-d tensor. */
import { Tensor } from '../tensor';
import { sumToShape } from '../autograd/grad_util';
import { defineGradient, defineNonDifferentiable, GradContext } from '../autograd/table';
import { adoptOrDispose } from '../autograd/tape';
import { asTensor, requireTensor, run1 } from './run';

function binary(op: string, a: Tensor | number, b: Tensor | number): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : requireTensor(a, op, 'a');
  const x = asTensor(a, like, op, 'a');
  const y = asTensor(b, like, op, 'b');
  const temps = [x, y].filter((v) => v.temp).map((v) => v.t);
  let out: Tensor;
  try {
    out = run1(op, [x.t, y.t]);
  } catch (e) {
    for (const t of temps) t.dispose();
    throw e;
  }
  adoptOrDispose(out, temps);  // the tape keeps a recorded call's 0-d operand until backward
  return out;
}

/** a + b (float32, float64, int32). */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary('add', a, b);
/** a − b (float32, float64, int32). */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary('sub', a, b);
/** a · b (float32, float64, int32). */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary('mul', a, b);
/** a / b (float32, float64). */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary('div', a, b);

const unary = (op: string) => (x: Tensor): Tensor => run1(op, [requireTensor(x, op, 'x')]);
/** −x */
export const neg = unary('neg');
/** |x| */
export const abs = unary('abs');
/** eˣ */
export const exp = unary('exp');
/** ln x */
export const log = unary('log');
/** √x */
export const sqrt = unary('sqrt');
/** max(x, 0) (NaN stays NaN) */
export const relu = unary('relu');

/** alpha · x + beta */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  return run1('scale', [requireTensor(x, 'scale', 'x')], { alpha, beta });
}

/** x limited to [min, max]; omit a bound with undefined. NaN stays NaN. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  return run1('clamp', [requireTensor(x, 'clamp', 'x')], { min, max });
}

/** log(1 + eˣ), computed as max(x, 0) + log1p(e^−|x|): finite and accurate for any finite x. Float. */
export const softplus = unary('softplus');
/** 1 / (1 + e^−x), stable for large |x| (saturates to exactly 0 or 1). Float. */
export const sigmoid = unary('sigmoid');
/** −1, 0 or 1 by the sign of x (±0 and NaN unchanged). Float. Not differentiable. */
export const sign = unary('sign');
/** 1 where a == b, else 0, in the inputs' float dtype (broadcasting; NaN equals nothing). Not differentiable. */
export const eq = (a: Tensor | number, b: Tensor | number): Tensor => binary('eq', a, b);

// ---- gradients (DESIGN.md §3) ----
const need = (ctx: GradContext, i: number): boolean => ctx.needsGrad[i];

defineGradient('add', {
  grad: ([g], { inputs: [a, b] }) => [sumToShape(g, a.shape), sumToShape(g, b.shape)],
});
defineGradient('sub', {
  grad: ([g], ctx) => [need(ctx, 0) ? sumToShape(g, ctx.inputs[0].shape) : null, need(ctx, 1) ? sumToShape(neg(g), ctx.inputs[1].shape) : null],
});
defineGradient('mul', {
  grad: ([g], ctx) => {
    const [a, b] = ctx.inputs;
    return [need(ctx, 0) ? sumToShape(mul(g, b), a.shape) : null, need(ctx, 1) ? sumToShape(mul(g, a), b.shape) : null];
  },
});
// d(a/b)/da = 1/b, d(a/b)/db = −a/b² = −(1/b)·y.
defineGradient('div', {
  saveOutputs: true,
  grad: ([g], ctx) => {
    const [a, b] = ctx.inputs;
    const ga = div(g, b);
    return [need(ctx, 0) ? sumToShape(ga, a.shape) : null, need(ctx, 1) ? sumToShape(neg(mul(ga, ctx.outputs[0])), b.shape) : null];
  },
});
defineGradient('neg', { grad: ([g]) => [neg(g)] });
defineGradient('abs', { grad: ([g], { inputs: [x] }) => [mul(g, sign(x))] });
defineGradient('exp', { saveOutputs: true, grad: ([g], { outputs: [y] }) => [mul(g, y)] });
defineGradient('log', { grad: ([g], { inputs: [x] }) => [div(g, x)] });
defineGradient('sqrt', { saveOutputs: true, grad: ([g], { outputs: [y] }) => [div(g, scale(y, 2))] });
// relu'(x) = 1 for x > 0, 0 for x ≤ 0 (PyTorch's choice at 0): relu(sign(x)).
defineGradient('relu', { grad: ([g], { inputs: [x] }) => [mul(g, relu(sign(x)))] });
defineGradient('softplus', { grad: ([g], { inputs: [x] }) => [mul(g, sigmoid(x))] });
defineGradient('sigmoid', { saveOutputs: true, grad: ([g], { outputs: [y] }) => [mul(g, mul(y, scale(y, -1, 1)))] });
defineGradient('scale', { grad: ([g], { attrs }) => [scale(g, attrs.alpha as number)] });
// Gradient 1 where the input was inside [min, max] (bounds included, as in PyTorch), 0 where clamped.
defineGradient('clamp', { saveOutputs: true, grad: ([g], { inputs: [x], outputs: [y] }) => [mul(g, eq(y, x))] });
// float ↔ float casts pass the gradient back in the input's dtype; int32 on either side has none.
defineGradient('cast', {
  grad: ([g], { inputs: [x] }) => [x.dtype === 'int32' || g.dtype === 'int32' ? null : g.dtype === x.dtype ? g : g.astype(x.dtype)],
});
defineNonDifferentiable('eq', 'a comparison: piecewise constant');
defineNonDifferentiable('sign', 'piecewise constant');
