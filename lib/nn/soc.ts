/**
 * `SOCConv2d`: the skew orthogonal convolution of Singla & Feizi (ICML'21) with the NeurIPS'22 changes
 * (SPEC.md A.4): y = S(L_n) x + b with the truncated exponential S of the skew convolution L_n ⋆,
 * F4-normalised, stride 2 by pixel unshuffle, channel padding / truncation.
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { randn } from '../ops/creation';
import { abs, add, div, mul, neg, sqrt, clamp } from '../ops/elementwise';
import { conv2d } from '../ops/conv2d';
import { max, sum } from '../ops/reduce';
import { describe, requireTensor } from '../ops/run';
import { firstChannels, padChannels, pixelUnshuffle } from '../ops/shuffle';
import { socExp, socF4Step, socSkew } from '../ops/soc';
import { keep, Tensor, tidy } from '../tensor';
import { nextSeed, ParamOptions, uniformInit } from './layers';
import { Module } from './module';

/** Options of `SOCConv2d`. */
export interface SOCConv2dOptions extends ParamOptions {
  /** Odd kernel size, 1..7. Default 3. */
  kernelSize?: number;
  /** 1, or 2 (pixel unshuffle first: channels ×4, spatial size ÷2). Default 1. */
  stride?: 1 | 2;
  /** Series terms in training (degree trainTerms − 1). Default 6. */
  trainTerms?: number;
  /** Series terms in eval. Default 15. */
  evalTerms?: number;
  /** The fast weight gradient of the NeurIPS'22 paper (exact input gradient). Default false. */
  fastGradient?: boolean;
  /** Learn a bias [outChannels]. Default true. */
  bias?: boolean;
}

/** One F4 reshape: its (u, v) buffer names, the axes summed to get v from L ⊙ u and u from L ⊙ v. */
const F4: [string, string, number[], number[]][] = [
  ['_u1', '_v1', [1, 3], [0, 2]],
  ['_u2', '_v2', [1, 2], [0, 3]],
  ['_u3', '_v3', [1, 2, 3], [0]],
  ['_u4', '_v4', [0, 2, 3], [1]],
];

/** v / max(‖v‖, 1e-12) over all elements (F.normalize). */
function normalize(v: Tensor): Tensor {
  return div(v, clamp(sqrt(sum(mul(v, v))), 1e-12));
}

/** Whether a and b hold the same values (no NaN). */
function sameValues(a: Tensor, b: Tensor): boolean {
  return noGrad(() => max(abs(add(a, neg(b)))).item()) === 0;
}

/** Σ_{j ≥ T} s^j / j! = e^s − Σ_{j<T} s^j/j! (summed directly: no cancellation). */
export function expTail(s: number, T: number): number {
  let term = 1;
  for (let j = 1; j <= T; j++) term *= s / j;
  let total = 0;
  for (let j = T; term > 1e-300 && j < T + 1000; j++) {
    total += term;
    term *= s / (j + 1);
    if (term < total * 1e-17) break;
  }
  return total;
}

/**
 * Skew orthogonal convolution [N, inChannels, H, W] → [N, outChannels, H/stride, W/stride]:
 * x is pixel-unshuffled when stride = 2 (channels ×4), zero-padded to C = max(out, in·stride²)
 * channels, mapped by S(L_n) = Σ_{j<T} (L_n⋆)^j / j! (T = trainTerms in training, evalTerms in eval),
 * truncated to the first outChannels channels, plus the bias. L_n = L / min_i σ_i with L = ½(M − Mᵀ)
 * the skew part of the raw weight M [C, C, k, k] and σ_i the F4 estimates from the persistent (u_i, v_i)
 * buffers (one power-iteration step per training forward; 50 at construction and in `refreshSigma`).
 * With enough terms, stride 1 and equal channels the layer is orthogonal; it is always 1-Lipschitz up
 * to the truncation error that `lipschitzBound` accounts for.
 * Cost per forward: T − 1 convolutions C → C on [N, C, H', W'] (backward: as many input-adjoint
 * convolutions plus T − 1 weight-gradient convolutions, or one with fastGradient).
 * State dict (IMP repo names): weight [C, C, k, k], bias [out], _u1 [1,C,1,k], _v1 [C,1,k,1],
 * _u2 [1,C,k,1], _v2 [C,1,1,k], _u3 [1,C,k,k], _v3 [C,1,1,1], _u4 [C,1,k,k], _v4 [1,C,1,1].
 */
