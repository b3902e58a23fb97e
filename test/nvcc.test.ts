/**
 * Every cuda/*.cu (and test/emu/selftest.cu when present) compiled by the real nvcc, for sm_80 and
 * sm_90, with `-Xptxas -v`: catches host-only constructs that g++ accepts in the emulated build, and
 * records per kernel the registers, shared memory, stack frame and spills in docs/cuda-resources.txt.
 * A kernel (or non-inlined device function) that spills fails the test unless a substring of its name
 * is a key of docs/cuda-spill-exceptions.json ({ "<kernel name substring>": "<reason>" }).
 * Without nvcc: one visible "nvcc not found: skipped" message; the test passes but says so.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const ARCHS = ['sm_80', 'sm_90'];
const CUDA_BIN = '/usr/local/cuda/bin';
const NVCC = [...(process.env.PATH ?? '').split(':'), CUDA_BIN].map((d) => path.join(d, 'nvcc')).find((f) => fs.existsSync(f));
const RESOURCES = path.join(ROOT, 'docs', 'cuda-resources.txt');
const EXCEPTIONS = path.join(ROOT, 'docs', 'cuda-spill-exceptions.json');

interface KernelUse {
  file: string;
  arch: string;
  mangled: string;
  name: string;
  entry: boolean;
  registers: number;
  smem: number;
  stack: number;
  spillStores: number;
  spillLoads: number;
  barriers: number;
}

/** Parses ptxas -v output (CUDA 13 format; older formats too). */
export function parsePtxas(text: string, file: string, arch: string): KernelUse[] {
  const byName = new Map<string, KernelUse>();
  const get = (mangled: string, entry: boolean): KernelUse => {
    let k = byName.get(mangled);
    if (!k) {
      k = { file, arch, mangled, name: mangled, entry, registers: 0, smem: 0, stack: 0, spillStores: 0, spillLoads: 0, barriers: 0 };
      byName.set(mangled, k);
    }
    if (entry) k.entry = true;
    return k;
  };
  let current: KernelUse | null = null;
  let propsFor: KernelUse | null = null;
  for (const line of text.split('\n')) {
    let m = /Compiling entry function '([^']+)' for '(sm_\d+\w*)'/.exec(line);
    if (m) {
      current = get(m[1], true);
      continue;
    }
    m = /Function properties for (\S+)/.exec(line);
    if (m) {
      propsFor = get(m[1], false);
      continue;
    }
    m = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (m && propsFor) {
      propsFor.stack = +m[1];
      propsFor.spillStores = +m[2];
      propsFor.spillLoads = +m[3];
      propsFor = null;
      continue;
    }
    m = /Used (\d+) registers/.exec(line);
    if (m && current) {
      current.registers = +m[1];
      const smem = /(\d+) bytes smem/.exec(line);
      current.smem = smem ? +smem[1] : 0;
      const bar = /used (\d+) barriers/.exec(line);
      current.barriers = bar ? +bar[1] : 0;
    }
  }
  return Array.from(byName.values());
}

function demangle(names: string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (!names.length) return out;
  const r = spawnSync('c++filt', [], { input: names.join('\n'), encoding: 'utf8' });
  if (r.status !== 0) return out;
  const lines = r.stdout.split('\n');
  names.forEach((n, i) => out.set(n, (lines[i] ?? n).replace(/\(anonymous namespace\)::/g, '').replace(/\bonelip::/g, '')));
  return out;
}

function compile(src: string, arch: string, outDir: string): Promise<{ src: string; arch: string; status: number | null; stderr: string; ms: number }> {
  const rel = path.relative(ROOT, src);
  const extra = rel.startsWith('test') ? ['-I', ROOT, '-I', path.join(ROOT, 'cuda')] : [];
  const args = ['-std=c++17', `-arch=${arch}`, '-Xptxas', '-v', '-c', ...extra, '-o', path.join(outDir, `${rel.replace(/[/.]/g, '_')}.${arch}.o`), src];
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(NVCC!, args, { cwd: ROOT, env: { ...process.env, PATH: `${process.env.PATH}:${CUDA_BIN}` } });
    let err = '';
    p.stdout.on('data', (d) => (err += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (status) => resolve({ src: rel, arch, status, stderr: err, ms: Date.now() - t0 }));
  });
}

