/**
 * SLL layers (SDP-based Lipschitz Layers, Araujo et al. ICLR'23; SPEC.md A.2): residual layers
 * x − 2·Wᵀ(T ⊙ relu(W x + b)) whose diagonal rescaling T comes from a closed-form (Gershgorin-type)
 * bound with learnable weights exp(q), so every layer is 1-Lipschitz for any parameter values.
 */
import { check } from '../errors';
import { randn } from '../ops/creation';
import { describe, requireTensor } from '../ops/run';
import { layerRecords, LipschitzLayerOp, runLayerOp } from '../ops/sll';
import { keep, Tensor, versionsOf } from '../tensor';
import { Module } from './module';
import { nextSeed, ParamOptions, uniformInit } from './layers';

function positiveInt(v: unknown, op: string, arg: string): number {
  check(Number.isInteger(v) && (v as number) >= 1, 'ERR_ARGUMENT', () => `${op}: '${arg}' must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/** Odd kernel size in 1..7 (padding k//2 keeps the spatial size). */
export function oddKernelSize(v: unknown, op: string): number {
  check(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 7 && (v as number) % 2 === 1, 'ERR_ARGUMENT',
    () => `${op}: 'kernelSize' must be an odd integer in 1..7 (padding k//2), got ${describe(v)}`);
  return v as number;
}

/**
 * The eval-mode cache of a layer's rescaling vector (T or D): valid while the versions of the
 * parameters it was computed from are unchanged (optimizer steps, assign, loadStateDict and Module.to
 * bump them). Used only where no gradient is recorded (eval mode inside `ol.noGrad`, or with no input
 * and no parameter requiring grad): a recorded call needs the Gram for its backward, so an eval-mode
 * forward with recording on (e.g. an attack differentiating in x) recomputes T / D.
 * @internal
 */
export class ScaleCache {
  private scale: Tensor | null = null;
  private key = '';
  /** Runs the layer op, using and refreshing the cache in eval mode when no gradient is recorded. */
  run(module: Module, op: LipschitzLayerOp, x: Tensor, weight: Tensor, b: Tensor, q: Tensor, params: Tensor[]): Tensor {
    const useCache = !module.training && !layerRecords([x, ...params]);
    const key = versionsOf(params) + `|${weight.device}|${weight.dtype}`;
    if (useCache && this.scale !== null && this.key === key) {
      const r = runLayerOp(op, x, weight, b, q, this.scale);
      r.scale.dispose();
      return r.y;
    }
    const r = runLayerOp(op, x, weight, b, q);
    if (useCache) {
      this.clear();
      this.scale = keep(r.scale);
      this.key = key;
    } else {
      r.scale.dispose();
    }
    return r.y;
  }
  /** Whether a cached vector is held (tests). */
  get cached(): boolean {
    return this.scale !== null;
  }
  clear(): void {
    this.scale?.dispose();
    this.scale = null;
    this.key = '';
  }
}

/** Options of `SLLDense`. */
export interface SLLDenseOptions extends ParamOptions {
  /** Inner dimension m (rows of W). Required. */
  inner: number;
}

/**
 * Dense SLL layer: x [N, features] → [N, features], y = x − 2·(T ⊙ relu(x Wᵀ + b)) W,
 * T_i = 1/Σ_j |W Wᵀ|_ij·exp(q_j − q_i) (0 where the sum is 0).
 * Parameters (state dict, SPEC.md A.2): `weight` [inner, features] (Xavier normal), `bias` [1, inner]
 * (U(±1/√features)), `q` [inner] (N(0, 1)). T is recomputed every training forward and cached in eval
 * mode until a parameter changes. Cost per forward: inner²·features (syrk) + 4·N·inner·features flops.
 */
export class SLLDense extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly q: Tensor;
  readonly inner: number;
  private readonly cache = new ScaleCache();
  constructor(readonly features: number, options: SLLDenseOptions) {
    super();
    positiveInt(features, 'SLLDense', 'features');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'SLLDense: expected options { inner, seed?, dtype?, device? }');
    this.inner = positiveInt(options.inner, 'SLLDense', 'inner');
    const seed = nextSeed(options.seed);
    const o = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' } as const;
    const std = Math.sqrt(2 / (features + this.inner));
    this.weight = this.registerParameter('weight', randn([this.inner, features], { seed, std, ...o }));
    this.bias = this.registerParameter('bias', uniformInit([1, this.inner], 1 / Math.sqrt(features), seed + 0x9e3779b9, options));
    this.q = this.registerParameter('q', randn([this.inner], { seed: seed + 0x3c6ef372, ...o }));
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'SLLDense', 'x');
    check(x.ndim === 2 && x.shape[1] === this.features, 'ERR_SHAPE', () => `SLLDense: 'x' must have shape [N, ${this.features}], got [${x.shape}]`);
    const b = this.bias.reshape([this.inner]);
    return this.cache.run(this, 'sll_dense', x, this.weight, b, this.q, [this.weight, this.bias, this.q]);
  }
  /**
   * 1: the layer is 1-Lipschitz by construction (diag(t) ⪰ W Wᵀ for any W, q). Exact in real
   * arithmetic; assumes the rounding of T (relative error ~ inner·ε of the dtype) is negligible.
   */
  lipschitzBound(): number {
    return 1;
  }
  /** Whether an eval-mode T is cached (tests). @internal */
  get evalCacheHeld(): boolean {
    return this.cache.cached;
  }
  override dispose(): void {
    this.cache.clear();
    super.dispose();
  }
}

