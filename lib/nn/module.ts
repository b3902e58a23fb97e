/**
 * `Module`: the base class of layers and models (`ol.nn`), PyTorch-style. A module owns parameters
 * (trainable tensors, requiresGrad), buffers (persistent non-trainable state such as power-iteration
 * vectors) and child modules, all named; full names are dotted paths (`0.weight`, `layers.3.bias`),
 * which are the keys of `stateDict()`.
 *
 * Ownership: parameters and buffers are taken out of every tidy() scope when registered, so the
 * tidy() of a training step never disposes them (nor their `.grad`, which they own); `dispose()`
 * frees them. Replacing values keeps tensor identity (`Tensor.assign`), so optimizers that hold the
 * parameter tensors stay valid across `loadStateDict` and `to(device)`.
 */
import { noGrad } from '../autograd/tape';
import { check, OnelipError } from '../errors';
import { describe } from '../ops/run';
import { Device, keep, Tensor } from '../tensor';

const NAME = /^[A-Za-z0-9_]+$/;

export abstract class Module {
  private readonly params_ = new Map<string, Tensor>();
  private readonly buffers_ = new Map<string, Tensor>();
  private readonly children_ = new Map<string, Module>();
  private training_ = true;

  /** The module's function. Shapes are documented per layer. */
  abstract forward(x: Tensor): Tensor;

