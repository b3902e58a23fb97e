/**
 * Cayley orthogonal layers (Trockman & Kolter, ICLR'21; SPEC.md A.5, A.6): `CayleyConv2d` (a circular
 * convolution made orthogonal per frequency) and `CayleyLinear`. Both are composed from differentiable
 * ops (rfft2/irfft2, batched complex matmul/inverse, matmul), so their gradients come from the tape.
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { tensor, zeros } from '../ops/creation';
import { add, div, mul, scale, sqrt, sub } from '../ops/elementwise';
import { irfft2, rfft2 } from '../ops/fft';
import { concat, permute, slice } from '../ops/layout';
import { inverseComplex, matmulComplex } from '../ops/linalg_complex';
import { matmul } from '../ops/matmul';
import { sum } from '../ops/reduce';
import { describe, requireTensor } from '../ops/run';
import { pixelUnshuffle } from '../ops/shuffle';
import { DType, keep, Tensor, tidy, versionsOf } from '../tensor';
import { nextSeed, ParamOptions, uniformInit } from './layers';
import { Module } from './module';

function positiveInt(v: unknown, op: string, arg: string): number {
  check(Number.isInteger(v) && (v as number) >= 1, 'ERR_ARGUMENT', () => `${op}: '${arg}' must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/** Unit roundoff of a float dtype. */
const unitRoundoff = (d: DType): number => (d === 'float64' ? 2 ** -53 : 2 ** -24);

/** Matrix transpose of complex matrices [..., m, n, 2] → [..., n, m, 2] (no conjugation). */
function transposeComplex(W: Tensor): Tensor {
  const r = W.ndim;
  const perm = [...Array(r).keys()];
  perm[r - 3] = r - 2;
  perm[r - 2] = r - 3;
  return permute(W, perm);
}

/**
 * Aᴴ of complex matrices [..., m, n, 2], differentiable (ops.adjointComplex frees its intermediates,
 * which the gradient tape still needs).
 */
function conjugateTranspose(A: Tensor): Tensor {
  return mul(transposeComplex(A), tensor([1, -1], { dtype: A.dtype, device: A.device }));
}

/** Complex identity [n, n, 2]. */
function eyeComplex(n: number, dtype: DType, device: 'cpu' | 'cuda'): Tensor {
  const d = new Float64Array(n * n * 2);
  for (let i = 0; i < n; i++) d[(i * n + i) * 2] = 1;
  return tensor(d, { shape: [n, n, 2], dtype, device });
}

/**
 * The Cayley map of a batch of complex matrices W [B, m, n, 2] (SPEC.md A.5): for m ≥ n, with
 * W = [U; V] (U the first n rows), A = U − Uᴴ + VᴴV and Q = [(I+A)⁻¹(I−A); −2V(I+A)⁻¹], a matrix with
 * orthonormal columns; for m < n the map of the transpose, transposed back (orthonormal rows).
 * Cost per matrix: one n×n complex inverse and O(m·n²) complex products. Differentiable.
 */
export function cayleyComplex(W: Tensor): Tensor {
  const [B, m, n] = W.shape;
  if (m < n) return transposeComplex(cayleyComplex(transposeComplex(W)));
  const I = eyeComplex(n, W.dtype, W.device);
  if (m === n) {
    // square: no slicing. The inverse is kept (rather than a solve) because its gradient needs two
    // products and no second factorisation.
    const A = sub(W, conjugateTranspose(W));
    return matmulComplex(inverseComplex(add(I, A)), sub(I, A));
  }
  const U = slice(W, [0, 0, 0, 0], [B, n, n, 2]);
  const V = slice(W, [0, n, 0, 0], [B, m, n, 2]);
  const A = add(sub(U, conjugateTranspose(U)), matmulComplex(V, V, { adjA: true }));
  const inv = inverseComplex(add(I, A));
  return concat([matmulComplex(inv, sub(I, A)), scale(matmulComplex(V, inv), -2)], 1);
}

/** The real Cayley map of W [m, n] (through the complex one with zero imaginary parts) → Q [m, n]. */
export function cayleyReal(W: Tensor): Tensor {
  const [m, n] = W.shape;
  const z = zeros([m, n, 1], { dtype: W.dtype, device: W.device });
  const Wc = concat([W.reshape([m, n, 1]), z], 2).reshape([1, m, n, 2]);
  const Q = cayleyComplex(Wc);
  return slice(Q, [0, 0, 0, 0], [1, m, n, 1]).reshape([m, n]);
}

/** ‖x‖_F as a 0-d tensor (differentiable). */
const frobenius = (x: Tensor): Tensor => sqrt(sum(mul(x, x)));

