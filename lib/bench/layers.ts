/**
 * `onelip bench layers` (`npm run bench -- layers`): times a training step's forward + backward of the
 * Lipschitz layers on the CPU (float32, training mode) side by side with PyTorch running the same
 * formulas on the same thread count in the same run (bench/torch/<layer>.py, when a Python with torch
 * is installed), and compares peak memory.
 *
 * Peak memory (both sides measured the same way, each row in a fresh process): with the layer's
 * parameters and inputs allocated, the peak resident set (VmHWM) is reset through
 * /proc/self/clear_refs and the first forward + backward runs; the row reports VmHWM − VmRSS measured
 * just before it: the memory the step needs on top of parameters and inputs (no warm-up step, so
 * that neither side's allocator cache hides it; one-time library initialisation is included on both
 * sides).
 *
 * Rows are declared in ROWS (one `LayerRow` per layer shape); other layers add theirs there.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { parseArgs } from 'util';
import * as ol from '../index';
import { findTorchPython, runTorchReference, torchScriptDir } from './torch';
import { table, timeIt, Timing } from './util';

export interface LayerRow {
  /** Row name, identical to the key the PyTorch script prints. */
  name: string;
  /** bench/torch/<script>.py holding the PyTorch side. */
  script: string;
  /** Builds the layer and inputs; returns one forward + backward and a cleanup. */
  setup: () => { step: () => void; dispose: () => void };
}

/** A training step of `layer` on x with the upstream gradient g: y = layer(x); backward(⟨y, g⟩). */
function trainingStep(layer: ol.nn.Module, xShape: number[]): { step: () => void; dispose: () => void } {
  const x = ol.randn(xShape, { seed: 1 });
  x.requiresGrad = true;
  const g = ol.randn(xShape, { seed: 2 });
  return {
    step: () =>
      ol.tidy(() => {
        const y = layer.forward(x);
        y.backward(g);
        layer.zeroGrad();
        x.clearGrad();
      }),
    dispose: () => {
      layer.dispose();
      x.dispose();
      g.dispose();
    },
  };
}

export const ROWS: LayerRow[] = [
  {
    name: 'CPLConv2d 64ch inner 64 3x3 32x32 b64 fwd+bwd',
    script: 'cpl',
    setup: () => trainingStep(new ol.nn.CPLConv2d(64, { inner: 64, kernelSize: 3, inputSize: [32, 32], seed: 1 }), [64, 64, 32, 32]),
  },
  {
    name: 'CPLDense 1024 inner 1024 b256 fwd+bwd',
    script: 'cpl',
    setup: () => trainingStep(new ol.nn.CPLDense(1024, { inner: 1024, seed: 1 }), [256, 1024]),
  },
  {
    name: 'CayleyConv2d 64->64 3x3 32x32 b64 fwd+bwd',
    script: 'cayley',
    setup: () => trainingStep(new ol.nn.CayleyConv2d(64, 64, { kernelSize: 3, seed: 1 }), [64, 64, 32, 32]),
  },
  {
    name: 'SLLConv2d 64ch inner 64 3x3 32x32 b64 fwd+bwd',
    script: 'sll',
    setup: () => trainingStep(new ol.nn.SLLConv2d(64, { inner: 64, kernelSize: 3, seed: 1 }), [64, 64, 32, 32]),
  },
  {
    name: 'SLLDense 1024 inner 1024 b256 fwd+bwd',
    script: 'sll',
    setup: () => trainingStep(new ol.nn.SLLDense(1024, { inner: 1024, seed: 1 }), [256, 1024]),
  },
  {
    name: 'AOLConv2d 64->64 3x3 32x32 b64 fwd+bwd',
    script: 'sll',
    setup: () => trainingStep(aolConv(), [64, 64, 32, 32]),
  },
  {
    name: 'AOLDense 1024->1024 b256 fwd+bwd',
    script: 'sll',
    setup: () => trainingStep(new ol.nn.AOLDense(1024, 1024, { seed: 1, learnQ: true }), [256, 1024]),
  },
];

/** AOLConv2d with a random kernel (the Dirac init would make the rescaling trivial) and learned q. */
function aolConv(): ol.nn.AOLConv2d {
  const m = new ol.nn.AOLConv2d(64, 64, { kernelSize: 3, seed: 1, learnQ: true });
  m.weight.assign(ol.rand([64, 64, 3, 3], { seed: 3, low: -1 / 24, high: 1 / 24 }));
  return m;
}

function status(key: string): number {
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n'))
    if (line.startsWith(key)) return Number(line.split(/\s+/)[1]) * 1024;
  return 0;
}

