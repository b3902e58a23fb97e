/**
 * The loader (lib/native.ts) and the three builds, each in a child process of its own:
 *   ONELIP_ADDON=cpu   → build/Release (node-gyp; built here when missing), cuda unavailable + reason
 *   ONELIP_ADDON=emu   → build-emu/Release, cuda available and emulated, with the cuda op list
 *   ONELIP_ADDON=cuda  → build-cuda/Release (nvcc; built here when missing and nvcc exists): loads on a
 *                        host without a GPU and says why cuda is unavailable (the driver, error 35);
 *                        on a GPU host, cuda must be available.
 *   ONELIP_ADDON=bogus → one clear ERR_ADDON_LOAD error
 *   no build at all    → ONE error listing every candidate and why it failed (missing / not loadable)
 *   ONELIP_ADDON_PATH  → loads exactly that file, or says why not
 * and the CLI: `node dist/cli/index.js info` prints both backends.
 */
import { execSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const SEED = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`loader seed: ${SEED} (replay with ONELIP_TEST_SEED=${SEED})`);

const CUDA_BIN = '/usr/local/cuda/bin';
function findNvcc(): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), CUDA_BIN]) {
    const f = path.join(dir, 'nvcc');
    if (dir && fs.existsSync(f)) return f;
  }
  return null;
}
const NVCC = findNvcc();
const GPU_HOST = fs.existsSync('/dev/nvidiactl') || fs.existsSync('/dev/nvidia0');
if (!NVCC) console.log('loader.test: nvcc not found: the ONELIP_ADDON=cuda test is SKIPPED');

/** Environment for a child: no inherited addon selection unless given. */
function env(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.ONELIP_ADDON;
  delete e.ONELIP_ADDON_PATH;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) e[k] = v;
  return e;
}

interface Probe {
  ok: boolean;
  error?: { name: string; code?: string; message: string; isOnelipError: boolean };
  info?: {
    addon: string;
    version: string;
    backends: {
      cpu: { threads: number; simd: string };
      cuda: { compiled: boolean; available: boolean; emulated: boolean; reason?: string; runtimeVersion: number; driverVersion: number; devices: unknown[] };
    };
    ops: { cpu: string[]; cuda: string[] };
  };
  file?: string;
  candidates?: Record<string, string[]>;
  add?: { device: string; a: number[]; b: number[]; out: number[] }[];
  cudaError?: { code?: string; message: string };
}

/**
 * Loads onelip from `dist` in a child with `extra` env; reports info(), the loaded file, an `add` on
 * every available device (with its seeded inputs), and what running on cuda does when unavailable.
 */
function probe(extra: Record<string, string | undefined>, dist = DIST): Probe {
  const code = `
    const path = require('path');
    const dist = ${JSON.stringify(dist)};
    const out = { ok: false };
    try { out.candidates = { cuda: require(path.join(dist, 'native.js')).candidates('cuda'), cpu: require(path.join(dist, 'native.js')).candidates('cpu'), emu: require(path.join(dist, 'native.js')).candidates('emu') }; } catch (e) {}
    try {
      const ol = require(path.join(dist, 'index.js'));
      out.info = ol.info();
      out.file = require(path.join(dist, 'native.js')).loadedFile();
      let s = ${SEED >>> 0};
      const r = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
      const vals = (n) => Array.from({ length: n }, () => Math.fround((0.25 + 2 * r()) * (r() < 0.5 ? -1 : 1)));
      out.add = [];
      for (const device of out.info.backends.cuda.available ? ['cpu', 'cuda'] : ['cpu']) {
        const a = vals(7), b = vals(7);
        out.add.push({ device, a, b, out: Array.from(ol.ops.add(ol.tensor(a, { device }), ol.tensor(b, { device })).data()) });
      }
      if (!out.info.backends.cuda.available) {
        try { ol.zeros([2], { device: 'cuda' }); } catch (e) { out.cudaError = { code: e.code, message: e.message }; }
      }
      out.ok = true;
    } catch (e) {
      out.error = { name: e && e.name, code: e && e.code, message: String(e && e.message), isOnelipError: !!(e && e.constructor && e.constructor.name === 'OnelipError') };
    }
    process.stdout.write('PROBE ' + JSON.stringify(out) + '\\n');
  `;
  const r = spawnSync(process.execPath, ['-e', code], { env: env(extra), encoding: 'utf8', timeout: 60000 });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('PROBE '));
  if (!line) throw new Error(`probe child died: status ${r.status}, signal ${r.signal}\n${r.stderr}`);
  return JSON.parse(line.slice(6)) as Probe;
}

