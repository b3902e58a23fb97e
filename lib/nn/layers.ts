/**
 * Plain layers of `ol.nn`: Sequential, Linear, ReLU, Flatten, and the parameter-free building blocks
 * of 1-Lipschitz networks (MaxMin, PaddingChannels, PixelUnshuffle, AvgPool2d, FirstChannels).
 */
import { check } from '../errors';
import { rand } from '../ops/creation';
import { add, relu } from '../ops/elementwise';
import { matmul } from '../ops/matmul';
import { avgPool2d, maxMin } from '../ops/pooling';
import { conv2d } from '../ops/conv2d';
import { describe, requireTensor } from '../ops/run';
import { firstChannels, padChannels, pixelUnshuffle } from '../ops/shuffle';
import { Device, Tensor } from '../tensor';
import { Module } from './module';

// ---- seeding of parameter initialisation ----
let seedCounter = 0;
let baseSeed = 0;

/**
 * Sets the global seed of parameter initialisation: layers created afterwards without an explicit
 * `seed` option take seeds baseSeed·2²⁰ + 1, + 2, ... in creation order, so the same program builds the
 * same model. The default base seed is 0.
 */
export function manualSeed(seed: number): void {
  check(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, 'ERR_ARGUMENT', `nn.manualSeed: seed must be an integer in [0, 2^32), got ${describe(seed)}`);
  baseSeed = seed;
  seedCounter = 0;
}

/** The next initialisation seed (explicit option, else from the global sequence). */
export function nextSeed(explicit?: number): number {
  if (explicit !== undefined) {
    check(Number.isInteger(explicit) && explicit >= 0 && explicit < 2 ** 53, 'ERR_ARGUMENT', `nn: seed must be a non-negative integer, got ${describe(explicit)}`);
    return explicit;
  }
  return baseSeed * 2 ** 20 + ++seedCounter;
}

/** Options shared by layers with parameters. */
export interface ParamOptions {
  /** Initialisation seed (default: the global sequence of `manualSeed`). */
  seed?: number;
  /** Parameter dtype, default float32. */
  dtype?: 'float32' | 'float64';
  /** Parameter device, default cpu. */
  device?: Device;
}

function positiveInt(v: unknown, op: string, arg: string): number {
  check(Number.isInteger(v) && (v as number) >= 1, 'ERR_ARGUMENT', () => `${op}: '${arg}' must be a positive integer, got ${describe(v)}`);
  return v as number;
}

/** U(−bound, bound) of `shape`, seeded. */
export function uniformInit(shape: number[], bound: number, seed: number, o: ParamOptions): Tensor {
  return rand(shape, { seed, low: -bound, high: bound, dtype: o.dtype ?? 'float32', device: o.device ?? 'cpu' });
}

/** Runs its children in order: `new Sequential([a, b, c]).forward(x) = c(b(a(x)))`. Children are named '0', '1', ... */
export class Sequential extends Module {
  private readonly layers: Module[];
  constructor(modules: Module[]) {
    super();
    check(Array.isArray(modules), 'ERR_ARGUMENT', 'Sequential: expected an array of modules');
    this.layers = modules.map((m, i) => this.registerModule(String(i), m));
  }
  get length(): number {
    return this.layers.length;
  }
  /** The i-th child. */
  at(i: number): Module {
    return this.layers[i];
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}

/**
 * y = x·Wᵀ + b: x [..., in] → [..., out]. Parameters `weight` [out, in] and `bias` [out] (unless
 * `bias: false`), initialised like PyTorch's default: U(±1/√in) for both (kaiming_uniform with
 * a = √5), seeded (see `manualSeed`). Cost: 2·in·out flops per row.
 */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, options: ParamOptions & { bias?: boolean } = {}) {
    super();
    positiveInt(inFeatures, 'Linear', 'inFeatures');
    positiveInt(outFeatures, 'Linear', 'outFeatures');
    const bound = 1 / Math.sqrt(inFeatures);
    const seed = nextSeed(options.seed);
    this.weight = this.registerParameter('weight', uniformInit([outFeatures, inFeatures], bound, seed, options));
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniformInit([outFeatures], bound, seed + 0x9e3779b9, options));
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'Linear', 'x');
    check(x.ndim >= 1 && x.shape[x.ndim - 1] === this.inFeatures, 'ERR_SHAPE',
      () => `Linear: 'x' must have shape [..., ${this.inFeatures}], got [${x.shape}]`);
    const x2 = x.ndim === 1 ? x.reshape([1, this.inFeatures]) : x;
    let y = matmul(x2, this.weight, { transB: true });
    if (this.bias) y = add(y, this.bias);
    return x.ndim === 1 ? y.reshape([this.outFeatures]) : y;
  }
}

