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
  /** bench/torch/<script>.py holding the PyTorch side (none: no reference row). */
  script?: string;
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
  {
    name: 'SOCConv2d 64->64 3x3 32x32 b64 6 terms fwd+bwd exact',
    script: 'soc',
    setup: () => trainingStep(new ol.nn.SOCConv2d(64, 64, { seed: 1 }), [64, 64, 32, 32]),
  },
  {
    name: 'SOCConv2d 64->64 3x3 32x32 b64 6 terms fwd+bwd fast',
    script: 'soc',
    setup: () => trainingStep(new ol.nn.SOCConv2d(64, 64, { seed: 1, fastGradient: true }), [64, 64, 32, 32]),
  },
  { name: 'LipConvNet-20 SGD training step b32 (exact gradient)', setup: () => lipConvNetStep(false, 32) },
  { name: 'LipConvNet-20 SGD training step b32 (fastGradient)', setup: () => lipConvNetStep(true, 32) },
];

/**
 * LipConvNet-N of SPEC.md E.3 built from SOCConv2d and the existing modules: init SOC 3×3 3 → 32 +
 * MaxMin; blocks of (N/5 − 1) × [SOC 3×3 c → c + MaxMin] then SOC stride 2 (c → 4c) + pooling 4c → 2c,
 * c = 32, 64, 128, 256; block 5: SOC stride 2 with a 1×1 kernel (512 → 2048 at 1×1), (N/5 − 1) × [SOC
 * 1×1 2048 → 2048 + MaxMin], pooling 2048 → 1024; head `ortho` (SOC 1×1 1024 → classes, truncated).
 * The pooling 4c → 2c is MaxMin followed by FirstChannels(2c); no input standardisation.
 */
export function lipConvNetSOC(n: number, options: { classes?: number; fastGradient?: boolean; seed?: number } = {}): ol.nn.Sequential {
  const b = n / 5;
  const fast = options.fastGradient ?? false;
  let seed = options.seed ?? 1;
  const soc = (cin: number, cout: number, o: { kernelSize?: number; stride?: 1 | 2 } = {}) =>
    new ol.nn.SOCConv2d(cin, cout, { ...o, fastGradient: fast, seed: seed++ });
  const layers: ol.nn.Module[] = [soc(3, 32), new ol.nn.MaxMin()];
  for (const c of [32, 64, 128, 256]) {
    for (let i = 0; i < b - 1; i++) layers.push(soc(c, c), new ol.nn.MaxMin());
    layers.push(soc(c, 4 * c, { stride: 2 }), new ol.nn.MaxMin(), new ol.nn.FirstChannels(2 * c));
  }
  layers.push(soc(512, 2048, { stride: 2, kernelSize: 1 }));
  for (let i = 0; i < b - 1; i++) layers.push(new ol.nn.MaxMin(), soc(2048, 2048, { kernelSize: 1 }));
  layers.push(new ol.nn.MaxMin(), new ol.nn.FirstChannels(1024));
  layers.push(soc(1024, options.classes ?? 10, { kernelSize: 1 }), new ol.nn.Flatten());
  return new ol.nn.Sequential(layers);
}

/** One SGD step (cross-entropy) of LipConvNet-20 on a random CIFAR-shaped batch. */
function lipConvNetStep(fast: boolean, batch: number): { step: () => void; dispose: () => void } {
  const net = lipConvNetSOC(20, { fastGradient: fast });
  const opt = new ol.optim.SGD(net.parameters(), { lr: 1e-3, momentum: 0.9 });
  const x = ol.randn([batch, 3, 32, 32], { seed: 7 });
  const y = Array.from({ length: batch }, (_, i) => i % 10);
  return {
    step: () => ol.tidy(() => {
      opt.zeroGrad();
      ol.loss.crossEntropy(net.forward(x), y).backward();
      opt.step();
    }),
    dispose: () => { net.dispose(); x.dispose(); },
  };
}

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
  const scripts = [...new Set(selected.map(([r]) => r.script).filter((x): x is string => x !== undefined))];
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
