/**
 * Checkpoints (`ol.io`): module state, optimizer state and JSON metadata in one safetensors file
 * (lib/io/safetensors.ts), readable by other tools (the module's tensors under their state-dict names).
 *
 * Layout: module tensors under their state-dict names; optimizer state tensors under
 * `__optimizer__.state.<param index>.<name>`; in `__metadata__`: `onelip.version`, `onelip.metadata`
 * (the caller's metadata as JSON) and `onelip.optimizer` (the optimizer's groups and numeric state
 * as JSON). Writes are atomic; loads validate the whole file, and `loadInto` also checks it against
 * the module (and optimizer) before anything is changed.
 */
import { check, OnelipError } from '../errors';
import { describe } from '../ops/run';
import { tensor } from '../ops/creation';
import { Device, DType, keep, Tensor } from '../tensor';
import { decodeEntry, NamedTensor, parseSafetensors, RawEntry, readFileChecked, writeSafetensors } from './safetensors';
import type { OptimizerStateDict, ParamState } from '../optim/optimizer';

export { parseSafetensors, writeSafetensors } from './safetensors';

const CODE = 'ERR_CHECKPOINT';
const OPT_PREFIX = '__optimizer__.state.';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const VERSION: string = require('../../package.json').version;

/** What `save`/`loadInto` need of a module (ol.nn.Module has it). */
export interface StateModule {
  stateDict(): Record<string, Tensor>;
  loadStateDict(d: Record<string, Tensor>, opts?: { strict?: boolean }): void;
}

/** What `save`/`loadInto` need of an optimizer (ol.optim.SGD / Adam / AdamW have it). */
export interface StateOptimizer {
  stateDict(): OptimizerStateDict;
  loadStateDict(d: OptimizerStateDict): void;
}

export interface SaveExtras {
  /** Its state (moments, buffers, step counts, group options) is saved with the module. */
  optimizer?: StateOptimizer;
  /** Any JSON-serialisable value (epoch, step, RNG state, ...), returned by `load` as `metadata`. */
  metadata?: unknown;
}

function isModule(m: unknown): m is StateModule {
  return typeof m === 'object' && m !== null && typeof (m as StateModule).stateDict === 'function';
}

/**
 * Saves a module's state dict (or a plain `{ name: Tensor }` record), optionally with an optimizer's
 * state and JSON metadata, to `file` in the safetensors layout. Atomic: a temp file in the same
 * directory, fsync, rename, fsync of the directory; on failure the previous file is untouched.
 * cuda tensors are copied to the host one at a time. Cost: one pass over the data.
 */
export function save(file: string, module: StateModule | Record<string, Tensor>, extras: SaveExtras = {}): void {
  check(typeof file === 'string' && file.length > 0, 'ERR_ARGUMENT', () => `io.save: path must be a non-empty string, got ${describe(file)}`);
  check(typeof extras === 'object' && extras !== null, 'ERR_ARGUMENT', () => `io.save: extras must be an object { optimizer?, metadata? }, got ${describe(extras)}`);
  check(typeof module === 'object' && module !== null, 'ERR_ARGUMENT', () => `io.save: module must be a Module or a record of tensors, got ${describe(module)}`);
  const sd = isModule(module) ? module.stateDict() : module;
  const named: NamedTensor[] = [];
  for (const [name, t] of Object.entries(sd)) {
    check(name.length > 0 && name !== '__metadata__' && !name.startsWith(OPT_PREFIX), 'ERR_ARGUMENT',
      () => `io.save: tensor name '${name}' is reserved or empty`);
    check(t instanceof Tensor && !t.isDisposed, 'ERR_ARGUMENT', () => `io.save: state '${name}' must be a live Tensor, got ${describe(t)}`);
    named.push([name, t]);
  }
  const meta: Record<string, string> = { 'onelip.version': VERSION };
  if (extras.metadata !== undefined) {
    let json: string | undefined;
    try {
      json = JSON.stringify(extras.metadata);
    } catch (e) {
      throw new OnelipError('ERR_ARGUMENT', `io.save: metadata must be JSON-serialisable (${(e as Error).message})`);
    }
    check(json !== undefined, 'ERR_ARGUMENT', 'io.save: metadata must be JSON-serialisable (got a function or symbol)');
    meta['onelip.metadata'] = json;
  }
  if (extras.optimizer !== undefined) {
    const opt = extras.optimizer;
    check(typeof opt === 'object' && opt !== null && typeof opt.stateDict === 'function', 'ERR_ARGUMENT',
      () => `io.save: extras.optimizer must be an optimizer, got ${describe(opt)}`);
    const osd = opt.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [i, st] of Object.entries(osd.state)) {
      for (const [k, v] of Object.entries(st)) {
        if (v instanceof Tensor) named.push([`${OPT_PREFIX}${i}.${k}`, v]);
        else (scalars[i] ??= {})[k] = v;
      }
    }
    meta['onelip.optimizer'] = JSON.stringify({ paramGroups: osd.paramGroups, scalars, tensors: Object.fromEntries(Object.entries(osd.state).map(([i, st]) => [i, Object.keys(st).filter((k) => st[k] instanceof Tensor)])) });
  }
  writeSafetensors(file, named, meta);
}

