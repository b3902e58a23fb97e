/**
 * Sound Lipschitz bounds of modules (`ol.nn.lipschitzBound`), in float64.
 *
 * Spectral norms are bounded from above, never estimated from below: for a PSD matrix M (the Gram
 * matrix of a weight), λ_max(M)^k = ‖M^k‖₂ ≤ ‖M^k‖_F for every k, so λ_max ≤ ‖M^(2^j)‖_F^(1/2^j) for
 * every j. The powers are formed by repeated squaring (normalised by their Frobenius norm to stay in
 * range) and the smallest bound over j is kept; with r top eigenvalues within a factor q of λ_max the
 * bound is ≤ λ_max·(r + n·q^(2^(j+1)))^(1/2^(j+1)), so it converges to λ_max whatever the spectral gap
 * (clustered top singular values cost a factor r^(1/2^(j+1)), not a slow convergence). Rounding: the
 * products are float64 sums of ≤ n terms of a normalised PSD matrix (relative error ≲ n·2⁻⁵³ per
 * squaring, divided by 2^j in the root); a multiplicative safety margin of 1 + 1e-9 on the final
 * norm covers it by orders of magnitude.
 *
 * Convolutions: the zero-padded convolution on H×W maps (padding p, stride 1) is the restriction of the
 * circular convolution on the (H + 2p)×(W + 2p) torus to the embedded input and cropped output (no
 * wrap-around reaches the kept outputs), so its norm is at most that of the circular one, which is
 * max over the torus frequencies ω of ‖K̂(ω)‖₂ (K̂(ω) the [out, in] matrix Σ_s K[:, :, s] e^(−iω·s)).
 * A stride subsamples the output (norm ≤ the stride-1 norm). Without a known map size (plain Conv2d),
 * the supremum over all ω is bounded by the maximum on a T×T grid plus (π/T)·Σ_s ‖K_s‖_F·(|s_y| + |s_x|)
 * (K̂ is Lipschitz in ω with that constant).
 */
import { check, OnelipError } from '../errors';
import { tensor } from '../ops/creation';
import { matmul } from '../ops/matmul';
import { Tensor, tidy } from '../tensor';
import { describe } from '../ops/run';
import { AvgPool2d, Conv2d, FirstChannels, Flatten, Linear, MaxMin, PaddingChannels, PixelUnshuffle, ReLU, Sequential } from './layers';
import { Module } from './module';

const MARGIN = 1 + 1e-9;
const MAX_SQUARINGS = 40;

/** ‖x‖_F of a flat array. */
function frob(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/**
 * A certified upper bound of λ_max of the n×n symmetric PSD matrix G (row-major float64), by
 * Frobenius norms of repeated squares (native float64 matmul on the cpu). `stopAt`: stop once the bound
 * is ≤ stopAt·(1 + 1e-12) (a known lower bound; 0 = run all squarings until no progress).
 */
export function psdMaxEigenvalueUpperBound(G: Float64Array, n: number, stopAt = 0): number {
  let best = Infinity;
  let logC = 0;  // current N = G^(2^j) / exp(logC)
  let N = G;
  for (let j = 0; j <= MAX_SQUARINGS; j++) {
    const f = frob(N);
    if (f === 0) return 0;
    const bound = Math.exp((logC + Math.log(f)) / 2 ** j);
    const improved = bound < best * (1 - 1e-15);
    best = Math.min(best, bound);
    if (best <= stopAt * (1 + 1e-12) || (!improved && j > 2)) break;
    const scaled = N.map((v) => v / f);
    N = tidy(() => {
      const t = tensor(scaled, { shape: [n, n], dtype: 'float64' });
      return Float64Array.from(matmul(t, t).data());
    });
    logC = 2 * (logC + Math.log(f));
  }
  return best;
}

/** A float64 lower bound of λ_max(G) by power iteration (Rayleigh quotient), for early stopping. */
function psdLowerBound(G: Float64Array, n: number, iters = 60): number {
  let x = Float64Array.from({ length: n }, (_, i) => 1 + 0.01 * Math.sin(i + 1));
  let ray = 0;
  for (let t = 0; t < iters; t++) {
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += G[i * n + j] * x[j];
      y[i] = s;
    }
    const nx = frob(x);
    let dot = 0;
    for (let i = 0; i < n; i++) dot += x[i] * y[i];
    ray = dot / (nx * nx);
    const ny = frob(y);
    if (ny === 0) return 0;
    x = y.map((v) => v / ny);
  }
  return ray;
}

