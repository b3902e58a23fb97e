/**
 * Channel-pair activations with learnable angles (SPEC.md B.1, B.2): `HouseholderActivation` (HH1) and
 * `ChannelPool` (the NeurIPS'22 1-Lipschitz pooling 'lip1', or 'max').
 */
import { check } from '../errors';
import { rand, full } from '../ops/creation';
import { householder, lipPool } from '../ops/activations';
import { clamp } from '../ops/elementwise';
import { slice } from '../ops/layout';
import { maxMin } from '../ops/pooling';
import { describe, requireTensor } from '../ops/run';
import { Tensor } from '../tensor';
import { nextSeed, ParamOptions } from './layers';
import { Module } from './module';

function evenChannels(c: unknown, op: string): number {
  check(Number.isInteger(c) && (c as number) >= 2 && (c as number) % 2 === 0, 'ERR_ARGUMENT',
    () => `${op}: 'channels' must be an even integer ≥ 2, got ${describe(c)}`);
  return c as number;
}

/**
 * HH1 (SPEC.md B.1): x [N, C, ...] (C even) → same shape; each channel pair (c, c + C/2) is reflected
 * across the line at angle θ_c/2 when it lies on the reflecting side (see `ol.ops.householder`).
 * Parameter `theta` [1, C/2, 1, 1] initialised to π/2 (MaxMin up to order). 1-Lipschitz and gradient
 * norm preserving for every θ. Cost: one pass.
 */
export class HouseholderActivation extends Module {
  readonly theta: Tensor;
  constructor(readonly channels: number, options: ParamOptions = {}) {
    super();
    evenChannels(channels, 'HouseholderActivation');
    this.theta = this.registerParameter('theta', full([1, channels / 2, 1, 1], Math.PI / 2, { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' }));
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'HouseholderActivation', 'x');
    check(x.ndim >= 2 && x.shape[1] === this.channels, 'ERR_SHAPE',
      () => `HouseholderActivation: 'x' must be [N, ${this.channels}, ...], got [${x.shape}]`);
    return householder(x, this.theta);
  }
  /** 1: every pair map is an isometry on each side of its reflecting line and continuous across it. */
  lipschitzBound(): number {
    return 1;
  }
}

/** Options of `ChannelPool`. */
export interface ChannelPoolOptions extends ParamOptions {
  /** 'lip1': signed distance to a wedge with a learnable angle per output channel; 'max': max of the pair. */
  mode: 'max' | 'lip1';
  /** Input channels C (even); required for 'lip1' (the parameter has C/2 angles). */
  channels?: number;
}

/**
 * Channel pooling by pairs (SPEC.md B.2): x [N, C, ...] (C even) → [N, C/2, ...].
 * 'max': max(x_c, x_{c+C/2}) (no parameters). 'lip1': the signed distance of (x_c, x_{c+C/2}) to the
 * boundary of the wedge {|angle| ≤ θ_c/2}, θ clamped to [0, π] in the forward; parameter `theta` [C/2]
 * initialised to π·U(0, 1), seeded. Both are 1-Lipschitz. Cost: one pass.
 */
export class ChannelPool extends Module {
  readonly mode: 'max' | 'lip1';
  readonly theta: Tensor | null;
  readonly channels: number | undefined;
  constructor(options: ChannelPoolOptions) {
    super();
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', "ChannelPool: options must be an object { mode: 'max' | 'lip1', channels? }");
    check(options.mode === 'max' || options.mode === 'lip1', 'ERR_ARGUMENT',
      () => `ChannelPool: 'mode' must be 'max' or 'lip1', got ${describe(options.mode)}`);
    this.mode = options.mode;
    if (this.mode === 'lip1') {
      this.channels = evenChannels(options.channels, 'ChannelPool');
      this.theta = this.registerParameter('theta', rand([this.channels / 2], {
        seed: nextSeed(options.seed), low: 0, high: Math.PI, dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu',
      }));
    } else {
      this.channels = options.channels;
      this.theta = null;
    }
  }
  forward(x: Tensor): Tensor {
    requireTensor(x, 'ChannelPool', 'x');
    check(x.ndim >= 2 && x.shape[1] % 2 === 0 && (this.channels === undefined || x.shape[1] === this.channels), 'ERR_SHAPE',
      () => `ChannelPool: 'x' must be [N, ${this.channels ?? 'C (even)'}, ...], got [${x.shape}]`);
    if (this.theta) return lipPool(x, clamp(this.theta, 0, Math.PI));
    const end = [...x.shape];
    end[1] /= 2;
    return slice(maxMin(x), x.shape.map(() => 0), end);
  }
  lipschitzBound(): number {
    return 1;
  }
}
