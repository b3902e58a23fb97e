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
    if (this.handle_.disposed) throw new OnelipError('ERR_DISPOSED', 'the tensor is disposed');
    return this.handle_;
  }

  get shape(): number[] {
    return this.handle.shape;
  }
  get dtype(): DType {
    return this.handle.dtype;
  }
  get device(): Device {
    return this.handle.device;
  }
  get ndim(): number {
    return this.handle.shape.length;
  }
  get size(): number {
    return this.handle.shape.reduce((a, b) => a * b, 1);
  }
  get isDisposed(): boolean {
    return this.handle_.disposed;
  }

  /** A host copy of the elements in row-major order. */
  data(): TypedArray {
    return this.handle.toHost();
  }

  /** The single element of a one-element tensor. */
  item(): number {
    check(this.size === 1, 'ERR_SHAPE', () => `item: the tensor has ${this.size} elements (shape [${this.shape}]); expected 1`);
    return this.data()[0];
  }

  /** The elements as nested arrays following the shape (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const flat = this.data();
    const shape = this.shape;
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
    return new Tensor(native().to(this.handle, device));
  }

  /** A copy converted to `dtype` (float → int32 truncates toward zero, saturates, NaN → 0). */
  astype(dtype: DType): Tensor {
    return new Tensor(native().run('cast', this.handle.device, [this.handle], { dtype })[0]);
  }

  /** A view with another shape of the same size; one entry may be -1 (inferred). */
  reshape(shape: number[]): Tensor {
    return new Tensor(native().reshape(this.handle, inferShape(shape, this.size)));
  }

  /** A tensor sharing this one's data, outside any gradient tape. */
  detach(): Tensor {
    return new Tensor(native().reshape(this.handle, this.shape));
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
  check(!(result instanceof Promise), 'ERR_ARGUMENT', 'tidy: fn must be synchronous (it returned a Promise)');
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
