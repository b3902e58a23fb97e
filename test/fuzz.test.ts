/**
 * Fuzz test of the native addon's N-API surface.
 *
 * Every function the addon exports (enumerated at run time, so a new export is fuzzed without editing
 * this file) and every method and accessor of `TensorHandle.prototype` is called with at least
 * ONELIP_FUZZ_CALLS (default 10 000) randomly malformed argument lists: wrong types, missing and extra
 * arguments, NaN / ±Infinity / negative / non-integer / huge sizes, 9-d shapes, zero-sized shapes with
 * huge other dimensions, huge arrays, objects and proxies whose getters throw, disposed and fake
 * handles, wrong typed-array kinds, detached buffers, mismatched shapes, unknown op names, random
 * attributes for every op of `info().ops`, tensors on the wrong device, wrong `this` values...
 *
 * The rule: every call either returns, or throws the error class given to `setErrorClass` with a
 * `code` from lib/errors.ts (`ERR_...`). A TypeError or a plain Error from N-API/node-addon-api is a
 * violation. The one exception: when an argument's own getter/proxy trap throws (a "bomb"), that very
 * value may propagate unchanged (ordinary JavaScript semantics), and is counted as "propagated".
 *
 * Each target runs in its own child process (`node --expose-gc`), two at a time, so a crash is reported
 * as a failure with its signal and the last call, instead of killing jest. The child's code is the
 * function `fuzzChild` below, shipped with Function.prototype.toString (it must stay self-contained).
 *
 * Seed: printed; replay with ONELIP_FUZZ_SEED=<seed>. Under `npm run test:asan` the children load the
 * sanitizer build through ONELIP_ADDON_PATH (inherited environment).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const SEED = Number(process.env.ONELIP_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CALLS = Number(process.env.ONELIP_FUZZ_CALLS ?? 10000);
const CHILD_TIMEOUT_MS = Number(process.env.ONELIP_FUZZ_CHILD_TIMEOUT_MS ?? 100000);
// eslint-disable-next-line no-console
console.log(`fuzz seed: ${SEED} (replay with ONELIP_FUZZ_SEED=${SEED}), ${CALLS} calls per target`);

interface ChildConfig {
  root: string;
  mode: 'list' | 'fuzz';
  target: string;
  seed: number;
  calls: number;
  lastCallFile: string;
}

interface Violation {
  signature: string;
  count: number;
  example: string;
  error: string;
}

interface TargetResult {
  target: string;
  calls: number;
  malformed: number;
  returned: number;
  threw: number;
  propagated: number;
  codes: Record<string, number>;
  opsCovered?: Record<string, number>;
  violations: Violation[];
  slowest?: { ms: number; what: string }[];
  ms: number;
}

interface Listing {
  exports: { name: string; type: string }[];
  proto: { name: string; kind: 'method' | 'accessor' }[];
  ops: { cpu: string[]; cuda: string[] };
  addon: string;
  cudaAvailable: boolean;
}

/* istanbul ignore next */
// The child process. Self-contained: it is serialised with toString() and run by `node --expose-gc`.
function fuzzChild(cfg: ChildConfig): void {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const fs = require('fs') as typeof import('fs');
  const path = require('path') as typeof import('path');
  const nativeMod = require(path.join(cfg.root, 'dist', 'native.js'));
  const errorsMod = require(path.join(cfg.root, 'dist', 'errors.js'));
  const A: any = nativeMod.native();
  const OnelipError: any = errorsMod.OnelipError;
  A.setErrorClass(OnelipError);
  const INFO: any = A.info();
  const OPS: string[] = Array.from(new Set<string>([...INFO.ops.cpu, ...INFO.ops.cuda])).sort();
  const CUDA = !!INFO.backends.cuda.available;
  const CODES = new Set([
    'ERR_SHAPE', 'ERR_DTYPE', 'ERR_DEVICE', 'ERR_ARGUMENT', 'ERR_DISPOSED', 'ERR_UNSUPPORTED',
    'ERR_UNKNOWN_OP', 'ERR_CUDA', 'ERR_OUT_OF_MEMORY', 'ERR_INTERNAL', 'ERR_ADDON_LOAD',
  ]);

  if (cfg.mode === 'list') {
    const exports = Object.keys(A).map((name) => ({ name, type: typeof A[name] }));
    const proto: { name: string; kind: string }[] = [];
    for (const name of Object.getOwnPropertyNames(A.TensorHandle.prototype)) {
      if (name === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(A.TensorHandle.prototype, name)!;
      proto.push({ name, kind: d.get ? 'accessor' : 'method' });
    }
    process.stdout.write('FUZZ_LIST ' + JSON.stringify({ exports, proto, ops: INFO.ops, addon: INFO.addon, cudaAvailable: CUDA }) + '\n');
    return;
  }

  // ---------------- PRNG (mulberry32) ----------------
  let state = cfg.seed >>> 0;
  const rnd = (): number => {
    let t = (state = (state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const chance = (p: number): boolean => rnd() < p;
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];

  // ---------------- bombs: values thrown by getters / traps of arguments ----------------
  class Bomb extends Error {}
  const bombs = new Set<unknown>();
  const bomb = (): never => {
    const b = chance(0.8) ? new Bomb('fuzz: a getter of an argument throws on purpose') : 42424242 + int(0, 9);
    bombs.add(b);
    throw b;
  };
  const throwingProxy = (target: object): any =>
    new Proxy(target, {
      get: bomb, has: bomb, ownKeys: bomb, getOwnPropertyDescriptor: bomb, getPrototypeOf: bomb,
      set: bomb, defineProperty: bomb, deleteProperty: bomb, apply: bomb, construct: bomb,
    });

  // ---------------- handles ----------------
  const TH = A.TensorHandle;
  const DTYPES = ['float32', 'float64', 'int32'];
  const DEVICES = CUDA ? ['cpu', 'cuda'] : ['cpu'];
  const ctorOf = (dt: string): any => (dt === 'float32' ? Float32Array : dt === 'float64' ? Float64Array : Int32Array);
  const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);
  const SMALL_SHAPES: number[][] = [
    [], [1], [3], [2, 3], [3, 2], [4, 1], [1, 5], [2, 3, 4], [2, 1, 4], [0, 3], [3, 0], [0],
    [1, 2, 1, 2, 1, 1, 2, 1], [2, 2, 2], [5, 7], [1, 2, 3, 3], [2, 2, 1, 1],
  ];
  // valid shapes with 0 elements and huge other dimensions (the non-zero dims multiply to at most 2^40,
  // the limit of checked_numel; beyond it, e.g. [2^39, 0, 3], fromHost rejects the shape)
  const ZERO_HUGE_SHAPES: number[][] = [[0, 2 ** 39], [2 ** 20, 0, 2 ** 20], [0, 2 ** 40], [2, 2 ** 19, 0, 2 ** 20], [2 ** 40, 0, 1, 1]];
  const mkData = (dt: string, n: number): any => {
    const a = new (ctorOf(dt))(n);
    for (let i = 0; i < n; i++) a[i] = dt === 'int32' ? int(1, 50) * (chance(0.5) ? 1 : -1) : (0.25 + rnd() * 2) * (chance(0.5) ? 1 : -1);
    return a;
  };
  const mkHandle = (shape: number[], dt: string, dev: string): any => A.fromHost(mkData(dt, numel(shape)), shape, dt, dev);
  let pool: any[] = [];
  const refreshPool = (): void => {
    for (const h of pool) h.dispose();
    pool = [];
    for (const s of SMALL_SHAPES) for (const dt of DTYPES) for (const dev of DEVICES) pool.push(mkHandle(s, dt, dev));
    // tensors whose shape is empty with huge other dimensions (valid, 0 elements)
    for (const s of ZERO_HUGE_SHAPES) for (const dev of DEVICES) pool.push(A.fromHost(new Float32Array(0), s, 'float32', dev));
  };
  refreshPool();
  const live = (): any => pool[int(0, pool.length - 1)];
  const disposedHandle = (): any => {
    const h = mkHandle([2], pick(DTYPES), pick(DEVICES));
    h.dispose();
    return h;
  };
  class SubHandle extends TH {}
  const fakeHandles = (): any[] => [
    Object.create(TH.prototype),
    Object.create(live()),
    new Proxy(live(), {}),
    throwingProxy(live()),
    Object.create(TH.prototype),
    Object.create(SubHandle.prototype),
    { shape: [2], dtype: 'float32', device: 'cpu', disposed: false, nbytes: 8 },
    Object.setPrototypeOf({ shape: [2] }, TH.prototype),
  ];
  const anyHandle = (): any => (chance(0.7) ? live() : chance(0.5) ? disposedHandle() : pick(fakeHandles()));

  // ---------------- value pools ----------------
  const NUMS = [
    0, -0, 1, -1, 2, 3, 0.5, 1.5, -1.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32,
    2 ** 32 + 1, 2 ** 39, 2 ** 40, 2 ** 40 + 1, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, -1e300,
    5e-324, Number.EPSILON, -(2 ** 53), 7, 8, 9, 256, 257, 1e9, -7,
  ];
  const HUGE_DIMS = [2 ** 39, 2 ** 40, 2 ** 40 + 1, 2 ** 41, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e300, 2 ** 64];
  const BAD_DIMS = [-1, -0.5, 1.5, NaN, Infinity, -Infinity, '2', null, undefined, true, 2n, {}, [2], -(2 ** 53)];
  const longString = 'x'.repeat(100000);
  const STRINGS = [
    '', 'cpu', 'cuda', 'CPU', 'Cuda', 'gpu', 'cuda:0', 'cpu ', ' cpu', 'cpu\0', 'cuda\0x', 'float32', 'float64',
    'int32', 'float16', 'bfloat16', 'int64', 'uint8', 'bool', '__proto__', 'constructor', 'toString',
    'hasOwnProperty', longString, '\u{1F600}', '\uD800', 'add\0', 'ADD', ' sum', 'emu', ...OPS,
  ];
  const SYMBOLS = [Symbol('fuzz'), Symbol.iterator, Symbol.toPrimitive];
  const FUNCS: any[] = [() => 1, function named() {}, class K {}, Math.max, Object, Array, Float32Array, TH, A.run, async () => 1, function* gen() {}, (() => 0).bind(null)];
  const TYPED_CTORS: any[] = [
    Float32Array, Float64Array, Int32Array, Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array,
    Uint8ClampedArray, BigInt64Array, BigUint64Array,
  ];
  const HUGE_F32 = new Float32Array(1 << 24);
  const HUGE_F64 = new Float64Array(1 << 22);
  const HUGE_SPARSE: any[] = [];
  HUGE_SPARSE.length = 4294967295;
  const HUGE_DENSE: number[] = new Array(100000).fill(1);
  const detached = (): any => {
    const t = new Float32Array(4);
    structuredClone(t.buffer, { transfer: [t.buffer] });
    return t;
  };
  const throwingArray = (): any => {
    const a: any[] = [1, 2, 3];
    Object.defineProperty(a, int(0, 2), { get: bomb });
    return a;
  };
  const throwingObject = (keys: string[]): any => {
    const o: any = {};
    for (const k of keys) if (chance(0.5)) o[k] = int(0, 3);
    Object.defineProperty(o, pick(keys.length ? keys : ['x']), { get: bomb, enumerable: true });
    return o;
  };
  const typedArray = (): any => {
    const C = pick(TYPED_CTORS);
    const n = pick([0, 1, 2, 3, 4, 5, 6, 7, 12, 24, 35]);
    const a = new C(n);
    if (chance(0.2) && n > 2) return a.subarray(1); // a view with a byte offset
    return a;
  };

  const randValue = (depth = 0): any => {
    switch (int(0, 19)) {
      case 0: return undefined;
      case 1: return null;
      case 2: return chance(0.5);
      case 3: case 4: return pick(NUMS);
      case 5: return chance(0.5) ? int(-10, 10) : (rnd() - 0.5) * 20;
      case 6: case 7: return pick(STRINGS);
      case 8: return pick(SYMBOLS);
      case 9: return chance(0.5) ? 1n : 2n ** 64n;
      case 10: return pick(FUNCS);
      case 11: return pick([{}, Object.create(null), new Date(), /x/, new Map(), Promise.resolve(), new WeakMap(), globalThis, A, new ArrayBuffer(8), new DataView(new ArrayBuffer(8)), new SharedArrayBuffer(16)]);
      case 12: return chance(0.5) ? throwingObject(['axes', 'shape', 'length', '0']) : throwingProxy(chance(0.5) ? {} : [1, 2]);
      case 13: return typedArray();
      case 14: return pick([HUGE_F32, HUGE_F64, HUGE_SPARSE, HUGE_DENSE, detached(), throwingArray()]);
      case 15: case 16: return anyHandle();
      case 17: return randShape();
      case 18: {
        if (depth > 2) return [];
        const n = int(0, 4);
        const a: any[] = [];
        for (let i = 0; i < n; i++) a.push(randValue(depth + 1));
        return a;
      }
      default: return { length: int(0, 3), 0: 1, 1: 2 };
    }
  };

  /** Small valid shapes, or malformed ones (bad entries, huge dims, 9-d, non-arrays). */
  function randShape(): any {
    const r = int(0, 11);
    if (r <= 3) return pick(SMALL_SHAPES).slice();
    const s: any[] = pick(SMALL_SHAPES).slice();
    switch (r) {
      case 4: { if (s.length === 0) s.push(1); s[int(0, s.length - 1)] = pick(BAD_DIMS); return s; }
      case 5: { if (s.length === 0) s.push(1); s[int(0, s.length - 1)] = pick(HUGE_DIMS); return s; }
      case 6: return [0, ...new Array(int(1, 7)).fill(0).map(() => pick(HUGE_DIMS))]; // 0 elements, huge dims
      case 7: return new Array(9).fill(0).map(() => int(1, 2)); // 9-d
      case 8: return new Array(int(9, 40)).fill(1);
      case 9: return pick([HUGE_SPARSE, HUGE_DENSE, throwingArray(), throwingProxy([1, 2]), new Int32Array([2, 3]), '2,3', 6, { length: 2, 0: 2, 1: 3 }, [[2, 3]], [2, , 3]]);
      case 10: { const a = [1, 2]; (a as any).extra = 5; return chance(0.5) ? a : Object.setPrototypeOf([2, 3], null); }
      default: return s.map((d: number) => (chance(0.3) ? d + pick([-1, 0.5, 1]) : d));
    }
  }

  const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
  const isProxy = (require('util') as typeof import('util')).types.isProxy;
  // ---------------- op knowledge (from native/ops/*.cc; unknown ops get random inputs/attrs) ----------------
  const ARITY: Record<string, [number, number]> = {
    add: [2, 2], sub: [2, 2], mul: [2, 2], div: [2, 2], neg: [1, 1], abs: [1, 1], exp: [1, 1], log: [1, 1],
    sqrt: [1, 1], relu: [1, 1], scale: [1, 1], clamp: [1, 1], cast: [1, 1], sum: [1, 1], mean: [1, 1], max: [1, 1],
    permute: [1, 1], slice: [1, 1], concat: [1, 5], fill: [0, 0], rand: [0, 0], randn: [0, 0],
    conv2d: [2, 3], conv_transpose2d: [2, 3], conv2d_backward_input: [2, 2], conv2d_backward_weight: [2, 2],
    sgd_step: [2, 3], adam_step: [4, 5],
    kernel_self_correlation: [1, 1], kernel_self_correlation_backward: [2, 2], power_iteration_dense: [2, 2],
    power_iteration_conv: [2, 2],
    cpl_dense: [4, 4], cpl_conv2d: [4, 4], cpl_dense_backward: [5, 5], cpl_conv2d_backward: [5, 5],
  };
  const ATTR_KEYS: Record<string, string[]> = {
    scale: ['alpha', 'beta'], clamp: ['min', 'max'], cast: ['dtype'], sum: ['axes', 'keepDims'],
    mean: ['axes', 'keepDims'], max: ['axes', 'keepDims'], permute: ['perm'], slice: ['begin', 'end'],
    concat: ['axis'], fill: ['shape', 'dtype', 'value'], rand: ['shape', 'dtype', 'seed', 'low', 'high'],
    randn: ['shape', 'dtype', 'seed', 'mean', 'std'],
    conv2d: ['stride', 'padding'], conv_transpose2d: ['stride', 'padding', 'outputPadding'],
    conv2d_backward_input: ['stride', 'padding', 'inputShape'], conv2d_backward_weight: ['stride', 'padding', 'kernelSize'],
    sgd_step: ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov', 'initBuffer'],
    adam_step: ['lr', 'step', 'beta1', 'beta2', 'eps', 'weightDecay', 'decoupled'],
    power_iteration_dense: ['iters'], power_iteration_conv: ['iters', 'stride', 'padding'],
  };
  const ALL_KEYS = ['alpha', 'beta', 'min', 'max', 'dtype', 'axes', 'keepDims', 'perm', 'begin', 'end', 'axis',
    'shape', 'value', 'seed', 'low', 'high', 'mean', 'std', 'size', 'stride', 'padding', 'kernelSize', 'iters',
    'inputShape', 'outputPadding',
    '__proto__', 'constructor', ''];
  const intList = (lo: number, hi: number, n: number): number[] => new Array(n).fill(0).map(() => int(lo, hi));
  const attrValue = (key: string): any => {
    if (chance(0.3)) return randValue();
    switch (key) {
      case 'axes': case 'perm': case 'begin': case 'end':
        if (chance(0.15)) return pick([[1, 2], [-1, -2], [2, 3], [1, 2, 3, 4, 5, 6, 7], [-2, -3, -4]]); // skip a leading 0-size dim
        return chance(0.8) ? intList(-5, 5, int(0, 5)) : chance(0.3) ? intList(-8, 8, int(1, 8)) : pick([[1.5], [NaN], [2 ** 53], [-(2 ** 60)], new Array(5000).fill(0), [[0]], ['0'], intList(-9, 9, 9)]);
      case 'shape': case 'inputShape': return randShape();
      case 'stride': case 'padding': case 'kernelSize': case 'outputPadding':
        return chance(0.5) ? int(-1, 8) : pick([[int(0, 3), int(0, 3)], [1], [1, 2, 3], [], [2 ** 31, 1], [1.5, 1], ['1'], 2 ** 40]);
      case 'dtype': return pick(['float32', 'float64', 'int32', 'float16', '', 'int64', 7]);
      case 'nesterov': case 'initBuffer': case 'decoupled': return pick([true, false, 1, 'true', null]);
      case 'keepDims': return pick([true, false, 1, 0, 'true', null]);
      case 'axis': case 'seed': return pick([int(-4, 4), int(0, 1000), 1.5, -1, 2 ** 53, 2 ** 53 + 2, NaN, Infinity]);
      default: return pick([int(-5, 5), rnd() * 10 - 5, NaN, Infinity, -Infinity, 1e300, -1e300, 2 ** 31, 0.5]);
    }
  };
  const randAttrs = (op: string): any => {
    const r = int(0, 9);
    if (r === 0) return randValue();
    if (r === 1) return throwingObject(own(ATTR_KEYS, op) ? ATTR_KEYS[op] : ALL_KEYS);
    if (r === 2) return throwingProxy({});
    const keys = own(ATTR_KEYS, op) ? ATTR_KEYS[op] : [];
    const o: any = chance(0.1) ? Object.create({ [pick(ALL_KEYS)]: attrValue(pick(ALL_KEYS)) }) : {};
    for (const k of keys) if (chance(0.8)) o[k] = attrValue(k);
    if (chance(0.3)) o[pick(ALL_KEYS)] = attrValue(pick(ALL_KEYS));
    if (chance(0.05)) o[pick(SYMBOLS)] = 1;
    return o;
  };
  const opInputs = (op: string): any => {
    if (chance(0.1)) return randValue();
    const [lo, hi] = own(ARITY, op) ? ARITY[op] : [0, 3];
    let n = int(lo, hi);
    if (chance(0.15)) n = int(0, 6);
    // a common shape/dtype/device most of the time, so calls reach the op's validation and kernel
    const s = chance(0.15) ? pick(ZERO_HUGE_SHAPES) : pick(SMALL_SHAPES), dt = pick(DTYPES), dev = pick(DEVICES);
    const arr: any[] = [];
    for (let i = 0; i < n; i++) {
      if (chance(0.6)) arr.push(mkHandle(chance(0.8) ? s : pick(SMALL_SHAPES), chance(0.85) ? dt : pick(DTYPES), chance(0.9) ? dev : pick(DEVICES)));
      else arr.push(chance(0.7) ? anyHandle() : randValue());
    }
    if (chance(0.03)) return new Array(1025).fill(live());
    if (chance(0.03)) return throwingArray();
    return arr;
  };

  // ---------------- argument-list generators per target ----------------
  const mutateArity = (args: any[]): any[] => {
    const r = int(0, 9);
    if (r === 0) return args.slice(0, int(0, args.length));
    if (r === 1) return [...args, ...new Array(int(1, 3)).fill(0).map(() => randValue())];
    return args;
  };
  /** Valid-ish slots with 1..2 of them replaced by malformed values, or a completely random list. */
  let malformed = true; // whether the last generated call deviates from a valid one on purpose
  const structured = (slots: (() => any)[], bad: (() => any)[]): any[] => {
    malformed = true;
    if (chance(0.2)) return new Array(int(0, 6)).fill(0).map(() => randValue());
    const args = slots.map((f) => f());
    const k = int(1, 2);
    for (let j = 0; j < k; j++) {
      const i = int(0, slots.length - 1);
      args[i] = chance(0.6) ? bad[i]() : randValue();
    }
    return mutateArity(args);
  };
  let lastOp = '';
  const GEN: Record<string, () => any[]> = {
    fromHost: () => {
      const s = pick(SMALL_SHAPES), dt = pick(DTYPES);
      return structured(
        [() => mkData(dt, numel(s)), () => s.slice(), () => dt, () => pick(DEVICES)],
        [
          () => pick([typedArray(), detached(), HUGE_F32, HUGE_F64, mkData(pick(DTYPES), Math.max(0, numel(s) + int(-1, 2))), [1, 2, 3], new ArrayBuffer(16), new DataView(new ArrayBuffer(16))]),
          randShape,
          () => pick(STRINGS),
          () => pick([...STRINGS, 'cuda']),
        ],
      );
    },
    run: () => {
      lastOp = chance(0.85) ? pick(OPS) : pick(STRINGS);
      const op = lastOp;
      if (chance(0.1) && own(ARITY, op)) {
        // edge case: a valid call on 0-element tensors with huge dimensions (size arithmetic overflows)
        const shape = pick(ZERO_HUGE_SHAPES), dev = pick(DEVICES);
        const n = Math.max(ARITY[op][0], Math.min(ARITY[op][1], 2));
        const inputs = Array.from({ length: n }, () => A.fromHost(new Float32Array(0), shape, 'float32', dev));
        malformed = false;
        const nd = shape.length;
        const attrs: any = {};
        for (const k of own(ATTR_KEYS, op) ? ATTR_KEYS[op] : []) if (chance(0.7)) attrs[k] = attrValue(k);
        const nonzero = shape.map((d, i) => (d !== 0 ? i : -1)).filter((i) => i >= 0);
        if (own(attrs, 'axes') || ['sum', 'mean', 'max'].includes(op)) attrs.axes = chance(0.2) ? undefined : nonzero.slice(0, int(1, nonzero.length));
        if (op === 'permute') attrs.perm = shape.map((_, i) => nd - 1 - i);
        if (op === 'slice') [attrs.begin, attrs.end] = [shape.map(() => 0), shape.slice()];
        if (op === 'concat') attrs.axis = pick(nonzero);
        return [op, dev, inputs, attrs];
      }
      const args = structured(
        [() => op, () => pick(DEVICES), () => opInputs(op), () => randAttrs(op)],
        [() => pick([...STRINGS, randValue()]), () => pick([...STRINGS, 'cuda', 'cpu']), () => opInputs(pick(OPS)), () => randAttrs(pick(OPS))],
      );
      // huge typed arrays as attributes take seconds each (their millions of indices are enumerated);
      // that is probed once, with a time limit, after the loop
      if (args[3] === HUGE_F32 || args[3] === HUGE_F64) args[3] = {};
      return args;
    },
    reshape: () => structured([anyHandle, randShape], [() => pick(fakeHandles()), randShape]),
    to: () => structured([anyHandle, () => pick(DEVICES)], [() => pick([...fakeHandles(), disposedHandle()]), () => pick(STRINGS)]),
    setNumThreads: () => structured([() => int(1, 4)], [() => pick([...NUMS, 0, 257, -1, 1.5, '2', null])]),
    info: () => {
      const a = new Array(int(0, 4)).fill(0).map(() => randValue());
      malformed = a.length > 0; // info() takes no arguments
      return a;
    },
    setErrorClass: () => structured([() => OnelipError], [() => randValue()]),
    // the optional OpenBLAS reference of `onelip bench`: valid slots are tiny so an accidentally valid call is cheap
    benchReferenceSgemm: () =>
      structured(
        [() => int(1, 8), () => int(1, 2), () => int(1, 2), () => pick(['sgemm', 'dgemm', 'ssyrk'])],
        [() => pick([0, 4097, -1, 1.5, '8', null, NaN]), () => pick([0, 1001, -1, 2.5, null]),
          () => pick([0, 257, -1, 1.5, 'x']), () => pick(['hgemm', 3, null, ''])],
      ),
    TensorHandle: () => new Array(int(0, 4)).fill(0).map(() => randValue()),
  };
  const thisValue = (): any => {
    const r = int(0, 9);
    if (r <= 4) return live();
    if (r === 5) return disposedHandle();
    if (r <= 7) return pick(fakeHandles());
    return randValue();
  };

  // ---------------- the loop ----------------
  const lastFd = fs.openSync(cfg.lastCallFile, 'w');
  const describe = (v: any, depth = 0): string => {
    try {
      if (isProxy(v)) return 'Proxy(...)';
      if (v === undefined) return 'undefined';
      if (v === null) return 'null';
      if (typeof v === 'string') return v.length > 40 ? `'${v.slice(0, 20)}...'(${v.length} chars)` : JSON.stringify(v);
      if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
      if (typeof v === 'bigint') return `${v}n`;
      if (typeof v === 'symbol') return v.toString();
      if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`;
      if (typeof v !== 'object') return String(v);
      if (v instanceof TH) {
        const proto = Object.getPrototypeOf(v);
        if (proto !== TH.prototype && proto !== SubHandle.prototype && proto instanceof TH) return 'Object.create(<a TensorHandle>)';
        try {
          return v.disposed ? 'TensorHandle(disposed)' : `TensorHandle([${v.shape}] ${v.dtype} ${v.device})`;
        } catch {
          return 'TensorHandle-like object (not a wrapped handle)';
        }
      }
      if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as any).length ?? (v as any).byteLength})`;
      if (Array.isArray(v)) {
        if (v.length > 12 || depth > 2) return `Array(${v.length})`;
        return `[${Array.from({ length: v.length }, (_, i) => (i in v ? describe(Object.getOwnPropertyDescriptor(v, i)?.get ? '<getter>' : v[i], depth + 1) : '<hole>')).join(', ')}]`;
      }
      if (depth > 2) return '{...}';
      const keys = Object.keys(v).slice(0, 8);
      return `{${keys.map((k) => `${k}: ${Object.getOwnPropertyDescriptor(v, k)?.get ? '<getter>' : describe(v[k], depth + 1)}`).join(', ')}}`;
    } catch {
      return '<proxy/throwing object>';
    }
  };
  const describeArgs = (args: any[]): string => args.map((a) => describe(a)).join(', ').slice(0, 600);
  const result = {
    target: cfg.target, calls: 0, malformed: 0, returned: 0, threw: 0, propagated: 0,
    codes: {} as Record<string, number>, opsCovered: {} as Record<string, number>, slowest: [] as { ms: number; what: string }[],
    violations: [] as { signature: string; count: number; example: string; error: string }[], ms: 0,
  };
  const violations = new Map<string, { signature: string; count: number; example: string; error: string }>();
  const violation = (kind: string, what: string, e: any): void => {
    const errText = e instanceof Error ? `${e.constructor?.name}: ${e.message}` : `non-Error thrown: ${describe(e)}`;
    const code = e && typeof e === 'object' ? (e as any).code : undefined;
    const sig = `${kind}: ${errText.replace(/\d+/g, 'N').slice(0, 160)} (code ${code})`;
    const v = violations.get(sig);
    if (v) v.count++;
    else violations.set(sig, { signature: sig, count: 1, example: what, error: `${errText} (code: ${String(code)})` });
  };
  const noteTime = (what: string, ms: number): void => {
    const sl = result.slowest;
    if (sl.length < 5 || ms > sl[sl.length - 1].ms) {
      sl.push({ ms: Math.round(ms * 10) / 10, what: what.slice(0, 200) });
      sl.sort((a, b) => b.ms - a.ms);
      if (sl.length > 5) sl.pop();
    }
  };
  const check = (what: string, fn: () => any, onOk?: (r: any) => void): void => {
    const buf = Buffer.from(what.slice(0, 4000));
    fs.ftruncateSync(lastFd, 0);
    fs.writeSync(lastFd, buf, 0, buf.length, 0);
    result.calls++;
    let r: any;
    const t = performance.now();
    try {
      r = fn();
    } catch (e: any) {
      noteTime(what, performance.now() - t);
      result.threw++;
      if (bombs.has(e)) {
        result.propagated++;
        return;
      }
      const code = e && typeof e === 'object' ? e.code : undefined;
      if (!(e instanceof OnelipError)) violation('not an OnelipError', what, e);
      else if (typeof code !== 'string' || !CODES.has(code)) violation('unknown code', what, e);
      else result.codes[code] = (result.codes[code] ?? 0) + 1;
      return;
    }
    noteTime(what, performance.now() - t);
    result.returned++;
    if (onOk) {
      try {
        onOk(r);
      } catch (e) {
        violation('bad return value', what, e);
      }
    }
  };
  const disposeResult = (r: any): void => {
    if (r instanceof TH) r.dispose();
    else if (Array.isArray(r)) for (const x of r) if (x instanceof TH) x.dispose();
  };
  const isHandle = (r: any): void => {
    if (!(r instanceof TH)) throw new Error(`expected a TensorHandle, got ${describe(r)}`);
    r.dispose();
  };
  const gc: (() => void) | undefined = (globalThis as any).gc;

  const t0 = Date.now();
  const [kind, name] = cfg.target.split(':');
  for (let i = 0; result.malformed < cfg.calls && i < 3 * cfg.calls; i++) {
    if (i % 500 === 499) {
      refreshPool();
      if (gc && i % 2000 === 1999) gc();
    }
    if (kind === 'export') {
      const fn = A[name];
      if (name === 'TensorHandle') {
        const args = GEN.TensorHandle();
        const asCall = chance(0.2);
        result.malformed++; // only the addon may construct handles (it passes a private token)
        if (asCall) {
          // Calling any JS class without `new` is a TypeError raised by V8 before the addon runs.
          try {
            fn(...args);
            violation('call', 'TensorHandle() without new', new Error('returned instead of throwing'));
          } catch (e) {
            if (!(e instanceof TypeError && /without 'new'/.test(e.message))) violation('call', 'TensorHandle() without new', e);
          }
          continue;
        }
        check(`new TensorHandle(${describeArgs(args)})`, () => new fn(...args), () => {
          throw new Error('new TensorHandle() from JS must be refused with ERR_ARGUMENT');
        });
        continue;
      }
      const args = (own(GEN, name) ? GEN[name] : GEN.info)();
      if (malformed) result.malformed++;
      const what = `${name}(${describeArgs(args)})`;
      if (name === 'run') result.opsCovered[lastOp] = (result.opsCovered[lastOp] ?? 0) + 1;
      if (name === 'setErrorClass') {
        check(what, () => fn(...args));
        A.setErrorClass(OnelipError); // keep errors checkable for the following calls
        continue;
      }
      if (name === 'setNumThreads') {
        check(what, () => fn(...args));
        if (i % 50 === 0) {
          check('run(add) after setNumThreads', () => A.run('add', 'cpu', [mkHandle([300, 200], 'float32', 'cpu'), mkHandle([300, 200], 'float32', 'cpu')]), disposeResult);
          fn(2);
        }
        continue;
      }
      if (name === 'info') {
        check(what, () => fn(...args), (r) => {
          if (!r || !Array.isArray(r.ops?.cpu)) throw new Error('info() returned no ops');
        });
        continue;
      }
      check(what, () => fn(...args), name === 'fromHost' || name === 'reshape' || name === 'to' ? isHandle : disposeResult);
    } else {
      // a TensorHandle.prototype member, called with random `this` and arguments
      const d = Object.getOwnPropertyDescriptor(TH.prototype, name)!;
      const f = d.get ?? d.value;
      const self = thisValue();
      const valid = pool.includes(self) && !self.disposed;
      const args = valid || chance(0.5) ? new Array(int(1, 3)).fill(0).map(() => randValue()) : [];
      if (!valid || args.length) result.malformed++; // a wrong receiver, or arguments where none are taken
      check(`TensorHandle.prototype.${name}${d.get ? ' (getter)' : ''}.call(${describe(self)}${args.length ? ', ' + describeArgs(args) : ''})`, () => Reflect.apply(f, self, args));
    }
  }

  // attributes that are a large typed array must be rejected quickly, not enumerated index by index
  if (cfg.target === 'export:run') {
    const big = new Float64Array(1 << 18);
    for (const [op, dev] of [['sum', 'cpu'], ['no-such-op', 'cpu']]) {
      const what = `run('${op}', '${dev}', [a tensor], Float64Array(${big.length})) must be rejected within 100 ms`;
      const t = performance.now();
      check(what, () => A.run(op, dev, [live()], big), disposeResult);
      const ms = performance.now() - t;
      if (ms > 100) violation('slow rejection', what, new Error(`took ${Math.round(ms)} ms`));
    }
  }

  // setErrorClass with functions that are not usable error classes: a later failing call must still
  // throw an error with an ERR_ code (the addon should fall back to a plain Error with .code).
  if (cfg.target === 'export:setErrorClass') {
    const weird: [string, any][] = [
      ['an arrow function', () => ({})],
      ['a class whose constructor throws', class Throws { constructor() { throw new Error('ctor throws'); } }],
      ['Math.max', Math.max],
      ['a bound function', function (this: any) {}.bind(null)],
      ['an async function', async () => 1],
      ['a Proxy whose construct trap throws', new Proxy(class {}, { construct: bomb })],
      ['a class returning a primitive-like object', class R { constructor() { return Object.create(null); } }],
    ];
    for (const [label, cls] of weird) {
      check(`setErrorClass(${label})`, () => A.setErrorClass(cls));
      const what = `run('no-such-op', 'cpu', []) after setErrorClass(${label})`;
      result.calls++;
      try {
        A.run('no-such-op', 'cpu', []);
        violation('no error', what, new Error('run of an unknown op returned'));
      } catch (e: any) {
        const code = e && typeof e === 'object' ? e.code : undefined;
        if (bombs.has(e) || typeof code !== 'string' || !code.startsWith('ERR_')) violation('error class unusable', what, e);
      }
      A.setErrorClass(OnelipError);
    }
  }

  result.ms = Date.now() - t0;
  result.violations = Array.from(violations.values()).sort((a, b) => b.count - a.count);
  for (const h of pool) h.dispose();
  process.stdout.write('FUZZ_RESULT ' + JSON.stringify(result) + '\n');
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

// ---------------- parent (jest) side ----------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-fuzz-'));
const script = path.join(tmp, 'fuzz-child.js');
fs.writeFileSync(script, `'use strict';\nconst cfg = JSON.parse(process.argv[2]);\n(${fuzzChild.toString()})(cfg);\n`);

function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ONELIP_NUM_THREADS: process.env.ONELIP_NUM_THREADS ?? '2' };
}

function listing(): Listing | { error: string } {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'native.js'))) return { error: 'dist/native.js is missing: run `npx tsc -p tsconfig.json` (npm test does)' };
  const cfg: ChildConfig = { root: ROOT, mode: 'list', target: '', seed: 0, calls: 0, lastCallFile: '' };
  const r = spawnSync(process.execPath, [script, JSON.stringify(cfg)], { env: childEnv(), encoding: 'utf8', timeout: 60000 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('FUZZ_LIST '));
  if (!line) return { error: `listing child failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}` };
  return JSON.parse(line.slice('FUZZ_LIST '.length));
}

