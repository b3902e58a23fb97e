/** Helpers shared by gradient entries: undoing broadcasting and reductions. They run with recording off. */
import type { Tensor } from '../tensor';
import { run1 } from '../ops/run';

/**
 * Sums `g` (the gradient of a broadcast result) down to `shape`, the shape of the input that was
 * broadcast: over the leading dims the input lacked and over the dims where it had size 1. Returns `g`
 * itself when nothing was broadcast.
 */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  const gs = g.shape;
  if (gs.length === shape.length && gs.every((d, i) => d === shape[i])) return g;
  const lead = gs.length - shape.length;
  const axes: number[] = [];
  for (let d = 0; d < gs.length; d++) if (d < lead || (shape[d - lead] === 1 && gs[d] !== 1)) axes.push(d);
  const s = axes.length > 0 ? run1('sum', [g], { axes, keepDims: false }) : g;
  return s.reshape([...shape]);
}

/** `g` broadcast (numpy rules) to `shape`, as a new tensor. */
export function broadcastTo(g: Tensor, shape: readonly number[]): Tensor {
  const zeros = run1('fill', [], { shape: [...shape], dtype: g.dtype, value: 0 }, g.device);
  return run1('add', [zeros, g]);
}

/** Normalised axes (sorted, non-negative) of a reduction's `axes` attribute (undefined: all dims). */
export function reductionAxes(ndim: number, axes: unknown): number[] {
  const list = axes === undefined || axes === null ? [...Array(ndim).keys()] : typeof axes === 'number' ? [axes] : (axes as number[]);
  return [...new Set(list.map((a) => (a < 0 ? a + ndim : a)))].sort((a, b) => a - b);
}

/** The shape of a reduction's result with keepDims (reduced dims kept as 1). */
export function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Zeros of `shape` with `like`'s dtype and device. */
export function zerosLike(like: Tensor, shape: readonly number[] = like.shape): Tensor {
  return run1('fill', [], { shape: [...shape], dtype: like.dtype, value: 0 }, like.device);
}
