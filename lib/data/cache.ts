/**
 * The binary dataset cache: one file per source dataset holding uint8 images and uint8 labels,
 * validated by a SHA-256 of the payload on every read, written atomically (temp file + rename).
 *
 * Directory: env ONELIP_CACHE_DIR if set, else the OS cache directory + `/onelip`
 * ($XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows),
 * else `<os tmpdir>/onelip-cache` when there is no home directory.
 *
 * File layout: 8 bytes magic `OLDSET01`, uint32 LE header length, UTF-8 JSON header
 * `{ name, count, shape, sha256 }`, then count·C·H·W image bytes and count label bytes.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const MAGIC = 'OLDSET01';

/** Where cached datasets live (see the module comment). */
export function cacheDir(): string {
  const env = process.env.ONELIP_CACHE_DIR;
  if (env) return path.resolve(env);
  const home = os.homedir();
  if (process.platform === 'win32' && process.env.LOCALAPPDATA) return path.join(process.env.LOCALAPPDATA, 'onelip', 'Cache');
  if (process.platform === 'darwin' && home) return path.join(home, 'Library', 'Caches', 'onelip');
  if (process.env.XDG_CACHE_HOME) return path.join(process.env.XDG_CACHE_HOME, 'onelip');
  if (home) return path.join(home, '.cache', 'onelip');
  return path.join(os.tmpdir(), 'onelip-cache');
}

export interface CachedSet {
  shape: [number, number, number];
  images: Uint8Array;
  labels: Int32Array;
}

function sha256(...parts: Uint8Array[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Reads `name` from the cache; null when absent, truncated, of another layout, or failing its checksum. */
export function readCache(name: string): CachedSet | null {
  const file = path.join(cacheDir(), `${name}.bin`);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  try {
    if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) return null;
    const hl = buf.readUInt32LE(8);
    if (12 + hl > buf.length) return null;
    const header = JSON.parse(buf.toString('utf8', 12, 12 + hl));
    const [c, h, w] = header.shape;
    const n = header.count;
    const px = n * c * h * w;
    const off = 12 + hl;
    if (header.name !== name || buf.length !== off + px + n) return null;
    const img = buf.subarray(off, off + px);
    const lab = buf.subarray(off + px, off + px + n);
    if (sha256(img, lab) !== header.sha256) return null;
    return { shape: [c, h, w], images: img, labels: Int32Array.from(lab) };
  } catch {
    return null;
  }
}

/** Writes `name` to the cache atomically. Failure to write (read-only disk) is not an error: returns false. */
export function writeCache(name: string, set: CachedSet): boolean {
  const dir = cacheDir();
  const n = set.labels.length;
  const lab = Uint8Array.from(set.labels);
  const header = Buffer.from(JSON.stringify({ name, count: n, shape: set.shape, sha256: sha256(set.images, lab) }), 'utf8');
  const pre = Buffer.alloc(12);
  pre.write(MAGIC, 0, 'latin1');
  pre.writeUInt32LE(header.length, 8);
  const file = path.join(dir, `${name}.bin`);
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const part of [pre, header, set.images, lab]) fs.writeSync(fd, part);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    return true;
  } catch {
    try { fs.unlinkSync(tmp); } catch { /* already gone */ }
    return false;
  }
}
