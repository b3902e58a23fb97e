/**
 * Learning-rate schedules (`ol.optim.schedules`): pure functions of the position t (a step, an epoch or
 * a fractional epoch, whatever unit the schedule was built with), so a resumed run gets the same
 * learning rate as an uninterrupted one. `Scheduler` applies a schedule to an optimizer's groups.
 */
import { check } from '../errors';
import { describe } from '../ops/run';

/** A learning rate as a function of the position t ≥ 0. */
export type Schedule = (t: number) => number;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function requireNumber(fn: string, name: string, v: unknown, min = -Infinity, strict = false): number {
  check(finite(v) && (strict ? v > min : v >= min), 'ERR_ARGUMENT',
    () => `schedules.${fn}: '${name}' must be a finite number ${strict ? '>' : '≥'} ${min}, got ${describe(v)}`);
  return v as number;
}

function requireObject(fn: string, o: unknown, form: string): Record<string, unknown> {
  check(typeof o === 'object' && o !== null && !Array.isArray(o), 'ERR_ARGUMENT', () => `schedules.${fn}: options must be an object ${form}, got ${describe(o)}`);
  return o as Record<string, unknown>;
}

function checkT(fn: string, t: number): void {
  check(finite(t) && t >= 0, 'ERR_ARGUMENT', () => `schedules.${fn}: t must be a finite number ≥ 0, got ${describe(t)}`);
}

/**
 * Linear interpolation through the points (xs[i], ys[i]) (xs increasing), constant before the first and
 * after the last point: numpy's `np.interp`, which the CPL/SLL/Cayley training scripts use.
 */
export function piecewiseLinear(xs: number[], ys: number[]): Schedule {
  check(Array.isArray(xs) && Array.isArray(ys) && xs.length === ys.length && xs.length >= 1, 'ERR_ARGUMENT',
    'schedules.piecewiseLinear: xs and ys must be arrays of the same length ≥ 1');
  xs.forEach((x, i) => {
    requireNumber('piecewiseLinear', `xs[${i}]`, x);
    requireNumber('piecewiseLinear', `ys[${i}]`, ys[i], 0);
    check(i === 0 || x > xs[i - 1], 'ERR_ARGUMENT', () => `schedules.piecewiseLinear: xs must be strictly increasing, got [${xs}]`);
  });
  const X = [...xs];
  const Y = [...ys];
  return (t: number) => {
    checkT('piecewiseLinear', t);
    if (t <= X[0]) return Y[0];
    for (let i = 1; i < X.length; i++)
      if (t <= X[i]) return Y[i - 1] + ((Y[i] - Y[i - 1]) * (t - X[i - 1])) / (X[i] - X[i - 1]);
    return Y[Y.length - 1];
  };
}

export interface TriangularOptions {
  /** Length of the schedule in the unit of t (steps or epochs). Required, > 0. */
  total: number;
  /** The peak learning rate. Required. */
  peak: number;
  /** Position of the peak as a fraction of `total` (default 0.4). */
  peakAt?: number;
  /** Learning rate at t = 0 (default 0). */
  start?: number;
  /** Position of the knee after the peak, a fraction of `total` (default 0.8). */
  decayAt?: number;
  /** Learning rate at the knee (default peak / 20). */
  decayTo?: number;
  /** Learning rate at t = total and after (default 0). */
  end?: number;
}

/**
 * The piecewise-linear "triangular" schedule of the CPL, SLL and Cayley recipes (SPEC.md §C):
 * start → peak at peakAt·total → decayTo at decayAt·total → end at total, linear in between
 * (defaults: 0 → lr at 40 % → lr/20 at 80 % → 0). Evaluate per step, or per fractional epoch
 * (epoch + (i + 1)/batches, as the Cayley and CPL scripts do) with `total` in epochs.
 */
