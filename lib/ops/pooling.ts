/**
 * Pooling-like ops of 1-Lipschitz networks: average pooling with a divisor override (CPL/SLL's
 * `AvgPool2d(4, divisor_override=4)`) and MaxMin (GroupSort of size 2), each with its gradient op.
 * float32 and float64.
 */
import { check } from '../errors';
import { defineGradient } from '../autograd/table';
import { Tensor } from '../tensor';
import { describe, requireTensor, run1 } from './run';

export interface AvgPool2dOptions {
  /** Window size: one integer for both dims or [height, width]. Required. */
  kernelSize: number | [number, number];
  /** Step between windows, one integer or [height, width]. Default: kernelSize (non-overlapping). */
  stride?: number | [number, number];
  /**
   * Each window sum is divided by this instead of kh·kw (PyTorch's `divisor_override`); a finite
   * number > 0. With divisor = kernelSize (e.g. 4 for a 4×4 window) the pooling is exactly 1-Lipschitz.
   */
  divisor?: number;
}

const POOL_OPTIONS = ['kernelSize', 'stride', 'divisor'] as const;

function poolAttrs(o: unknown, op: string): Record<string, unknown> {
  check(typeof o === 'object' && o !== null && !Array.isArray(o), 'ERR_ARGUMENT',
    () => `${op}: options must be an object { kernelSize, stride?, divisor? }, got ${describe(o)}`);
  const attrs: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(o as Record<string, unknown>)) {
    check((POOL_OPTIONS as readonly string[]).includes(key), 'ERR_ARGUMENT',
      () => `${op}: unknown option '${key}' (supported: ${POOL_OPTIONS.join(', ')})`);
    if (v !== undefined) attrs[key] = v;
  }
  check(attrs.kernelSize !== undefined, 'ERR_ARGUMENT', () => `${op}: option 'kernelSize' is required`);
  return attrs;
}

/**
 * Average pooling without padding: x [N, C, H, W] → [N, C, (H − kh)/sh + 1, (W − kw)/sw + 1]
 * (rounded down), each output the sum of its kh×kw window divided by `divisor` (default kh·kw).
 * Cost: one read per window element. Gradient: `avgPool2dBackward`.
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const attrs = poolAttrs(options, 'avg_pool2d');
  return run1('avg_pool2d', [requireTensor(x, 'avg_pool2d', 'x')], attrs);
}

/**
 * Gradient of `avgPool2d` (also its adjoint, the op being linear): gradOut [N, C, Ho, Wo] →
 * [N, C, H, W] = `inputShape`, each input element receiving the sum of gradOut over the windows that
 * cover it, divided by the divisor. Elements no window covers get 0.
 */
export function avgPool2dBackward(gradOut: Tensor, inputShape: number[], options: AvgPool2dOptions): Tensor {
  const attrs = poolAttrs(options, 'avg_pool2d_backward');
  return run1('avg_pool2d_backward', [requireTensor(gradOut, 'avg_pool2d_backward', 'gradOut')], { ...attrs, inputShape });
}

/**
 * MaxMin / GroupSort-2 (SPEC.md B.1): x [N, C] or [N, C, ...] with C even; channels c and c + C/2 form
 * a pair (a, b), and the output holds max(a, b) at channel c and min(a, b) at c + C/2. A pair is
 * swapped only when b > a, so ties and NaN keep their order and the output is always a permutation of
 * the pair: 1-Lipschitz and gradient-norm preserving. Gradient: `maxMinBackward`.
 */
export function maxMin(x: Tensor): Tensor {
  return run1('max_min', [requireTensor(x, 'max_min', 'x')]);
}

/**
 * Gradient of `maxMin` at x: each pair's gradient follows the forward's permutation (a pair that was
 * not swapped, including ties, passes gradOut through; a swapped pair swaps it back).
 * x and gradOut have the same shape and dtype.
 */
export function maxMinBackward(x: Tensor, gradOut: Tensor): Tensor {
  return run1('max_min_backward', [requireTensor(x, 'max_min_backward', 'x'), requireTensor(gradOut, 'max_min_backward', 'gradOut')]);
}

// ---- gradients ----
const poolOptions = (attrs: Readonly<Record<string, unknown>>): AvgPool2dOptions => ({
  kernelSize: attrs.kernelSize as AvgPool2dOptions['kernelSize'],
  stride: attrs.stride as AvgPool2dOptions['stride'],
  divisor: attrs.divisor as number | undefined,
});
defineGradient('avg_pool2d', { grad: ([g], { inputs: [x], attrs }) => [avgPool2dBackward(g, x.shape, poolOptions(attrs))] });
// avg_pool2d_backward is linear in gradOut and is avg_pool2d's adjoint, so its own adjoint is avg_pool2d.
defineGradient('avg_pool2d_backward', { grad: ([g], { attrs }) => [avgPool2d(g, poolOptions(attrs))] });
defineGradient('max_min', { grad: ([g], { inputs: [x] }) => [maxMinBackward(x, g)] });
// For fixed x, max_min_backward applies the pair swaps of x to gradOut: an involution, hence its own
// adjoint. It is piecewise constant in x (no gradient for x).
defineGradient('max_min_backward', { grad: ([g], { inputs: [x] }) => [null, maxMinBackward(x, g)] });
