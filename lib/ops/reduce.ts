/** Reductions over axes. `axes` defaults to all; negative axes count from the end. */
import { Tensor } from '../tensor';
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
