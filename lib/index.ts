/**
 * onelip: train and certify 1-Lipschitz neural networks on hand-written C++ and CUDA kernels.
 * `const ol = require('onelip')`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { check } from './errors';
import { AddonKind, native } from './native';
import { OnelipError } from './errors';

export { OnelipError, ErrorCode } from './errors';
export { Tensor, DType, Device, TypedArray, NestedArray, tidy, keep, versionsOf } from './tensor';
export { tensor, zeros, ones, full, rand, randn, CreateOptions, RandomOptions } from './ops/creation';
export * as ops from './ops';
export * as optim from './optim';
export * as io from './io';
export { noGrad, isGradEnabled, BackwardOptions } from './autograd/tape';
export * as nn from './nn';
export * as loss from './nn/loss';
export * as attack from './attack';
export * as data from './data';
export { gradcheck, GradcheckOptions, GradcheckReport, GradcheckMismatch } from './autograd/gradcheck';

/** The package version. */
export const version: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;

let errorClassSet = false;
function addon() {
  const a = native();
  if (!errorClassSet) {
    a.setErrorClass(OnelipError);
    errorClassSet = true;
  }
  return a;
}
// Make native errors OnelipError instances as soon as the addon is first used.
addon();

export interface Info {
  version: string;
  /** Which native build is loaded. */
  addon: AddonKind;
  backends: {
    cpu: { threads: number; simd: 'avx512' | 'avx2' | 'portable' };
    cuda: {
      available: boolean;
      emulated: boolean;
      compiled: boolean;
      reason?: string;
      runtimeVersion: number;
      driverVersion: number;
      devices: { name: string; computeCapability: string; memoryBytes: number }[];
    };
  };
  /** Registered kernels per device. */
  ops: { cpu: string[]; cuda: string[] };
  /** Bytes of native memory this thread's tensors have reported to V8 (what drives GC pressure). */
  externalMemoryBytes: number;
}

/** What this installation can do: loaded build, CPU threads and SIMD level, CUDA status, ops. */
export function info(): Info {
  return { version, ...addon().info() };
}

/** Sets the number of CPU threads used by kernels (also env ONELIP_NUM_THREADS). */
export function setNumThreads(n: number): void {
  check(Number.isInteger(n) && n >= 1 && n <= 256, 'ERR_ARGUMENT', `setNumThreads: n must be an integer in 1..256, got ${n}`);
  addon().setNumThreads(n);
}