function table(rows: KernelUse[]): string {
  const head = ['file', 'arch', 'regs', 'smem B', 'stack B', 'spill st/ld B', 'barriers', 'kernel'];
  const cells = rows.map((k) => [k.file, k.arch, String(k.registers), String(k.smem), String(k.stack), `${k.spillStores}/${k.spillLoads}`, String(k.barriers), (k.entry ? '' : '(device fn) ') + k.name]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const fmt = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : i >= 2 && i <= 6 ? x.padStart(w[i]) : x.padEnd(w[i]))).join('  ');
  return [fmt(head), w.map((n, i) => (i === w.length - 1 ? '-'.repeat(Math.min(n, 60)) : '-'.repeat(n))).join('  '), ...cells.map(fmt)].join('\n');
}

describe('nvcc', () => {
  if (!NVCC) {
    test('nvcc not found: skipped', () => {
      // eslint-disable-next-line no-console
      console.warn('nvcc.test: nvcc not found: skipped (the CUDA sources were NOT compiled by nvcc; install the CUDA 13 toolkit)');
    });
    return;
  }

  const sources = fs
    .readdirSync(path.join(ROOT, 'cuda'))
    .filter((f) => f.endsWith('.cu'))
    .sort()
    .map((f) => path.join(ROOT, 'cuda', f));
  const selftest = path.join(ROOT, 'test', 'emu', 'selftest.cu');
  if (fs.existsSync(selftest)) sources.push(selftest);
  else console.log('nvcc.test: test/emu/selftest.cu not present: not compiled');

  let results: Awaited<ReturnType<typeof compile>>[] = [];
  let kernels: KernelUse[] = [];
  let wall = 0;

  beforeAll(async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-nvcc-'));
    const jobs = sources.flatMap((s) => ARCHS.map((a) => [s, a] as const));
    const t0 = Date.now();
    const worker = async () => {
      for (let j = jobs.shift(); j; j = jobs.shift()) results.push(await compile(j[0], j[1], out));
    };
    await Promise.all([worker(), worker()]); // 2 at a time (2 cores)
    wall = Date.now() - t0;
    fs.rmSync(out, { recursive: true, force: true });
    results = results.sort((a, b) => (a.src + a.arch).localeCompare(b.src + b.arch));
    for (const r of results) if (r.status === 0) kernels.push(...parsePtxas(r.stderr, r.src, r.arch));
    const names = demangle(Array.from(new Set(kernels.map((k) => k.mangled))));
    kernels = kernels.map((k) => ({ ...k, name: names.get(k.mangled) ?? k.mangled }));
    const header =
      `# Resource usage of the CUDA kernels, from \`nvcc -std=c++17 -arch=<arch> -Xptxas -v -c\` (written by test/nvcc.test.ts).\n` +
      `# nvcc: ${spawnSync(NVCC!, ['--version'], { encoding: 'utf8' }).stdout.split('\n').find((l) => /release/.test(l))?.trim()}\n` +
      `# regs: registers per thread; smem: static shared memory per block; stack: stack frame per thread;\n` +
      `# spill st/ld: bytes of register spill stores/loads (must be 0 unless listed in docs/cuda-spill-exceptions.json).\n` +
      `# compile time (2 at a time, s):\n${results.map((r) => `#   ${r.src} ${r.arch}: ${(r.ms / 1000).toFixed(1)}`).join('\n')}\n\n`;
    fs.mkdirSync(path.dirname(RESOURCES), { recursive: true });
    fs.writeFileSync(RESOURCES, header + table(kernels) + '\n');
    // eslint-disable-next-line no-console
    console.log(`nvcc.test: ${results.length} compiles in ${wall} ms (2 at a time); ${kernels.length} kernel/function entries → ${path.relative(ROOT, RESOURCES)}`);
  }, 600000);

  test('every .cu compiles with nvcc for sm_80 and sm_90', () => {
    expect(sources.length).toBeGreaterThan(0);
    expect(results.length).toBe(sources.length * ARCHS.length);
    const failed = results.filter((r) => r.status !== 0);
    if (failed.length) {
      throw new Error(failed.map((r) => `nvcc -arch=${r.arch} ${r.src} failed (status ${r.status}):\n${r.stderr.slice(-4000)}`).join('\n\n'));
    }
  });

  test('ptxas reports were parsed: every file with __global__ kernels reports them, for both archs', () => {
    for (const r of results.filter((x) => x.status === 0)) {
      const text = fs.readFileSync(path.join(ROOT, r.src), 'utf8');
      const hasKernels = /__global__/.test(text);
      const found = kernels.filter((k) => k.file === r.src && k.arch === r.arch && k.entry);
      if (hasKernels) {
        if (!found.length) throw new Error(`${r.src} (${r.arch}) has __global__ but no kernel in the ptxas report:\n${r.stderr.slice(0, 2000)}`);
        for (const k of found) expect(k.registers).toBeGreaterThan(0);
      }
      // every "Compiling entry function" line became a row
      const entries = (r.stderr.match(/Compiling entry function/g) ?? []).length;
      expect(found.length).toBe(entries);
    }
    expect(fs.readFileSync(RESOURCES, 'utf8')).toContain('sm_90');
  });

  test('no kernel spills registers (except those listed in docs/cuda-spill-exceptions.json)', () => {
    const exceptions: Record<string, string> = JSON.parse(fs.readFileSync(EXCEPTIONS, 'utf8'));
    for (const [k, why] of Object.entries(exceptions)) {
      if (typeof why !== 'string' || why.trim().length < 5) throw new Error(`docs/cuda-spill-exceptions.json: "${k}" needs a reason`);
    }
    const spilling = kernels.filter((k) => k.spillStores > 0 || k.spillLoads > 0);
    const excused = (k: KernelUse) => Object.keys(exceptions).some((s) => k.name.includes(s) || k.mangled.includes(s));
    const bad = spilling.filter((k) => !excused(k));
    if (bad.length) {
      throw new Error(`register spills:\n${bad.map((k) => `  ${k.file} ${k.arch}: ${k.name}: ${k.spillStores} B stores / ${k.spillLoads} B loads, ${k.registers} registers`).join('\n')}\n(fix them, or list a name substring with a reason in docs/cuda-spill-exceptions.json)`);
    }
    // an exception that excuses nothing is stale
    const stale = Object.keys(exceptions).filter((s) => !spilling.some((k) => k.name.includes(s) || k.mangled.includes(s)));
    if (stale.length) console.warn(`nvcc.test: spill exceptions that match no spilling kernel (remove them?): ${stale.join(', ')}`);
  });
});