/** The host float64 values of W [m, d] and the smaller Gram matrix (WWᵀ or WᵀW) of size n = min(m, d). */
function gramOf(W: Tensor): { G: Float64Array; n: number } {
  const [m, d] = [W.shape[0], W.size / W.shape[0]];
  return tidy(() => {
    const w = tensor(Float64Array.from(W.data()), { shape: [m, d], dtype: 'float64' });
    const G = m <= d ? matmul(w, w, { transB: true }) : matmul(w, w, { transA: true });
    return { G: Float64Array.from(G.data()), n: Math.min(m, d) };
  });
}

/**
 * A certified upper bound of ‖W‖₂ for a matrix W [m, d] (any float dtype, any device), in float64.
 * Cost: one Gram product (2·m·d·min(m, d) flops) and up to ~12 squarings of a min(m, d)² matrix
 * (usually fewer: it stops at a power-iteration lower bound).
 */
export function denseSpectralUpperBound(W: Tensor): number {
  const { G, n } = gramOf(W);
  const lo = psdLowerBound(G, n);
  return Math.sqrt(psdMaxEigenvalueUpperBound(G, n, lo)) * MARGIN;
}

/** Hermitian n×n complex Gram of the m×c complex matrix (re, im), n = min(m, c), as a real 2n×2n PSD matrix. */
function hermitianGramReal(re: Float64Array, im: Float64Array, m: number, c: number): { G: Float64Array; n: number } {
  // A = re + i·im (m×c). Gram H = A Aᴴ (m ≤ c) or Aᴴ A; its real representation [[Hr, −Hi], [Hi, Hr]]
  // is PSD with the same eigenvalues (each twice).
  const left = m <= c;
  const n = left ? m : c;
  const at = (a: Float64Array, i: number, k: number) => (left ? a[i * c + k] : a[k * c + i]);
  const len = left ? c : m;
  const N2 = 2 * n;
  const G = new Float64Array(N2 * N2);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let hr = 0, hi = 0;
      for (let k = 0; k < len; k++) {
        // left: Σ_k A[i,k]·conj(A[j,k]); right: Σ_k conj(A[k,i])·A[k,j]
        const ar = at(re, i, k), ai = left ? at(im, i, k) : -at(im, i, k);
        const br = at(re, j, k), bi = left ? -at(im, j, k) : at(im, j, k);
        hr += ar * br - ai * bi;
        hi += ar * bi + ai * br;
      }
      G[i * N2 + j] = hr;
      G[(i + n) * N2 + j + n] = hr;
      G[(i + n) * N2 + j] = hi;
      G[i * N2 + j + n] = -hi;
    }
  return { G, n: N2 };
}

/**
 * A certified upper bound of the operator norm of the convolution x ↦ K ⋆ x (K [m, c, kh, kw],
 * stride 1, zero padding kh//2, kw//2) on c×H×W maps: the maximum over the frequencies of the
 * (H + 2p)×(W + 2p) torus of a certified bound of ‖K̂(ω)‖₂ (see the file comment). With `grid`
 * (no map size): the supremum over all frequencies, from a T×T grid plus the Lipschitz correction.
 * Cost: O(T²·(m·c·kh·kw + min(m, c)³·squarings)) on the host, squarings only where needed.
 */