/**
 * max over the batch of ‖QᴴQ − I‖_F (or ‖QQᴴ − I‖_F for wide Q), in float64, for Q [B, m, n, 2]:
 * the a-posteriori orthogonality defect used by the Lipschitz bounds. Host computation, O(B·m·n²).
 */
export function orthogonalityDefect(Q: Tensor): number {
  const [B, m, n] = Q.shape;
  const q = Q.data();
  const tall = m >= n;
  const k = tall ? n : m;
  let worst = 0;
  const at = (b: number, i: number, j: number, c: number): number => q[((b * m + i) * n + j) * 2 + c];
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++) {
        let re = i === j ? -1 : 0;
        let im = 0;
        const len = tall ? m : n;
        for (let t = 0; t < len; t++) {
          // tall: (QᴴQ)_ij = Σ_t conj(Q_ti)·Q_tj; wide: (QQᴴ)_ij = Σ_t Q_it·conj(Q_jt)
          const [ar, ai, br, bi] = tall
            ? [at(b, t, i, 0), -at(b, t, i, 1), at(b, t, j, 0), at(b, t, j, 1)]
            : [at(b, i, t, 0), at(b, i, t, 1), at(b, j, t, 0), -at(b, j, t, 1)];
          re += ar * br - ai * bi;
          im += ar * bi + ai * br;
        }
        s += re * re + im * im;
      }
    worst = Math.max(worst, Math.sqrt(s));
  }
  return worst;
}

/** Options of `CayleyConv2d`. */
export interface CayleyConv2dOptions extends ParamOptions {
  /** Kernel size k (odd), default 3. With stride 2 the kernel applied after the pixel unshuffle is max(1, k//2). */
  kernelSize?: number;
  /** 1 (default) or 2 (pixel unshuffle to 4·in channels first, SPEC.md A.5). */
  stride?: 1 | 2;
  /** Learned bias per output channel, default true. */
  bias?: boolean;
}

/**
 * Orthogonal circular convolution by the per-frequency Cayley transform (SPEC.md A.5):
 * x [N, in, n, n] (n even, an FFT size) → [N, out, n/s, n/s]. Parameters `weight` [out, in·s², k', k']
 * (k' = k for s = 1, max(1, k//2) for s = 2), `bias` [out], `alpha` [] (set to ‖Ŵ‖_F at the first
 * forward unless loaded from a state dict). Per forward: X̂ = rfft2(x); Ŵ = e^{−2πi·s(p+q)/n} ⊙
 * conj(rfft2(W padded to n×n)) (computed as one real matmul of W with a constant DFT matrix);
 * Q = cayley(α·Ŵ/‖Ŵ‖_F) per frequency; y = irfft2(Q·X̂) + bias. In eval mode Q is cached and recomputed
 * only when a parameter changes (version counters: optimizer steps, loadStateDict, Module.to).
 * Cost: n(n/2+1) complex inverses of size min(in', out) (O(n²·c³)) plus O(N·n²·c²) per forward.
 * Orthogonal (norm preserving) when in·s² = out; otherwise semi-orthogonal.
 */