/** max(x, 0), elementwise. No parameters. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** x [N, ...] → [N, prod(...)] (a view). No parameters. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    requireTensor(x, 'Flatten', 'x');
    check(x.ndim >= 1, 'ERR_SHAPE', 'Flatten: x must have a batch dimension');
    return x.reshape([x.shape[0], x.shape.slice(1).reduce((a, b) => a * b, 1)]);
  }
}

/** MaxMin / GroupSort-2 over channel halves (SPEC.md B.1); x [N, C, ...] with C even. No parameters. */
export class MaxMin extends Module {
  forward(x: Tensor): Tensor {
    return maxMin(x);
  }
}

/** Zero channel padding to `channels` (CPL/SLL first layer, SPEC.md B.3): [N, C, ...] → [N, channels, ...]. */
export class PaddingChannels extends Module {
  constructor(readonly channels: number) {
    super();
    positiveInt(channels, 'PaddingChannels', 'channels');
  }
  forward(x: Tensor): Tensor {
    return padChannels(x, this.channels);
  }
}

/** The first `channels` channels (Prach et al.'s First Channels): [N, C, ...] → [N, channels, ...]. */
export class FirstChannels extends Module {
  constructor(readonly channels: number) {
    super();
    positiveInt(channels, 'FirstChannels', 'channels');
  }
  forward(x: Tensor): Tensor {
    return firstChannels(x, this.channels);
  }
}

/** Space-to-depth by `factor` (default 2): [N, C, H, W] → [N, C·r², H/r, W/r]. An orthogonal permutation. */
export class PixelUnshuffle extends Module {
  constructor(readonly factor = 2) {
    super();
    positiveInt(factor, 'PixelUnshuffle', 'factor');
  }
  forward(x: Tensor): Tensor {
    return pixelUnshuffle(x, this.factor);
  }
}

/**
 * Average pooling with stride = kernelSize and an optional divisor (PyTorch's divisor_override):
 * `new AvgPool2d({ kernelSize: 4, divisor: 4 })` is the CPL/SLL 1-Lipschitz downsampling (SPEC.md B.3).
 */
export class AvgPool2d extends Module {
  readonly kernelSize: number | [number, number];
  readonly divisor?: number;
  constructor(options: { kernelSize: number | [number, number]; divisor?: number }) {
    super();
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'AvgPool2d: expected options { kernelSize, divisor? }');
    this.kernelSize = options.kernelSize;
    this.divisor = options.divisor;
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, { kernelSize: this.kernelSize, divisor: this.divisor });
  }
}

/** Options of `Conv2d`. */
export interface Conv2dOptions extends ParamOptions {
  /** Kernel size: one integer or [kh, kw]. Required. */
  kernelSize: number | [number, number];
  /** Stride, default 1. */
  stride?: number;
  /** Zero padding on each side, default kernelSize // 2 ("same" for odd kernels at stride 1). */
  padding?: number;
  /** Whether to add a learned bias per output channel (default true). */
  bias?: boolean;
}

/**
 * 2-D convolution (cross-correlation, PyTorch's `Conv2d`): x [N, in, H, W] → [N, out, H', W'] with
 * H' = ⌊(H + 2·padding − kh) / stride⌋ + 1 (likewise W'). Parameters `weight` [out, in, kh, kw] and
 * `bias` [out], initialised like PyTorch (U(±1/√(in·kh·kw)) for both), seeded (see `manualSeed`).
 * Runs `ol.ops.conv2d` (bias fused); cost 2·N·out·in·kh·kw·H'·W' flops.
 */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number | undefined;
  constructor(readonly inChannels: number, readonly outChannels: number, options: Conv2dOptions) {
    super();
    positiveInt(inChannels, 'Conv2d', 'inChannels');
    positiveInt(outChannels, 'Conv2d', 'outChannels');
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'Conv2d: expected options { kernelSize, stride?, padding?, bias? }');
    const ks = options.kernelSize;
    const [kh, kw] = Array.isArray(ks) ? ks : [ks, ks];
    positiveInt(kh, 'Conv2d', 'kernelSize');
    positiveInt(kw, 'Conv2d', 'kernelSize');
    this.stride = options.stride === undefined ? 1 : positiveInt(options.stride, 'Conv2d', 'stride');
    check(options.padding === undefined || (Number.isInteger(options.padding) && options.padding >= 0), 'ERR_ARGUMENT',
      () => `Conv2d: 'padding' must be a non-negative integer, got ${describe(options.padding)}`);
    this.padding = options.padding;
    const bound = 1 / Math.sqrt(inChannels * kh * kw);
    const seed = nextSeed(options.seed);
    this.weight = this.registerParameter('weight', uniformInit([outChannels, inChannels, kh, kw], bound, seed, options));
    this.bias = options.bias === false ? null : this.registerParameter('bias', uniformInit([outChannels], bound, seed + 0x9e3779b9, options));
  }
  forward(x: Tensor): Tensor {
    return conv2d(requireTensor(x, 'Conv2d', 'x'), this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
}