export function convSpectralUpperBound(K: Tensor, mapSize: [number, number] | null, padding?: [number, number]): number {
  const [m, c, kh, kw] = K.shape;
  const w = Float64Array.from(K.data());
  const [ph, pw] = padding ?? [Math.floor(kh / 2), Math.floor(kw / 2)];
  const [Ty, Tx] = mapSize ? [mapSize[0] + 2 * ph, mapSize[1] + 2 * pw] : [32, 32];
  // K̂(ω) for every frequency; its Gram; a lower bound on each for the early stop.
  const grams: { G: Float64Array; n: number; lo: number }[] = [];
  let globalLo = 0;
  for (let fy = 0; fy < Ty; fy++)
    for (let fx = 0; fx <= Math.floor(Tx / 2); fx++) {  // K̂(−ω) = conj K̂(ω): same norm
      const re = new Float64Array(m * c), im = new Float64Array(m * c);
      for (let a = 0; a < kh; a++)
        for (let b = 0; b < kw; b++) {
          const ang = -2 * Math.PI * ((fy * a) / Ty + (fx * b) / Tx);
          const cr = Math.cos(ang), ci = Math.sin(ang);
          for (let o = 0; o < m; o++)
            for (let i = 0; i < c; i++) {
              const v = w[((o * c + i) * kh + a) * kw + b];
              re[o * c + i] += v * cr;
              im[o * c + i] += v * ci;
            }
        }
      const g = hermitianGramReal(re, im, m, c);
      const lo = psdLowerBound(g.G, g.n, 30);
      globalLo = Math.max(globalLo, lo);
      grams.push({ ...g, lo });
    }
  let lam = 0;
  // Largest lower bounds first, so that the others can stop at the running maximum.
  grams.sort((p, q) => q.lo - p.lo);
  for (const g of grams) {
    // A frequency whose Frobenius bound is already below the running maximum needs no squaring.
    if (frob(g.G) <= lam) continue;
    lam = Math.max(lam, psdMaxEigenvalueUpperBound(g.G, g.n, Math.max(lam, globalLo)));
  }
  let bound = Math.sqrt(lam);
  if (!mapSize) {
    let lip = 0;
    for (let a = 0; a < kh; a++)
      for (let b = 0; b < kw; b++) {
        let f = 0;
        for (let o = 0; o < m; o++) for (let i = 0; i < c; i++) f += w[((o * c + i) * kh + a) * kw + b] ** 2;
        lip += Math.sqrt(f) * (Math.abs(a - ph) + Math.abs(b - pw));
      }
    bound += (Math.PI / Ty) * lip;
  }
  return bound * MARGIN;
}

/** A module that knows a sound bound of its own Lipschitz constant. */
interface Bounded {
  lipschitzBound(): number;
}

function hasBound(m: Module): m is Module & Bounded {
  return typeof (m as unknown as Partial<Bounded>).lipschitzBound === 'function';
}

/**
 * A sound upper bound (float64) of the ℓ2 Lipschitz constant of `module` as evaluated in eval mode:
 * Sequential: the product of its children's bounds; a module with its own `lipschitzBound()` method
 * (CPL layers, ...): that; Linear: a certified ‖W‖₂; Conv2d: a certified bound of the convolution's
 * norm on maps of any size; ReLU, MaxMin, Flatten, PixelUnshuffle, PaddingChannels, FirstChannels: 1;
 * AvgPool2d (non-overlapping windows of n = kh·kw elements, divisor d): √n / d. Any other module:
 * OnelipError ERR_UNSUPPORTED naming it.
 */
export function lipschitzBound(module: Module): number {
  check(module instanceof Module, 'ERR_ARGUMENT', () => `lipschitzBound: expected a Module, got ${describe(module)}`);
  if (module instanceof Sequential) {
    let L = 1;
    for (const [, child] of module.namedChildren()) L *= lipschitzBound(child);
    return L;
  }
  if (hasBound(module)) return module.lipschitzBound();
  if (module instanceof ReLU || module instanceof MaxMin || module instanceof Flatten || module instanceof PixelUnshuffle ||
    module instanceof PaddingChannels || module instanceof FirstChannels) return 1;
  if (module instanceof AvgPool2d) {
    const [kh, kw] = Array.isArray(module.kernelSize) ? module.kernelSize : [module.kernelSize, module.kernelSize];
    return Math.sqrt(kh * kw) / (module.divisor ?? kh * kw) * MARGIN;
  }
  if (module instanceof Linear) return denseSpectralUpperBound(module.weight);
  if (module instanceof Conv2d) {
    const [, , kh, kw] = module.weight.shape;
    const p = module.padding ?? Math.floor(kh / 2);
    return convSpectralUpperBound(module.weight, null, [p, module.padding ?? Math.floor(kw / 2)]);
  }
  throw new OnelipError('ERR_UNSUPPORTED',
    `lipschitzBound: no Lipschitz bound is known for ${module.constructor.name} (supported: Sequential, CPL layers, Linear, Conv2d, ` +
    'ReLU, MaxMin, Flatten, PixelUnshuffle, PaddingChannels, FirstChannels, AvgPool2d, and modules with a lipschitzBound() method)');
}
