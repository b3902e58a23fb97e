/**
 * The addon is context-aware: it loads and works in worker_threads.
 *
 * 1. Two workers and the main thread start together (a SharedArrayBuffer barrier), each creates
 *    tensors from seeded random data on cpu and cuda (the emulated device under `npm test`) and runs
 *    add/mul/sum/transpose/exp/scale/device round trips/rand; every result is checked here, in jest,
 *    against plain JS arithmetic on the same inputs. rand with one seed must give the same numbers on
 *    every thread.
 * 2. Workers that end in every way (return with live tensors, terminate() in the middle of a loop of
 *    ops, process.exit() inside the worker, an uncaught exception, many short-lived workers) leave the
 *    process healthy: the main thread still computes correctly afterwards, and nothing crashes.
 *
 * Both scenarios run in child processes (a crash becomes a failed test with its signal, not a dead
 * jest); the child's code is the function `workerScenario`, shipped with toString(). It loads
 * dist/index.js, i.e. whatever ONELIP_ADDON / ONELIP_ADDON_PATH select.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const SEED = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`worker seed: ${SEED} (replay with ONELIP_TEST_SEED=${SEED})`);

interface Rec {
  thread: string;
  device: 'cpu' | 'cuda';
  shape: [number, number];
  a: number[];
  b: number[];
  add: number[];
  mul: number[];
  rowsum: number[];
  rowsum64: number[];
  tr: number[];
  exp: number[];
  scaled: number[];
  moved: number[];
  rand: number[];
}

interface ConcurrentOut {
  kind: 'concurrent';
  threads: { thread: string; addon: string; cuda: boolean; emulated: boolean; file: string; records: Rec[]; overlapMs: [number, number] }[];
}

interface ExitOut {
  kind: 'exits';
  scenarios: { name: string; exitCode: number | null; error?: string }[];
  after: { a: number[]; b: number[]; add: number[] };
}

/* istanbul ignore next */
function workerScenario(cfg: { root: string; mode: 'concurrent' | 'exits'; seed: number; iters: number }): void {
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const wt = require('worker_threads') as typeof import('worker_threads');
  const path = require('path') as typeof import('path');
  const load = (): any => require(path.join(cfg.root, 'dist', 'index.js'));
  const rng = (seed: number) => {
    let s = seed >>> 0;
    return (): number => {
      let t = (s = (s + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  };
  const vals = (r: () => number, n: number): number[] =>
    Array.from({ length: n }, () => Math.fround((0.25 + 2 * r()) * (r() < 0.5 ? -1 : 1)));

  /** The per-thread job of the concurrent scenario. */
  const job = (thread: string, seed: number, iters: number, sab: SharedArrayBuffer): any => {
    const ol = load();
    const info = ol.info();
    const devices = info.backends.cuda.available ? ['cpu', 'cuda'] : ['cpu'];
    const flag = new Int32Array(sab);
    Atomics.add(flag, 0, 1);
    Atomics.notify(flag, 0);
    for (let v = Atomics.load(flag, 0); v < 3; v = Atomics.load(flag, 0)) Atomics.wait(flag, 0, v, 100); // barrier: all 3 threads loaded
    const start = Date.now();
    const r = rng(seed);
    const records: any[] = [];
    // at least `iters` rounds, and at least 300 ms, so that the three threads really overlap
    for (let it = 0; it < iters || Date.now() - start < 300; it++) {
      for (const dev of devices) {
        ol.tidy(() => {
          const rows = 1 + Math.floor(r() * 6), cols = 1 + Math.floor(r() * 6);
          const a = vals(r, rows * cols), b = vals(r, cols);
          const ta = ol.tensor(a, { shape: [rows, cols], device: dev });
          const tb = ol.tensor(b, { shape: [cols], device: dev });
          const other = dev === 'cpu' ? devices[devices.length - 1] : 'cpu';
          records.push({
            thread, device: dev, shape: [rows, cols], a, b,
            add: Array.from(ol.ops.add(ta, tb).data()),
            mul: Array.from(ol.ops.mul(ta, tb).data()),
            rowsum: Array.from(ol.ops.sum(ta, 1).data()),
            rowsum64: Array.from(ol.ops.sum(ta.astype('float64'), 1).data()),
            tr: Array.from(ol.ops.transpose(ta).data()),
            exp: Array.from(ol.ops.exp(ta).data()),
            scaled: Array.from(ol.ops.scale(ta, 3, 0.5).data()),
            moved: Array.from(ta.to(other).to(dev).data()),
            rand: Array.from(ol.rand([16], { seed: 4242 + it, device: dev }).data()),
          });
        });
      }
    }
    const { loadedFile } = require(path.join(cfg.root, 'dist', 'native.js'));
    return {
      thread, addon: info.addon, cuda: info.backends.cuda.available, emulated: info.backends.cuda.emulated,
      file: loadedFile(), records, overlapMs: [start, Date.now()],
    };
  };

  if (!wt.isMainThread) {
    const d = wt.workerData;
    if (d.mode === 'concurrent') {
      wt.parentPort!.postMessage(job(d.thread, d.seed, d.iters, d.sab));
      return;
    }
    // exit scenarios
    const ol = load();
    const devs = ol.info().backends.cuda.available ? ['cpu', 'cuda'] : ['cpu'];
    const r = rng(d.seed);
    const keep: any[] = [];
    for (let i = 0; i < 50; i++) {
      for (const dev of devs) keep.push(ol.ops.mul(ol.tensor(vals(r, 12), { shape: [3, 4], device: dev }), 2));
    }
    for (let i = 0; i < 10; i++) keep[i].dispose();
    if (d.how === 'return') return; // live tensors left for the environment's teardown
    if (d.how === 'exit') process.exit(7);
    if (d.how === 'throw') throw new Error('worker fails on purpose');
    if (d.how === 'loop') {
      wt.parentPort!.postMessage('looping');
      for (;;) {
        const dev = devs[Math.floor(r() * devs.length)];
        const t = ol.tensor(vals(r, 64), { shape: [8, 8], device: dev });
        const u = ol.ops.exp(ol.ops.add(t, t));
        try {
          ol.ops.add(t, ol.zeros([3], { device: dev })); // an op that throws, so terminate() also lands in error paths
        } catch {
          /* expected ERR_SHAPE */
        }
        if (r() < 0.5) u.dispose(); // the rest is left to the teardown
        t.dispose();
      }
    }
    return;
  }

  const { Worker } = wt;
  const script = process.argv[1];
  if (cfg.mode === 'concurrent') {
    const sab = new SharedArrayBuffer(4);
    const results: any[] = [];
    const done = [0, 1].map(
      (k) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(script, {
            argv: [process.argv[2]],
            workerData: { mode: 'concurrent', thread: `worker${k}`, seed: cfg.seed + 1 + k, iters: cfg.iters, sab },
          });
          w.on('message', (m) => results.push(m));
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker${k} exited with ${code}`))));
        }),
    );
    results.push(job('main', cfg.seed, cfg.iters, sab));
    Promise.all(done).then(
      () => process.stdout.write('WORKER_RESULT ' + JSON.stringify({ kind: 'concurrent', threads: results }) + '\n'),
      (e) => {
        process.stderr.write(`concurrent scenario failed: ${e && e.stack}\n`);
        process.exit(3);
      },
    );
    return;
  }

  // exit scenarios, one after another, then a few at once
  const ol = load();
  const run = (name: string, how: string, seed: number, delay = 150): Promise<{ name: string; exitCode: number | null; error?: string }> =>
    new Promise((resolve) => {
      const w = new Worker(script, { argv: [process.argv[2]], workerData: { mode: 'exits', how, seed } });
      let error: string | undefined;
      w.on('error', (e) => (error = String(e && (e as Error).message)));
      w.on('message', (m) => {
        if (m === 'looping') setTimeout(() => w.terminate(), delay);
      });
      w.on('exit', (code) => resolve({ name, exitCode: code, error }));
    });
  (async () => {
    const scenarios: any[] = [];
    for (const how of ['return', 'exit', 'throw', 'loop']) scenarios.push(await run(how, how, cfg.seed + scenarios.length));
    for (let i = 0; i < 6; i++) scenarios.push(await run(`short-lived #${i}`, 'return', cfg.seed + 100 + i));
    // terminate() lands at a random point of an op (inside native code, or while it throws)
    for (let i = 0; i < 10; i++) scenarios.push(await run(`terminated #${i}`, 'loop', cfg.seed + 300 + i, 10 + ((cfg.seed + 37 * i) % 200)));
    scenarios.push(...(await Promise.all(['loop', 'return', 'exit'].map((how, i) => run(`concurrent ${how}`, how, cfg.seed + 200 + i)))));
    (globalThis as any).gc?.();
    await new Promise((r) => setTimeout(r, 50));
    // the main thread still works
    const r = rng(cfg.seed + 999);
    const a = vals(r, 6), b = vals(r, 6);
    const dev = ol.info().backends.cuda.available ? 'cuda' : 'cpu';
    const sum = ol.ops.add(ol.tensor(a, { device: dev }), ol.tensor(b, { device: dev }));
    const after = { a, b, add: Array.from(sum.data()) };
    process.stdout.write('WORKER_RESULT ' + JSON.stringify({ kind: 'exits', scenarios, after }) + '\n');
  })().catch((e) => {
    process.stderr.write(`exit scenarios failed: ${e && e.stack}\n`);
    process.exit(3);
  });
  /* eslint-enable @typescript-eslint/no-explicit-any */
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-worker-'));
const script = path.join(tmp, 'worker-scenario.js');
fs.writeFileSync(script, `'use strict';\nconst cfg = JSON.parse(process.argv[2]);\n(${workerScenario.toString()})(cfg);\n`);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function runScenario<T>(mode: 'concurrent' | 'exits', iters: number): T {
  const cfg = { root: ROOT, mode, seed: SEED, iters };
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--expose-gc', script, JSON.stringify(cfg)], {
    encoding: 'utf8',
    timeout: 100000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ONELIP_NUM_THREADS: process.env.ONELIP_NUM_THREADS ?? '2' },
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('WORKER_RESULT '));
  if (r.status !== 0 || r.signal || !line) {
    throw new Error(`the ${mode} scenario's process failed: status ${r.status}, signal ${r.signal}${r.error ? `, ${r.error.message}` : ''}\n${(r.stderr ?? '').slice(-5000)}`);
  }
  // eslint-disable-next-line no-console
  console.log(`worker ${mode} scenario: ${Date.now() - t0} ms`);
  return JSON.parse(line.slice('WORKER_RESULT '.length)) as T;
}

const f32 = Math.fround;

function checkRecord(rec: Rec): void {
  const [rows, cols] = rec.shape;
  const where = `${rec.thread} on ${rec.device}, shape [${rows}, ${cols}]`;
  const exact = (got: number[], want: number[], what: string) => {
    if (got.length !== want.length || got.some((g, i) => g !== want[i])) {
      throw new Error(`${where}: ${what}: got [${got}], expected [${want}]`);
    }
  };
  const ix = (i: number, j: number) => i * cols + j;
  const add: number[] = [], mul: number[] = [], rowsum: number[] = [], tr: number[] = [];
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) {
      add.push(f32(rec.a[ix(i, j)] + rec.b[j]));
      mul.push(f32(rec.a[ix(i, j)] * rec.b[j]));
      s += rec.a[ix(i, j)];
    }
    rowsum.push(s);
  }
  for (let j = 0; j < cols; j++) for (let i = 0; i < rows; i++) tr.push(rec.a[ix(i, j)]);
  exact(rec.add, add, 'add (broadcast)');
  exact(rec.mul, mul, 'mul (broadcast)');
  exact(rec.tr, tr, 'transpose');
  exact(rec.moved, rec.a, 'to(other device).to(device)');
  rowsum.forEach((want, i) => {
    const absSum = rec.a.slice(i * cols, (i + 1) * cols).reduce((x, y) => x + Math.abs(y), 0);
    if (Math.abs(rec.rowsum[i] - want) > 2e-7 * cols * absSum + 1e-30) throw new Error(`${where}: sum row ${i}: got ${rec.rowsum[i]}, expected ${want}`);
    if (Math.abs(rec.rowsum64[i] - want) > 1e-15 * cols * absSum) throw new Error(`${where}: float64 sum row ${i}: got ${rec.rowsum64[i]}, expected ${want}`);
  });
  rec.a.forEach((x, i) => {
    const e = Math.exp(x);
    if (Math.abs(rec.exp[i] - e) > 4e-7 * e) throw new Error(`${where}: exp(${x}) = ${rec.exp[i]}, expected ${e}`);
    const sc = 3 * x + 0.5;
    // float32: rounding of 3·x and of the sum (or one fma rounding)
    if (Math.abs(rec.scaled[i] - sc) > 1.2e-7 * (Math.abs(3 * x) + Math.abs(sc))) throw new Error(`${where}: 3·${x} + 0.5 = ${rec.scaled[i]}, expected ${sc}`);
  });
  expect(rec.rand.length).toBe(16);
  for (const u of rec.rand) {
    expect(u).toBeGreaterThanOrEqual(0);
    expect(u).toBeLessThan(1);
  }
}

