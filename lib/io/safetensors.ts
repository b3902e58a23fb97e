/**
 * The safetensors file layout, read and written without dependencies: an 8-byte little-endian header
 * length N, N bytes of JSON header (padded with spaces so the data starts 8-byte aligned), then the raw
 * little-endian tensor data. Header: `{ name: { dtype: "F32" | "F64" | "I32", shape, data_offsets:
 * [begin, end] }, ..., "__metadata__"?: { string: string } }`, offsets relative to the data start.
 * Writes are atomic: a temp file in the same directory, written, fsync'ed, renamed over the target,
 * then the directory fsync'ed; a failure midway leaves the old file intact and removes the temp file.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { OnelipError } from '../errors';
import { DType, Tensor, TypedArray } from '../tensor';

const CODE = 'ERR_CHECKPOINT';
const MAX_HEADER = 100 * 1024 * 1024;  // safetensors' own limit on the JSON header
const LE = os.endianness() === 'LE';

export const FILE_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };
const FROM_FILE: Record<string, { dtype: DType; size: number }> = {
  F32: { dtype: 'float32', size: 4 },
  F64: { dtype: 'float64', size: 8 },
  I32: { dtype: 'int32', size: 4 },
};

/** One tensor of a parsed file: its dtype, shape and a view of its raw bytes (not yet a Tensor). */
export interface RawEntry {
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

export interface RawFile {
  entries: Map<string, RawEntry>;
  metadata: Record<string, string> | undefined;
}

function bad(file: string, what: string): never {
  throw new OnelipError(CODE, `checkpoint ${file}: ${what}`);
}

/**
 * Parses and validates a whole safetensors file held in `buf` (named `file` in errors): header length,
 * JSON, every entry's dtype, shape, offsets (in range, no overlap, size = numel × dtype size) and the
 * metadata map. Throws OnelipError(ERR_CHECKPOINT) naming the problem; touches nothing else.
 */
export function parseSafetensors(buf: Uint8Array, file: string): RawFile {
  if (buf.length < 8) bad(file, `truncated: ${buf.length} bytes, the 8-byte header length alone needs 8`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(buf.length - 8))
    bad(file, `header length ${n} goes beyond the end of the file (${buf.length - 8} bytes after the length field): truncated or not a safetensors file`);
  if (n > BigInt(MAX_HEADER)) bad(file, `header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  const headerLen = Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLen)));
  } catch (e) {
    bad(file, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad(file, 'the header must be a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const entries = new Map<string, RawEntry>();
  let metadata: Record<string, string> | undefined;
  const spans: [number, number, string][] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every((s) => typeof s === 'string'))
        bad(file, '"__metadata__" must be an object mapping strings to strings');
      metadata = { ...(v as Record<string, string>) };
      continue;
    }
    if (name.length === 0) bad(file, 'a tensor has an empty name');
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(file, `tensor '${name}': entry must be an object { dtype, shape, data_offsets }`);
    const e = v as Record<string, unknown>;
    const info = typeof e.dtype === 'string' && Object.prototype.hasOwnProperty.call(FROM_FILE, e.dtype) ? FROM_FILE[e.dtype] : undefined;
    if (!info) bad(file, `tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)} (supported: F32, F64, I32)`);
    const shape = e.shape;
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      bad(file, `tensor '${name}': shape must be an array of at most 8 non-negative integers, got ${JSON.stringify(shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1])
      bad(file, `tensor '${name}': data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(off)}`);
    const [b, end] = off as [number, number];
    if (end > dataLen) bad(file, `tensor '${name}': data_offsets [${b}, ${end}] go beyond the ${dataLen} data bytes (truncated file?)`);
    const numel = (shape as number[]).reduce((a, d) => a * d, 1);
    if (numel * info.size !== end - b)
      bad(file, `tensor '${name}': shape [${shape}] of ${e.dtype} needs ${numel * info.size} bytes but data_offsets [${b}, ${end}] hold ${end - b}`);
    spans.push([b, end, name]);
    entries.set(name, { dtype: info.dtype, shape: [...(shape as number[])], bytes: buf.subarray(dataStart + b, dataStart + end) });
  }
  spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let last: [number, number, string] | undefined;  // the non-empty span reaching furthest so far
  for (const sp of spans) {
    if (sp[1] === sp[0]) continue;
    if (last && sp[0] < last[1])
      bad(file, `tensors '${last[2]}' and '${sp[2]}' overlap (data_offsets [${last[0]}, ${last[1]}] and [${sp[0]}, ${sp[1]}])`);
    if (!last || sp[1] > last[1]) last = sp;
  }
  return { entries, metadata };
}

/** A typed array (host, native byte order) of a raw little-endian entry. */
export function decodeEntry(e: RawEntry): TypedArray {
  const n = e.shape.reduce((a, d) => a * d, 1);
  const out = e.dtype === 'float32' ? new Float32Array(n) : e.dtype === 'float64' ? new Float64Array(n) : new Int32Array(n);
  if (LE) {
    new Uint8Array(out.buffer).set(e.bytes);
  } else {
    const dv = new DataView(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength);
    for (let i = 0; i < n; i++)
      out[i] = e.dtype === 'float32' ? dv.getFloat32(4 * i, true) : e.dtype === 'float64' ? dv.getFloat64(8 * i, true) : dv.getInt32(4 * i, true);
  }
  return out;
}

function encodeLE(a: TypedArray): Uint8Array {
  if (LE) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) {
    if (a instanceof Float32Array) dv.setFloat32(4 * i, a[i], true);
    else if (a instanceof Float64Array) dv.setFloat64(8 * i, a[i], true);
    else dv.setInt32(4 * i, a[i], true);
  }
  return out;
}

/** A tensor to write: its name and the tensor (copied to the host while writing). */
export type NamedTensor = [string, Tensor];

/**
 * Writes `tensors` and `metadata` as a safetensors file at `file`, atomically (see the file comment).
 * 8-byte tensors are laid out first so every tensor's data is aligned to its element size.
 * Tensors are copied to the host one at a time.
 */
export function writeSafetensors(file: string, tensors: NamedTensor[], metadata: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const order = [...tensors.filter(([, t]) => t.dtype === 'float64'), ...tensors.filter(([, t]) => t.dtype !== 'float64')];
  const offsets = new Map<string, [number, number]>();
  let pos = 0;
  for (const [name, t] of order) {
    const nbytes = t.size * (t.dtype === 'float64' ? 8 : 4);
    offsets.set(name, [pos, pos + nbytes]);
    pos += nbytes;
  }
  for (const [name, t] of tensors) header[name] = { dtype: FILE_DTYPE[t.dtype], shape: t.shape, data_offsets: offsets.get(name) };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const lenField = Buffer.alloc(8);
  lenField.writeBigUInt64LE(BigInt(json.length));

  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    writeAll(fd, lenField);
    writeAll(fd, json);
    for (const [, t] of order) writeAll(fd, encodeLE(t.data()));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created */
    }
    if (e instanceof OnelipError) throw e;
    throw new OnelipError(CODE, `checkpoint ${file}: write failed, the previous file (if any) is unchanged: ${(e as Error).message}`);
  }
  // make the rename durable; some file systems cannot fsync a directory, which is not an error here
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
}

/** Reads a whole file, mapping fs errors to ERR_CHECKPOINT. */
export function readFileChecked(file: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new OnelipError(CODE, `checkpoint ${file}: cannot read (${(e as Error).message})`);
  }
}
