/**
 * CPL, the convex potential layer (Meunier et al., ICML'22; SPEC.md A.1): y = x − h·Wᵀ relu(W x + b),
 * h = 2 / (σ̂² + 1e-4), σ̂ a power-iteration estimate of ‖W‖₂ (dense) or of the operator norm of the
 * zero-padded convolution (conv). Forward and backward run as one fused native call each
 * (`ol.ops.cplDense`, `ol.ops.cplConv2d`).
 *
 * σ̂ (SPEC.md A.1, A.7):
 * - training: `trainIters` power iterations per forward, warm-started from the persistent vector `pm.u`
 *   (updated in place). σ̂ = ⟨W u, v⟩ with the returned u and v held constant, so the gradient through
 *   σ̂ is ∂σ̂/∂W = v uᵀ (conv: the weight gradient of ⟨K ⋆ u, v⟩). The reference (CPL repo util.py)
 *   also keeps v's dependence on W from the last iteration, v = N(W u_prev); that extra term is
 *   (I − v vᵀ) W u / ‖W u_prev‖ contracted with the incoming gradient, which vanishes once u and v
 *   are converged singular vectors (the warm-started regime); onelip drops it.
 * - eval: `evalIters` iterations once, continuing from `pm.u`; the result is kept in the buffer
 *   `eval_sv_max` and reused until a parameter or buffer of the layer changes (detected through
 *   `Tensor.version`: an optimizer step, `loadStateDict`, `assign`, `Module.to`) or a training forward
 *   runs. Deviation from the reference: a checkpoint's non-zero `eval_sv_max` is not trusted after
 *   `loadStateDict`; σ̂ is recomputed from the loaded parameters.
 *
 * `lipschitzBound()` is a sound float64 upper bound of the eval-mode layer's Lipschitz constant (see
 * lib/nn/lipschitz.ts): the Jacobian is I − h·Wᵀ D W with D diagonal in [0, 1], whose eigenvalues lie
 * in [1 − h‖W‖², 1], so the constant is max(1, h·‖W‖² − 1), evaluated with a certified upper bound of
 * ‖W‖₂.
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { full, randn, tensor, zeros } from '../ops/creation';
import { cplConv2d, cplDense } from '../ops/cpl';
import { conv2d } from '../ops/conv2d';
import { mul } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { matmul } from '../ops/matmul';
import { describe, requireTensor } from '../ops/run';
import { powerIteration } from '../ops/spectral';
import { Tensor, versionsOf } from '../tensor';
import { nextSeed, ParamOptions, uniformInit } from './layers';
import { denseSpectralUpperBound, convSpectralUpperBound } from './lipschitz';
import { Module } from './module';

/** Power-iteration schedule of a CPL layer. */
export interface PowerIterationSchedule {
  /** Iterations per training forward (default 1), an integer in 1..10000. */
  trainIters?: number;
  /** Iterations of the eval-mode estimate, computed once and cached (default 100), 1..1e6. */
  evalIters?: number;
}

/** Holds the persistent power-iteration vector as the buffer `u` (state-dict key `pm.u`). */
class PowerMethodState extends Module {
  readonly u: Tensor;
  constructor(u: Tensor) {
    super();
    this.u = this.registerBuffer('u', u);
  }
  forward(): Tensor {
    throw new Error('PowerMethodState holds state only');
  }
}

function schedule(s: PowerIterationSchedule | undefined, op: string): { trainIters: number; evalIters: number } {
  check(s === undefined || (typeof s === 'object' && s !== null), 'ERR_ARGUMENT', () => `${op}: 'powerIteration' must be an object { trainIters?, evalIters? }, got ${describe(s)}`);
  const t = s?.trainIters ?? 1, e = s?.evalIters ?? 100;
  check(Number.isInteger(t) && t >= 1 && t <= 10000, 'ERR_ARGUMENT', () => `${op}: 'powerIteration.trainIters' must be an integer in 1..10000, got ${describe(t)}`);
  check(Number.isInteger(e) && e >= 1 && e <= 1e6, 'ERR_ARGUMENT', () => `${op}: 'powerIteration.evalIters' must be an integer in 1..1000000, got ${describe(e)}`);
  return { trainIters: t, evalIters: e };
}

