/**
 * Optimizers (`ol.optim`): SGD, Adam and AdamW over parameter groups, each step one fused native op per
 * parameter (lib/optim/kernels.ts) that updates the parameter and its state in place. Semantics and
 * defaults are PyTorch's (torch.optim); state dicts are PyTorch-like: state keyed by the parameter's
 * index over all groups in order, groups holding their options and the indices of their parameters.
 */
import { check, OnelipError } from '../errors';
import { describe } from '../ops/run';
import { zeros } from '../ops/creation';
import { keep, Tensor } from '../tensor';
import { adamStep, sgdStep } from './kernels';

/** A group of parameters with its own options (those not given take the optimizer's defaults). */
export type ParamGroup<O> = { params: Tensor[] } & Partial<O>;
/** What an optimizer accepts: parameters, or parameter groups. */
export type Params<O> = Tensor[] | ParamGroup<O>[];

/** The state of one parameter: tensors (moment estimates, buffers) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/** An optimizer's state, PyTorch-like: `state[i]` belongs to parameter i (over all groups, in order). */
export interface OptimizerStateDict {
  state: Record<number, ParamState>;
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

/** How each option is validated: a predicate and a description of what is allowed. */
type Rule = [(v: unknown) => boolean, string];
const finiteAtLeast0: Rule = [(v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a finite number ≥ 0'];
const boolean: Rule = [(v) => typeof v === 'boolean', 'a boolean'];
const unit: Rule = [(v) => typeof v === 'number' && v >= 0 && v <= 1, 'a number in [0, 1]'];
const positive: Rule = [(v) => typeof v === 'number' && Number.isFinite(v) && v > 0, 'a finite number > 0'];
const betas: Rule = [
  (v) => Array.isArray(v) && v.length === 2 && v.every((b) => typeof b === 'number' && b >= 0 && b < 1),
  'a pair [beta1, beta2] of numbers in [0, 1)',
];

/** `o` without its undefined entries (an option given as undefined takes the default). */
function definedEntries<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Sets `p.grad` (the autograd field); tolerant of an accessor-based implementation. */
function setGrad(p: Tensor, g: Tensor | null): void {
  (p as { grad: Tensor | null }).grad = g;
}

/** The common machinery: groups, validation, state, zeroGrad, state dicts. */
export abstract class Optimizer<O extends object> {
  /** The parameter groups; options such as `lr` may be changed between steps (schedules do). */
  readonly paramGroups: (O & { params: Tensor[] })[] = [];
  /** Per-parameter state, created on a parameter's first step. */
  protected readonly state = new Map<Tensor, ParamState>();

  protected constructor(
    protected readonly name: string,
    params: Params<O>,
    readonly defaults: O,
    private readonly rules: Record<keyof O & string, Rule>,
  ) {
    check(Array.isArray(params) && params.length > 0, 'ERR_ARGUMENT',
      () => `${name}: params must be a non-empty array of tensors or of parameter groups { params, ... }, got ${describe(params)}`);
    this.validateOptions(defaults as Record<string, unknown>, 'options', true);
    const groups: ParamGroup<O>[] = params.every((p) => p instanceof Tensor)
      ? [{ params: params as Tensor[] } as ParamGroup<O>]
      : (params as ParamGroup<O>[]);
    const seen = new Set<Tensor>();
    groups.forEach((g, gi) => {
      check(typeof g === 'object' && g !== null && !(g instanceof Tensor) && Array.isArray(g.params), 'ERR_ARGUMENT',
        () => `${name}: params[${gi}] must be a parameter group { params: Tensor[], ... } (do not mix tensors and groups), got ${describe(g)}`);
      const { params: ps, ...opts } = g;
      this.validateOptions(opts, `group ${gi}`, false);
      ps.forEach((p, i) => {
        check(p instanceof Tensor, 'ERR_ARGUMENT', () => `${name}: group ${gi} params[${i}] must be a Tensor, got ${describe(p)}`);
        check(!p.isDisposed, 'ERR_DISPOSED', () => `${name}: group ${gi} params[${i}] is a disposed tensor`);
        check(p.dtype === 'float32' || p.dtype === 'float64', 'ERR_DTYPE',
          () => `${name}: group ${gi} params[${i}] has dtype ${p.dtype}; parameters must be float32 or float64`);
        check(!seen.has(p), 'ERR_ARGUMENT', () => `${name}: group ${gi} params[${i}] appears more than once (in this or another group)`);
        seen.add(p);
      });
      this.paramGroups.push({ ...this.defaults, ...definedEntries(opts), params: [...ps] } as O & { params: Tensor[] });
    });
  }

  private validateOptions(o: Record<string, unknown>, where: string, all: boolean): void {
    check(typeof o === 'object' && o !== null && !Array.isArray(o), 'ERR_ARGUMENT',
      () => `${this.name}: ${where} must be an object, got ${describe(o)}`);
    for (const [k, v] of Object.entries(o)) {
      check(Object.prototype.hasOwnProperty.call(this.rules, k), 'ERR_ARGUMENT',
        () => `${this.name}: unknown option '${k}' in ${where} (supported: ${Object.keys(this.rules).join(', ')})`);
      if (v === undefined && !all) continue;
      const [ok, what] = this.rules[k as keyof O & string];
      check(ok(v), 'ERR_ARGUMENT', () => `${this.name}: option '${k}' in ${where} must be ${what}, got ${describe(v)}`);
    }
    this.checkCombination(o, where);
  }

  /** Cross-option constraints (e.g. nesterov needs momentum). */
  protected checkCombination(_o: Record<string, unknown>, _where: string): void {}

  /** All parameters, in group order (the indices of the state dict). */
  protected allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /**
   * One optimisation step over every parameter that has a gradient (`p.grad` not null), each one
   * fused native op. Group options are re-validated first (they may have been changed), and every
   * gradient is checked (shape, dtype, device) before any parameter is touched.
   */
  step(): void {
    const work: [Tensor, Tensor, O][] = [];
    this.paramGroups.forEach((g, gi) => {
      const { params, ...opts } = g;
      this.validateOptions(opts, `group ${gi}`, true);
      params.forEach((p, i) => {
        check(!p.isDisposed, 'ERR_DISPOSED', () => `${this.name}.step: group ${gi} params[${i}] is a disposed tensor`);
        const grad = p.grad;
        if (grad === null || grad === undefined) return;
        check(grad instanceof Tensor && !grad.isDisposed, 'ERR_ARGUMENT',
          () => `${this.name}.step: the grad of group ${gi} params[${i}] must be a live Tensor, got ${describe(grad)}`);
        check(grad.dtype === p.dtype && grad.device === p.device && sameShape(grad.shape, p.shape), 'ERR_SHAPE',
          () => `${this.name}.step: the grad of group ${gi} params[${i}] is [${grad.shape}] ${grad.dtype} on ${grad.device} but the parameter is [${p.shape}] ${p.dtype} on ${p.device}`);
        work.push([p, grad, opts as unknown as O]);
      });
    });
    for (const [p, grad, opts] of work) {
      let st = this.state.get(p);
      if (!st) {
        st = this.initState(p, opts);
        this.state.set(p, st);
      }
      this.update(p, grad, st, opts);
    }
  }

  /** A parameter's state at its first step. */
  protected abstract initState(p: Tensor, opts: O): ParamState;
  /** Runs the fused update of one parameter. */
  protected abstract update(p: Tensor, grad: Tensor, st: ParamState, opts: O): void;

  /**
   * Clears every parameter's gradient: by default disposes it and sets `grad` to null (PyTorch's
   * set_to_none); with `{ setToNone: false }` replaces it by zeros of the same shape.
   */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    const toNone = options.setToNone ?? true;
    for (const p of this.allParams()) {
      const g = p.grad;
      if (!g) continue;
      const z = toNone || g.isDisposed ? null : keep(zeros(g.shape, { dtype: g.dtype, device: g.device }));
      if (!g.isDisposed) g.dispose();
      setGrad(p, z);
    }
  }

  /**
   * The optimizer state: `state[i]` holds the tensors (live references, not copies) and numbers of
   * parameter i; `paramGroups[g]` the options of group g and the indices of its parameters.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...opts } = g;
      const ids = params.map((p) => {
        const st = this.state.get(p);
        if (st) state[index] = { ...st };
        return index++;
      });
      return { ...(opts as Record<string, unknown>), params: ids };
    });
    return { state, paramGroups };
  }

  /**
   * Restores a state dict from `stateDict()` (or a checkpoint): the group structure must match
   * (same number of groups and parameters per group), every state tensor must have its parameter's
   * shape; tensors are copied onto the parameter's device and dtype. Everything is validated before
   * anything changes: on error the optimizer is left as it was.
   */
  loadStateDict(d: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    check(typeof d === 'object' && d !== null && Array.isArray(d.paramGroups) && typeof d.state === 'object' && d.state !== null,
      'ERR_ARGUMENT', () => `${where}: expected { state, paramGroups }, got ${describe(d)}`);
    check(d.paramGroups.length === this.paramGroups.length, 'ERR_ARGUMENT',
      () => `${where}: the state dict has ${d.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    const params = this.allParams();
    const newOpts: Record<string, unknown>[] = [];
    d.paramGroups.forEach((g, gi) => {
      check(typeof g === 'object' && g !== null && Array.isArray(g.params) && g.params.length === this.paramGroups[gi].params.length,
        'ERR_ARGUMENT', () => `${where}: group ${gi} must list ${this.paramGroups[gi].params.length} parameter indices`);
      const { params: _ids, ...opts } = g;
      this.validateOptions(opts, `group ${gi}`, true);
      newOpts.push(opts);
    });
    const expectedIds = d.paramGroups.flatMap((g) => g.params);
    check(expectedIds.every((v, i) => v === i), 'ERR_ARGUMENT', () => `${where}: parameter indices must be 0..${params.length - 1} in group order`);
    const keys = this.stateKeys();
    const plans: [Tensor, ParamState][] = [];
    for (const [k, st] of Object.entries(d.state)) {
      const i = Number(k);
      check(Number.isInteger(i) && i >= 0 && i < params.length, 'ERR_ARGUMENT', () => `${where}: state key '${k}' is not a parameter index`);
      check(typeof st === 'object' && st !== null, 'ERR_ARGUMENT', () => `${where}: state[${k}] must be an object`);
      const p = params[i];
      for (const [name, v] of Object.entries(st)) {
        check(keys.includes(name), 'ERR_ARGUMENT', () => `${where}: state[${k}] has unknown entry '${name}' (expected: ${keys.join(', ')})`);
        if (name === 'step') {
          check(typeof v === 'number' && Number.isInteger(v) && v >= 0, 'ERR_ARGUMENT', () => `${where}: state[${k}].step must be an integer ≥ 0`);
        } else {
          check(v instanceof Tensor && !v.isDisposed, 'ERR_ARGUMENT', () => `${where}: state[${k}].${name} must be a live Tensor, got ${describe(v)}`);
          check(sameShape(v.shape, p.shape), 'ERR_SHAPE', () => `${where}: state[${k}].${name} has shape [${v.shape}] but parameter ${k} has [${p.shape}]`);
        }
      }
      const need = this.requiredStateKeys();
      if (Object.keys(st).length > 0)
        for (const r of need) check(r in st, 'ERR_ARGUMENT', () => `${where}: state[${k}] lacks '${r}' (a non-empty state needs ${need.join(', ')})`);
      plans.push([p, st]);
    }
    // validated: apply
    newOpts.forEach((o, gi) => Object.assign(this.paramGroups[gi], o));
    for (const st of this.state.values()) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
    for (const [p, st] of plans) {
      const copy: ParamState = {};
      for (const [name, v] of Object.entries(st)) {
        if (typeof v === 'number') copy[name] = v;
        else {
          // a private copy (to() always copies): the optimizer writes into its state in place
          const moved = v.to(p.device);
          const own = moved.dtype === p.dtype ? moved : moved.astype(p.dtype);
          if (own !== moved) moved.dispose();
          copy[name] = keep(own);
        }
      }
      this.state.set(p, copy);
    }
  }

  /** The names a parameter's state may hold. */
  protected abstract stateKeys(): string[];
  /** The names a non-empty state must hold. */
  protected requiredStateKeys(): string[] {
    return [];
  }

  /** Frees the state tensors; the optimizer starts afresh at its next step. */
  dispose(): void {
    for (const st of this.state.values()) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function zerosLike(p: Tensor): Tensor {
  return keep(zeros(p.shape, { dtype: p.dtype, device: p.device }));
}

// ---------------- SGD ----------------

export interface SGDOptions {
  /** Learning rate, ≥ 0. Required. */
  lr: number;
  /** Momentum factor ≥ 0 (default 0). */
  momentum: number;
  /** Dampening in [0, 1] (default 0). */
  dampening: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0; default false). */
  nesterov: boolean;
  /** L2 penalty ≥ 0 added to the gradient (default 0). */
  weightDecay: number;
}

/**
 * Stochastic gradient descent with momentum, dampening, Nesterov and weight decay, PyTorch's
 * torch.optim.SGD exactly: d = g + wd·p; b ← d (first step) or μ·b + (1 − dampening)·d;
 * d ← d + μ·b (nesterov) or b; p ← p − lr·d. State: `momentum_buffer` (when momentum > 0).
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    check(typeof options === 'object' && options !== null && 'lr' in options, 'ERR_ARGUMENT',
      () => `SGD: options must be an object with a learning rate { lr, momentum?, dampening?, nesterov?, weightDecay? }, got ${describe(options)}`);
    super('SGD', params, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...definedEntries(options) } as SGDOptions, {
      lr: finiteAtLeast0, momentum: finiteAtLeast0, dampening: unit, nesterov: boolean, weightDecay: finiteAtLeast0,
    });
  }

  protected override checkCombination(o: Record<string, unknown>, where: string): void {
    if (o.nesterov === true && !(((o.momentum as number) ?? this.defaults?.momentum ?? 0) > 0 && ((o.dampening as number) ?? this.defaults?.dampening ?? 0) === 0))
      throw new OnelipError('ERR_ARGUMENT', `SGD: nesterov in ${where} requires momentum > 0 and dampening 0`);
  }

  protected stateKeys(): string[] {
    return ['momentum_buffer'];
  }

  protected initState(): ParamState {
    return {};
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, o: SGDOptions): void {
    let buf: Tensor | null = null;
    let init = false;
    if (o.momentum > 0) {
      // the buffer starts at the first step with momentum (PyTorch: buf = d), also when momentum is
      // switched on later
      if (!st.momentum_buffer) {
        st.momentum_buffer = zerosLike(p);
        init = true;
      }
      buf = st.momentum_buffer as Tensor;
    }
    sgdStep(p, grad, buf, {
      lr: o.lr, momentum: o.momentum, dampening: o.dampening, nesterov: o.nesterov, weightDecay: o.weightDecay, initBuffer: init,
    });
  }
}

// ---------------- Adam / AdamW ----------------

export interface AdamOptions {
  /** Learning rate, ≥ 0 (default 1e-3). */
  lr: number;
  /** [β1, β2], each in [0, 1) (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to the denominator, > 0 (default 1e-8). */
  eps: number;
  /** Weight decay ≥ 0: L2 on the gradient (Adam) or decoupled (AdamW). Default 0 (Adam), 1e-2 (AdamW). */
  weightDecay: number;
  /** The AMSGrad variant (keeps the maximum of the second-moment estimates). Default false. */
  amsgrad: boolean;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected constructor(name: string, params: Params<AdamOptions>, defaults: AdamOptions, private readonly decoupled: boolean) {
    super(name, params, defaults, { lr: finiteAtLeast0, betas, eps: positive, weightDecay: finiteAtLeast0, amsgrad: boolean });
  }

  protected stateKeys(): string[] {
    return ['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'];
  }

  protected override requiredStateKeys(): string[] {
    return ['step', 'exp_avg', 'exp_avg_sq'];
  }

  protected initState(p: Tensor, o: AdamOptions): ParamState {
    const st: ParamState = { step: 0, exp_avg: zerosLike(p), exp_avg_sq: zerosLike(p) };
    if (o.amsgrad) st.max_exp_avg_sq = zerosLike(p);
    return st;
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, o: AdamOptions): void {
    if (o.amsgrad && !st.max_exp_avg_sq) st.max_exp_avg_sq = zerosLike(p);
    const step = (st.step as number) + 1;
    adamStep(p, grad, st.exp_avg as Tensor, st.exp_avg_sq as Tensor, o.amsgrad ? (st.max_exp_avg_sq as Tensor) : null, {
      lr: o.lr, step, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay, decoupled: this.decoupled,
    });
    st.step = step;
  }
}

function adamDefaults(name: string, options: unknown, weightDecay: number): AdamOptions {
  check(options === undefined || (typeof options === 'object' && options !== null && !Array.isArray(options)), 'ERR_ARGUMENT',
    () => `${name}: options must be an object { lr?, betas?, eps?, weightDecay?, amsgrad? }, got ${describe(options)}`);
  return { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay, amsgrad: false, ...definedEntries((options ?? {}) as object) };
}

/**
 * Adam (torch.optim.Adam): m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g², p ← p − lr/(1 − β1^t) ·
 * m / (sqrt(v)/sqrt(1 − β2^t) + eps); weight decay adds wd·p to g (L2). State: `step`, `exp_avg`,
 * `exp_avg_sq` (+ `max_exp_avg_sq` with amsgrad).
 */
export class Adam extends AdamBase {
  constructor(params: Params<AdamOptions>, options?: Partial<AdamOptions>) {
    super('Adam', params, adamDefaults('Adam', options, 0), false);
  }
}

/** AdamW (torch.optim.AdamW): Adam with decoupled weight decay p ← p·(1 − lr·wd); default wd 1e-2. */
export class AdamW extends AdamBase {
  constructor(params: Params<AdamOptions>, options?: Partial<AdamOptions>) {
    super('AdamW', params, adamDefaults('AdamW', options, 1e-2), true);
  }
}