interface ChildOutcome {
  result?: TargetResult;
  failure?: string;
}

function runTarget(target: string, index: number): Promise<ChildOutcome> {
  const lastCallFile = path.join(tmp, `last-call-${index}.txt`);
  const cfg: ChildConfig = { root: ROOT, mode: 'fuzz', target, seed: (SEED ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0, calls: CALLS, lastCallFile };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=2048', script, JSON.stringify(cfg)], { env: childEnv() });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      if (err.length > 200000) err = err.slice(-100000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('FUZZ_RESULT '));
      if (status === 0 && line) {
        resolve({ result: JSON.parse(line.slice('FUZZ_RESULT '.length)) });
        return;
      }
      let last = '';
      try {
        last = fs.readFileSync(lastCallFile, 'utf8');
      } catch {
        last = '(none recorded)';
      }
      resolve({
        failure:
          `fuzz child for ${target} died: exit status ${status}, signal ${signal}` +
          `${signal === 'SIGKILL' ? ` (killed after ${CHILD_TIMEOUT_MS} ms, or out of memory)` : ''}\n` +
          `seed ${cfg.seed} (master ${SEED}); last call: ${last}\n--- stderr (tail) ---\n${err.slice(-6000)}`,
      });
    });
  });
}

const list = listing();
const EXPECTED_EXPORTS = ['TensorHandle', 'setErrorClass', 'info', 'setNumThreads', 'fromHost', 'run', 'reshape', 'to'];