export class CayleyConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly alpha: Tensor;
  readonly kernelSize: number;
  readonly stride: 1 | 2;
  private alphaVersion: number;
  private dft: { n: number; F: Tensor } | null = null;
  private cache: { key: string; n: number; Q: Tensor } | null = null;
  private lastN = 0;

  constructor(readonly inChannels: number, readonly outChannels: number, options: CayleyConv2dOptions = {}) {
    super();
    positiveInt(inChannels, 'CayleyConv2d', 'inChannels');
    positiveInt(outChannels, 'CayleyConv2d', 'outChannels');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'CayleyConv2d: options must be an object { kernelSize?, stride?, bias? }');
    const k = options.kernelSize ?? 3;
    check(Number.isInteger(k) && k >= 1 && k % 2 === 1, 'ERR_ARGUMENT', () => `CayleyConv2d: 'kernelSize' must be an odd positive integer, got ${describe(k)}`);
    const stride = options.stride ?? 1;
    check(stride === 1 || stride === 2, 'ERR_ARGUMENT', () => `CayleyConv2d: 'stride' must be 1 or 2, got ${describe(stride)}`);
    this.stride = stride;
    this.kernelSize = stride === 2 ? Math.max(1, Math.floor(k / 2)) : k;
    const cin = inChannels * stride * stride;
    const kk = this.kernelSize;
    const bound = 1 / Math.sqrt(cin * kk * kk);
    const seed = nextSeed(options.seed);
    this.weight = this.registerParameter('weight', uniformInit([outChannels, cin, kk, kk], bound, seed, options));
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniformInit([outChannels], bound, seed + 0x9e3779b9, options));
    this.alpha = this.registerParameter('alpha', tensor([1], { shape: [], dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' }));
    this.alphaVersion = this.alpha.version;
  }

  /** The constant matrix F [k², n(n/2+1)·2] with Ŵ = W[.., k²]·F (phase shift and conjugate included). */
  private dftMatrix(n: number): Tensor {
    if (this.dft && this.dft.n === n && !this.dft.F.isDisposed && this.dft.F.device === this.weight.device) return this.dft.F;
    this.dft?.F.dispose();
    const k = this.kernelSize;
    const s = (k - 1) / 2;
    const h = n / 2 + 1;
    const d = new Float64Array(k * k * n * h * 2);
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++)
        for (let p = 0; p < n; p++)
          for (let q = 0; q < h; q++) {
            // conj(e^{−2πi(pa+qb)/n})·e^{−2πi·s(p+q)/n} = e^{2πi(p(a−s) + q(b−s))/n}
            const t = (2 * Math.PI * (((p * (a - s) + q * (b - s)) % n) + n)) / n;
            const o = ((a * k + b) * n * h + p * h + q) * 2;
            d[o] = Math.cos(t);
            d[o + 1] = Math.sin(t);
          }
    const F = keep(tensor(d, { shape: [k * k, n * h * 2], dtype: this.weight.dtype, device: this.weight.device }));
    this.dft = { n, F };
    return F;
  }

  /** Ŵ [P, out, in', 2] for spatial size n (P = n(n/2+1)), unscaled. */
  private spectrum(n: number): Tensor {
    const [co, ci, k] = this.weight.shape;
    const P = n * (n / 2 + 1);
    const flat = matmul(this.weight.reshape([co * ci, k * k]), this.dftMatrix(n));
    return permute(flat.reshape([co, ci, P, 2]), [2, 0, 1, 3]);
  }

  /** Q [P, out, in', 2] = cayley(α·Ŵ/‖Ŵ‖_F); initialises α on first use (unless it was loaded). */
  private transform(n: number, initAlpha = true): Tensor {
    const What = this.spectrum(n);
    const norm = frobenius(What);
    if (initAlpha && this.alpha.version === this.alphaVersion) {
      noGrad(() => this.alpha.assign(keep(norm.detach().astype(this.alpha.dtype))));
      this.alphaVersion = -1;
    }
    return cayleyComplex(mul(What, div(this.alpha, norm)));
  }

  forward(x: Tensor): Tensor {
    requireTensor(x, 'CayleyConv2d', 'x');
    const cinOrig = this.inChannels;
    check(x.ndim === 4 && x.shape[1] === cinOrig, 'ERR_SHAPE',
      () => `CayleyConv2d: 'x' must be [N, ${cinOrig}, n, n], got [${x.shape}]`);
    if (this.stride === 2) {
      check(x.shape[2] % 2 === 0 && x.shape[3] % 2 === 0, 'ERR_SHAPE', () => `CayleyConv2d: stride 2 needs even spatial sizes, got [${x.shape}]`);
      x = pixelUnshuffle(x, 2);
    }
    const [N, ci, n, w] = x.shape;
    check(n === w && n % 2 === 0, 'ERR_SHAPE', () => `CayleyConv2d: the (unshuffled) input must be square with an even size, got [${x.shape}]`);
    check(n >= this.kernelSize, 'ERR_SHAPE', () => `CayleyConv2d: input size ${n} is smaller than the kernel ${this.kernelSize}`);
    this.lastN = n;
    const Q = this.training ? this.transform(n) : this.cachedQ(n);
    const co = this.outChannels;
    const h = n / 2 + 1;
    const P = n * h;
    const X = permute(rfft2(x).reshape([N, ci, P, 2]), [2, 1, 0, 3]);  // [P, ci, N, 2]
    const Y = matmulComplex(Q, X);  // [P, co, N, 2]
    let y = irfft2(permute(Y.reshape([n, h, co, N, 2]), [3, 2, 0, 1, 4]), { size: [n, n] });
    if (this.bias) y = add(y, this.bias.reshape([co, 1, 1]));
    return y;
  }

  private cachedQ(n: number): Tensor {
    const key = versionsOf(this.parameters());
    if (this.cache && this.cache.key === key && this.cache.n === n && !this.cache.Q.isDisposed) return this.cache.Q;
    this.cache?.Q.dispose();
    const Q = tidy(() => noGrad(() => this.transform(n)));
    this.cache = { key: versionsOf(this.parameters()), n, Q: keep(Q) };
    return Q;
  }

  /**
   * A sound upper bound on the Lipschitz constant (float64): √(1 + δ)·(1 + γ), where δ = max over
   * frequencies of ‖QᴴQ − I‖_F (or ‖QQᴴ − I‖_F) of the Q this layer computes in its dtype (measured a
   * posteriori in float64; ‖Q‖₂² ≤ 1 + δ), and γ = (4·log₂(n) + in' + 8)·u bounds the relative rounding
   * of the rfft2 / per-frequency product / irfft2 chain in the layer's unit roundoff u. Uses the last
   * input size (or 32 before any forward); does not initialise α. Cost: one Cayley map + O(P·c³) host work.
   */
  lipschitzBound(): number {
    const n = this.lastN || 32;
    const delta = tidy(() => noGrad(() => orthogonalityDefect(this.transform(n, false).astype('float64'))));
    const u = unitRoundoff(this.weight.dtype);
    const gamma = (4 * Math.log2(n) + this.weight.shape[1] + 8) * u;
    return Math.sqrt(1 + delta) * (1 + gamma);
  }

  override dispose(): void {
    this.cache?.Q.dispose();
    this.dft?.F.dispose();
    this.cache = null;
    this.dft = null;
    super.dispose();
  }
}