export function triangular(options: TriangularOptions): Schedule {
  const o = requireObject('triangular', options, '{ total, peak, peakAt?, start?, decayAt?, decayTo?, end? }');
  const known = ['total', 'peak', 'peakAt', 'start', 'decayAt', 'decayTo', 'end'];
  for (const k of Object.keys(o)) check(known.includes(k), 'ERR_ARGUMENT', () => `schedules.triangular: unknown option '${k}' (supported: ${known.join(', ')})`);
  const total = requireNumber('triangular', 'total', o.total, 0, true);
  const peak = requireNumber('triangular', 'peak', o.peak, 0);
  const peakAt = requireNumber('triangular', 'peakAt', o.peakAt ?? 0.4, 0);
  const decayAt = requireNumber('triangular', 'decayAt', o.decayAt ?? 0.8, 0);
  const start = requireNumber('triangular', 'start', o.start ?? 0, 0);
  const decayTo = requireNumber('triangular', 'decayTo', o.decayTo ?? peak / 20, 0);
  const end = requireNumber('triangular', 'end', o.end ?? 0, 0);
  check(peakAt > 0 && peakAt < decayAt && decayAt < 1, 'ERR_ARGUMENT',
    () => `schedules.triangular: need 0 < peakAt < decayAt < 1, got peakAt ${peakAt}, decayAt ${decayAt}`);
  return piecewiseLinear([0, peakAt * total, decayAt * total, total], [start, peak, decayTo, end]);
}

export interface MultiStepOptions {
  /** The initial learning rate. */
  lr: number;
  /** Positions (increasing) at which the rate is multiplied by gamma. */
  milestones: number[];
  /** Factor per milestone (default 0.1). */
  gamma?: number;
}

/**
 * PyTorch's MultiStepLR as a function: lr · gamma^k, k = the number of milestones ≤ t (the SOC recipe:
 * ×0.1 at 50 % and 75 % of the steps).
 */
export function multiStep(options: MultiStepOptions): Schedule {
  const o = requireObject('multiStep', options, '{ lr, milestones, gamma? }');
  const lr = requireNumber('multiStep', 'lr', o.lr, 0);
  const gamma = requireNumber('multiStep', 'gamma', o.gamma ?? 0.1, 0);
  check(Array.isArray(o.milestones), 'ERR_ARGUMENT', () => `schedules.multiStep: 'milestones' must be an array of increasing numbers, got ${describe(o.milestones)}`);
  const ms = (o.milestones as unknown[]).map((m, i) => requireNumber('multiStep', `milestones[${i}]`, m, 0));
  ms.forEach((m, i) => check(i === 0 || m > ms[i - 1], 'ERR_ARGUMENT', () => `schedules.multiStep: milestones must be strictly increasing, got [${ms}]`));
  return (t: number) => {
    checkT('multiStep', t);
    let k = 0;
    while (k < ms.length && ms[k] <= t) k++;
    return lr * gamma ** k;
  };
}

export interface CosineOptions {
  /** The rate after warm-up (the cosine's maximum). */
  lr: number;
  /** Length of the schedule (warm-up included), > 0. */
  total: number;
  /** The rate at t ≥ total (default 0). */
  min?: number;
  /** Warm-up length: linear from `warmupStart` to lr over [0, warmup] (default 0: none). */
  warmup?: number;
  /** Rate at t = 0 when warming up (default 0). */
  warmupStart?: number;
}

/**
 * Cosine annealing (PyTorch's CosineAnnealingLR closed form) with an optional linear warm-up:
 * min + (lr − min)·(1 + cos(π·(t − warmup)/(total − warmup)))/2 for warmup ≤ t ≤ total, min after.
 */