function expectAddsCorrect(p: Probe, devices: string[]): void {
  expect(p.add?.map((x) => x.device)).toEqual(devices);
  for (const x of p.add ?? []) {
    expect(x.out).toEqual(x.a.map((v, i) => Math.fround(v + x.b[i])));
  }
}

function build(what: string, cmd: string, extraPath?: string): void {
  // eslint-disable-next-line no-console
  console.log(`loader.test: building the ${what} addon: ${cmd}`);
  const t0 = Date.now();
  execSync(cmd, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PATH: extraPath ? `${process.env.PATH}:${extraPath}` : process.env.PATH },
    timeout: 580000,
  });
  // eslint-disable-next-line no-console
  console.log(`loader.test: built the ${what} addon in ${Date.now() - t0} ms`);
}

beforeAll(() => {
  if (!fs.existsSync(path.join(DIST, 'index.js'))) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.json` (npm test does)');
});

describe('loader', () => {
  test('ONELIP_ADDON=cpu loads build/Release; cuda is unavailable, with a reason', () => {
    const file = path.join(ROOT, 'build', 'Release', 'onelip.node');
    if (!fs.existsSync(file)) build('CPU', 'npm run build:native:cpu --silent');
    const p = probe({ ONELIP_ADDON: 'cpu' });
    if (!p.ok) throw new Error(`cpu addon did not load: ${JSON.stringify(p.error)}`);
    expect(p.file).toBe(file);
    expect(p.info!.addon).toBe('cpu');
    expect(p.info!.backends.cuda.available).toBe(false);
    expect(p.info!.backends.cuda.compiled).toBe(false);
    expect(typeof p.info!.backends.cuda.reason).toBe('string');
    expect(p.info!.backends.cuda.reason!.length).toBeGreaterThan(10);
    expect(p.info!.ops.cpu.length).toBeGreaterThan(0);
    expect(p.info!.ops.cuda).toEqual([]);
    expect(p.info!.backends.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(['avx512', 'avx2', 'portable']).toContain(p.info!.backends.cpu.simd);
    expectAddsCorrect(p, ['cpu']);
    expect(p.cudaError?.code).toBe('ERR_DEVICE');
    expect(p.cudaError?.message).toContain(p.info!.backends.cuda.reason);
  }, 600000);

  test('ONELIP_ADDON=emu loads build-emu/Release: cuda available and emulated, with the cuda op list', () => {
    const file = path.join(ROOT, 'build-emu', 'Release', 'onelip.node');
    if (!fs.existsSync(file)) build('emulated-CUDA', 'npm run build:native:emu --silent');
    const p = probe({ ONELIP_ADDON: 'emu' });
    if (!p.ok) throw new Error(`emu addon did not load: ${JSON.stringify(p.error)}`);
    expect(p.file).toBe(file);
    expect(p.info!.addon).toBe('emu');
    expect(p.info!.backends.cuda).toMatchObject({ available: true, emulated: true, compiled: true });
    expect(p.info!.backends.cuda.reason).toBeUndefined();
    expect(p.info!.ops.cuda.length).toBeGreaterThan(0);
    expect(p.info!.ops.cuda).toEqual(p.info!.ops.cpu);
    expectAddsCorrect(p, ['cpu', 'cuda']);
  }, 600000);

  (NVCC ? test : test.skip)(`ONELIP_ADDON=cuda loads build-cuda/Release and ${GPU_HOST ? 'finds the GPU' : 'reports no driver (error 35) on this GPU-less host'}`, () => {
    const file = path.join(ROOT, 'build-cuda', 'Release', 'onelip.node');
    if (!fs.existsSync(file)) build('CUDA', 'npm run build:native --silent', CUDA_BIN);
    const p = probe({ ONELIP_ADDON: 'cuda' });
    if (!p.ok) throw new Error(`cuda addon did not load: ${JSON.stringify(p.error)}`);
    expect(p.file).toBe(file);
    expect(p.info!.addon).toBe('cuda');
    expect(p.info!.backends.cuda.compiled).toBe(true);
    expect(p.info!.backends.cuda.emulated).toBe(false);
    expect(p.info!.backends.cuda.runtimeVersion).toBeGreaterThanOrEqual(13000);
    if (GPU_HOST) {
      // TOOLCHAIN §6: on a GPU host a too-old driver must not pass as a silent CPU fallback
      expect(p.info!.backends.cuda.available).toBe(true);
      expect(p.info!.backends.cuda.devices.length).toBeGreaterThan(0);
      expectAddsCorrect(p, ['cpu', 'cuda']);
    } else {
      expect(p.info!.backends.cuda.available).toBe(false);
      expect(p.info!.backends.cuda.reason).toMatch(/driver/i);
      // cudaErrorInsufficientDriver (35): "CUDA driver version is insufficient for CUDA runtime version"
      expect(p.info!.backends.cuda.reason).toMatch(/insufficient/i);
      expect(p.info!.backends.cuda.devices).toEqual([]);
      expectAddsCorrect(p, ['cpu']);
      expect(p.cudaError?.code).toBe('ERR_DEVICE');
      expect(p.cudaError?.message).toMatch(/driver/i);
    }
  }, 600000);

  test('ONELIP_ADDON=bogus gives one clear ERR_ADDON_LOAD error', () => {
    const p = probe({ ONELIP_ADDON: 'bogus' });
    expect(p.ok).toBe(false);
    expect(p.error).toMatchObject({ name: 'OnelipError', code: 'ERR_ADDON_LOAD', isOnelipError: true });
    expect(p.error!.message).toContain("'bogus'");
    for (const k of ['cuda', 'cpu', 'emu']) expect(p.error!.message).toContain(k);
  });

  describe('with no build at all (a copy of dist/ and package.json only)', () => {
    let tmp = '';
    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-loader-'));
      fs.cpSync(DIST, path.join(tmp, 'dist'), { recursive: true });
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(tmp, 'package.json'));
    });
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

    test('ONE error lists every candidate, each "not found"', () => {
      const p = probe({}, path.join(tmp, 'dist'));
      expect(p.ok).toBe(false);
      expect(p.error).toMatchObject({ code: 'ERR_ADDON_LOAD', isOnelipError: true });
      const msg = p.error!.message;
      const all = [...p.candidates!.cuda.map((f) => ['cuda', f]), ...p.candidates!.cpu.map((f) => ['cpu', f])];
      expect(all.length).toBeGreaterThanOrEqual(3); // build-cuda, a prebuild, build/Release at least
      for (const [kind, f] of all) {
        expect(f.startsWith(tmp)).toBe(true);
        expect(msg).toContain(`${kind}: ${path.relative(tmp, f)}: not found`);
      }
      expect(msg.split('\n').filter((l) => l.includes(': not found')).length).toBe(all.length);
      expect(msg).toMatch(/build:native/); // says how to get one
    });

    test('candidates that exist but cannot be loaded are listed with the dlopen reason', () => {
      const cpu = path.join(tmp, 'build', 'Release', 'onelip.node');
      fs.mkdirSync(path.dirname(cpu), { recursive: true });
      fs.writeFileSync(cpu, 'this is not an ELF file\n'.repeat(10));
      const pre = path.join(tmp, 'prebuilds', `${process.platform}-${process.arch}`, 'onelip.glibc.node');
      fs.mkdirSync(path.dirname(pre), { recursive: true });
      fs.writeFileSync(pre, '');
      try {
        const p = probe({}, path.join(tmp, 'dist'));
        expect(p.ok).toBe(false);
        expect(p.error!.code).toBe('ERR_ADDON_LOAD');
        const lines = p.error!.message.split('\n');
        const lineOf = (rel: string) => lines.find((l) => l.includes(rel)) ?? '';
        expect(lineOf(path.join('build', 'Release', 'onelip.node'))).toMatch(/invalid ELF header|file too short|not an ELF/i);
        expect(lineOf(path.relative(tmp, pre))).toMatch(/file too short|invalid ELF header/i);
        expect(lineOf(path.join('build-cuda', 'Release', 'onelip.node'))).toContain('not found');
        // ONELIP_ADDON=emu lists only the emulated build
        const e = probe({ ONELIP_ADDON: 'emu' }, path.join(tmp, 'dist'));
        expect(e.error!.code).toBe('ERR_ADDON_LOAD');
        expect(e.error!.message).toContain('ONELIP_ADDON=emu');
        expect(e.error!.message).toContain(`emu: ${path.join('build-emu', 'Release', 'onelip.node')}: not found`);
        expect(e.error!.message).not.toMatch(/^\s*cpu:/m);
      } finally {
        fs.rmSync(path.join(tmp, 'build'), { recursive: true, force: true });
        fs.rmSync(path.join(tmp, 'prebuilds'), { recursive: true, force: true });
      }
    });
  });

  test('ONELIP_ADDON_PATH loads exactly that file, or says why not (and wins over ONELIP_ADDON)', () => {
    const missing = path.join(os.tmpdir(), `onelip-no-such-${process.pid}.node`);
    const m = probe({ ONELIP_ADDON_PATH: missing, ONELIP_ADDON: 'cpu' });
    expect(m.ok).toBe(false);
    expect(m.error!.code).toBe('ERR_ADDON_LOAD');
    expect(m.error!.message).toContain(missing);
    expect(m.error!.message).toContain('not found');
    const emu = path.join(ROOT, 'build-emu', 'Release', 'onelip.node');
    if (fs.existsSync(emu)) {
      const p = probe({ ONELIP_ADDON_PATH: path.relative(process.cwd(), emu), ONELIP_ADDON: 'cpu' });
      if (!p.ok) throw new Error(JSON.stringify(p.error));
      expect(p.file).toBe(emu);
      expect(p.info!.addon).toBe('emu');
    }
  });

  test('`onelip info` (dist/cli/index.js) prints both backends, and --json matches info()', () => {
    for (const kind of ['emu', 'cpu']) {
      const file = path.join(ROOT, kind === 'emu' ? 'build-emu' : 'build', 'Release', 'onelip.node');
      if (!fs.existsSync(file)) throw new Error(`${file} is missing (the tests above build it)`);
      const r = spawnSync(process.execPath, [path.join(DIST, 'cli', 'index.js'), 'info'], { env: env({ ONELIP_ADDON: kind }), encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`(addon: ${kind})`);
      expect(r.stdout).toMatch(/^\s*cpu\s*:.*threads.*simd (avx512|avx2|portable).*\d+ ops/m);
      if (kind === 'emu') expect(r.stdout).toMatch(/^\s*cuda\s*:\s*available \(emulated on the CPU\).*\d+ ops/m);
      else expect(r.stdout).toMatch(/^\s*cuda\s*:\s*not available: \S+/m);
      const j = spawnSync(process.execPath, [path.join(DIST, 'cli', 'index.js'), 'info', '--json'], { env: env({ ONELIP_ADDON: kind }), encoding: 'utf8' });
      expect(j.status).toBe(0);
      const parsed = JSON.parse(j.stdout);
      const p = probe({ ONELIP_ADDON: kind });
      expect(parsed.addon).toBe(kind);
      expect(parsed.backends).toEqual(p.info!.backends);
      expect(parsed.ops).toEqual(p.info!.ops);
    }
    const bad = spawnSync(process.execPath, [path.join(DIST, 'cli', 'index.js'), 'no-such-command'], { env: env({ ONELIP_ADDON: 'emu' }), encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('no-such-command');
  });
});
