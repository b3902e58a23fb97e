/**
 * `Normalize`: input standardisation inside the model, x ↦ (x − mean) / std per channel, so that a
 * checkpoint carries its constants and certification can account for them (SPEC.md §D.3).
 */
import { check } from '../errors';
import { tensor } from '../ops/creation';
import { div, sub } from '../ops/elementwise';
import { requireTensor } from '../ops/run';
import { Tensor } from '../tensor';
import { Module } from './module';

export interface NormalizeOptions {
  /** Per-channel mean (length C), or one number for every channel. */
  mean: number[] | number;
  /** Per-channel standard deviation (length C, each > 0), or one number. Default 1 (mean subtraction only). */
  std?: number[] | number;
  /** Number of channels when mean and std are both numbers (default 1). */
  channels?: number;
}

/**
 * x [N, C, ...] ↦ (x − mean_c) / std_c. Buffers (state dict): `shift` [C, 1, 1] (the mean) and `scale`
 * [C, 1, 1] (the std), the names of the IMP repo's LipConvNet. Lipschitz constant 1 / min_c std_c
 * (mean subtraction is free). Cost: two broadcast elementwise ops.
 */
export class Normalize extends Module {
  readonly channels: number;

  constructor(options: NormalizeOptions) {
    super();
    check(options !== null && typeof options === 'object', 'ERR_ARGUMENT', 'Normalize: options { mean, std } are required');
    const asList = (v: number[] | number | undefined, name: string, def: number): number[] | number => {
      if (v === undefined) return def;
      check(typeof v === 'number' || (Array.isArray(v) && v.length > 0), 'ERR_ARGUMENT', `Normalize: ${name} must be a number or a non-empty array of numbers, got ${String(v)}`);
      return v;
    };
    const m = asList(options.mean, 'mean', 0);
    const s = asList(options.std, 'std', 1);
    const c = Array.isArray(m) ? m.length : Array.isArray(s) ? s.length : options.channels ?? 1;
    check(Number.isInteger(c) && c >= 1, 'ERR_ARGUMENT', `Normalize: channels must be a positive integer, got ${String(options.channels)}`);
    check(!Array.isArray(m) || !Array.isArray(s) || m.length === s.length, 'ERR_SHAPE',
      () => `Normalize: mean has ${(m as number[]).length} channels but std has ${(s as number[]).length}`);
    check(options.channels === undefined || options.channels === c, 'ERR_SHAPE', `Normalize: channels ${options.channels} does not match the ${c} values of mean/std`);
    const mean = Array.isArray(m) ? m : new Array<number>(c).fill(m);
    const std = Array.isArray(s) ? s : new Array<number>(c).fill(s);
    mean.forEach((v, i) => check(Number.isFinite(v), 'ERR_ARGUMENT', `Normalize: mean[${i}] must be finite, got ${v}`));
    std.forEach((v, i) => check(Number.isFinite(v) && v > 0, 'ERR_ARGUMENT', `Normalize: std[${i}] must be finite and > 0, got ${v}`));
    this.channels = c;
    this.registerBuffer('shift', tensor(Float32Array.from(mean), { shape: [c, 1, 1] }));
    this.registerBuffer('scale', tensor(Float32Array.from(std), { shape: [c, 1, 1] }));
  }

  private buffer(name: string): Tensor {
    return this.buffers().find(([n]) => n === name)![1];
  }

  forward(x: Tensor): Tensor {
    requireTensor(x, 'Normalize', 'x');
    check(x.ndim >= 2 && x.shape[1] === this.channels, 'ERR_SHAPE',
      `Normalize: x must be [N, ${this.channels}, ...], got [${x.shape}]`);
    check(x.dtype !== 'int32', 'ERR_DTYPE', 'Normalize: x must be float32 or float64, got int32');
    const trailing = x.ndim - 2;
    const view = (t: Tensor): Tensor => {
      // [C, 1, 1] broadcasts against [N, C, H, W] as is; other ranks and dtypes/devices need a temporary
      const u = t.dtype === x.dtype && t.device === x.device ? t : t.astype(x.dtype).to(x.device);
      return trailing === 2 ? u : u.reshape([this.channels, ...new Array<number>(trailing).fill(1)]);
    };
    return div(sub(x, view(this.buffer('shift'))), view(this.buffer('scale')));
  }

  /** The mean (from the buffer, float64 values). */
  get mean(): number[] {
    return Array.from(this.buffer('shift').data());
  }

  /** The std (from the buffer). */
  get std(): number[] {
    return Array.from(this.buffer('scale').data());
  }

  /** A sound Lipschitz bound of this map in ℓ2: 1 / min_c std_c, computed in float64 from the buffer. */
  lipschitzBound(): number {
    return 1 / Math.min(...this.std);
  }
}