export class SOCConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: number;
  readonly stride: 1 | 2;
  readonly channels: number;
  trainTerms: number;
  evalTerms: number;
  fastGradient: boolean;
  private readonly uv: Tensor[][];
  private cache: { Ln: Tensor; weight: Tensor; uv: Tensor[] } | null = null;
  private lastSize: [number, number] | null = null;

  constructor(readonly inChannels: number, readonly outChannels: number, options: SOCConv2dOptions = {}) {
    super();
    const op = 'SOCConv2d';
    for (const [name, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const)
      check(Number.isInteger(v) && v >= 1, 'ERR_ARGUMENT', () => `${op}: '${name}' must be a positive integer, got ${describe(v)}`);
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', `${op}: options must be an object`);
    const k = options.kernelSize ?? 3;
    check(Number.isInteger(k) && k >= 1 && k <= 7 && k % 2 === 1, 'ERR_ARGUMENT',
      () => `${op}: 'kernelSize' must be odd in 1..7 (padding k/2 keeps the convolution skew), got ${describe(k)}`);
    const s = options.stride ?? 1;
    check(s === 1 || s === 2, 'ERR_ARGUMENT', () => `${op}: 'stride' must be 1 or 2, got ${describe(s)}`);
    const terms = (name: string, v: unknown): number => {
      check(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 64, 'ERR_ARGUMENT', () => `${op}: '${name}' must be an integer in 1..64, got ${describe(v)}`);
      return v as number;
    };
    this.trainTerms = terms('trainTerms', options.trainTerms ?? 6);
    this.evalTerms = terms('evalTerms', options.evalTerms ?? 15);
    this.fastGradient = options.fastGradient ?? false;
    check(typeof this.fastGradient === 'boolean', 'ERR_ARGUMENT', `${op}: 'fastGradient' must be a boolean`);
    this.kernelSize = k;
    this.stride = s;
    const C = (this.channels = Math.max(outChannels, inChannels * s * s));
    const seed = nextSeed(options.seed);
    const dtype = options.dtype ?? 'float32';
    const device = options.device ?? 'cpu';
    this.weight = this.registerParameter('weight', randn([C, C, k, k], { seed, std: 1 / Math.sqrt(C), dtype, device }));
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniformInit([outChannels], 1 / Math.sqrt(C), seed + 0x9e3779b9, options));
    const shapes: Record<string, number[]> = {
      _u1: [1, C, 1, k], _v1: [C, 1, k, 1], _u2: [1, C, k, 1], _v2: [C, 1, 1, k],
      _u3: [1, C, k, k], _v3: [C, 1, 1, 1], _u4: [C, 1, k, k], _v4: [1, C, 1, 1],
    };
    this.uv = F4.map(([u, v], i) => [u, v].map((name, j) => {
      const t = noGrad(() => normalize(randn(shapes[name], { seed: seed + 2 * i + j + 1, dtype, device })));
      return this.registerBuffer(name, t);
    }));
    this.refreshSigma(50);
  }

  /** `iterations` F4 power-iteration steps on the skew kernel L (no gradient); returns the new σ_i. */
  private f4Step(L: Tensor, iterations = 1): number[] {
    return tidy(() => {
      const { uv, sigma } = socF4Step(L, this.uv.flat(), iterations);
      this.uv.flat().forEach((t, i) => t.assign(uv[i]));
      return Array.from(sigma.data() as ArrayLike<number>);
    });
  }

  /** Runs `iterations` (default 50) F4 power-iteration steps; once per epoch in the paper's recipe. */
  refreshSigma(iterations = 50): void {
    check(Number.isInteger(iterations) && iterations >= 0, 'ERR_ARGUMENT', () => `SOCConv2d.refreshSigma: 'iterations' must be a non-negative integer, got ${describe(iterations)}`);
    if (iterations > 0) {
      noGrad(() => {
        const L = socSkew(this.weight);
        this.f4Step(L, iterations);
        L.dispose();
      });
    }
    this.dropCache();
  }

  /**
   * L_n = L / σ_i* with i* = argmin_i σ_i, σ_i = Σ L ⊙ u_i ⊙ v_i (differentiable in the weight when
   * recording; u_i, v_i constants). `sigmas`: the four σ_i when already known for the current L and
   * buffers (from the F4 step), else they are computed here.
   */
  private normalizedKernel(sigmas?: number[], skew?: Tensor): Tensor {
    const L = skew ?? socSkew(this.weight);
    const sigmaOf = (i: number): Tensor => {
      const [u, v] = this.uv[i];
      return sum(mul(sum(mul(L, u), F4[i][2], { keepDims: true }), v));
    };
    const vals = sigmas ?? noGrad(() => tidy(() => [0, 1, 2, 3].map((i) => sigmaOf(i).item())));
    let best = 0;
    for (let i = 1; i < 4; i++) if (vals[i] < vals[best]) best = i;
    check(vals[best] > 0 && Number.isFinite(vals[best]), 'ERR_ARGUMENT',
      () => `SOCConv2d: the F4 normalisation σ = ${vals[best]} is not a positive number (weight all zero or not finite)`);
    return div(L, sigmaOf(best));
  }

  private dropCache(): void {
    if (!this.cache) return;
    this.cache.Ln.dispose();
    this.cache.weight.dispose();
    for (const t of this.cache.uv) t.dispose();
    this.cache = null;
  }

  /** The eval-mode L_n, cached; rebuilt when the weight or an F4 buffer changed since it was made. */
  private evalKernel(): Tensor {
    const flat = this.uv.flat();
    if (this.cache && (this.cache.Ln.device !== this.weight.device || !sameValues(this.cache.weight, this.weight) ||
      !flat.every((t, i) => sameValues(this.cache!.uv[i], t)))) this.dropCache();
    if (!this.cache) {
      this.cache = tidy(() => noGrad(() => ({
        Ln: keep(this.normalizedKernel()),
        weight: keep(this.weight.to(this.weight.device)),
        uv: flat.map((t) => keep(t.to(t.device))),
      })));
    }
    return this.cache.Ln;
  }

  forward(x: Tensor): Tensor {
    const op = 'SOCConv2d';
    requireTensor(x, op, 'x');
    check(x.ndim === 4 && x.shape[1] === this.inChannels, 'ERR_SHAPE',
      () => `${op}: x must be [N, ${this.inChannels}, H, W], got shape [${x.shape}]`);
    check(this.stride === 1 || (x.shape[2] % 2 === 0 && x.shape[3] % 2 === 0), 'ERR_SHAPE',
      () => `${op}: stride 2 (pixel unshuffle) needs an even height and width, got [${x.shape}]`);
    let z = this.stride === 2 ? pixelUnshuffle(x, 2) : x;
    if (z.shape[1] < this.channels) z = padChannels(z, this.channels);
    this.lastSize = [z.shape[2], z.shape[3]];
    let y: Tensor;
    if (this.training) {
      const L = socSkew(this.weight);  // recorded; the F4 step reads it outside the tape
      const sigmas = noGrad(() => this.f4Step(L));
      this.dropCache();
      y = socExp(z, this.normalizedKernel(sigmas, L), { terms: this.trainTerms, fastGradient: this.fastGradient });
    } else {
      y = socExp(z, this.evalKernel(), { terms: this.evalTerms });
    }
    if (this.outChannels < this.channels) y = firstChannels(y, this.outChannels);
    return this.bias ? add(y, this.bias.reshape([1, this.outChannels, 1, 1])) : y;
  }

  /**
   * A bound on the layer's Lipschitz constant in eval mode (evalTerms terms), for certification
   * (SPEC.md A.4, D.3). On an input of spatial size `inputSize` (after the unshuffle; default: that of
   * the last forward), in float64 on the CPU: ŝ = 50 power iterations of ‖L_n⋆‖ (adjoint −L_n⋆) and
   * n̂ = `iterations` power iterations of ‖S(L_n)‖ (adjoint S(−L_n)); returns
   *     max(n̂, 1 + tail(s⁺)),  s⁺ = 1.05·ŝ + 1e-6,  tail(s) = e^s − Σ_{j<T} s^j/j!,
   * since S(L_n) = exp(L_n) − (the tail) with exp(L_n) orthogonal gives ‖S‖ ≤ 1 + tail(‖L_n‖). The 5%
   * margin covers the power iteration's under-estimate of ‖L_n⋆‖ (it converges from below). Pixel
   * unshuffle, zero channel padding and the channel truncation have norm ≤ 1. Cost: 50 convolutions
   * plus 2·iterations·(T − 1) on one float64 image.
   */
  lipschitzBound(options: { inputSize?: [number, number]; iterations?: number } = {}): number {
    const size = options.inputSize ?? this.lastSize;
    check(Array.isArray(size) && size.length === 2 && size.every((v) => Number.isInteger(v) && v >= 1), 'ERR_ARGUMENT',
      'SOCConv2d.lipschitzBound: give inputSize [H, W] (after the stride-2 unshuffle) or run a forward first');
    const iterations = options.iterations ?? 50;
    const T = this.evalTerms;
    return noGrad(() => {
      const Ln = tidy(() => keep(this.normalizedKernel().astype('float64').to('cpu')));
      const nL = keep(neg(Ln));
      try {
        const shape = [1, this.channels, size![0], size![1]];
        const power = (apply: (v: Tensor) => Tensor, adj: (v: Tensor) => Tensor, iters: number, seed: number): number => {
          let v = keep(normalize(randn(shape, { seed, dtype: 'float64' })));
          for (let it = 0; it < iters; it++) {
            const w = tidy(() => keep(normalize(adj(apply(v)))));
            v.dispose();
            v = w;
          }
          const n = tidy(() => {
            const av = apply(v);
            return Math.sqrt(sum(mul(av, av)).item());
          });
          v.dispose();
          return n;
        };
        const sHat = power((v) => conv2d(v, Ln), (v) => conv2d(v, nL), 50, 12345);
        const nHat = power((v) => socExp(v, Ln, { terms: T }), (v) => socExp(v, nL, { terms: T }), iterations, 54321);
        return Math.max(nHat, 1 + expTail(1.05 * sHat + 1e-6, T));
      } finally {
        Ln.dispose();
        nL.dispose();
      }
    });
  }

  override dispose(): void {
    this.dropCache();
    super.dispose();
  }
}
