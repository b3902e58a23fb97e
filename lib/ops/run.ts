/** The one path from a typed op wrapper to the native op registry. */
import { record } from '../autograd/tape';
import { check, OnelipError } from '../errors';
import { native } from '../native';
import { Device, DType, Tensor } from '../tensor';

/** Checks that `x` is a live Tensor; names the op and argument otherwise. */
export function requireTensor(x: unknown, op: string, arg: string): Tensor {
  if (!(x instanceof Tensor)) throw new OnelipError('ERR_ARGUMENT', `${op}: '${arg}' must be a Tensor, got ${describe(x)}`);
  check(!x.isDisposed, 'ERR_DISPOSED', `${op}: '${arg}' is a disposed tensor`);
  return x;
}

/**
 * Runs a registered op on the device of its first input (or `device` for ops without inputs). This is
 * the one path every op takes: when recording is on and an input requires grad, the call is recorded
 * on the autograd tape (lib/autograd/tape.ts) with `attrs` as given here, which is what the op's
 * gradient entry sees.
 */
export function runOp(op: string, inputs: Tensor[], attrs: Record<string, unknown> = {}, device?: Device): Tensor[] {
  const dev = device ?? (inputs.length > 0 ? inputs[0].device : 'cpu');
  const outs = native()
    .run(op, dev, inputs.map((t) => t.handle), attrs)
    .map((h) => new Tensor(h));
  record(op, inputs, outs, attrs);
  return outs;
}

/** Single-output form of runOp. */
export function run1(op: string, inputs: Tensor[], attrs: Record<string, unknown> = {}, device?: Device): Tensor {
  return runOp(op, inputs, attrs, device)[0];
}

/** A tensor argument that may also be given as a number (made a 0-d tensor like `like`). */
export function asTensor(x: Tensor | number, like: Tensor, op: string, arg: string): { t: Tensor; temp: boolean } {
  if (typeof x === 'number') {
    requireTensor(like, op, arg === 'a' ? 'b' : 'a');
    return { t: run1('fill', [], { shape: [], dtype: like.dtype, value: x }, like.device), temp: true };
  }
  return { t: requireTensor(x, op, arg), temp: false };
}

export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  if (x instanceof Tensor) return 'a Tensor';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${String(x)}`;
}

export function validDType(d: unknown, op: string): DType {
  check(d === 'float32' || d === 'float64' || d === 'int32', 'ERR_DTYPE', () => `${op}: dtype must be 'float32', 'float64' or 'int32', got ${describe(d)}`);
  return d as DType;
}

export function validDevice(d: unknown, op: string): Device {
  check(d === 'cpu' || d === 'cuda', 'ERR_DEVICE', () => `${op}: device must be 'cpu' or 'cuda', got ${describe(d)}`);
  return d as Device;
}
