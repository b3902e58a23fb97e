/**
 * Loads the native addon. Order by default: the CUDA build (local cmake-js build, then the prebuilt
 * binary, which is CUDA-enabled), then the CPU build (node-gyp, what `npm install` compiles when no
 * prebuild matches). `ONELIP_ADDON=cuda|cpu|emu` forces one kind. `ONELIP_ADDON_PATH=<file.node>`
 * loads exactly that file instead (e.g. a sanitizer build for `npm run test:asan`; a relative path is
 * resolved against the current directory) and takes precedence over ONELIP_ADDON. When nothing loads,
 * one error lists every attempt and why it failed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { OnelipError } from './errors';

export type AddonKind = 'cuda' | 'cpu' | 'emu';

/** Opaque native tensor handle. */
export interface NativeHandle {
  readonly shape: number[];
  readonly dtype: 'float32' | 'float64' | 'int32';
  readonly device: 'cpu' | 'cuda';
  readonly disposed: boolean;
  readonly nbytes: number;
  dispose(): void;
  toHost(): Float32Array | Float64Array | Int32Array;
}

export interface NativeInfo {
  addon: AddonKind;
  backends: {
    cpu: { threads: number; simd: 'avx512' | 'avx2' | 'portable' };
    cuda: {
      compiled: boolean;
      available: boolean;
      emulated: boolean;
      reason?: string;
      runtimeVersion: number;
      driverVersion: number;
      devices: { name: string; computeCapability: string; memoryBytes: number }[];
    };
  };
  ops: { cpu: string[]; cuda: string[] };
  externalMemoryBytes: number;
}

/** The functions the addon exports (native/bind/addon.cc). */
export interface NativeAddon {
  TensorHandle: new () => NativeHandle;
  setErrorClass(ctor: new (code: string, message: string) => Error): void;
  info(): NativeInfo;
  setNumThreads(n: number): void;
  fromHost(data: Float32Array | Float64Array | Int32Array, shape: number[], dtype: string, device: string): NativeHandle;
  run(op: string, device: string, inputs: NativeHandle[], attrs?: Record<string, unknown>): NativeHandle[];
  reshape(x: NativeHandle, shape: number[]): NativeHandle;
  to(x: NativeHandle, device: string): NativeHandle;
}

const root = path.join(__dirname, '..');

/** Candidate files for each addon kind, most preferred first. */
export function candidates(kind: AddonKind): string[] {
  const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const prebuilds = ['onelip.glibc.node', 'onelip.node'].map((f) => path.join(prebuildDir, f));
  switch (kind) {
    case 'cuda':
      return [path.join(root, 'build-cuda', 'Release', 'onelip.node'), ...prebuilds];
    case 'emu':
      return [path.join(root, 'build-emu', 'Release', 'onelip.node')];
    case 'cpu':
      return [path.join(root, 'build', 'Release', 'onelip.node')];
  }
}

let loaded: { addon: NativeAddon; file: string } | undefined;

/** Loads (once) and returns the native addon. */
export function native(): NativeAddon {
  if (loaded) return loaded.addon;
  const explicit = process.env.ONELIP_ADDON_PATH;
  if (explicit !== undefined && explicit !== '') {
    const file = path.resolve(explicit);
    let why: string;
    if (!fs.existsSync(file)) why = 'not found';
    else {
      try {
        const addon = require(file) as NativeAddon;
        loaded = { addon, file };
        return addon;
      } catch (e) {
        why = (e as Error).message;
      }
    }
    throw new OnelipError('ERR_ADDON_LOAD', `onelip: no native addon could be loaded (ONELIP_ADDON_PATH=${explicit}). Tried:\n  ${file}: ${why}`);
  }
  const forced = process.env.ONELIP_ADDON;
  if (forced !== undefined && forced !== '' && !['cuda', 'cpu', 'emu'].includes(forced)) {
    throw new OnelipError('ERR_ADDON_LOAD', `ONELIP_ADDON must be 'cuda', 'cpu' or 'emu', got '${forced}'`);
  }
  const kinds: AddonKind[] = forced ? [forced as AddonKind] : ['cuda', 'cpu'];
  const attempts: string[] = [];
  for (const kind of kinds) {
    for (const file of candidates(kind)) {
      if (!fs.existsSync(file)) {
        attempts.push(`${kind}: ${path.relative(root, file)}: not found`);
        continue;
      }
      try {
        const addon = require(file) as NativeAddon;
        loaded = { addon, file };
        return addon;
      } catch (e) {
        attempts.push(`${kind}: ${path.relative(root, file)}: ${(e as Error).message}`);
      }
    }
  }
  throw new OnelipError(
    'ERR_ADDON_LOAD',
    `onelip: no native addon could be loaded${forced ? ` (ONELIP_ADDON=${forced})` : ''}. Tried:\n  ` +
      attempts.join('\n  ') +
      '\nBuild one with `npm run build:native:cpu` (CPU), `npm run build:native` (CUDA) or `npm run build:native:emu`.',
  );
}

/** The path of the loaded addon file (after native() succeeded). */
export function loadedFile(): string | undefined {
  return loaded?.file;
}
