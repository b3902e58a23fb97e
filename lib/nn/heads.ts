/**
 * Last layers (SPEC.md A.6, B.4, D.2): `LinearNormalized` (the LLN head) and `MLPCurvatureHead` (the
 * NeurIPS'22 1-hidden-layer softplus MLP head certified through curvature bounds).
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { abs, add, div, mul, neg, relu, scale, sigmoid, softplus, sqrt, sub } from '../ops/elementwise';
import { tensor } from '../ops/creation';
import { matmul } from '../ops/matmul';
import { max, sum } from '../ops/reduce';
import { describe, requireTensor } from '../ops/run';
import { Tensor, tidy } from '../tensor';
import { Linear, nextSeed, ParamOptions, uniformInit } from './layers';
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

// ---------------- MLP curvature head (SPEC.md B.4 item 3) ----------------

/** Options of `MLPCurvatureHead`. */
export interface MLPCurvatureHeadOptions extends ParamOptions {
  /** Hidden width H (reference: 4096). */
  hidden: number;
  /** Number of classes C. */
  classes: number;
}

const sigm = (t: number): number => (t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t)));
const softplusH = (t: number): number => Math.max(t, 0) + Math.log1p(Math.exp(-Math.abs(t)));

/** Largest eigenvalue of a symmetric matrix A [n·n] (row-major) by cyclic Jacobi rotations (float64). */
export function symmetricMaxEigenvalue(A: Float64Array, n: number): number {
  const a = Float64Array.from(A);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, a[i * n + i]);
  // Jacobi's computed eigenvalues are within a few ulps·‖A‖ of the true ones: widen accordingly.
  let fro = 0;
  for (let i = 0; i < n * n; i++) fro += A[i] * A[i];
  return m + 1e-12 * Math.sqrt(fro);
}

/** Solves A x = b (A [n·n] row-major, overwritten copies) by Gaussian elimination with partial pivoting. */
function solveDense(A: Float64Array, b: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]) > Math.abs(a[p * n + c])) p = r;
    if (p !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[p * n + k]] = [a[p * n + k], a[c * n + k]];
      [x[c], x[p]] = [x[p], x[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c] / a[c * n + c];
      if (f === 0) continue;
      for (let k = c; k < n; k++) a[r * n + k] -= f * a[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= a[r * n + k] * x[k];
    x[r] = s / a[r * n + r];
  }
  return x;
}

/**
 * The NeurIPS'22 1-hidden-layer MLP head "CRC-Lip" (SPEC.md B.4): g(z) = W2·softplus(W1 z + b1) + b2,
 * z [N, F] → logits [N, C]. Submodules `linear1` (F → H) and `linear2` (H → C) with PyTorch Linear init;
 * buffers `_u` [F] and `_v` [H], the persistent top singular pair of W1 (50 power steps at construction,
 * one per training forward; `refreshSigma()` runs 50, e.g. at the end of every epoch).
 * Not Lipschitz-constrained: certify it with `certify` (the tight certificate, evaluation); during training
 * use `fastRadii` (the fast certificate, differentiable) and `curvatureRegularizer`. β = 1 (softplus'' ≤ 1/4).
 */
