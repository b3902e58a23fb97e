/** Creation functions: tensor, zeros, ones, full, rand, randn. */
import { check, OnelipError } from '../errors';
import { native } from '../native';
import { Device, DType, NestedArray, Tensor, TypedArray } from '../tensor';
import { defineNonDifferentiable } from '../autograd/table';
import { run1, validDevice, validDType } from './run';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export interface RandomOptions {
  /** Integer in [0, 2^53). The same seed gives the same numbers on every device and thread count. */
  seed?: number;
  dtype?: 'float32' | 'float64';
  device?: Device;
  /** Make the result a leaf that requires grad (autograd). */
  requiresGrad?: boolean;
}

function opts(o: CreateOptions | undefined, op: string, fallback: DType = 'float32'): { dtype: DType; device: Device } {
  check(o === undefined || (typeof o === 'object' && o !== null), 'ERR_ARGUMENT', `${op}: options must be an object`);
  return { dtype: validDType(o?.dtype ?? fallback, op), device: validDevice(o?.device ?? 'cpu', op) };
}

function finish(t: Tensor, o?: CreateOptions): Tensor {
  if (o?.requiresGrad) {
    if (t.dtype === 'int32') {
      t.dispose();
      throw new OnelipError('ERR_DTYPE', 'requiresGrad: only float32 and float64 tensors can have gradients, got int32');
    }
    t.requiresGrad = true;
  }
  return t;
}

/**
 * A tensor from nested arrays or a typed array (shape required for a flat array of more than one
 * dimension: `{ shape }`). The dtype defaults to the typed array's type, else float32.
 */
export function tensor(
  data: NestedArray | TypedArray | number[],
  options?: CreateOptions & { shape?: number[] },
): Tensor {
  const typedDType: DType | undefined =
    data instanceof Float32Array ? 'float32' : data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : undefined;
  const { dtype, device } = opts(options, 'tensor', typedDType ?? 'float32');
  let flat: ArrayLike<number>;
  let shape: number[];
  if (typedDType) {
    flat = data as TypedArray;
    shape = options?.shape ?? [flat.length];
  } else {
    const inferred = inferNested(data as NestedArray);
    flat = inferred.flat;
    shape = options?.shape ?? inferred.shape;
  }
  const Ctor = dtype === 'float32' ? Float32Array : dtype === 'float64' ? Float64Array : Int32Array;
  const arr = flat instanceof Ctor ? (flat as TypedArray) : Ctor.from(flat);
  if (dtype === 'int32' && !(flat instanceof Int32Array)) {
    for (let i = 0; i < flat.length; i++) {
      check(Number.isInteger(flat[i]) && Math.abs(flat[i]) <= 2147483647, 'ERR_DTYPE', `tensor: element ${i} (${flat[i]}) is not an int32`);
    }
  }
  return finish(new Tensor(native().fromHost(arr, shape, dtype, device)), options);
}

function inferNested(data: NestedArray): { flat: number[]; shape: number[] } {
  if (typeof data === 'number') return { flat: [data], shape: [] };
  check(Array.isArray(data), 'ERR_ARGUMENT', 'tensor: data must be a number, nested arrays of numbers, or a typed array');
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, d: number, where: string): void => {
    if (d === shape.length) {
      if (Array.isArray(v)) throw new OnelipError('ERR_SHAPE', `tensor: ragged nested array at ${where} (an array where a number was expected)`);
      if (typeof v !== 'number') throw new OnelipError('ERR_ARGUMENT', `tensor: element ${where} must be a number, got ${typeof v}`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) {
      throw new OnelipError('ERR_SHAPE', `tensor: ragged nested array at ${where} (expected ${shape[d]} entries)`);
    }
    v.forEach((x, i) => walk(x, d + 1, `${where}[${i}]`));
  };
  walk(data, 0, 'data');
  return { flat, shape };
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: number[], value: number, options?: CreateOptions): Tensor {
  const { dtype, device } = opts(options, 'full');
  check(typeof value === 'number', 'ERR_ARGUMENT', 'full: value must be a number');
  return finish(run1('fill', [], { shape, dtype, value }, device), options);
}

export function zeros(shape: number[], options?: CreateOptions): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: number[], options?: CreateOptions): Tensor {
  return full(shape, 1, options);
}

let autoSeed = 0x5eed;
function seedOf(o: RandomOptions | undefined): number {
  if (o?.seed !== undefined) return o.seed;
  autoSeed = (autoSeed * 1103515245 + 12345) % 2147483648;
  return autoSeed;
}

/** Uniform numbers in [0, 1) (or [low, high)), Philox-based: seed + index → number. */
export function rand(shape: number[], options?: RandomOptions & { low?: number; high?: number }): Tensor {
  const { dtype, device } = opts(options, 'rand');
  return finish(run1('rand', [], { shape, dtype, seed: seedOf(options), low: options?.low, high: options?.high }, device), options);
}

/** Normal numbers (mean 0, std 1 unless given), Philox + Box–Muller. */
export function randn(shape: number[], options?: RandomOptions & { mean?: number; std?: number }): Tensor {
  const { dtype, device } = opts(options, 'randn');
  return finish(run1('randn', [], { shape, dtype, seed: seedOf(options), mean: options?.mean, std: options?.std }, device), options);
}

defineNonDifferentiable('fill', 'no tensor inputs');
defineNonDifferentiable('rand', 'random numbers, no tensor inputs');
defineNonDifferentiable('randn', 'random numbers, no tensor inputs');