describe('fuzzing the native addon', () => {
  if ('error' in list) {
    test('the addon can be enumerated', () => {
      throw new Error(list.error);
    });
    return;
  }
  const targets = [
    ...list.exports.filter((e) => e.type === 'function').map((e) => `export:${e.name}`),
    ...list.proto.map((p) => `proto:${p.name}`),
  ];
  const outcomes = new Map<string, ChildOutcome>();
  let wall = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    const queue = targets.map((t, i) => [t, i] as const);
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) outcomes.set(next[0], await runTarget(next[0], next[1]));
    };
    await Promise.all([worker(), worker()]);
    wall = Date.now() - t0;
  }, 600000);

  afterAll(() => {
    const rows = targets.map((t) => {
      const r = outcomes.get(t)?.result;
      return r
        ? `${t.padEnd(24)} ${String(r.calls).padStart(6)} calls (${r.malformed} malformed) ${String(r.returned).padStart(6)} ok ${String(r.threw).padStart(6)} threw (${r.propagated} propagated) ${String(r.violations.length).padStart(3)} violation kinds ${String(r.ms).padStart(6)} ms; slowest call ${r.slowest?.[0]?.ms} ms: ${r.slowest?.[0]?.what.slice(0, 100)}`
        : `${t.padEnd(24)} CRASHED`;
    });
    // eslint-disable-next-line no-console
    console.log(`fuzz (seed ${SEED}, addon ${list.addon}, cuda available: ${list.cudaAvailable}), ${wall} ms wall:\n${rows.join('\n')}`);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the addon exports at least the documented entry points, and TensorHandle has methods/accessors', () => {
    const names = list.exports.map((e) => e.name);
    for (const n of EXPECTED_EXPORTS) expect(names).toContain(n);
    expect(list.proto.map((p) => p.name).sort()).toEqual(expect.arrayContaining(['dispose', 'toHost', 'shape', 'dtype', 'device', 'disposed', 'nbytes']));
    expect(list.ops.cpu.length).toBeGreaterThan(0);
  });

  for (const target of targets) {
    test(`${target}: ${CALLS} malformed calls return or throw OnelipError with an ERR_ code, no crash`, () => {
      const o = outcomes.get(target);
      if (!o) throw new Error(`no outcome for ${target}`);
      if (o.failure) throw new Error(o.failure);
      const r = o.result!;
      expect(r.malformed).toBeGreaterThanOrEqual(CALLS);
      if (r.violations.length) {
        const text = r.violations
          .slice(0, 12)
          .map((v) => `  [${v.count}x] ${v.signature}\n      e.g. ${v.example}\n      -> ${v.error}`)
          .join('\n');
        throw new Error(`${target}: ${r.violations.length} kind(s) of contract violation (seed ${SEED}):\n${text}`);
      }
      // the fuzzer must actually reach the error paths (a fuzzer that never errors tests nothing)
      if (target !== 'export:info') expect(r.threw).toBeGreaterThan(0);
    });
  }

  test('run was fuzzed with random attributes for every registered op', () => {
    const r = outcomes.get('export:run')?.result;
    if (!r) throw new Error('export:run did not produce a result');
    const ops = Array.from(new Set([...list.ops.cpu, ...list.ops.cuda]));
    const thin = ops.filter((op) => (r.opsCovered?.[op] ?? 0) < Math.min(50, CALLS / (4 * ops.length)));
    expect(thin).toEqual([]);
  });
});