describe('worker_threads', () => {
  test('two workers and the main thread at once, on cpu and cuda, give the right numbers', () => {
    const iters = Number(process.env.ONELIP_WORKER_ITERS ?? 25);
    const out = runScenario<ConcurrentOut>('concurrent', iters);
    expect(out.threads.map((t) => t.thread).sort()).toEqual(['main', 'worker0', 'worker1']);
    const addon = out.threads[0].addon;
    for (const t of out.threads) {
      expect(t.addon).toBe(addon); // the same build everywhere
      expect(t.file).toBe(out.threads[0].file);
      if (process.env.ONELIP_ADDON === 'emu') expect(t.cuda && t.emulated).toBe(true); // cuda really exercised under npm test
      const devices = t.cuda ? 2 : 1;
      expect(t.records.length).toBeGreaterThanOrEqual(iters * devices);
      expect(t.records.length % devices).toBe(0);
      for (const rec of t.records) checkRecord(rec);
    }
    // the threads really overlapped in time (the barrier released them together)
    const starts = out.threads.map((t) => t.overlapMs[0]);
    const ends = out.threads.map((t) => t.overlapMs[1]);
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
    // the same seed gives the same numbers on every thread (and on both devices under emulation)
    const rounds = Math.min(...out.threads.map((t) => t.records.length));
    for (const dev of ['cpu', 'cuda'] as const) {
      const per = out.threads.map((t) => t.records.slice(0, rounds).filter((r) => r.device === dev).map((r) => r.rand));
      for (let k = 1; k < per.length; k++) expect(per[k]).toEqual(per[0]);
    }
    if (out.threads[0].emulated) {
      const cpu = out.threads[0].records.filter((r) => r.device === 'cpu').map((r) => r.rand);
      const cu = out.threads[0].records.filter((r) => r.device === 'cuda').map((r) => r.rand);
      expect(cu).toEqual(cpu);
    }
  });

  test('workers that return, exit, throw, are terminated mid-op or are short-lived leave the process healthy', () => {
    const out = runScenario<ExitOut>('exits', 0);
    const byName = Object.fromEntries(out.scenarios.map((s) => [s.name, s]));
    const expectExit = (name: string, exitCode: number, error?: string) => {
      const s = byName[name];
      expect(s).toBeDefined();
      // compared as one object so that a failure shows the worker's error message
      expect({ name, exitCode: s.exitCode, error: error === undefined ? s.error : s.error?.includes(error) ? error : s.error }).toEqual({ name, exitCode, error });
    };
    expectExit('return', 0);
    expectExit('exit', 7);
    expectExit('throw', 1, 'worker fails on purpose');
    expectExit('loop', 1); // terminate() in the middle of a loop of ops
    for (let i = 0; i < 6; i++) expectExit(`short-lived #${i}`, 0);
    for (let i = 0; i < 10; i++) expectExit(`terminated #${i}`, 1);
    expectExit('concurrent loop', 1);
    expectExit('concurrent return', 0);
    expectExit('concurrent exit', 7);
    out.after.add.forEach((g, i) => expect(g).toBe(f32(out.after.a[i] + out.after.b[i])));
  });
});
