/**
 * AOL layers (Almost-Orthogonal Layers, Prach & Lampert; SPEC.md A.3): a linear map or convolution
 * whose input channels are rescaled by D_j = (Σ_i |PᵀP|_ji·exp(q_i − q_j))^{−1/2} so that ‖P·diag(D)‖₂ ≤ 1
 * for any P. Optional learnable q (`learnQ`; default off: q = 0 is the plain AOL bound).
 */
import { check } from '../errors';
import { tensor, zeros } from '../ops/creation';
import { requireTensor } from '../ops/run';
import { keep, Tensor } from '../tensor';
import { Module } from './module';
import { nextSeed, ParamOptions, uniformInit } from './layers';
import { oddKernelSize, ScaleCache } from './sll';
import { describe } from '../ops/run';

function positiveInt(v: unknown, op: string, arg: string): number {
  check(Number.isInteger(v) && (v as number) >= 1, 'ERR_ARGUMENT', () => `${op}: '${arg}' must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/** Options of the AOL layers. */
export interface AOLOptions extends ParamOptions {
  /** Learn the SLL-style weights q (a parameter `q` [in], initialised to 0). Default false (q fixed at 0, not in the state dict). */
  learnQ?: boolean;
}

/** q of an AOL layer: the learned parameter, or zeros of the weight's dtype and device (not saved). @internal */
class QSource {
  private fixed: Tensor | null = null;
  constructor(readonly learned: Tensor | null, private readonly n: number) {}
  get(weight: Tensor): Tensor {
    if (this.learned) return this.learned;
    if (this.fixed === null || this.fixed.device !== weight.device || this.fixed.dtype !== weight.dtype) {
      this.fixed?.dispose();
      this.fixed = keep(zeros([this.n], { dtype: weight.dtype as 'float32' | 'float64', device: weight.device }));
    }
    return this.fixed;
  }
  dispose(): void {
    this.fixed?.dispose();
    this.fixed = null;
  }
}

/** Holds one parameter under a nested name (`parametrizations.weight.original`). @internal */
class Holder extends Module {
  param(name: string, t: Tensor): Tensor {
    return this.registerParameter(name, t);
  }
  child<M extends Module>(name: string, m: M): M {
    return this.registerModule(name, m);
  }
  forward(): Tensor {
    throw new Error('a parameter holder has no forward');
  }
}

/**
 * Dense AOL layer: x [N, in] → [N, out], y = (x ⊙ D) Pᵀ + b. Parameters: `weight` [out, in] (the raw P,
 * U(±1/√in)), `bias` [out] (zeros), `q` [in] with `learnQ`. D is cached in eval mode until a parameter
 * changes. Cost: in²·out (syrk PᵀP) + 2·N·in·out flops per forward.
 */
export class AOLDense extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** The learned q [in] (`learnQ`), else null (q = 0). */
  readonly q: Tensor | null;
  private readonly qs: QSource;
  private readonly cache = new ScaleCache();
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: AOLOptions = {}) {
    super();
    positiveInt(inFeatures, 'AOLDense', 'in');
    positiveInt(outFeatures, 'AOLDense', 'out');
    const seed = nextSeed(options.seed);
    const o = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' } as const;
    this.weight = this.registerParameter('weight', uniformInit([outFeatures, inFeatures], 1 / Math.sqrt(inFeatures), seed, options));
    this.bias = this.registerParameter('bias', zeros([outFeatures], o));
    this.q = options.learnQ ? this.registerParameter('q', zeros([inFeatures], o)) : null;
    this.qs = new QSource(this.q, inFeatures);
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'AOLDense', 'x');
    check(x.ndim === 2 && x.shape[1] === this.inFeatures, 'ERR_SHAPE', () => `AOLDense: 'x' must have shape [N, ${this.inFeatures}], got [${x.shape}]`);
    const q = this.qs.get(this.weight);
    return this.cache.run(this, 'aol_dense', x, this.weight, this.bias, q, [this.weight, this.bias, q]);
  }
  /** 1: ‖P·diag(D)‖₂ ≤ 1 by the Gershgorin bound, exact in real arithmetic; assumes the rounding of D (~in·ε) is negligible. */
  lipschitzBound(): number {
    return 1;
  }
  /** @internal */
  get evalCacheHeld(): boolean {
    return this.cache.cached;
  }
  override dispose(): void {
    this.cache.clear();
    this.qs.dispose();
    super.dispose();
  }
}

/** Options of `AOLConv2d`. */
export interface AOLConv2dOptions extends AOLOptions {
  /** Odd kernel size in 1..7 (padding k//2). Required. */
  kernelSize: number;
}

/**
 * Conv AOL layer: x [N, in, H, W] → [N, out, H, W], y = (K·D) ⋆ x + b (padding k//2), D_j =
 * (Σ_{i,s} |V[j, i, s]|·exp(q_i − q_j) + 1e-6)^{−1/2}, V the kernel of JᵀJ. Parameters (1LLC state dict):
 * `parametrizations.weight.original` [out, in, k, k] (raw kernel, Dirac init), `bias` [out] (zeros),
 * `q` [in] with `learnQ`. D cached in eval mode until a parameter changes.
 */
export class AOLConv2d extends Module {
  /** The raw kernel (state dict `parametrizations.weight.original`). */
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** The learned q [in] (`learnQ`), else null (q = 0). */
  readonly q: Tensor | null;
  private readonly qs: QSource;
  readonly kernelSize: number;
  private readonly cache = new ScaleCache();
  constructor(readonly inChannels: number, readonly outChannels: number, options: AOLConv2dOptions) {
    super();
    positiveInt(inChannels, 'AOLConv2d', 'in');
    positiveInt(outChannels, 'AOLConv2d', 'out');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'AOLConv2d: expected options { kernelSize, learnQ?, seed?, dtype?, device? }');
    const k = (this.kernelSize = oddKernelSize(options.kernelSize, 'AOLConv2d'));
    const o = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' } as const;
    const dirac = new Float64Array(outChannels * inChannels * k * k);
    const c = (k - 1) / 2;
    for (let i = 0; i < Math.min(inChannels, outChannels); i++) dirac[((i * inChannels + i) * k + c) * k + c] = 1;
    const holder = this.registerModule('parametrizations', new Holder()).child('weight', new Holder());
    this.weight = holder.param('original', tensor(dirac, { shape: [outChannels, inChannels, k, k], ...o }));
    this.bias = this.registerParameter('bias', zeros([outChannels], o));
    this.q = options.learnQ ? this.registerParameter('q', zeros([inChannels], o)) : null;
    this.qs = new QSource(this.q, inChannels);
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'AOLConv2d', 'x');
    check(x.ndim === 4 && x.shape[1] === this.inChannels, 'ERR_SHAPE', () => `AOLConv2d: 'x' must have shape [N, ${this.inChannels}, H, W], got [${x.shape}]`);
    const q = this.qs.get(this.weight);
    return this.cache.run(this, 'aol_conv2d', x, this.weight, this.bias, q, [this.weight, this.bias, q]);
  }
  /** 1: by the Gershgorin bound on JᵀJ (see AOLDense.lipschitzBound; the same rounding assumption). */
  lipschitzBound(): number {
    return 1;
  }
  /** @internal */
  get evalCacheHeld(): boolean {
    return this.cache.cached;
  }
  override dispose(): void {
    this.cache.clear();
    this.qs.dispose();
    super.dispose();
  }
}