/** Peak memory of one step of row `i`, in this process (see the file comment). */
export function measurePeak(i: number): number {
  const { step, dispose } = ROWS[i].setup();
  fs.writeFileSync('/proc/self/clear_refs', '5');
  const base = status('VmRSS');
  step();
  const peak = status('VmHWM') - base;
  dispose();
  return peak;
}

/** Runs measurePeak(i) in a fresh Node process on `threads` threads. */
function peakInChild(i: number, threads: number): number | null {
  const r = spawnSync(process.execPath, ['-e', `const ol = require(${JSON.stringify(require.resolve('../index'))}); ol.setNumThreads(${threads});` +
    ` console.log(JSON.stringify(require(${JSON.stringify(__filename)}).measurePeak(${i})));`], { encoding: 'utf8', env: process.env, timeout: 600_000 });
  if (r.status !== 0) return null;
  return Number(r.stdout.trim().split('\n').pop());
}

export interface LayerBenchRow {
  name: string;
  ours: Timing;
  torch?: Timing;
  oursPeakBytes: number | null;
  torchPeakBytes?: number;
}

export function benchLayers(opts: { threads?: number; only?: string[]; repeats?: number; log?: (l: string) => void } = {}) {
  const threads = opts.threads ?? 2;
  const before = ol.info().backends.cpu.threads;
  ol.setNumThreads(threads);
  const rows: LayerBenchRow[] = [];
  const selected = ROWS.map((r, i) => [r, i] as const).filter(([r]) => !opts.only || opts.only.some((o) => r.name.includes(o)));
  const scripts = [...new Set(selected.map(([r]) => r.script))];
  const torchTimes: Record<string, number> = {};
  const torchMem: Record<string, number> = {};
  let torchNote = '';
  for (const s of scripts) {
    opts.log?.(`PyTorch reference ${s}...`);
    const t = runTorchReference(s, threads, opts.repeats ?? 5);
    if (t.ok) {
      Object.assign(torchTimes, t.seconds);
      torchNote = `PyTorch ${t.version}`;
      const { python } = findTorchPython();
      const m = spawnSync(python!, [`${torchScriptDir()}/${s}.py`, String(threads), '1', 'mem'], { encoding: 'utf8', timeout: 600_000 });
      if (m.status === 0) {
        for (const [k, v] of Object.entries(JSON.parse(m.stdout.trim().split('\n').pop()!) as Record<string, unknown>))
          if (typeof v === 'number') torchMem[k] = v;
      }
    } else torchNote = t.skipped;
  }
  for (const [r, i] of selected) {
    opts.log?.(`${r.name}...`);
    const { step, dispose } = r.setup();
    const ours = timeIt(step, { warmup: 2, minReps: opts.repeats ?? 5, maxReps: opts.repeats ?? 5 });
    dispose();
    const t = torchTimes[r.name];
    rows.push({
      name: r.name,
      ours,
      torch: t === undefined ? undefined : { median: t, best: t, samples: [t] },
      oursPeakBytes: peakInChild(i, threads),
      torchPeakBytes: torchMem[r.name],
    });
  }
  ol.setNumThreads(before);
  return { date: new Date().toISOString(), threads, torch: torchNote, rows };
}

export function formatLayerBench(r: ReturnType<typeof benchLayers>): string {
  const mb = (b: number | null | undefined) => (b === null || b === undefined ? '—' : `${(b / 2 ** 20).toFixed(0)} MiB`);
  const lines = [
    `onelip bench layers — ${r.date}, ${r.threads} threads, float32 cpu; reference: ${r.torch}`,
    table([
      ['layer (training forward + backward)', 'onelip median', 'PyTorch median', 'speed-up', 'onelip peak', 'PyTorch peak'],
      ...r.rows.map((x) => [
        x.name,
        `${(x.ours.median * 1e3).toFixed(1)} ms`,
        x.torch ? `${(x.torch.median * 1e3).toFixed(1)} ms` : '—',
        x.torch ? `${(x.torch.median / x.ours.median).toFixed(2)}×` : '—',
        mb(x.oursPeakBytes),
        mb(x.torchPeakBytes),
      ]),
    ]),
  ];
  return lines.join('\n');
}

export function benchLayersMain(args: string[]): number {
  const { values } = parseArgs({ args, allowPositionals: true, options: { threads: { type: 'string' }, only: { type: 'string' }, repeats: { type: 'string' }, json: { type: 'boolean' } } });
  const r = benchLayers({
    threads: values.threads === undefined ? 2 : Number(values.threads),
    only: values.only?.split(','),
    repeats: values.repeats === undefined ? undefined : Number(values.repeats),
    log: values.json ? undefined : (l) => console.error(l),
  });
  console.log(values.json ? JSON.stringify(r, null, 2) : formatLayerBench(r));
  return 0;
}
