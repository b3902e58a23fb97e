/**
 * Losses (`ol.loss`): cross-entropy, the SLL recipe's offset/temperature cross-entropy and the CPL
 * recipe's multi-class hinge (SPEC.md §C). Each takes logits [N, C] (float32 or float64) and labels
 * (an int32 tensor [N] or an array of N integers in [0, C)), returns the mean over the batch as a 0-d
 * tensor, and is a composite of differentiable ops, so its gradient comes from the tape. Log-sum-exp
 * subtracts the row maximum (a constant), so logits of ±1e4 give finite losses and gradients.
 */
import { check } from '../errors';
import { max } from '../ops/reduce';
import { add, exp, log, mul, relu, scale, sub } from '../ops/elementwise';
import { mean, sum } from '../ops/reduce';
import { describe, requireTensor } from '../ops/run';
import { noGrad } from '../autograd/tape';
import { tensor } from '../ops/creation';
import { Tensor } from '../tensor';

/** Labels as an int32 tensor [N] or an array of N integers. */
export type Labels = Tensor | ArrayLike<number>;

/** Validates logits and labels; returns the labels on the host. */
function prepare(op: string, logits: Tensor, labels: Labels): { n: number; c: number; y: Int32Array } {
  requireTensor(logits, op, 'logits');
  check(logits.dtype !== 'int32', 'ERR_DTYPE', `${op}: 'logits' must be float32 or float64, got int32`);
  check(logits.ndim === 2, 'ERR_SHAPE', () => `${op}: 'logits' must have shape [N, C], got [${logits.shape}]`);
  const [n, c] = logits.shape;
  check(c >= 1, 'ERR_SHAPE', `${op}: 'logits' needs at least one class`);
  let y: Int32Array;
  if (labels instanceof Tensor) {
    requireTensor(labels, op, 'labels');
    check(labels.dtype === 'int32', 'ERR_DTYPE', () => `${op}: 'labels' must be an int32 tensor, got ${labels.dtype}`);
    check(labels.ndim === 1 && labels.shape[0] === n, 'ERR_SHAPE', () => `${op}: 'labels' must have shape [${n}] (one per row of logits), got [${labels.shape}]`);
    y = labels.data() as Int32Array;
  } else {
    check(labels !== null && typeof labels === 'object' && typeof (labels as ArrayLike<number>).length === 'number', 'ERR_ARGUMENT',
      () => `${op}: 'labels' must be an int32 tensor or an array of integers, got ${describe(labels)}`);
    check(labels.length === n, 'ERR_SHAPE', () => `${op}: 'labels' has ${labels.length} entries; logits have ${n} rows`);
    y = Int32Array.from(labels as ArrayLike<number>);
    for (let i = 0; i < n; i++) {
      check(Number.isInteger((labels as ArrayLike<number>)[i]), 'ERR_ARGUMENT', () => `${op}: labels[${i}] = ${(labels as ArrayLike<number>)[i]} is not an integer`);
    }
  }
  for (let i = 0; i < n; i++) check(y[i] >= 0 && y[i] < c, 'ERR_ARGUMENT', () => `${op}: labels[${i}] = ${y[i]} is outside [0, ${c})`);
  check(n >= 1, 'ERR_SHAPE', `${op}: the batch is empty (logits [0, ${c}]); the mean over it is undefined`);
  return { n, c, y };
}

/** value at (i, y_i), `other` elsewhere: a constant [N, C] tensor like `logits`. */
function labelMatrix(logits: Tensor, y: Int32Array, c: number, value: number, other = 0): Tensor {
  const data = new Float64Array(y.length * c).fill(other);
  for (let i = 0; i < y.length; i++) data[i * c + y[i]] = value;
  return tensor(data, { shape: [y.length, c], dtype: logits.dtype, device: logits.device });
}

/** mean_i (logsumexp(z_i) − z_i[y_i]), with the row max subtracted first. */
function xent(z: Tensor, onehot: Tensor): Tensor {
  const m = noGrad(() => max(z, 1, { keepDims: true }));  // a constant shift: the gradient is unchanged
  const shifted = sub(z, m);
  const lse = log(sum(exp(shifted), 1, { keepDims: true }));
  const picked = sum(mul(shifted, onehot), 1, { keepDims: true });
  return mean(sub(lse, picked));
}

/**
 * Cross-entropy of softmax(logits) against the labels, averaged over the batch:
 * mean_i (log Σ_j exp(f_ij) − f_i,y_i). logits [N, C]; returns a 0-d tensor. Cost O(N·C).
 */
export function crossEntropy(logits: Tensor, labels: Labels): Tensor {
  const { c, y } = prepare('crossEntropy', logits, labels);
  return xent(logits, labelMatrix(logits, y, c, 1));
}

export interface OffsetCrossEntropyOptions {
  /** o: subtracted from the true class's logit before the softmax. Default 1.5·√2 ≈ 2.121 (SLL). */
  offset?: number;
  /** τ > 0: logits are divided by τ and the loss multiplied by τ. Default 0.25 (SLL). */
  temperature?: number;
}

/**
 * The SLL recipe's loss (SPEC.md §C): τ·CE((f − o·e_y)/τ), averaged over the batch. Pushing the true
 * logit to win by a margin o makes the certified radius grow. logits [N, C]; returns a 0-d tensor.
 */
export function offsetCrossEntropy(logits: Tensor, labels: Labels, options: OffsetCrossEntropyOptions = {}): Tensor {
  const op = 'offsetCrossEntropy';
  check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', `${op}: options must be an object { offset?, temperature? }`);
  const o = options.offset ?? 1.5 * Math.SQRT2;
  const t = options.temperature ?? 0.25;
  check(typeof o === 'number' && Number.isFinite(o), 'ERR_ARGUMENT', () => `${op}: 'offset' must be a finite number, got ${describe(o)}`);
  check(typeof t === 'number' && Number.isFinite(t) && t > 0, 'ERR_ARGUMENT', () => `${op}: 'temperature' must be a finite number > 0, got ${describe(t)}`);
  const { c, y } = prepare(op, logits, labels);
  const shifted = scale(add(logits, labelMatrix(logits, y, c, -o)), 1 / t);
  return scale(xent(shifted, labelMatrix(logits, y, c, 1)), t);
}

export interface HingeOptions {
  /** m ≥ 0: the margin the true logit must win by. Default 0.7 (CPL). */
  margin?: number;
}

/**
 * The CPL recipe's multi-class hinge (SPEC.md §C, PyTorch's MultiMarginLoss):
 * mean_i (1/C) Σ_{j≠y_i} max(0, m − (f_i,y_i − f_ij)). logits [N, C]; returns a 0-d tensor.
 */
export function hinge(logits: Tensor, labels: Labels, options: HingeOptions = {}): Tensor {
  const op = 'hinge';
  check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', `${op}: options must be an object { margin? }`);
  const m = options.margin ?? 0.7;
  check(typeof m === 'number' && Number.isFinite(m) && m >= 0, 'ERR_ARGUMENT', () => `${op}: 'margin' must be a finite number >= 0, got ${describe(m)}`);
  const { n, c, y } = prepare(op, logits, labels);
  const fy = sum(mul(logits, labelMatrix(logits, y, c, 1)), 1, { keepDims: true });
  const terms = relu(add(sub(logits, fy), m));
  return scale(sum(mul(terms, labelMatrix(logits, y, c, 0, 1))), 1 / (n * c));
}
