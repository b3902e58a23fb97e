/**
 * Tensor: a contiguous array of one dtype on one device, backed by native memory. Free it with
 * `dispose()` (idempotent) or create it inside `tidy()`; garbage collection is only a safety net.
 */
import type { Node } from './autograd/tape';
import { backward as tapeBackward, BackwardOptions, recordView } from './autograd/tape';
import { check, OnelipError } from './errors';
import { native, NativeHandle } from './native';
import { run1 } from './ops/run';

export type DType = 'float32' | 'float64' | 'int32';
export type Device = 'cpu' | 'cuda';
export type TypedArray = Float32Array | Float64Array | Int32Array;
/** Nested number arrays, as returned by `toArray()`. */
export type NestedArray = number | NestedArray[];

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

// ---- scopes of tidy() ----
const scopes: Set<Tensor>[] = [];

let creationHook: ((t: Tensor) => void) | null = null;
/** @internal Test hook: called with every Tensor created (null to remove). */
export function setCreationHook(fn: ((t: Tensor) => void) | null): void {
  creationHook = fn;
}

function track(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
}

let nextId = 1;
/** @internal The id of the most recently created Tensor (ids grow by one per Tensor). */
export function lastTensorId(): number {
  return nextId - 1;
}

export class Tensor {
  /** @internal */
  private handle_: NativeHandle;
  /**
   * Whether autograd tracks this tensor: ops with an input that requires grad are recorded on the tape
   * (unless inside `noGrad`), and `backward()` accumulates into `.grad` of leaf tensors that require
   * grad. Set it on leaves (parameters, inputs); outputs of recorded ops have it set by the tape.
   */
  requiresGrad = false;
  /** @internal The gradient accumulated by backward(); owned by this tensor (see `grad`). */
  grad_: Tensor | null = null;
  /** @internal The tape node that produced this tensor (null for leaves and untracked tensors). */
  node_: Node | null = null;
  /** @internal Which output of `node_` this tensor is. */
  outputIndex_ = 0;
  /** @internal Creation order (the tape uses it to tell fresh gradient tensors from existing ones). */
  readonly id_: number = nextId++;
  /** @internal See `version`. */
  version_ = 0;

  /** @internal Wraps a native handle; use the creation functions instead. */
  constructor(handle: NativeHandle) {
    this.handle_ = handle;
    track(this);
    if (creationHook !== null) creationHook(this);
  }

  /**
   * The gradient accumulated by `backward()` into this leaf, or null. It is owned by this tensor: no
   * tidy() scope disposes it (it survives a training step's tidy exactly when the tensor itself does),
   * `dispose()` disposes it with the tensor, and `clearGrad()` disposes it and sets null. A later
   * backward() replaces it by the sum (old + new) and disposes the old tensor, so do not keep a
   * reference to a previous `.grad` across backward calls. Assigning a tensor hands it to this tensor
   * (it is taken out of the tidy scopes); the previous gradient is disposed.
   */
  get grad(): Tensor | null {
    if (this.grad_ !== null && this.grad_.isDisposed) this.grad_ = null;
    return this.grad_;
  }
  set grad(g: Tensor | null) {
    check(g === null || g instanceof Tensor, 'ERR_ARGUMENT', 'Tensor.grad: expected a Tensor or null');
    if (g !== null) {
      check(!g.isDisposed, 'ERR_DISPOSED', 'Tensor.grad: the assigned gradient is disposed');
      check(JSON.stringify(g.shape) === JSON.stringify(this.shape) && g.dtype === this.dtype && g.device === this.device, 'ERR_SHAPE',
        () => `Tensor.grad: a gradient must match the tensor (shape [${this.shape}], ${this.dtype}, ${this.device}); got shape [${g.shape}], ${g.dtype}, ${g.device}`);
      keep(g);
    }
    if (this.grad_ !== null && this.grad_ !== g) this.grad_.dispose();
    this.grad_ = g;
  }

  /** Disposes `.grad` (if any) and sets it to null. */
  clearGrad(): void {
    this.grad = null;
  }