export interface LoadOptions {
  /** Device of the returned tensors (default 'cpu'). */
  device?: Device;
}

export interface Loaded {
  /** The module tensors (everything but optimizer state), on `device`. */
  tensors: Record<string, Tensor>;
  /** The metadata saved with `save` (parsed JSON); for files from other tools, their `__metadata__` map. */
  metadata: unknown;
  /** The optimizer state, when one was saved (tensors on `device`). */
  optimizer?: OptimizerStateDict;
}

/** A parsed and cross-checked checkpoint whose tensors are not yet materialised. */
interface Parsed {
  module: Map<string, RawEntry>;
  metadata: unknown;
  optimizer?: { paramGroups: OptimizerStateDict['paramGroups']; scalars: Record<string, Record<string, number>>; tensors: Map<string, Map<string, RawEntry>> };
}

function parse(file: string): Parsed {
  const raw = parseSafetensors(readFileChecked(file), file);
  const fail = (what: string): never => {
    throw new OnelipError(CODE, `checkpoint ${file}: ${what}`);
  };
  const m = raw.metadata ?? {};
  let metadata: unknown = raw.metadata;
  if (m['onelip.version'] !== undefined) {
    metadata = undefined;
    if (m['onelip.metadata'] !== undefined) {
      try {
        metadata = JSON.parse(m['onelip.metadata']);
      } catch {
        fail('"onelip.metadata" in __metadata__ is not valid JSON');
      }
    }
  }
  const module = new Map<string, RawEntry>();
  const optTensors = new Map<string, Map<string, RawEntry>>();
  for (const [name, e] of raw.entries) {
    if (!name.startsWith(OPT_PREFIX)) {
      module.set(name, e);
      continue;
    }
    const rest = name.slice(OPT_PREFIX.length);
    const dot = rest.indexOf('.');
    if (dot <= 0 || !/^\d+$/.test(rest.slice(0, dot))) fail(`optimizer tensor '${name}' is not named ${OPT_PREFIX}<index>.<name>`);
    const idx = rest.slice(0, dot);
    if (!optTensors.has(idx)) optTensors.set(idx, new Map());
    optTensors.get(idx)!.set(rest.slice(dot + 1), e);
  }
  const out: Parsed = { module, metadata };
  if (m['onelip.optimizer'] !== undefined) {
    let o: unknown;
    try {
      o = JSON.parse(m['onelip.optimizer']);
    } catch {
      fail('"onelip.optimizer" in __metadata__ is not valid JSON');
    }
    const ok = typeof o === 'object' && o !== null && Array.isArray((o as Record<string, unknown>).paramGroups) &&
      typeof (o as Record<string, unknown>).scalars === 'object' && (o as Record<string, unknown>).scalars !== null &&
      typeof (o as Record<string, unknown>).tensors === 'object' && (o as Record<string, unknown>).tensors !== null;
    if (!ok) fail('"onelip.optimizer" must be { paramGroups, scalars, tensors }');
    const oo = o as { paramGroups: OptimizerStateDict['paramGroups']; scalars: Record<string, Record<string, number>>; tensors: Record<string, string[]> };
    // the tensor list in the metadata and the tensors in the file must agree exactly
    for (const [idx, names] of Object.entries(oo.tensors)) {
      if (!Array.isArray(names)) fail(`"onelip.optimizer" tensors[${idx}] must be a list of names`);
      for (const n of names) if (!optTensors.get(idx)?.has(n)) fail(`optimizer tensor '${OPT_PREFIX}${idx}.${n}' is missing`);
    }
    for (const [idx, mp] of optTensors)
      for (const n of mp.keys()) if (!oo.tensors[idx]?.includes(n)) fail(`unexpected optimizer tensor '${OPT_PREFIX}${idx}.${n}'`);
    out.optimizer = { paramGroups: oo.paramGroups, scalars: oo.scalars, tensors: optTensors };
  } else if (optTensors.size > 0) {
    fail('optimizer tensors without "onelip.optimizer" in __metadata__');
  }
  return out;
}

function materialise(e: RawEntry, device: Device, dtype?: DType): Tensor {
  const t = tensor(decodeEntry(e), { shape: e.shape, dtype: e.dtype, device });
  if (!dtype || dtype === e.dtype) return keep(t);
  const c = t.astype(dtype);
  t.dispose();
  return keep(c);
}

function optimizerState(p: NonNullable<Parsed['optimizer']>, make: (e: RawEntry, idx: number) => Tensor): OptimizerStateDict {
  const state: Record<number, ParamState> = {};
  for (const [idx, sc] of Object.entries(p.scalars)) state[Number(idx)] = { ...(state[Number(idx)] ?? {}), ...sc };
  for (const [idx, mp] of p.tensors) {
    const st: ParamState = (state[Number(idx)] ??= {});
    for (const [n, e] of mp) st[n] = make(e, Number(idx));
  }
  return { state, paramGroups: p.paramGroups };
}

