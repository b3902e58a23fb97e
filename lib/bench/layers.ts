/**
 * `onelip bench layers` (`npm run bench -- layers`): times the 1-Lipschitz layers forward and
 * forward + backward on the issue targets' shapes, side by side with PyTorch running the same formulas
 * on the same thread count in the same run (lib/bench/torch.ts; skipped without PyTorch), plus a
 * LipConvNet training step (SPEC.md E.3) with and without SOC's fast gradient. Same structure as
 * lib/bench/kernels.ts: per row the median and best of the timed runs and the foreign CPU load.
 */
import * as ol from '../index';
import { runTorchReference } from './torch';
import { loadBetween, Load, now, pct, readCpu, sampleLoad, summarize, table, timeIt, Timing } from './util';

export interface LayerBenchOptions {
  /** CPU threads (default: the pool's size). */
  threads?: number;
  /** Measurement rounds (default 3). */
  rounds?: number;
  /** Seconds of timed runs per row over all rounds (default 3). */
  seconds?: number;
  /** Only rows whose name contains one of these. */
  only?: string[];
  /** Batch of the LipConvNet training-step rows (default 32). */
  netBatch?: number;
  log?: (line: string) => void;
}

export interface LayerRow {
  layer: string;
  shape: string;
  ours: Timing;
  load: Load | null;
  /** PyTorch on the same work and thread count, same run (median of the script's per-round medians). */
  torch?: Timing;
}

export interface LayerBenchResult {
  date: string;
  threads: number;
  loadBefore: Load | null;
  rows: LayerRow[];
  torch?: { available: boolean; version?: string; reason?: string };
}

interface Case {
  layer: string;
  shape: string;
  setup: () => { run: () => void; dispose: () => void };
  torch?: { script: string; entry: string };
}

/**
 * SOCConv2d 64 → 64, 3×3, x [64, 64, 32, 32], float32, training mode (6 terms, one F4 step per
 * forward): forward alone (no recording), and forward + backward of Σ y ⊙ g, exact and fast gradient.
 */
function socCases(): Case[] {
  const [N, C, H] = [64, 64, 32];
  const shape = `${N}×${C}×${H}×${H}, 3×3, 6 terms`;
  const make = (layer: string, entry: string, mode: 'forward' | 'exact' | 'fast'): Case => ({
    layer,
    shape,
    torch: { script: 'soc', entry },
    setup: () => {
      const m = new ol.nn.SOCConv2d(C, C, { seed: 1, fastGradient: mode === 'fast' });
      const x = ol.randn([N, C, H, H], { seed: 2 });
      const g = ol.randn([N, C, H, H], { seed: 3 });
      if (mode !== 'forward') x.requiresGrad = true;
      const run = (): void => ol.tidy(() => {
        if (mode === 'forward') {
          ol.noGrad(() => m.forward(x));
          return;
        }
        m.zeroGrad();
        x.clearGrad();
        ol.ops.sum(ol.ops.mul(m.forward(x), g)).backward();
      });
      return { run, dispose: () => { m.dispose(); x.dispose(); g.dispose(); } };
    },
  });
  return [
    make('SOCConv2d forward', 'soc 64x64 3x3 32x32 b64 6 terms forward', 'forward'),
    make('SOCConv2d fwd + bwd (exact)', 'soc 64x64 3x3 32x32 b64 6 terms fwd+bwd exact', 'exact'),
    make('SOCConv2d fwd + bwd (fastGradient)', 'soc 64x64 3x3 32x32 b64 6 terms fwd+bwd fast', 'fast'),
  ];
}

/**
 * LipConvNet-N of SPEC.md E.3 built from SOCConv2d and the existing modules: init SOC 3×3 3 → 32 +
 * MaxMin; blocks of (N/5 − 1) × [SOC 3×3 c → c + MaxMin] then SOC stride 2 (4c → 4c) + pooling 4c → 2c,
 * c = 32, 64, 128, 256; block 5: SOC stride 2 with a 1×1 kernel (512 → 2048 at 1×1), (N/5 − 1) × [SOC
 * 1×1 2048 → 2048 + MaxMin], pooling 2048 → 1024; head `ortho` (SOC 1×1 1024 → classes, truncated).
 * The pooling 4c → 2c is MaxMin followed by FirstChannels(2c) (the max of channel pairs c, c + 2c: the
 * 'max' channel pooling up to the pairing); no input standardisation.
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

/** One SGD training step of LipConvNet-20 on a random CIFAR-shaped batch (cross-entropy loss). */
function netCases(batch: number): Case[] {
  const make = (fast: boolean): Case => ({
    layer: `LipConvNet-20 training step (${fast ? 'fastGradient' : 'exact gradient'})`,
    shape: `batch ${batch}, 3×32×32, 10 classes`,
    setup: () => {
      const net = lipConvNetSOC(20, { fastGradient: fast });
      const opt = new ol.optim.SGD(net.parameters(), { lr: 1e-3, momentum: 0.9 });
      const x = ol.randn([batch, 3, 32, 32], { seed: 7 });
      const y = Array.from({ length: batch }, (_, i) => i % 10);
      const run = (): void => ol.tidy(() => {
        opt.zeroGrad();
        ol.loss.crossEntropy(net.forward(x), y).backward();
        opt.step();
      });
      return { run, dispose: () => { net.dispose(); x.dispose(); } };
    },
  });
  return [make(false), make(true)];
}