test('the ptxas report parser reads registers, shared memory and spills', () => {
  const sample = [
    "ptxas info    : 0 bytes gmem",
    "ptxas info    : Compiling entry function '_Z4gemmPKfS0_Pfi' for 'sm_90'",
    'ptxas info    : Function properties for _Z4gemmPKfS0_Pfi',
    '    8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads',
    'ptxas info    : Used 255 registers, used 1 barriers, 8320 bytes smem, 400 bytes cmem[0]',
    "ptxas info    : Compiling entry function '_Z3addPf' for 'sm_90'",
    'ptxas info    : Function properties for _Z3addPf',
    '    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads',
    'ptxas info    : Used 8 registers, used 0 barriers, 360 bytes cmem[0]',
  ].join('\n');
  const k = parsePtxas(sample, 'cuda/x.cu', 'sm_90');
  expect(k).toHaveLength(2);
  expect(k[0]).toMatchObject({ mangled: '_Z4gemmPKfS0_Pfi', registers: 255, smem: 8320, stack: 8, spillStores: 12, spillLoads: 16, barriers: 1, entry: true });
  expect(k[1]).toMatchObject({ mangled: '_Z3addPf', registers: 8, smem: 0, spillStores: 0, spillLoads: 0, barriers: 0 });
});
