/**
 * Packaging: the prebuilt binary and what a consumer installs.
 *
 * In a temporary copy of the repository (node_modules symlinked, so the developer's build/,
 * build-cuda/, build-emu/ and prebuilds/ are never touched):
 *   1. `npm run prebuildify` — prebuildify runs scripts/prebuildify-cmake-js.sh in place of node-gyp;
 *      the shim runs `cmake-js rebuild` (out dir build/), prebuildify takes the first *.node of
 *      build/Release, strips it and MOVES it to prebuilds/linux-x64/onelip.glibc.node (its findBuild /
 *      fs.rename in node_modules/prebuildify/index.js). Checked: the file exists, was built by cmake-js
 *      (build/CMakeCache.txt, no node-gyp config.gypi) and is gone from build/Release.
 *   2. The `.nv_fatbin` ELF section of the prebuild (parsed here, TOOLCHAIN.md §7.3) holds ELF sm_80,
 *      ELF sm_90 and PTX sm_90; `ldd` shows no libcudart/libcuda (static cudart, loads without driver).
 *   3. `npm pack`, then install the tarball into a fresh directory with every compiler on PATH replaced
 *      by a failing stub that leaves a marker file (`npm install --offline`, dependencies from the npm
 *      cache), and `require('onelip')` there: the prebuild is the file loaded (addon 'cuda'), an op
 *      computes the right numbers, and no stub was ever called.
 * Without nvcc the CUDA assertions are skipped with a visible message (the prebuild is CPU-only then).
 */
import { execFileSync, spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const SEED = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`packaging seed: ${SEED} (replay with ONELIP_TEST_SEED=${SEED})`);
const CUDA_BIN = '/usr/local/cuda/bin';
const NVCC = [...(process.env.PATH ?? '').split(':'), CUDA_BIN].some((d) => d && fs.existsSync(path.join(d, 'nvcc')));
if (!NVCC) console.log('packaging.test: nvcc not found: the CUDA parts (fatbin architectures, addon kind "cuda") are SKIPPED');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const PREBUILD_REL = path.join('prebuilds', `${process.platform}-${process.arch}`, `${PKG.name}.glibc.node`);

// ---------------- .nv_fatbin reader (TOOLCHAIN.md §7.3) ----------------

/** The [offset, size] of an ELF64 little-endian section, by name. */
export function elfSection(buf: Buffer, name: string): [number, number] | null {
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const sh = (i: number) => shoff + i * shentsize;
  const strOff = Number(buf.readBigUInt64LE(sh(shstrndx) + 0x18));
  for (let i = 0; i < shnum; i++) {
    const nameOff = buf.readUInt32LE(sh(i));
    let end = strOff + nameOff;
    while (buf[end] !== 0) end++;
    if (buf.toString('latin1', strOff + nameOff, end) === name) {
      return [Number(buf.readBigUInt64LE(sh(i) + 0x18)), Number(buf.readBigUInt64LE(sh(i) + 0x20))];
    }
  }
  return null;
}

export interface FatbinEntry {
  kind: 'PTX' | 'ELF' | `kind ${number}`;
  arch: number;
  compressed: boolean;
  size: number;
}

/**
 * The entries of every fatbin container in `sec`: container header u32 magic 0xBA55ED50, u16 version,
 * u16 header size, u64 payload size; each entry u16 kind (1 PTX, 2 ELF), u16, u32 header size,
 * u64 payload size, u32 arch at +28, u64 flags at +40 (0x2000: compressed).
 */
