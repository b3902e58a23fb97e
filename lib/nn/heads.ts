/**
 * Last layers (SPEC.md A.6, B.4, D.2): `LinearNormalized` (the LLN head) and `MLPCurvatureHead` (the
 * NeurIPS'22 1-hidden-layer softplus MLP head certified through curvature bounds).
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { add, div, mul, sqrt } from '../ops/elementwise';
import { matmul } from '../ops/matmul';
import { sum } from '../ops/reduce';
import { describe, requireTensor } from '../ops/run';
import { Tensor, tidy } from '../tensor';
import { nextSeed, ParamOptions, uniformInit } from './layers';
import { Module } from './module';

function positiveInt(v: unknown, op: string, arg: string): number {
  check(Number.isInteger(v) && (v as number) >= 1, 'ERR_ARGUMENT', () => `${op}: '${arg}' must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/** Labels as integers in [0, classes), checked. */
export function labelArray(labels: Tensor | ArrayLike<number>, n: number, classes: number, op: string): number[] {
  const arr = labels instanceof Tensor ? Array.from(labels.data()) : Array.from(labels);
  check(arr.length === n, 'ERR_SHAPE', () => `${op}: expected ${n} labels, got ${arr.length}`);
  for (const y of arr)
    check(Number.isInteger(y) && y >= 0 && y < classes, 'ERR_ARGUMENT', () => `${op}: labels must be integers in [0, ${classes}), got ${y}`);
  return arr;
}

/**
 * The LLN head (SPEC.md A.6): f_j = ŵ_jᵀz + b_j with ŵ_j = w_j/‖w_j‖ (rows normalised to unit norm):
 * z [N, in] → [N, out]. Parameters `weight` [out, in] (unnormalised) and `bias` [out], PyTorch Linear
 * init (U(±1/√in)). Not 1-Lipschitz as a whole; certify with `certify` (D.2). Cost: 2·in·out per row.
 */
export class LinearNormalized extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: ParamOptions = {}) {
    super();
    positiveInt(inFeatures, 'LinearNormalized', 'inFeatures');
    positiveInt(outFeatures, 'LinearNormalized', 'outFeatures');
    const bound = 1 / Math.sqrt(inFeatures);
    const seed = nextSeed(options.seed);
    this.weight = this.registerParameter('weight', uniformInit([outFeatures, inFeatures], bound, seed, options));
    this.bias = this.registerParameter('bias', uniformInit([outFeatures], bound, seed + 0x9e3779b9, options));
  }
  /** Ŵ [out, in]: the weight with each row divided by its ℓ2 norm (differentiable). */
  normalizedWeight(): Tensor {
    return div(this.weight, sqrt(sum(mul(this.weight, this.weight), 1, { keepDims: true })));
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'LinearNormalized', 'x');
    check(x.ndim === 2 && x.shape[1] === this.inFeatures, 'ERR_SHAPE',
      () => `LinearNormalized: 'x' must be [N, ${this.inFeatures}], got [${x.shape}]`);
    return add(matmul(x, this.normalizedWeight(), { transB: true }), this.bias);
  }
  /**
   * Certified radii (SPEC.md D.2) from this head's logits [N, out] and labels: r = min over ALL j ≠ y of
   * (f_y − f_j)/(L·‖ŵ_y − ŵ_j‖), L the Lipschitz constant of the backbone (default 1); 0 where the
   * prediction is wrong. Float64 on the host; O(N·out + out²·in).
   */
  certify(logits: Tensor, labels: Tensor | ArrayLike<number>, options: { lipschitz?: number } = {}): Float64Array {
    requireTensor(logits, 'LinearNormalized.certify', 'logits');
    const C = this.outFeatures;
    check(logits.ndim === 2 && logits.shape[1] === C, 'ERR_SHAPE', () => `LinearNormalized.certify: 'logits' must be [N, ${C}], got [${logits.shape}]`);
    const L = options.lipschitz ?? 1;
    check(typeof L === 'number' && Number.isFinite(L) && L > 0, 'ERR_ARGUMENT', () => `LinearNormalized.certify: 'lipschitz' must be a finite number > 0, got ${describe(L)}`);
    const N = logits.shape[0];
    const ys = labelArray(labels, N, C, 'LinearNormalized.certify');
    const W = tidy(() => noGrad(() => this.normalizedWeight().astype('float64').data()));
    const F = this.inFeatures;
    const dist = new Float64Array(C * C);
    for (let i = 0; i < C; i++)
      for (let j = 0; j < C; j++) {
        let s = 0;
        for (let k = 0; k < F; k++) {
          const d = W[i * F + k] - W[j * F + k];
          s += d * d;
        }
        dist[i * C + j] = Math.sqrt(s);
      }
    const f = logits.data();
    const out = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      const y = ys[n];
      let r = Infinity;
      for (let j = 0; j < C; j++) {
        if (j === y) continue;
        const m = f[n * C + y] - f[n * C + j];
        r = Math.min(r, m <= 0 ? 0 : dist[y * C + j] > 0 ? m / (L * dist[y * C + j]) : Infinity);
      }
      out[n] = r === Infinity ? 0 : r;
    }
    return out;
  }
}