export function cosine(options: CosineOptions): Schedule {
  const o = requireObject('cosine', options, '{ lr, total, min?, warmup?, warmupStart? }');
  const lr = requireNumber('cosine', 'lr', o.lr, 0);
  const total = requireNumber('cosine', 'total', o.total, 0, true);
  const min = requireNumber('cosine', 'min', o.min ?? 0, 0);
  const warmup = requireNumber('cosine', 'warmup', o.warmup ?? 0, 0);
  const warmupStart = requireNumber('cosine', 'warmupStart', o.warmupStart ?? 0, 0);
  check(warmup < total, 'ERR_ARGUMENT', () => `schedules.cosine: warmup (${warmup}) must be < total (${total})`);
  const anneal: Schedule = (t) => {
    if (t >= total) return min;
    return min + ((lr - min) * (1 + Math.cos((Math.PI * (t - warmup)) / (total - warmup)))) / 2;
  };
  if (warmup === 0) return (t) => (checkT('cosine', t), anneal(t));
  return linearWarmup(anneal, { steps: warmup, start: warmupStart });
}

/**
 * Linear warm-up in front of another schedule (or a constant rate): from `start` at t = 0 to
 * then(steps) at t = steps, linearly; then(t) from there on (the inner schedule sees the same t).
 */
export function linearWarmup(then: Schedule | number, options: { steps: number; start?: number }): Schedule {
  check(typeof then === 'function' || finite(then), 'ERR_ARGUMENT', () => `schedules.linearWarmup: 'then' must be a schedule or a number, got ${describe(then)}`);
  const o = requireObject('linearWarmup', options, '{ steps, start? }');
  const steps = requireNumber('linearWarmup', 'steps', o.steps, 0, true);
  const start = requireNumber('linearWarmup', 'start', o.start ?? 0, 0);
  const inner: Schedule = typeof then === 'function' ? then : () => then;
  return (t: number) => {
    checkT('linearWarmup', t);
    if (t >= steps) return inner(t);
    return start + ((inner(steps) - start) * t) / steps;
  };
}

/** What a Scheduler drives: anything with parameter groups that have an `lr`. */
export interface HasParamGroups {
  paramGroups: { lr: number }[];
}

/**
 * Sets an optimizer's group learning rates from a schedule. `absolute` (default): every group's lr =
 * schedule(t); `relative`: group g's lr = its lr at construction × schedule(t) (PyTorch's LambdaLR),
 * for groups with different base rates. `set(t)` jumps to any position (resume); `step()` advances t by 1.
 */
export class Scheduler {
  private readonly baseLrs: number[];
  /** The position last applied. */
  t: number;

  constructor(
    readonly optimizer: HasParamGroups,
    readonly schedule: Schedule,
    readonly options: { mode?: 'absolute' | 'relative'; start?: number } = {},
  ) {
    check(typeof optimizer === 'object' && optimizer !== null && Array.isArray(optimizer.paramGroups), 'ERR_ARGUMENT',
      () => `Scheduler: optimizer must have paramGroups, got ${describe(optimizer)}`);
    check(typeof schedule === 'function', 'ERR_ARGUMENT', () => `Scheduler: schedule must be a function of t, got ${describe(schedule)}`);
    check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'Scheduler: options must be an object { mode?, start? }');
    check(options.mode === undefined || options.mode === 'absolute' || options.mode === 'relative', 'ERR_ARGUMENT',
      () => `Scheduler: mode must be 'absolute' or 'relative', got ${describe(options.mode)}`);
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.t = 0;
    this.set(options.start ?? 0);
  }

  /** Applies the schedule at position t to every group; returns the schedule's value. */
  set(t: number): number {
    const v = this.schedule(t);
    check(finite(v) && v >= 0, 'ERR_ARGUMENT', () => `Scheduler: the schedule returned ${describe(v)} at t = ${t}; expected a finite number ≥ 0`);
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.options.mode === 'relative' ? this.baseLrs[i] * v : v;
    });
    this.t = t;
    return v;
  }

  /** Advances t by one and applies the schedule. */
  step(): number {
    return this.set(this.t + 1);
  }

  stateDict(): { t: number } {
    return { t: this.t };
  }

  loadStateDict(d: { t: number }): void {
    check(typeof d === 'object' && d !== null && finite(d.t) && d.t >= 0, 'ERR_ARGUMENT', 'Scheduler.loadStateDict: expected { t } with t ≥ 0');
    this.set(d.t);
  }
}