export function fatbinEntries(sec: Buffer): FatbinEntry[] {
  const out: FatbinEntry[] = [];
  let p = 0;
  while (p + 16 <= sec.length) {
    if (sec.readUInt32LE(p) !== 0xba55ed50) {
      p += 4; // containers are aligned; skip padding between them
      continue;
    }
    const headerSize = sec.readUInt16LE(p + 6);
    const payload = Number(sec.readBigUInt64LE(p + 8));
    const end = p + headerSize + payload;
    if (headerSize < 16 || end > sec.length) throw new Error(`corrupt fatbin container at 0x${p.toString(16)}`);
    let e = p + headerSize;
    while (e + 48 <= end) {
      const kind = sec.readUInt16LE(e);
      const eh = sec.readUInt32LE(e + 4);
      const size = Number(sec.readBigUInt64LE(e + 8));
      if (eh < 48 || e + eh + size > end) throw new Error(`corrupt fatbin entry at 0x${e.toString(16)}`);
      out.push({
        kind: kind === 1 ? 'PTX' : kind === 2 ? 'ELF' : `kind ${kind}`,
        arch: sec.readUInt32LE(e + 28),
        compressed: (sec.readBigUInt64LE(e + 40) & 0x2000n) !== 0n,
        size,
      });
      e += eh + size;
    }
    p = end;
  }
  return out;
}

/** "ELF sm_80", "PTX sm_90", ... of an ELF file's .nv_fatbin section (empty when it has none). */
export function fatbinArchs(file: string): string[] {
  const buf = fs.readFileSync(file);
  const s = elfSection(buf, '.nv_fatbin');
  if (!s) return [];
  const entries = fatbinEntries(buf.subarray(s[0], s[0] + s[1]));
  return Array.from(new Set(entries.map((x) => `${x.kind} sm_${x.arch}`))).sort();
}

// ---------------- helpers ----------------

function sh(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): SpawnSyncReturns<string> {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeout ?? 300000, maxBuffer: 64 << 20 });
  // eslint-disable-next-line no-console
  const shown = args.map((a) => (a.length > 80 ? `'${a.replace(/\s+/g, ' ').trim().slice(0, 60)}...'` : a)).join(' ');
  console.log(`packaging.test: $ ${cmd} ${shown}  (${opts.cwd}) → status ${r.status} in ${Date.now() - t0} ms`);
  return r;
}
function must(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  if (r.status !== 0) throw new Error(`${what} failed (status ${r.status}, signal ${r.signal}${r.error ? ', ' + r.error.message : ''}):\n${(r.stdout ?? '').slice(-4000)}\n${(r.stderr ?? '').slice(-6000)}`);
  return r;
}
/** Identity of the .node files under a directory (paths, sizes, mtimes, inodes), to prove they were left alone. */
function snapshot(p: string): string {
  if (!fs.existsSync(p)) return '(absent)';
  const lines: string[] = [];
  const walk = (q: string) => {
    const st = fs.statSync(q);
    if (q.endsWith('.node')) lines.push(`${path.relative(ROOT, q)} ${st.size} ${st.mtimeMs} ${st.ino}`);
    if (st.isDirectory()) for (const f of fs.readdirSync(q).sort()) walk(path.join(q, f));
  };
  walk(p);
  return lines.join('\n');
}

// ---------------- the test ----------------