  /**
   * Back-propagates from this tensor: walks the tape in reverse topological order and adds the
   * gradient of this tensor with respect to every leaf that requires grad into the leaf's `.grad`.
   * `grad` is the gradient of some scalar loss with respect to this tensor (same shape, dtype and
   * device); it may be omitted when this tensor has one element (then it is 1). Intermediate
   * gradients are freed as soon as they have been used, and the recorded graph is freed afterwards
   * (unless `retainGraph`), so a second backward through the same graph throws. Cost: about twice the
   * forward pass.
   */
  backward(grad?: Tensor, options?: BackwardOptions): void {
    tapeBackward(this, grad, options);
  }

  /**
   * A counter of in-place changes to this tensor's values: bumped by `assign` (hence `loadStateDict`),
   * by `Module.to` (`moveTo_`), by the in-place optimizer steps (`sgdStep`, `adamStep`, so every
   * `ol.optim` optimizer) and by `markChanged()`. Out-of-place ops never change it. Layers with an
   * eval-mode cache (CPL's σ̂, SLL's T) record the versions of the parameters the cache was computed
   * from and recompute when one differs (see `versionsOf`). O(1), no device work.
   */
  get version(): number {
    return this.version_;
  }

  /** Bumps `version`: call it after writing into this tensor's storage by other means (native handles). */
  markChanged(): void {
    this.version_++;
  }

  /** Whether this tensor was produced by a recorded op (false for leaves). */
  get isLeaf(): boolean {
    return this.node_ === null;
  }

  /** @internal The native handle (throws ERR_DISPOSED after dispose()). */
  get handle(): NativeHandle {
    return this.live('handle');
  }

  /** @internal The native handle; ERR_DISPOSED naming `member` after dispose(). */
  live(member: string): NativeHandle {
    if (this.handle_.disposed) throw new OnelipError('ERR_DISPOSED', `Tensor.${member}: the tensor is disposed`);
    return this.handle_;
  }

  get shape(): number[] {
    return this.live('shape').shape;
  }
  get dtype(): DType {
    return this.live('dtype').dtype;
  }
  get device(): Device {
    return this.live('device').device;
  }
  get ndim(): number {
    return this.live('ndim').shape.length;
  }
  get size(): number {
    return this.live('size').shape.reduce((a, b) => a * b, 1);
  }
  get isDisposed(): boolean {
    return this.handle_.disposed;
  }

  /** A host copy of the elements in row-major order. */
  data(): TypedArray {
    return this.live('data').toHost();
  }

  /** The single element of a one-element tensor. */
  item(): number {
    const h = this.live('item');
    const size = h.shape.reduce((a, b) => a * b, 1);
    check(size === 1, 'ERR_SHAPE', () => `Tensor.item: the tensor has ${size} elements (shape [${h.shape}]); expected 1`);
    return h.toHost()[0];
  }

  /** The elements as nested arrays following the shape (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const h = this.live('toArray');
    const flat = h.toHost();
    const shape = h.shape;
    let pos = 0;
    const build = (d: number): NestedArray => {
      if (d === shape.length) return flat[pos++];
      const out: NestedArray[] = [];
      for (let i = 0; i < shape[d]; i++) out.push(build(d + 1));
      return out;
    };
    return build(0);
  }

  /** A copy on `device` (recorded by autograd: the gradient moves back to this tensor's device). */
  to(device: Device): Tensor {
    const h = this.live('to');
    const from = h.device;
    const out = new Tensor(native().to(h, device));
    recordView('to', this, out, { device: from });
    return out;
  }

  /**
   * A copy converted to `dtype` (float → int32 truncates toward zero, saturates, NaN → 0). Goes
   * through the `cast` op, so float ↔ float conversions are differentiable.
   */
  astype(dtype: DType): Tensor {
    this.live('astype');
    return run1('cast', [this], { dtype });
  }

  /** A view with another shape of the same size; one entry may be -1 (inferred). Recorded by autograd. */
  reshape(shape: number[]): Tensor {
    const h = this.live('reshape');
    const from = h.shape;
    const out = new Tensor(native().reshape(h, inferShape(shape, this.size)));
    recordView('reshape', this, out, { shape: from });
    return out;
  }

  /** A tensor sharing this one's data, outside any gradient tape (requiresGrad false, no history). */
  detach(): Tensor {
    const h = this.live('detach');
    return new Tensor(native().reshape(h, h.shape));
  }