function positiveInt(v: unknown, op: string, arg: string): number {
  check(Number.isInteger(v) && (v as number) >= 1, 'ERR_ARGUMENT', () => `${op}: '${arg}' must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/** What CPLDense and CPLConv2d share: the σ̂ schedule, its caches and the bound. */
abstract class CPLBase extends Module {
  readonly trainIters: number;
  readonly evalIters: number;
  /** Number of power-iteration runs so far (diagnostics; tests count eval-cache recomputations). */
  powerIterationCalls = 0;
  protected abstract readonly cache: Tensor;
  private cacheKey = '';

  constructor(readonly name_: string, s: PowerIterationSchedule | undefined) {
    super();
    const { trainIters, evalIters } = schedule(s, name_);
    this.trainIters = trainIters;
    this.evalIters = evalIters;
  }

  protected abstract piOperator(): { matrix: Tensor } | { conv: Tensor };
  /** ⟨A u, v⟩ recorded by autograd (gradient v uᵀ to the weight). */
  protected abstract sigmaOf(u: Tensor, v: Tensor): Tensor;
  protected abstract stateU(x: Tensor | null): Tensor;

  /** Runs `iters` power iterations from pm.u, stores the new u; returns the new u and v. */
  private iterate(iters: number, x: Tensor | null): { sigma: number; u: Tensor; v: Tensor } {
    const u = this.stateU(x);
    this.powerIterationCalls++;
    const dense = u.ndim === 2;  // dense: stored [1, d] as the reference, iterated as [d]
    const r = noGrad(() => powerIteration(this.piOperator(), dense ? u.reshape([u.size]) : u, { iters }));
    const nu = dense ? noGrad(() => r.u.reshape(u.shape)) : r.u;
    u.assign(nu);
    return { sigma: r.sigma, u: nu, v: r.v };
  }

  private ownState(): Tensor[] {
    return [...this.parameters(), ...this.buffers().map(([, t]) => t)];
  }

  private setCache(value: number): void {
    const t = fill(this.cache, value);
    this.cache.assign(t);
    t.dispose();
  }

  /** σ̂ of the eval mode (cached as described in the class comment), as a host number. */
  evalSigma(x: Tensor | null = null): number {
    if (this.cacheKey === '' || this.cacheKey !== versionsOf(this.ownState()) || this.cache.item() === 0) {
      const r = this.iterate(this.evalIters, x);
      r.u.dispose();
      r.v.dispose();
      this.setCache(r.sigma);
      this.cacheKey = versionsOf(this.ownState());
    }
    return this.cache.item();
  }

  /** The σ̂ input of the fused op for this forward. */
  protected sigmaFor(x: Tensor): Tensor {
    if (this.training) {
      const r = this.iterate(this.trainIters, x);
      if (this.cache.item() !== 0) this.setCache(0);
      this.cacheKey = '';
      // r.u and r.v are saved by the tape for σ̂'s gradient (freed by the caller's tidy()).
      return this.sigmaOf(r.u, r.v);
    }
    this.evalSigma(x);
    return this.cache;
  }

  /**
   * A sound float64 upper bound of the eval-mode layer's Lipschitz constant: max(1, h·S² − 1) with
   * h = 2/(σ̂_eval² + 1e-4) and S ≥ ‖W‖₂ certified (lib/nn/lipschitz.ts). Runs the eval estimate if it
   * is not cached. Cost: dense O(min(m, d)³·log) on the host; conv O(F·c³·log) for F frequencies.
   */
  lipschitzBound(): number {
    const s = this.evalSigma();
    const h = 2 / (s * s + 1e-4);
    const S = this.spectralUpperBound();
    return Math.max(1, h * S * S - 1);
  }

  /** A certified upper bound of ‖W‖₂ (of the zero-padded conv operator for CPLConv2d). */
  abstract spectralUpperBound(): number;
}

/** A new tensor like `like` filled with `value`. */
function fill(like: Tensor, value: number): Tensor {
  return full(like.shape, value, { dtype: like.dtype, device: like.device });
}

/** Options of CPLDense. */
export interface CPLDenseOptions extends ParamOptions {
  /** Inner width m (rows of W). Required. */
  inner: number;
  powerIteration?: PowerIterationSchedule;
}

/**
 * Dense CPL layer: x [N, features] → [N, features]. Parameters `weights` [inner, features], `bias`
 * [inner] (both U(±1/√features)) and the unused scalar `alpha` (state-dict compatibility with the
 * reference); buffers `eval_sv_max` [1] and `pm.u` [1, features]. Cost per forward: 4·N·inner·features
 * flops plus 4·inner·features per power iteration.
 */
export class CPLDense extends CPLBase {
  readonly weights: Tensor;
  readonly bias: Tensor;
  readonly alpha: Tensor;
  protected readonly cache: Tensor;
  protected readonly pm: PowerMethodState;
  constructor(readonly features: number, options: CPLDenseOptions) {
    super('CPLDense', (options ?? {}).powerIteration);
    positiveInt(features, 'CPLDense', 'features');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'CPLDense: expected options { inner, powerIteration? }');
    const inner = positiveInt(options.inner, 'CPLDense', 'inner');
    const seed = nextSeed(options.seed);
    const bound = 1 / Math.sqrt(features);
    const dt = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' } as const;
    this.weights = this.registerParameter('weights', uniformInit([inner, features], bound, seed, options));
    this.bias = this.registerParameter('bias', uniformInit([inner], bound, seed + 0x9e3779b9, options));
    this.alpha = this.registerParameter('alpha', zeros([1], dt));
    this.cache = this.registerBuffer('eval_sv_max', zeros([1], dt));
    const u = randn([1, features], { seed: seed + 2 * 0x9e3779b9, ...dt });
    this.pm = this.registerModule('pm', new PowerMethodState(normalized(u)));
  }
  protected piOperator() {
    return { matrix: this.weights };
  }
  protected stateU(): Tensor {
    return this.pm.u;
  }
  protected sigmaOf(u: Tensor, v: Tensor): Tensor {
    const wu = matmul(this.weights, u.reshape([this.features, 1]));
    return sum(mul(wu, v.reshape([v.size, 1]))).reshape([1]);
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'CPLDense', 'x');
    check(x.ndim === 2 && x.shape[1] === this.features, 'ERR_SHAPE', () => `CPLDense: 'x' must have shape [N, ${this.features}], got [${x.shape}]`);
    return cplDense(x, this.weights, this.bias, this.sigmaFor(x));
  }
  spectralUpperBound(): number {
    return denseSpectralUpperBound(this.weights);
  }
}

/** Options of CPLConv2d. */
export interface CPLConv2dOptions extends ParamOptions {
  /** Inner channels m (output channels of K). Required. */
  inner: number;
  /** Odd kernel size 1..7 (default 3); padding kernelSize // 2. */
  kernelSize?: number;
  /** [H, W] of the power-iteration vector (the layer's input maps); default: from the first forward. */
  inputSize?: [number, number];
  powerIteration?: PowerIterationSchedule;
}

/**
 * Conv CPL layer: x [N, channels, H, W] → same shape, y = x − h·Kᵀ ⋆ relu(K ⋆ x + b) with zero padding
 * k//2. Parameters `kernel` [inner, channels, k, k] and `bias` [inner] (U(±1/√(channels·k²))); buffers
 * `eval_sv_max` [1] and `pm.u` [1, channels, H, W] (created at construction from `inputSize`, else at
 * the first forward; σ̂ is the norm of the conv on H×W maps, and inputs of another size are refused).
 * Cost per forward: two convolutions, 4·N·inner·channels·k²·H·W flops, plus two per power iteration.
 */
export class CPLConv2d extends CPLBase {
  readonly kernel: Tensor;
  readonly bias: Tensor;
  readonly kernelSize: number;
  protected readonly cache: Tensor;
  private pmState: PowerMethodState | null = null;
  private readonly uSeed: number;
  private readonly dt: { dtype: 'float32' | 'float64'; device: 'cpu' | 'cuda' };
  constructor(readonly channels: number, options: CPLConv2dOptions) {
    super('CPLConv2d', (options ?? {}).powerIteration);
    positiveInt(channels, 'CPLConv2d', 'channels');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'CPLConv2d: expected options { inner, kernelSize?, inputSize?, powerIteration? }');
    const inner = positiveInt(options.inner, 'CPLConv2d', 'inner');
    const k = options.kernelSize ?? 3;
    check(Number.isInteger(k) && k >= 1 && k <= 7 && k % 2 === 1, 'ERR_UNSUPPORTED',
      () => `CPLConv2d: 'kernelSize' must be odd, one of 1, 3, 5, 7 (padding k//2), got ${describe(k)}`);
    this.kernelSize = k;
    const seed = nextSeed(options.seed);
    this.uSeed = seed + 2 * 0x9e3779b9;
    const bound = 1 / Math.sqrt(channels * k * k);
    this.dt = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' };
    this.kernel = this.registerParameter('kernel', uniformInit([inner, channels, k, k], bound, seed, options));
    this.bias = this.registerParameter('bias', uniformInit([inner], bound, seed + 0x9e3779b9, options));
    this.cache = this.registerBuffer('eval_sv_max', zeros([1], this.dt));
    if (options.inputSize !== undefined) {
      const s = options.inputSize;
      check(Array.isArray(s) && s.length === 2 && s.every((d) => Number.isInteger(d) && d >= 1), 'ERR_ARGUMENT',
        () => `CPLConv2d: 'inputSize' must be [H, W] with positive integers, got ${describe(s)}`);
      this.createState(s[0], s[1]);
    }
  }
  private createState(H: number, W: number): void {
    const u = randn([1, this.channels, H, W], { seed: this.uSeed, dtype: this.kernel.dtype as 'float32' | 'float64', device: this.kernel.device });
    this.pmState = this.registerModule('pm', new PowerMethodState(normalized(u)));
  }
  protected piOperator() {
    return { conv: this.kernel };
  }
  protected stateU(x: Tensor | null): Tensor {
    if (this.pmState === null) {
      check(x !== null, 'ERR_ARGUMENT', 'CPLConv2d: the power-iteration vector does not exist yet; pass inputSize or run a forward first');
      this.createState(x.shape[2], x.shape[3]);
    }
    return (this.pmState as PowerMethodState).u;
  }
  protected sigmaOf(u: Tensor, v: Tensor): Tensor {
    return sum(mul(conv2d(u, this.kernel, null, {}), v)).reshape([1]);
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'CPLConv2d', 'x');
    check(x.ndim === 4 && x.shape[1] === this.channels, 'ERR_SHAPE', () => `CPLConv2d: 'x' must have shape [N, ${this.channels}, H, W], got [${x.shape}]`);
    if (this.pmState !== null) {
      const us = this.pmState.u.shape;
      check(x.shape[2] === us[2] && x.shape[3] === us[3], 'ERR_SHAPE',
        () => `CPLConv2d: 'x' has maps ${x.shape[2]}×${x.shape[3]} but the layer's power-iteration vector (σ̂ of the conv on its maps) is ${us[2]}×${us[3]}`);
    }
    return cplConv2d(x, this.kernel, this.bias, this.sigmaFor(x));
  }
  spectralUpperBound(): number {
    const u = this.stateU(null);
    return convSpectralUpperBound(this.kernel, [u.shape[2], u.shape[3]]);
  }
}

function normalized(u: Tensor): Tensor {
  const d = u.data();
  let s = 0;
  for (const v of d) s += v * v;
  const n = Math.sqrt(s);
  const out = tensor(Array.from(d, (v: number) => v / n), { shape: u.shape, dtype: u.dtype, device: u.device });
  u.dispose();
  return out;
}