describe('packaging', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-pkg-'));
  const copy = path.join(work, 'repo');
  const consumer = path.join(work, 'consumer');
  const stubs = path.join(work, 'stubs');
  const markers = path.join(work, 'markers');
  const guarded = ['build', 'build-cuda', 'build-emu', 'prebuilds'].map((d) => path.join(ROOT, d));
  const before = guarded.map(snapshot);
  let prebuild = '';
  let tgz = '';

  afterAll(() => {
    if (!process.env.ONELIP_KEEP_TMP) fs.rmSync(work, { recursive: true, force: true });
  });

  test('prebuildify builds the CUDA-enabled addon with cmake-js into prebuilds/linux-x64/onelip.glibc.node', () => {
    fs.mkdirSync(copy);
    // what the package ships plus what building and packing it needs; node_modules is a symlink
    const entries = new Set<string>([...PKG.files.map((f: string) => f.replace(/\/$/, '')), 'package.json', 'package-lock.json', 'tsconfig.json', 'lib', '.npmignore', 'README.md', 'LICENSE']);
    for (const e of entries) {
      if (e === 'prebuilds') continue;
      const src = path.join(ROOT, e);
      if (fs.existsSync(src)) fs.cpSync(src, path.join(copy, e), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${process.env.PATH}:${CUDA_BIN}` };
    delete env.ONELIP_CMAKE_JS_FLAGS;
    must(sh('npm', ['run', 'prebuildify'], { cwd: copy, env, timeout: 900000 }), 'npm run prebuildify');
    prebuild = path.join(copy, PREBUILD_REL);
    expect(fs.existsSync(prebuild)).toBe(true);
    // built by cmake-js through the shim, not by node-gyp; prebuildify moved the .node out of build/Release
    expect(fs.existsSync(path.join(copy, 'build', 'CMakeCache.txt'))).toBe(true);
    expect(fs.existsSync(path.join(copy, 'build', 'config.gypi'))).toBe(false);
    expect(fs.readdirSync(path.join(copy, 'build', 'Release')).filter((f) => f.endsWith('.node'))).toEqual([]);
    const cache = fs.readFileSync(path.join(copy, 'build', 'CMakeCache.txt'), 'utf8');
    if (NVCC) expect(cache).toMatch(/CMAKE_CUDA_COMPILER:\w+=\S*nvcc/);
    // stripped (prebuildify --strip): no symbol table left
    const st = elfSection(fs.readFileSync(prebuild), '.symtab');
    expect(st).toBeNull();
    // the developer's build trees were not touched
    expect(guarded.map(snapshot)).toEqual(before);
  }, 900000);

  (NVCC ? test : test.skip)('the prebuild holds ELF sm_80, ELF sm_90 and PTX sm_90 and needs no CUDA library', () => {
    if (!prebuild) throw new Error('no prebuild (the previous test failed)');
    const archs = fatbinArchs(prebuild);
    // eslint-disable-next-line no-console
    console.log(`packaging.test: ${PREBUILD_REL}: ${fs.statSync(prebuild).size} bytes, fatbin: ${archs.join(', ')}`);
    expect(archs).toEqual(expect.arrayContaining(['ELF sm_80', 'ELF sm_90', 'PTX sm_90']));
    // the in-house reader agrees with readelf on the section's place
    const re = spawnSync('readelf', ['-W', '-S', prebuild], { encoding: 'utf8' });
    if (re.status === 0) {
      const line = re.stdout.split('\n').find((l) => /\s\.nv_fatbin\s/.test(l));
      expect(line).toBeDefined();
      const m = /\.nv_fatbin\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line!);
      expect(m).not.toBeNull();
      expect([parseInt(m![1], 16), parseInt(m![2], 16)]).toEqual(elfSection(fs.readFileSync(prebuild), '.nv_fatbin'));
    }
    const ldd = execFileSync('ldd', [prebuild], { encoding: 'utf8' });
    expect(ldd).not.toMatch(/libcudart|libcuda\.so|libnvrtc/);
    expect(ldd).not.toMatch(/not found/);
  });

  test('npm pack ships the prebuild, dist/ and the from-source fallback', () => {
    if (!prebuild) throw new Error('no prebuild (the previous test failed)');
    const r = must(sh('npm', ['pack', '--pack-destination', work, '--json'], { cwd: copy, timeout: 300000 }), 'npm pack');
    const meta = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
    tgz = path.join(work, meta[0].filename);
    expect(fs.existsSync(tgz)).toBe(true);
    const files: string[] = meta[0].files.map((f: { path: string }) => f.path);
    for (const f of [PREBUILD_REL, 'dist/index.js', 'dist/native.js', 'dist/cli/index.js', 'binding.gyp', 'CMakeLists.txt', 'scripts/gyp-sources.js', 'package.json']) {
      expect(files).toContain(f);
    }
    expect(files.some((f) => f.startsWith('native/') && f.endsWith('.cc'))).toBe(true);
    expect(files.some((f) => f.startsWith('build/') || f.startsWith('build-') || f.startsWith('node_modules/'))).toBe(false);
  }, 300000);

  test('installing the tarball with every compiler replaced by a failing stub loads the prebuild and compiles nothing', () => {
    if (!tgz) throw new Error('no tarball (the previous test failed)');
    fs.mkdirSync(stubs);
    fs.mkdirSync(markers);
    fs.mkdirSync(consumer);
    for (const tool of ['g++', 'gcc', 'cc', 'c++', 'make', 'cmake', 'nvcc', 'ninja', 'clang', 'clang++', 'ld']) {
      const f = path.join(stubs, tool);
      fs.writeFileSync(f, `#!/bin/sh\necho "$0 $*" > "${markers}/${tool}.called"\necho "stub ${tool}: compilers are disabled in this test" >&2\nexit 1\n`);
      fs.chmodSync(f, 0o755);
    }
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${stubs}:${process.env.PATH}`,
      CC: path.join(stubs, 'cc'),
      CXX: path.join(stubs, 'c++'),
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    };
    for (const k of ['ONELIP_ADDON', 'ONELIP_ADDON_PATH', 'CUDACXX', 'npm_config_offline', 'npm_config_prefer_offline']) delete env[k];
    let r = sh('npm', ['install', '--offline', '--ignore-scripts=false', tgz], { cwd: consumer, env, timeout: 300000 });
    if (r.status !== 0) {
      // eslint-disable-next-line no-console
      console.log(`packaging.test: offline install failed (${(r.stderr ?? '').split('\n').slice(-5).join(' / ')}); retrying with --prefer-offline`);
      r = sh('npm', ['install', '--prefer-offline', '--ignore-scripts=false', tgz], { cwd: consumer, env, timeout: 300000 });
    }
    must(r, 'npm install of the tarball');
    const installed = path.join(consumer, 'node_modules', PKG.name);
    expect(fs.existsSync(path.join(installed, PREBUILD_REL))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);

    const code = `
      const ol = require(${JSON.stringify(PKG.name)});
      const i = ol.info();
      let s = ${SEED >>> 0};
      const r = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
      const a = Array.from({ length: 12 }, () => Math.fround(0.25 + 2 * r()) * (r() < 0.5 ? -1 : 1));
      const b = Array.from({ length: 4 }, () => Math.fround(0.25 + 2 * r()) * (r() < 0.5 ? -1 : 1));
      const y = ol.ops.mul(ol.tensor(a, { shape: [3, 4] }), ol.tensor(b)).data();
      const sum = ol.ops.sum(ol.tensor(a, { shape: [3, 4], dtype: 'float64' }), 1).data();
      console.log(JSON.stringify({ addon: i.addon, cuda: i.backends.cuda, file: require(${JSON.stringify(PKG.name)} + '/dist/native').loadedFile(), a, b, y: Array.from(y), sum: Array.from(sum) }));
    `;
    const run = must(sh(process.execPath, ['-e', code], { cwd: consumer, env }), "require('onelip') in the consumer");
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(fs.realpathSync(out.file)).toBe(fs.realpathSync(path.join(installed, PREBUILD_REL)));
    if (NVCC) {
      expect(out.addon).toBe('cuda');
      expect(out.cuda.compiled).toBe(true);
      if (!fs.existsSync('/dev/nvidiactl')) {
        expect(out.cuda.available).toBe(false);
        expect(out.cuda.reason).toMatch(/driver/i);
      }
    } else {
      // eslint-disable-next-line no-console
      console.log('packaging.test: nvcc not found: the prebuild is CPU-only; addon kind not checked (SKIPPED)');
    }
    out.y.forEach((v: number, k: number) => expect(v).toBe(Math.fround(out.a[k] * out.b[k % 4])));
    out.sum.forEach((v: number, row: number) => {
      const want = out.a.slice(row * 4, row * 4 + 4).reduce((x: number, z: number) => x + z, 0);
      expect(Math.abs(v - want)).toBeLessThanOrEqual(1e-15 * 8);
    });
    // the CLI of the installed package works too
    const cli = must(sh(process.execPath, [path.join(installed, 'dist', 'cli', 'index.js'), 'info'], { cwd: consumer, env }), 'onelip info');
    expect(cli.stdout).toMatch(/cpu\s*:/);
    expect(cli.stdout).toMatch(/cuda\s*:/);
    // nothing was compiled
    expect(fs.readdirSync(markers)).toEqual([]);
  }, 600000);
});