/** Runs the layer benchmark. */
export function benchLayers(opts: LayerBenchOptions = {}): LayerBenchResult {
  const info = ol.info();
  const threads = opts.threads ?? info.backends.cpu.threads;
  const rounds = Math.max(1, opts.rounds ?? 3);
  const perRound = (opts.seconds ?? 3) / rounds;
  const log = opts.log ?? (() => undefined);
  const previous = info.backends.cpu.threads;
  ol.setNumThreads(threads);
  try {
    const result: LayerBenchResult = { date: new Date().toISOString(), threads, loadBefore: sampleLoad(1000), rows: [] };
    let cases = [...socCases(), ...netCases(opts.netBatch ?? 32)];
    if (opts.only?.length) cases = cases.filter((c) => opts.only!.some((s) => c.layer.includes(s)));
    const measured: { c: Case; ours: Timing; load: Load | null }[] = [];
    for (const c of cases) {
      const { run, dispose } = c.setup();
      const samples: number[] = [];
      const cpu0 = readCpu();
      const t0 = now();
      try {
        for (let r = 0; r < rounds; r++) samples.push(...timeIt(run, { warmup: 1, targetSeconds: perRound, minReps: 2, maxReps: 50 }).samples);
      } finally {
        dispose();
      }
      const m = { c, ours: summarize(samples), load: loadBetween(cpu0, readCpu(), now() - t0) };
      measured.push(m);
      log(`  ${c.layer} ${c.shape}: median ${(m.ours.median * 1e3).toFixed(1)} ms`);
    }
    const torchMeasured = new Map<string, number[]>();
    for (const script of [...new Set(measured.filter((m) => m.c.torch).map((m) => m.c.torch!.script))]) {
      for (let r = 0; r < rounds; r++) {
        const t = runTorchReference(script, threads, 5);
        if (!t.ok) {
          result.torch = { available: false, reason: t.skipped };
          log(`  ${t.skipped}`);
          break;
        }
        result.torch = { available: true, version: t.version };
        for (const [k, v] of Object.entries(t.seconds)) torchMeasured.set(`${script}/${k}`, [...(torchMeasured.get(`${script}/${k}`) ?? []), v]);
      }
    }
    for (const m of measured) {
      const key = m.c.torch ? `${m.c.torch.script}/${m.c.torch.entry}` : '';
      result.rows.push({ layer: m.c.layer, shape: m.c.shape, ours: m.ours, load: m.load,
        torch: torchMeasured.has(key) ? summarize(torchMeasured.get(key)!) : undefined });
    }
    return result;
  } finally {
    ol.setNumThreads(previous);
  }
}

/** The result as the table `onelip bench layers` prints. */
export function formatLayerBench(r: LayerBenchResult): string {
  const lines = [`onelip bench layers — ${r.date}`, `cpu: ${r.threads} thread(s) (onelip pool and PyTorch)`];
  if (r.loadBefore) lines.push(`machine before the run: ${pct(r.loadBefore.idle)} idle (other processes ${pct(r.loadBefore.others)} of all cores)`);
  lines.push(r.torch?.available ? `PyTorch ${r.torch.version} on the same thread count, same run` : `PyTorch: ${r.torch?.reason ?? 'not run'}`);
  const rows: string[][] = [['layer', 'shape', 'median ms', 'best ms', 'PyTorch median ms', 'PyTorch ÷ onelip (medians)', 'load']];
  for (const x of r.rows) {
    rows.push([x.layer, x.shape, (x.ours.median * 1e3).toFixed(1), (x.ours.best * 1e3).toFixed(1),
      x.torch ? (x.torch.median * 1e3).toFixed(1) : '-', x.torch ? `${(x.torch.median / x.ours.median).toFixed(2)}x` : '-',
      x.load ? pct(x.load.others) : '?']);
  }
  lines.push(table(rows));
  const ex = r.rows.find((x) => x.layer.startsWith('LipConvNet') && x.layer.includes('exact'));
  const fa = r.rows.find((x) => x.layer.startsWith('LipConvNet') && x.layer.includes('fastGradient'));
  if (ex && fa) lines.push(`LipConvNet-20 training step: fastGradient ${(ex.ours.median / fa.ours.median).toFixed(2)}x as fast as the exact gradient (medians).`);
  lines.push('PyTorch times: the median over rounds of bench/torch/soc.py\'s medians (same formulas: F4 step, skew, ' +
    'normalisation, Horner with F.conv2d, autograd; fast = the IMP repo\'s custom backward).');
  return lines.join('\n');
}
