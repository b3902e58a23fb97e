/** Reductions over axes. `axes` defaults to all; negative axes count from the end. */
import { Tensor } from '../tensor';
import { broadcastTo, keptShape, reductionAxes } from '../autograd/grad_util';
import { defineGradient } from '../autograd/table';
import { div, eq, mul, scale } from './elementwise';
import { requireTensor, run1 } from './run';

export interface ReduceOptions {
  keepDims?: boolean;
}

function reduce(op: string, x: Tensor, axes?: number | number[], options?: ReduceOptions): Tensor {
  const ax = axes === undefined ? undefined : typeof axes === 'number' ? [axes] : axes;
  return run1(op, [requireTensor(x, op, 'x')], { axes: ax, keepDims: options?.keepDims ?? false });
}

/** Sum over `axes` (int32 sums wrap modulo 2³²). */
export const sum = (x: Tensor, axes?: number | number[], options?: ReduceOptions): Tensor => reduce('sum', x, axes, options);
/** Mean over `axes` (float dtypes). */
export const mean = (x: Tensor, axes?: number | number[], options?: ReduceOptions): Tensor => reduce('mean', x, axes, options);
/** Maximum over `axes` (NaN propagates). */
export const max = (x: Tensor, axes?: number | number[], options?: ReduceOptions): Tensor => reduce('max', x, axes, options);

// ---- gradients ----
function geometry(x: Tensor, attrs: Readonly<Record<string, unknown>>): { axes: number[]; kept: number[]; count: number } {
  const axes = reductionAxes(x.ndim, attrs.axes);
  return { axes, kept: keptShape(x.shape, axes), count: axes.reduce((n, a) => n * x.shape[a], 1) };
}

defineGradient('sum', {
  grad: ([g], { inputs: [x], attrs }) => [broadcastTo(g.reshape(geometry(x, attrs).kept), x.shape)],
});
defineGradient('mean', {
  grad: ([g], { inputs: [x], attrs }) => {
    const { kept, count } = geometry(x, attrs);
    return [scale(broadcastTo(g.reshape(kept), x.shape), 1 / count)];
  },
});
// The gradient goes to the maxima; ties share it equally (the mean of the subgradients).
defineGradient('max', {
  saveOutputs: true,
  grad: ([g], { inputs: [x], outputs: [y], attrs }) => {
    const { axes, kept } = geometry(x, attrs);
    const mask = eq(x, y.reshape(kept));
    const ties = sum(mask, axes, { keepDims: true });
    return [mul(mask, div(g.reshape(kept), ties))];
  },
});