export class MLPCurvatureHead extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly u: Tensor;
  readonly v: Tensor;
  readonly features: number;
  readonly hidden: number;
  readonly classes: number;

  constructor(features: number, options: MLPCurvatureHeadOptions) {
    super();
    this.features = positiveInt(features, 'MLPCurvatureHead', 'features');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'MLPCurvatureHead: options must be an object { hidden, classes }');
    this.hidden = positiveInt(options.hidden, 'MLPCurvatureHead', 'hidden');
    this.classes = positiveInt(options.classes, 'MLPCurvatureHead', 'classes');
    check(this.classes >= 2, 'ERR_ARGUMENT', () => `MLPCurvatureHead: 'classes' must be ≥ 2, got ${this.classes}`);
    const seed = nextSeed(options.seed);
    const po = { dtype: options.dtype, device: options.device };
    this.linear1 = this.registerModule('linear1', new Linear(features, this.hidden, { ...po, seed }));
    this.linear2 = this.registerModule('linear2', new Linear(this.hidden, this.classes, { ...po, seed: seed + 1 }));
    this.u = this.registerBuffer('_u', uniformInit([features], 1, seed + 2, po));
    this.v = this.registerBuffer('_v', uniformInit([this.hidden], 1, seed + 3, po));
    this.refreshSigma(50);
  }

  /** `iters` power steps on W1 from the persistent (u, v); returns σ̂ = vᵀW1u. Not differentiable. */
  refreshSigma(iters = 50): number {
    return tidy(() => noGrad(() => {
      const W = this.linear1.weight;
      let u = this.u.reshape([this.features, 1]);
      let v = this.v.reshape([this.hidden, 1]);
      for (let i = 0; i < iters; i++) {
        v = matmul(W, u);
        v = div(v, sqrt(sum(mul(v, v))));
        u = matmul(W, v, { transA: true });
        u = div(u, sqrt(sum(mul(u, u))));
      }
      if (iters > 0) {
        this.u.assign(u.reshape([this.features]));
        this.v.assign(v.reshape([this.hidden]));
      }
      return matmul(matmul(v, W, { transA: true }), u).item();
    }));
  }

  forward(z: Tensor): Tensor {
    requireTensor(z, 'MLPCurvatureHead', 'z');
    check(z.ndim === 2 && z.shape[1] === this.features, 'ERR_SHAPE',
      () => `MLPCurvatureHead: 'z' must be [N, ${this.features}], got [${z.shape}]`);
    if (this.training) this.refreshSigma(1);
    return this.linear2.forward(softplus(this.linear1.forward(z)));
  }

  /**
   * The curvature regulariser of training (differentiable): (1/4)·σ̂(W1)²·max_{y≠j,k} |W2[y,k] − W2[j,k]|,
   * with σ̂ = vᵀW1u from the persistent pair — an upper bound of every margin's curvature. Cost O(C²·H).
   */
  curvatureRegularizer(): Tensor {
    const W1 = this.linear1.weight;
    const W2 = this.linear2.weight;
    const sigma = matmul(matmul(this.v.reshape([1, this.hidden]), W1), this.u.reshape([this.features, 1])).reshape([]);
    const diffs = abs(sub(W2.reshape([this.classes, 1, this.hidden]), W2.reshape([1, this.classes, this.hidden])));
    return scale(mul(mul(sigma, sigma), max(diffs)), 0.25);
  }

  /**
   * The training-time ("fast") certificate of SPEC.md B.4, differentiable: per sample, the minimum over
   * competitors j ≠ y of r_j = 2|g|/(√(‖∇g‖² + 2K|g|) + ‖∇g‖) (= (√(‖∇g‖² + 2K|g|) − ‖∇g‖)/K, stable at
   * K = 0), g = f_y − f_j at z, ∇g = W1ᵀ((w2_y − w2_j) ⊙ sigmoid(W1 z + b1)), K = ¼·σ̂²·max_k of the
   * negative (g > 0) or positive (g ≤ 0) part of w2_y − w2_j, σ̂ = vᵀW1u from the persistent pair. The
   * sign is that of g: negative radii mark misclassified samples. σ̂ estimates ‖W1‖ from below, so this is
   * a training signal, not a certificate; certify with `certify`. z [N, F] → [N]. Cost O(N·C·H·F).
   */
  fastRadii(z: Tensor, labels: Tensor | ArrayLike<number>): Tensor {
    requireTensor(z, 'MLPCurvatureHead.fastRadii', 'z');
    const [F, H, C] = [this.features, this.hidden, this.classes];
    check(z.ndim === 2 && z.shape[1] === F, 'ERR_SHAPE', () => `MLPCurvatureHead.fastRadii: 'z' must be [N, ${F}], got [${z.shape}]`);
    const N = z.shape[0];
    const ys = labelArray(labels, N, C, 'MLPCurvatureHead.fastRadii');
    const o = { dtype: z.dtype, device: z.device };
    const oh = new Float64Array(N * C);
    ys.forEach((y, n) => (oh[n * C + y] = 1));
    const Y = tensor(oh, { shape: [N, C], ...o });
    const W1 = this.linear1.weight;
    const W2 = this.linear2.weight;
    const a = this.linear1.forward(z);
    const f = this.linear2.forward(softplus(a));
    const g = sub(sum(mul(f, Y), 1, { keepDims: true }), f);  // [N, C]
    const delta = sub(matmul(Y, W2).reshape([N, 1, H]), W2.reshape([1, C, H]));  // [N, C, H]
    const grad = matmul(mul(delta, sigmoid(a).reshape([N, 1, H])).reshape([N * C, H]), W1);  // [N·C, F]
    // + Y: the label column's ∇g is 0, and √ has no gradient at 0 (the column is masked below)
    const gn = sqrt(add(sum(mul(grad, grad), 1).reshape([N, C]), Y));
    const mNeg = max(relu(neg(delta)), 2);
    const mPos = max(relu(delta), 2);
    const gHost = noGrad(() => g.data());
    const pos = tensor(Float64Array.from(gHost, (v) => (v > 0 ? 1 : 0)), { shape: [N, C], ...o });
    const sigma = matmul(matmul(this.v.reshape([1, H]), W1), this.u.reshape([F, 1])).reshape([]);
    const K = mul(scale(mul(sigma, sigma), 0.25), add(mul(pos, mNeg), mul(scale(pos, -1, 1), mPos)));
    const ag = abs(g);
    const r = div(scale(ag, 2), add(sqrt(add(mul(gn, gn), mul(scale(K, 2), ag))), gn));
    const signed = mul(r, scale(pos, 2, -1));  // negative where g ≤ 0
    // the label column: +∞ stand-in so that it never is the minimum
    const masked = add(mul(signed, scale(Y, -1, 1)), scale(Y, 1e30));
    return neg(max(neg(masked), 1));
  }

  /**
   * Tight certified radii in feature space (SPEC.md B.4 "tight" certificate), float64 on the host, for
   * z [N, F] and labels: for each competitor j ≠ y (ALL of them) the margin g = f_y − f_j has Hessian
   * W1ᵀ diag((w2_y − w2_j) ⊙ softplus''(·)) W1 with softplus'' ∈ [0, 1/4], so its smallest eigenvalue is
   * ≥ −m, m = ¼·λ_max(W1ᵀ diag(|Δw2⁻|) W1) (computed exactly by Jacobi, once per class pair). For
   * η ∈ [0, 1/m) the dual function d(η) = min_δ ½‖δ‖² + η·g(z+δ) is a strongly convex problem (modulus
   * μ = 1 − η·m), solved by Newton steps with exact solves; weak duality gives r² ≥ 2·(L(δ̂) − ‖∇L(δ̂)‖²/2μ)
   * for any iterate δ̂ (the correction makes the bound sound for inexact solves). η is chosen by bisection
   * on the sign of g(z + δ*(η)) (`outer` steps, default 12). r = min over j; 0 where the prediction is wrong.
   * Divide by the backbone's Lipschitz constant for input-space radii (D.3). Cost: C²·O(F³) for the
   * curvature bounds plus N·C·outer·O(F³ + F·H) — meant for small F.
   */
  certify(z: Tensor, labels: Tensor | ArrayLike<number>, options: { outer?: number; newton?: number } = {}): Float64Array {
    requireTensor(z, 'MLPCurvatureHead.certify', 'z');
    const [F, H, C] = [this.features, this.hidden, this.classes];
    check(z.ndim === 2 && z.shape[1] === F, 'ERR_SHAPE', () => `MLPCurvatureHead.certify: 'z' must be [N, ${F}], got [${z.shape}]`);
    const N = z.shape[0];
    const ys = labelArray(labels, N, C, 'MLPCurvatureHead.certify');
    const outer = options.outer ?? 12;
    const newton = options.newton ?? 8;
    const host = (t: Tensor): Float64Array => Float64Array.from(t.data());
    const W1 = host(this.linear1.weight);
    const b1 = host(this.linear1.bias!);
    const W2 = host(this.linear2.weight);
    const b2 = host(this.linear2.bias!);
    const Z = host(z);
    // m for every ordered class pair (y, j): ¼·λ_max(W1ᵀ diag(max(−Δ, 0)) W1), Δ = w2_y − w2_j.
    const mCache = new Map<number, number>();
    const curvatureOf = (y: number, j: number): number => {
      const key = y * C + j;
      const hit = mCache.get(key);
      if (hit !== undefined) return hit;
      const A = new Float64Array(F * F);
      for (let k = 0; k < H; k++) {
        const d = Math.max(-(W2[y * H + k] - W2[j * H + k]), 0);
        if (d === 0) continue;
        for (let a = 0; a < F; a++) for (let b = 0; b < F; b++) A[a * F + b] += d * W1[k * F + a] * W1[k * F + b];
      }
      const m = 0.25 * Math.max(symmetricMaxEigenvalue(A, F), 0);
      mCache.set(key, m);
      return m;
    };
    /** g, ∇g and ∇²g of the margin (y, j) at x. */
    const margin = (x: Float64Array, y: number, j: number): { g: number; grad: Float64Array; hess: Float64Array } => {
      const grad = new Float64Array(F);
      const hess = new Float64Array(F * F);
      let g = b2[y] - b2[j];
      for (let k = 0; k < H; k++) {
        let a = b1[k];
        for (let i = 0; i < F; i++) a += W1[k * F + i] * x[i];
        const d = W2[y * H + k] - W2[j * H + k];
        const s = sigm(a);
        g += d * softplusH(a);
        const c1 = d * s;
        const c2 = d * s * (1 - s);
        for (let i = 0; i < F; i++) {
          grad[i] += c1 * W1[k * F + i];
          if (c2 !== 0) for (let l = 0; l < F; l++) hess[i * F + l] += c2 * W1[k * F + i] * W1[k * F + l];
        }
      }
      return { g, grad, hess };
    };
    const out = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      const z0 = Z.subarray(n * F, (n + 1) * F);
      const y = ys[n];
      let best = Infinity;
      for (let j = 0; j < C && best > 0; j++) {
        if (j === y) continue;
        const g0 = margin(z0, y, j).g;
        if (!(g0 > 0)) {
          best = 0;
          break;
        }
        const m = Math.max(curvatureOf(y, j), 1e-12);
        let lo = 0;
        let hi = (1 - 1e-6) / m;
        let rBest = 0;
        let delta = new Float64Array(F);
        for (let it = 0; it < outer; it++) {
          const eta = it === 0 && hi > 1e6 ? 1 : 0.5 * (lo + hi);
          const mu = 1 - eta * m;
          // Newton on L(δ) = ½‖δ‖² + η·g(z0 + δ), warm-started from the previous δ.
          let gz = 0;
          let gradL = new Float64Array(F);
          for (let t = 0; t <= newton; t++) {
            const x = z0.map((v, i) => v + delta[i]);
            const r = margin(x, y, j);
            gz = r.g;
            gradL = delta.map((v, i) => v + eta * r.grad[i]);
            if (t === newton) break;
            const Hm = r.hess.map((v) => eta * v);
            for (let i = 0; i < F; i++) Hm[i * F + i] += 1;
            const step = solveDense(Hm, gradL, F);
            delta = delta.map((v, i) => v - step[i]);
          }
          let dd = 0;
          let gg = 0;
          for (let i = 0; i < F; i++) {
            dd += delta[i] * delta[i];
            gg += gradL[i] * gradL[i];
          }
          const dual = 0.5 * dd + eta * gz - gg / (2 * mu);
          if (Number.isFinite(dual) && dual > 0) rBest = Math.max(rBest, Math.sqrt(2 * dual));
          if (gz > 0) lo = eta;
          else hi = eta;
        }
        best = Math.min(best, rBest);
      }
      out[n] = best === Infinity ? 0 : best;
    }
    return out;
  }
}