/**
 * Orthogonal dense layer (SPEC.md A.6): y = x·Qᵀ + b with Q = cayley(α·W/‖W‖_F) [out, in] (orthonormal
 * columns for out ≥ in, orthonormal rows otherwise): x [..., in] → [..., out]. Parameters `weight`
 * [out, in], `bias` [out] (U(±1/√in)), `alpha` [] (initialised to ‖W‖_F). Q is recomputed every
 * training forward and cached in eval, recomputed only when a parameter changes (optimizer step,
 * loadStateDict, Module.to). Cost: one min(in, out)² real inverse (as complex) + O(in·out·min) per Q.
 */
export class CayleyLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly alpha: Tensor;
  private cache: { key: string; Q: Tensor } | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: ParamOptions & { bias?: boolean } = {}) {
    super();
    positiveInt(inFeatures, 'CayleyLinear', 'inFeatures');
    positiveInt(outFeatures, 'CayleyLinear', 'outFeatures');
    const bound = 1 / Math.sqrt(inFeatures);
    const seed = nextSeed(options.seed);
    this.weight = this.registerParameter('weight', uniformInit([outFeatures, inFeatures], bound, seed, options));
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniformInit([outFeatures], bound, seed + 0x9e3779b9, options));
    this.alpha = this.registerParameter('alpha', noGrad(() => frobenius(this.weight).detach()));
  }

  /** Q [out, in] = cayley(α·W/‖W‖_F) (differentiable). */
  orthogonalWeight(): Tensor {
    return cayleyReal(mul(this.weight, div(this.alpha, frobenius(this.weight))));
  }

  private cachedQ(): Tensor {
    const key = versionsOf(this.parameters());
    if (this.cache && this.cache.key === key && !this.cache.Q.isDisposed) return this.cache.Q;
    this.cache?.Q.dispose();
    const Q = keep(tidy(() => noGrad(() => this.orthogonalWeight())));
    this.cache = { key, Q };
    return Q;
  }

  forward(x: Tensor): Tensor {
    requireTensor(x, 'CayleyLinear', 'x');
    check(x.ndim >= 1 && x.shape[x.ndim - 1] === this.inFeatures, 'ERR_SHAPE',
      () => `CayleyLinear: 'x' must have shape [..., ${this.inFeatures}], got [${x.shape}]`);
    const Q = this.training ? this.orthogonalWeight() : this.cachedQ();
    const lead = x.shape.slice(0, -1);
    let y = matmul(x.reshape([-1, this.inFeatures]), Q, { transB: true });
    if (this.bias) y = add(y, this.bias);
    return y.reshape([...lead, this.outFeatures]);
  }

  /**
   * A sound upper bound on the Lipschitz constant (float64): √(1 + δ)·(1 + (in + 2)·u), δ = ‖QᵀQ − I‖_F
   * (or ‖QQᵀ − I‖_F) of the Q this layer computes, measured in float64 (‖Q‖₂² ≤ 1 + δ); the second factor
   * bounds the relative rounding of the product x·Qᵀ in the layer's unit roundoff u.
   */
  lipschitzBound(): number {
    const delta = tidy(() => noGrad(() => {
      const Q = this.orthogonalWeight().astype('float64');
      const z = zeros([this.outFeatures, this.inFeatures, 1], { dtype: 'float64', device: Q.device });
      return orthogonalityDefect(concat([Q.reshape([this.outFeatures, this.inFeatures, 1]), z], 2).reshape([1, this.outFeatures, this.inFeatures, 2]));
    }));
    return Math.sqrt(1 + delta) * (1 + (this.inFeatures + 2) * unitRoundoff(this.weight.dtype));
  }

  override dispose(): void {
    this.cache?.Q.dispose();
    this.cache = null;
    super.dispose();
  }
}