  /** Registers a trainable parameter (sets requiresGrad, takes it out of tidy scopes). Returns it. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.checkName(name);
    check(t instanceof Tensor && !t.isDisposed, 'ERR_ARGUMENT', `Module.registerParameter: '${name}' must be a live Tensor`);
    check(t.dtype !== 'int32', 'ERR_DTYPE', `Module.registerParameter: '${name}' must be a float tensor`);
    t.requiresGrad = true;
    this.params_.set(name, keep(t));
    return t;
  }

  /** Registers a buffer: persistent state saved in the state dict but not trained. Returns it. */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    check(t instanceof Tensor && !t.isDisposed, 'ERR_ARGUMENT', `Module.registerBuffer: '${name}' must be a live Tensor`);
    this.buffers_.set(name, keep(t));
    return t;
  }

  /** Registers a child module under `name` (its parameters are named `name.<...>`). Returns it. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    check(m instanceof Module, 'ERR_ARGUMENT', `Module.registerModule: '${name}' must be a Module, got ${describe(m)}`);
    this.children_.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    check(typeof name === 'string' && NAME.test(name), 'ERR_ARGUMENT', `Module: names are letters, digits and '_', got ${describe(name)}`);
    check(!this.params_.has(name) && !this.buffers_.has(name) && !this.children_.has(name), 'ERR_ARGUMENT',
      `Module: the name '${name}' is already used in ${this.constructor.name}`);
  }

  /** Child modules with their names, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children_.entries()];
  }

  /** Every parameter with its dotted name: this module's own first, then each child's, recursively. */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.params_.entries()];
    for (const [cn, c] of this.children_) for (const [n, t] of c.namedParameters()) out.push([`${cn}.${n}`, t]);
    return out;
  }

  /** The parameters (the tensors an optimizer updates), in `namedParameters` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Every buffer with its dotted name (same order rules as namedParameters). */
  buffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [...this.buffers_.entries()];
    for (const [cn, c] of this.children_) for (const [n, t] of c.buffers()) out.push([`${cn}.${n}`, t]);
    return out;
  }

  /** Alias of `buffers()` (PyTorch's name). */
  namedBuffers(): [string, Tensor][] {
    return this.buffers();
  }

  /** Training mode (the default) for this module and its children. */
  train(mode = true): this {
    this.training_ = mode;
    for (const c of this.children_.values()) c.train(mode);
    return this;
  }

  /** Evaluation mode for this module and its children. */
  eval(): this {
    return this.train(false);
  }

  get training(): boolean {
    return this.training_;
  }

  /** Disposes the `.grad` of every parameter (sets it to null). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.clearGrad();
  }

  /**
   * Parameters and buffers by dotted name: per module, its parameters then its buffers, then its
   * children's (PyTorch's order). The values are the module's live tensors, not copies: do not
   * dispose them; copy them (`t.to(t.device)`) to keep values across later training.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    const walk = (m: Module, prefix: string): void => {
      for (const [n, t] of m.params_) out[prefix + n] = t;
      for (const [n, t] of m.buffers_) out[prefix + n] = t;
      for (const [n, c] of m.children_) walk(c, `${prefix}${n}.`);
    };
    walk(this, '');
    return out;
  }

  /**
   * Copies values from `dict` into the parameters and buffers of the same names. Each value must have
   * the entry's shape and dtype (any device: it is copied to the entry's device). `strict` (default
   * true): every key of the module must be present and no other key may appear. Everything is checked
   * before anything is written, so on error (OnelipError ERR_ARGUMENT / ERR_SHAPE / ERR_DTYPE, naming
   * the key) the module is unchanged. The tensors of `dict` are not kept.
   */
  loadStateDict(dict: Record<string, Tensor>, options: { strict?: boolean } = {}): void {
    const op = 'loadStateDict';
    check(dict !== null && typeof dict === 'object' && !Array.isArray(dict), 'ERR_ARGUMENT', `${op}: expected an object of tensors by name`);
    check(options !== null && typeof options === 'object', 'ERR_ARGUMENT', `${op}: options must be an object { strict? }`);
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const keys = Object.keys(dict);
    if (strict) {
      const unexpected = keys.filter((k) => !(k in own));
      const missing = Object.keys(own).filter((k) => !(k in dict));
      if (unexpected.length > 0 || missing.length > 0) {
        throw new OnelipError('ERR_ARGUMENT', `${op}: keys do not match ${this.constructor.name}` +
          (missing.length ? `; missing: ${missing.join(', ')}` : '') + (unexpected.length ? `; unexpected: ${unexpected.join(', ')}` : ''));
      }
    }
    const writes: [Tensor, Tensor][] = [];
    for (const k of keys) {
      const target = own[k];
      if (target === undefined) continue;
      const v = dict[k];
      check(v instanceof Tensor, 'ERR_ARGUMENT', () => `${op}: '${k}' must be a Tensor, got ${describe(v)}`);
      check(!v.isDisposed, 'ERR_DISPOSED', `${op}: '${k}' is a disposed tensor`);
      check(JSON.stringify(v.shape) === JSON.stringify(target.shape), 'ERR_SHAPE',
        () => `${op}: '${k}' has shape [${v.shape}]; the module expects [${target.shape}]`);
      check(v.dtype === target.dtype, 'ERR_DTYPE', () => `${op}: '${k}' is ${v.dtype}; the module expects ${target.dtype}`);
      writes.push([target, v]);
    }
    // All checked: copy (a fresh copy each, so later changes to dict's tensors do not leak in).
    const copies = noGrad(() => writes.map(([target, v]) => keep(v.to(target.device))));
    writes.forEach(([target], i) => {
      target.assign(copies[i]);
      copies[i].dispose();
    });
  }

  /**
   * Moves every parameter and buffer to `device` in place (tensor identity kept; gradients are
   * cleared). Returns this.
   */
  to(device: Device): this {
    check(device === 'cpu' || device === 'cuda', 'ERR_DEVICE', `Module.to: device must be 'cpu' or 'cuda', got ${describe(device)}`);
    for (const t of Object.values(this.stateDict())) {
      if (t.device === device) continue;
      const moved = noGrad(() => keep(t.to(device)));
      t.clearGrad();
      t.moveTo_(moved);
      moved.dispose();
    }
    return this;
  }

  /** Frees every parameter and buffer (and their gradients), recursively. */
  dispose(): void {
    for (const t of Object.values(this.stateDict())) t.dispose();
  }
}
