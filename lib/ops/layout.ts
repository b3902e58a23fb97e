/** Data movement: reshape (a view), permute, transpose, slice, concat. */
import { check } from '../errors';
import { zerosLike } from '../autograd/grad_util';
import { defineGradient } from '../autograd/table';
import { Device, Tensor } from '../tensor';
import { requireTensor, run1 } from './run';

/** A view of x with another shape (one entry may be -1). */
export function reshape(x: Tensor, shape: number[]): Tensor {
  return requireTensor(x, 'reshape', 'x').reshape(shape);
}

/** Reorders dimensions: output dim i is input dim perm[i]. Copies. */
export function permute(x: Tensor, perm: number[]): Tensor {
  return run1('permute', [requireTensor(x, 'permute', 'x')], { perm });
}

/** Swaps two dimensions (default: the last two). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const t = requireTensor(x, 'transpose', 'x');
  const n = t.ndim;
  const a = dim0 < 0 ? dim0 + n : dim0;
  const b = dim1 < 0 ? dim1 + n : dim1;
  check(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && a < n && b >= 0 && b < n, 'ERR_ARGUMENT',
    () => `transpose: dims ${dim0}, ${dim1} are out of range for a ${n}-d tensor`);
  const perm = [...Array(n).keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(t, perm);
}

/** x[begin[0]:end[0], begin[1]:end[1], ...]; `end` defaults to the shape; negatives count from the end. */
export function slice(x: Tensor, begin: number[], end?: number[]): Tensor {
  const t = requireTensor(x, 'slice', 'x');
  return run1('slice', [t], { begin, end: end ?? t.shape });
}

/** Joins tensors of equal shape (except along `axis`) and dtype along `axis`. */
export function concat(tensors: Tensor[], axis = 0): Tensor {
  check(Array.isArray(tensors) && tensors.length > 0, 'ERR_ARGUMENT', 'concat: expected a non-empty array of tensors');
  const ts = tensors.map((t, i) => requireTensor(t, 'concat', `tensors[${i}]`));
  return run1('concat', ts, { axis });
}

// ---- gradients ----
defineGradient('reshape', { grad: ([g], { attrs }) => [g.reshape(attrs.shape as number[])] });
defineGradient('to', { grad: ([g], { attrs }) => [g.to(attrs.device as Device)] });
defineGradient('permute', {
  grad: ([g], { inputs: [x], attrs }) => {
    const n = x.ndim;
    const inv = new Array<number>(n);
    (attrs.perm as number[]).forEach((p, i) => (inv[p < 0 ? p + n : p] = i));
    return [permute(g, inv)];
  },
});
// The slice's gradient is g padded with zeros back to the input's shape, one dim at a time.
defineGradient('slice', {
  grad: ([g], { inputs: [x], attrs }) => {
    const shape = x.shape;
    const norm = (v: number, d: number) => (v < 0 ? v + shape[d] : v);
    const begin = (attrs.begin as number[]).map(norm);
    const end = (attrs.end as number[]).map(norm);
    let cur = g;
    for (let d = 0; d < shape.length; d++) {
      if (begin[d] === 0 && end[d] === shape[d]) continue;
      const parts: Tensor[] = [];
      const cs = cur.shape;
      if (begin[d] > 0) parts.push(zerosLike(cur, cs.map((v, i) => (i === d ? begin[d] : v))));
      if (cs[d] > 0) parts.push(cur);
      if (end[d] < shape[d]) parts.push(zerosLike(cur, cs.map((v, i) => (i === d ? shape[d] - end[d] : v))));
      cur = concat(parts, d);
    }
    return [cur];
  },
});
defineGradient('concat', {
  grad: ([g], { inputs, attrs, needsGrad }) => {
    const n = inputs[0].ndim;
    const axis = (attrs.axis as number) < 0 ? (attrs.axis as number) + n : (attrs.axis as number);
    let offset = 0;
    return inputs.map((t, i) => {
      const len = t.shape[axis];
      const begin = g.shape.map((_, d) => (d === axis ? offset : 0));
      const end = g.shape.map((v, d) => (d === axis ? offset + len : v));
      offset += len;
      return needsGrad[i] ? slice(g, begin, end) : null;
    });
  },
});