/**
 * Reads a checkpoint: the whole file is validated first (header length, JSON, dtypes F32/F64/I32,
 * shapes, offsets in range and not overlapping, sizes) and any problem raises
 * OnelipError(ERR_CHECKPOINT). Returns the module tensors, the metadata and the optimizer state.
 */
export function load(file: string, options: LoadOptions = {}): Loaded {
  check(typeof file === 'string' && file.length > 0, 'ERR_ARGUMENT', () => `io.load: path must be a non-empty string, got ${describe(file)}`);
  const device = options.device ?? 'cpu';
  check(device === 'cpu' || device === 'cuda', 'ERR_DEVICE', () => `io.load: device must be 'cpu' or 'cuda', got ${describe(device)}`);
  const p = parse(file);
  const tensors: Record<string, Tensor> = {};
  for (const [name, e] of p.module) tensors[name] = materialise(e, device);
  const out: Loaded = { tensors, metadata: p.metadata };
  if (p.optimizer) out.optimizer = optimizerState(p.optimizer, (e) => materialise(e, device));
  return out;
}

export interface LoadIntoOptions {
  /** Missing or unexpected keys are errors (default true). */
  strict?: boolean;
  /** Restore this optimizer's state too (the file must hold one). */
  optimizer?: StateOptimizer;
}

const isFloat = (d: DType) => d === 'float32' || d === 'float64';

/**
 * Loads a checkpoint into `module` (and `options.optimizer`): validates the file, then checks it
 * against the module's current state dict — keys (strict: none missing, none unexpected), shapes,
 * dtypes (float32 ↔ float64 are converted; int32 must match) — before changing anything; tensors are
 * created on the device of the module's tensor they replace. Returns the saved metadata.
 */
export function loadInto(module: StateModule, file: string, options: LoadIntoOptions = {}): { metadata: unknown } {
  check(isModule(module) && typeof module.loadStateDict === 'function', 'ERR_ARGUMENT',
    () => `io.loadInto: module must have stateDict() and loadStateDict(), got ${describe(module)}`);
  check(typeof file === 'string' && file.length > 0, 'ERR_ARGUMENT', () => `io.loadInto: path must be a non-empty string, got ${describe(file)}`);
  check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'io.loadInto: options must be an object { strict?, optimizer? }');
  const strict = options.strict ?? true;
  const p = parse(file);
  const current = module.stateDict();
  const fail = (what: string): never => {
    throw new OnelipError(CODE, `io.loadInto ${file}: ${what}`);
  };
  if (strict) {
    const missing = Object.keys(current).filter((k) => !p.module.has(k));
    const unexpected = [...p.module.keys()].filter((k) => !(k in current));
    if (missing.length || unexpected.length)
      fail(`state dict mismatch (strict): missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`);
  }
  const plan: [string, RawEntry, Tensor][] = [];
  for (const [name, e] of p.module) {
    const t = current[name];
    if (!t) continue;  // not strict: ignored
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i]))
      fail(`'${name}' has shape [${e.shape}] in the file but [${t.shape}] in the module`);
    if (!(e.dtype === t.dtype || (isFloat(e.dtype) && isFloat(t.dtype))))
      fail(`'${name}' is ${e.dtype} in the file but ${t.dtype} in the module`);
    plan.push([name, e, t]);
  }
  let optState: OptimizerStateDict | undefined;
  if (options.optimizer !== undefined) {
    check(typeof options.optimizer === 'object' && options.optimizer !== null && typeof options.optimizer.loadStateDict === 'function',
      'ERR_ARGUMENT', 'io.loadInto: options.optimizer must be an optimizer');
    if (!p.optimizer) fail('the file holds no optimizer state');
  }
  // everything validated: materialise (on the module's devices), then load the optimizer (which
  // validates its own part before changing anything), then the module
  const d: Record<string, Tensor> = {};
  try {
    for (const [name, e, t] of plan) d[name] = materialise(e, t.device, t.dtype);
    if (options.optimizer) {
      optState = optimizerState(p.optimizer!, (e) => materialise(e, 'cpu'));
      try {
        options.optimizer.loadStateDict(optState);
      } catch (err) {
        if (err instanceof OnelipError) throw new OnelipError(CODE, `io.loadInto ${file}: optimizer state does not fit: ${err.message}`);
        throw err;
      }
    }
  } catch (err) {
    for (const t of Object.values(d)) t.dispose();
    throw err;
  } finally {
    // the optimizer copies what it keeps
    if (optState) for (const st of Object.values(optState.state)) for (const v of Object.values(st)) if (v instanceof Tensor) v.dispose();
  }
  module.loadStateDict(d, { strict });
  return { metadata: p.metadata };
}