  /**
   * Makes this tensor hold `value`'s data (same shape, dtype and device), keeping its identity, so
   * that modules and optimizers that hold it see the new values (e.g. a hand-written gradient step
   * `p.assign(ol.ops.sub(p, ol.ops.scale(p.grad, lr)))`, or `loadStateDict`). The data is shared with
   * `value`, not copied (value may be disposed afterwards); autograd history is not transferred and
   * `.grad` is kept. O(1).
   */
  assign(value: Tensor): this {
    const h = this.live('assign');
    check(value instanceof Tensor, 'ERR_ARGUMENT', 'Tensor.assign: value must be a Tensor');
    const v = value.live('assign');
    check(JSON.stringify(v.shape) === JSON.stringify(h.shape) && v.dtype === h.dtype && v.device === h.device, 'ERR_SHAPE',
      () => `Tensor.assign: value must match the tensor (shape [${h.shape}], ${h.dtype}, ${h.device}); got shape [${v.shape}], ${v.dtype}, ${v.device}`);
    this.takeHandle(value, v);
    h.dispose();
    this.version_++;
    return this;
  }

  /** @internal Like assign, but `value` may live on another device (Module.to). */
  moveTo_(value: Tensor): void {
    const h = this.live('to');
    this.takeHandle(value, value.live('to'));
    h.dispose();
    this.version_++;
  }

  /**
   * Takes `value`'s handle (the one that reported the storage's bytes to V8, so the accounting follows
   * the data) and leaves `value` a view of the same storage.
   */
  private takeHandle(value: Tensor, v: NativeHandle): void {
    value.handle_ = native().reshape(v, v.shape);
    this.handle_ = v;
  }

  /** Frees the native memory now (and `.grad`, which this tensor owns). Idempotent. */
  dispose(): void {
    this.handle_.dispose();
    for (const s of scopes) s.delete(this);
    if (this.grad_ !== null) {
      const g = this.grad_;
      this.grad_ = null;
      g.dispose();
    }
    this.node_ = null;
  }

  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }
}

/**
 * A fingerprint of the values of `tensors`: their ids and `version`s joined in a string. Two equal
 * fingerprints mean no tensor was replaced or changed in place (through assign, loadStateDict,
 * Module.to or an optimizer step) in between. O(number of tensors).
 */
export function versionsOf(tensors: readonly Tensor[]): string {
  return tensors.map((t) => `${t.id_}:${t.version_}`).join(',');
}

/** Resolves one -1 entry of `shape` against `size` elements. */
export function inferShape(shape: number[], size: number): number[] {
  check(Array.isArray(shape), 'ERR_ARGUMENT', 'reshape: shape must be an array of integers');
  const holes = shape.filter((d) => d === -1).length;
  check(holes <= 1, 'ERR_SHAPE', `reshape: at most one -1 in shape [${shape}]`);
  if (holes === 0) return shape;
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  check(known > 0 && size % known === 0, 'ERR_SHAPE', `reshape: cannot infer -1 in [${shape}] for ${size} elements`);
  return shape.map((d) => (d === -1 ? size / known : d));
}

/**
 * Runs `fn` and disposes every tensor created inside it, except those it returns (found in the
 * returned value, arrays and plain objects). Nested tidy() calls hand their results to the parent.
 */
export function tidy<T>(fn: () => T): T {
  check(typeof fn === 'function', 'ERR_ARGUMENT', 'tidy: expected a function');
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    result.catch(() => undefined);  // the caller gets the error below, not an unhandled rejection
    throw new OnelipError('ERR_ARGUMENT', 'tidy: fn must be synchronous (it returned a Promise)');
  }
  const kept = new Set<Tensor>();
  collect(result, kept, new Set());
  for (const t of scope) if (!kept.has(t)) t.dispose();
  for (const t of kept) if (scope.has(t)) track(t);
  return result;
}

/** Excludes `t` from the enclosing tidy() scopes. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(v: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (Array.isArray(v)) for (const x of v) collect(x, out, seen);
  else if (v instanceof Map) for (const x of v.values()) collect(x, out, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, seen);
}
