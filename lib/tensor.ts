/**
 * Tensor: a contiguous array of one dtype on one device, backed by native memory. Free it with
 * `dispose()` (idempotent) or create it inside `tidy()`; garbage collection is only a safety net.
 */
import { check, OnelipError } from './errors';
import { native, NativeHandle } from './native';

export type DType = 'float32' | 'float64' | 'int32';
export type Device = 'cpu' | 'cuda';
export type TypedArray = Float32Array | Float64Array | Int32Array;
/** Nested number arrays, as returned by `toArray()`. */
export type NestedArray = number | NestedArray[];

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

// ---- scopes of tidy() ----
const scopes: Set<Tensor>[] = [];

function track(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
}

export class Tensor {
  /** @internal */
  private handle_: NativeHandle;
  /** Whether gradients are recorded for ops on this tensor (used by autograd). */
  requiresGrad = false;
  /** The accumulated gradient (autograd), or null. */
  grad: Tensor | null = null;

  /** @internal Wraps a native handle; use the creation functions instead. */
  constructor(handle: NativeHandle) {
    this.handle_ = handle;
    track(this);
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

  /** A copy on `device`. */
  to(device: Device): Tensor {
    return new Tensor(native().to(this.live('to'), device));
  }

  /** A copy converted to `dtype` (float → int32 truncates toward zero, saturates, NaN → 0). */
  astype(dtype: DType): Tensor {
    const h = this.live('astype');
    return new Tensor(native().run('cast', h.device, [h], { dtype })[0]);
  }

  /** A view with another shape of the same size; one entry may be -1 (inferred). */
  reshape(shape: number[]): Tensor {
    const h = this.live('reshape');
    return new Tensor(native().reshape(h, inferShape(shape, this.size)));
  }

  /** A tensor sharing this one's data, outside any gradient tape. */
  detach(): Tensor {
    const h = this.live('detach');
    return new Tensor(native().reshape(h, h.shape));
  }

  /** Frees the native memory now. Idempotent. */
  dispose(): void {
    this.handle_.dispose();
    for (const s of scopes) s.delete(this);
  }

  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }
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