/** Options of `SLLConv2d`. */
export interface SLLConv2dOptions extends ParamOptions {
  /** Inner channels m. Required. */
  inner: number;
  /** Odd kernel size in 1..7, default 3 (padding k//2). */
  kernelSize?: number;
}

/**
 * Conv SLL layer: x [N, channels, H, W] → same shape, y = x − 2·Kᵀ ⋆ (T ⊙ relu(K ⋆ x + b)) (padding
 * k//2), t_i = Σ_j Σ_s |G[i, j, s]|·exp(q_j − q_i) with G the kernel self-correlation.
 * Parameters (state dict, SPEC.md A.2): `kernel` [inner, channels, k, k] (Xavier normal), `bias`
 * [1, inner, 1, 1] (U(±1/√(channels·k²))), `q` [inner] (N(0, 1)). T is cached in eval mode until a
 * parameter changes. Cost per forward: the self-correlation (2·inner²·channels·k⁴) + two convolutions.
 */
export class SLLConv2d extends Module {
  readonly kernel: Tensor;
  readonly bias: Tensor;
  readonly q: Tensor;
  readonly inner: number;
  readonly kernelSize: number;
  private readonly cache = new ScaleCache();
  constructor(readonly channels: number, options: SLLConv2dOptions) {
    super();
    positiveInt(channels, 'SLLConv2d', 'channels');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'SLLConv2d: expected options { inner, kernelSize?, seed?, dtype?, device? }');
    this.inner = positiveInt(options.inner, 'SLLConv2d', 'inner');
    const k = (this.kernelSize = oddKernelSize(options.kernelSize ?? 3, 'SLLConv2d'));
    const seed = nextSeed(options.seed);
    const o = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' } as const;
    const std = Math.sqrt(2 / ((channels + this.inner) * k * k));
    this.kernel = this.registerParameter('kernel', randn([this.inner, channels, k, k], { seed, std, ...o }));
    this.bias = this.registerParameter('bias', uniformInit([1, this.inner, 1, 1], 1 / Math.sqrt(channels * k * k), seed + 0x9e3779b9, options));
    this.q = this.registerParameter('q', randn([this.inner], { seed: seed + 0x3c6ef372, ...o }));
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'SLLConv2d', 'x');
    check(x.ndim === 4 && x.shape[1] === this.channels, 'ERR_SHAPE', () => `SLLConv2d: 'x' must have shape [N, ${this.channels}, H, W], got [${x.shape}]`);
    const b = this.bias.reshape([this.inner]);
    return this.cache.run(this, 'sll_conv2d', x, this.kernel, b, this.q, [this.kernel, this.bias, this.q]);
  }
  /** 1: 1-Lipschitz by construction (see SLLDense.lipschitzBound; the same rounding assumption). */
  lipschitzBound(): number {
    return 1;
  }
  /** Whether an eval-mode T is cached (tests). @internal */
  get evalCacheHeld(): boolean {
    return this.cache.cached;
  }
  override dispose(): void {
    this.cache.clear();
    super.dispose();
  }
}
