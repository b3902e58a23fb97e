/**
 * `onelip bench kernels` (`npm run bench -- kernels`): times the CPU matrix kernels (matmul float32 /
 * float64, syrk, a batch of small products, a matrix-vector product) on a few shapes and prints, per
 * kernel, the median and best time, GFLOP/s, the share of the machine's ceiling and, when OpenBLAS is
 * installed, OpenBLAS's time for the same product measured in the same run (loaded by the addon with
 * dlopen; never a dependency). The conv2d rows (issue 3's target shape: forward, backward input,
 * backward weight and the three together) are compared with PyTorch instead, when a Python with torch
 * is installed (lib/bench/torch.ts runs bench/torch/conv2d.py on the same thread count).
 */
import { parseArgs } from 'util';
import * as ol from '../index';
import { native } from '../native';
import { benchLayers, formatLayerBench } from './layers';
import { runTorchReference } from './torch';
import { pct, readCpu, loadBetween, Load, now, sampleLoad, sleepMs, summarize, table, timeIt, Timing } from './util';

/** What the addon's optional benchReferenceSgemm returns (native/bind/bench_ref.cc). */
export interface ReferenceRun {
  library: string;
  corename: string;
  config: string;
  threads: number;
  kind: 'sgemm' | 'dgemm' | 'ssyrk';
  n: number;
  seconds: number[];
}
type ReferenceFn = (n: number, reps: number, threads: number, kind?: string) => ReferenceRun | null;

/** Nominal peak of one Zen 4 core at 2.6 GHz: 2 × 256-bit FMA per cycle = 32 float32 flops per cycle. */
export const NOMINAL_F32_PER_CORE = 83.2;

export interface KernelBenchOptions {
  /** CPU threads for onelip and OpenBLAS (default: the pool's size). */
  threads?: number;
  /** Square sizes of the GEMM/syrk rows (default 256, 512, 1024, 2048). */
  sizes?: number[];
  /** Measurement rounds, alternating onelip and OpenBLAS (default 3). */
  rounds?: number;
  /** Seconds of timed runs per kernel and side, over all rounds (default 1.5). */
  seconds?: number;
  /** Only kernels whose name contains one of these. */
  only?: string[];
  /** Progress lines go here (default: none). */
  log?: (line: string) => void;
}

export interface KernelRow {
  kernel: string;
  shape: string;
  dtype: 'float32' | 'float64';
  flops: number;
  ours: Timing;
  /** OpenBLAS on the same product and thread count, same run; absent without a reference. */
  ref?: Timing;
  /** Ceiling used for `ofCeiling` (GFLOP/s) and where it comes from. */
  ceiling: number;
  ceilingSource: string;
  /** Other processes' share of the CPU while this row was measured. */
  load: Load | null;
  /** PyTorch on the same work and thread count, same run (median of the script's per-round medians). */
  torch?: Timing;
}

export interface KernelBenchResult {
  date: string;
  threads: number;
  simd: string;
  reference: { available: boolean; reason?: string; library?: string; corename?: string; config?: string };
  loadBefore: Load | null;
  rows: KernelRow[];
  /** PyTorch references used (version), or why they were skipped. */
  torch?: { available: boolean; version?: string; reason?: string };
}

interface Case {
  kernel: string;
  shape: string;
  dtype: 'float32' | 'float64';
  flops: number;
  /** Allocates the inputs; returns the timed call and a cleanup. */
  setup: () => { run: () => void; dispose: () => void };
  ref?: { kind: 'sgemm' | 'dgemm' | 'ssyrk'; n: number };
  /** PyTorch reference: the script (bench/torch/<script>.py) and its entry timing the same work. */
  torch?: { script: string; entry: string };
}

function matmulCase(kernel: string, batch: number[], m: number, n: number, k: number, dtype: 'float32' | 'float64',
  ref?: Case['ref'], opts: ol.ops.MatmulOptions = {}): Case {
  const b = batch.reduce((x, y) => x * y, 1);
  const aShape = [...batch, ...(opts.transA ? [k, m] : [m, k])];
  const bShape = [...batch, ...(opts.transB ? [n, k] : [k, n])];
  const tag = `${opts.transA ? 'ᵀ' : ''}${opts.transB ? ' (·Bᵀ)' : ''}`;
  return {
    kernel,
    shape: `${batch.length ? `${batch.join('×')} × ` : ''}${m}×${n}×${k}${tag}`,
    dtype,
    flops: 2 * b * m * n * k,
    ref,
    setup: () => {
      const x = ol.rand(aShape, { seed: 1, dtype });
      const y = ol.rand(bShape, { seed: 2, dtype });
      return { run: () => ol.ops.matmul(x, y, opts).dispose(), dispose: () => { x.dispose(); y.dispose(); } };
    },
  };
}

function syrkCase(n: number, k: number, dtype: 'float32' | 'float64', ref?: Case['ref']): Case {
  return {
    kernel: dtype === 'float32' ? 'syrk f32' : 'syrk f64',
    shape: `${n}×${k} → ${n}×${n}`,
    dtype,
    flops: n * n * k,  // half of the full product: one triangle
    ref,
    setup: () => {
      const x = ol.rand([n, k], { seed: 3, dtype });
      return { run: () => ol.ops.syrk(x).dispose(), dispose: () => x.dispose() };
    },
  };
}

/**
 * conv2d on the target shape of issue 3 (batch 64, 64 → 64 channels, 32×32, 3×3, stride 1, padding 1,
 * float32): forward, backward input, backward weight, and the three in a row ("sum"). Each has
 * 2·64·64·64·9·32·32 = 4.83 GFLOP.
 */
function convCases(): Case[] {
  const [N, C, O, H, W, K] = [64, 64, 64, 32, 32, 3];
  const flops = 2 * N * O * C * K * K * H * W;
  const shape = `${N}×${C}×${H}×${W}, ${O}×${C}×${K}×${K}`;
  const make = (kernel: string, entry: string, passes: ('f' | 'i' | 'w')[]): Case => ({
    kernel,
    shape,
    dtype: 'float32',
    flops: flops * passes.length,
    torch: { script: 'conv2d', entry },
    setup: () => {
      const x = ol.randn([N, C, H, W], { seed: 4 });
      const w = ol.randn([O, C, K, K], { seed: 5 });
      const g = ol.randn([N, O, H, W], { seed: 6 });
      const run = () => {
        for (const p of passes) {
          const y = p === 'f' ? ol.ops.conv2d(x, w) : p === 'i' ? ol.ops.conv2dBackwardInput(g, w, [N, C, H, W]) : ol.ops.conv2dBackwardWeight(x, g, K);
          y.dispose();
        }
      };
      return { run, dispose: () => { x.dispose(); w.dispose(); g.dispose(); } };
    },
  });
  return [
    make('conv2d 3×3 forward', 'conv2d 3x3 forward', ['f']),
    make('conv2d 3×3 backward input', 'conv2d 3x3 backward-input', ['i']),
    make('conv2d 3×3 backward weight', 'conv2d 3x3 backward-weight', ['w']),
    make('conv2d 3×3 fwd + both bwd', 'conv2d 3x3 sum', ['f', 'i', 'w']),
  ];
}

/**
 * rfft2 followed by irfft2 of x [planes..., h, w] (the Cayley convolution's transforms). Flops by the
 * usual FFT convention: 2.5·N·log2(N) per real transform of N = h·w points, two transforms per plane.
 */
function fftCase(shape: number[], dtype: 'float32' | 'float64'): Case {
  const n = shape[shape.length - 2] * shape[shape.length - 1];
  const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return {
    kernel: dtype === 'float32' ? 'rfft2+irfft2 f32' : 'rfft2+irfft2 f64',
    shape: `[${shape.join(', ')}]`,
    dtype,
    flops: 2 * planes * 2.5 * n * Math.log2(n),
    torch: { script: 'fft_solve', entry: `rfft2+irfft2 ${dtype === 'float32' ? 'f32' : 'f64'} [${shape.join(', ')}]` },
    setup: () => {
      const x = ol.randn(shape, { seed: 4, dtype });
      const size: [number, number] = [shape[shape.length - 2], shape[shape.length - 1]];
      return {
        run: () => ol.tidy(() => { ol.ops.irfft2(ol.ops.rfft2(x), { size }); }),
        dispose: () => x.dispose(),
      };
    },
  };
}

/** A batch of well-conditioned complex matrices I + 0.1·N(0, 1)/√n, [batch, n, n, 2]. */
function nearIdentity(batch: number, n: number, dtype: 'float32' | 'float64'): ol.Tensor {
  return ol.tidy(() => {
    const eye = new Float64Array(2 * n * n);
    for (let i = 0; i < n; i++) eye[2 * (i * n + i)] = 1;
    const noise = ol.randn([batch, n, n, 2], { seed: 5, dtype, std: 0.1 / Math.sqrt(n) });
    return ol.ops.add(noise, ol.tensor(eye, { shape: [n, n, 2], dtype }));
  });
}

/**
 * solve_complex with k = n right-hand sides (the Cayley map's (I + A)⁻¹(I − A)) or inverse_complex, on
 * [batch, n, n, 2]. Flops: the LU's 8/3·n³ plus the two triangular solves' 8·n²·k (k = n), per matrix.
 */
function solveCase(kind: 'solve' | 'inverse', batch: number, n: number, dtype: 'float32' | 'float64'): Case {
  return {
    kernel: `${kind}_complex ${dtype === 'float32' ? 'f32' : 'f64'}`,
    shape: `${batch} × ${n}×${n}${kind === 'solve' ? ` (k = ${n})` : ''}`,
    dtype,
    flops: batch * ((8 / 3) * n ** 3 + 8 * n ** 3),
    torch: {
      script: 'fft_solve',
      entry: `${kind}_complex ${dtype === 'float32' ? 'f32' : 'f64'} ${batch} × ${n}×${n}${kind === 'solve' ? ` (k = ${n})` : ''}`,
    },
    setup: () => {
      const a = nearIdentity(batch, n, dtype);
      const b = ol.randn([batch, n, n, 2], { seed: 6, dtype });
      return {
        run: () => (kind === 'solve' ? ol.ops.solveComplex(a, b) : ol.ops.inverseComplex(a)).dispose(),
        dispose: () => { a.dispose(); b.dispose(); },
      };
    },
  };
}

/** The kernels and shapes of `onelip bench kernels`. */
export function kernelCases(sizes: number[]): Case[] {
  const cases: Case[] = [];
  for (const n of sizes) cases.push(matmulCase('sgemm', [], n, n, n, 'float32', { kind: 'sgemm', n }));
  for (const n of sizes) cases.push(matmulCase('dgemm', [], n, n, n, 'float64', { kind: 'dgemm', n }));
  for (const n of sizes) cases.push(syrkCase(n, n, 'float32', { kind: 'ssyrk', n }));
  cases.push(matmulCase('sgemm ·Bᵀ', [], 1024, 1024, 1024, 'float32', undefined, { transB: true }));
  cases.push(matmulCase('sgemm batched', [256], 32, 32, 32, 'float32'));
  cases.push(matmulCase('sgemm batched', [64], 64, 64, 64, 'float32'));
  cases.push(matmulCase('sgemv (m=1)', [], 1, 4096, 4096, 'float32'));
  cases.push(syrkCase(256, 4096, 'float32'));
  cases.push(...convCases());
  cases.push(...spectralCases());
  cases.push(fftCase([64, 64, 32, 32], 'float32'));
  cases.push(fftCase([64, 64, 32, 32], 'float64'));
  for (const kind of ['solve', 'inverse'] as const) {
    cases.push(solveCase(kind, 528, 64, 'float32'));
    cases.push(solveCase(kind, 16, 256, 'float32'));
    cases.push(solveCase(kind, 16, 512, 'float32'));
  }
  cases.push(solveCase('solve', 528, 64, 'float64'));
  return cases;
}

/**
 * kernel_self_correlation (forward and gradient) on K [m, c, 3, 3], counted as 2·m²·c·k⁴ flops (every
 * offset's products, without padding zeros; the CPU forward computes about half of them by the
 * symmetry G[j, i, −s] = G[i, j, s]), and power iteration: 10 iterations of a 64-channel 3×3 "same"
 * convolution on 32×32 (each a conv2d and a conv2d_backward_input; counted as 2 × 2·64·64·9·32·32 flops
 * per iteration), and of a dense 1024×1024 matrix.
 */
export function spectralCases(): Case[] {
  const cases: Case[] = [];
  for (const [m, c] of [[64, 64], [512, 512]]) {
    for (const dtype of ['float32', 'float64'] as const) {
      if (dtype === 'float64' && m > 64) continue;
      cases.push({
        kernel: `self-correlation${dtype === 'float64' ? ' f64' : ''}`,
        shape: `[${m}, ${c}, 3, 3] → [${m}, ${m}, 5, 5]`,
        dtype,
        flops: 2 * m * m * c * 81,
        setup: () => {
          const K = ol.randn([m, c, 3, 3], { seed: 4, dtype });
          return { run: () => ol.ops.kernelSelfCorrelation(K).dispose(), dispose: () => K.dispose() };
        },
      });
    }
    cases.push({
      kernel: 'self-correlation backward',
      shape: `[${m}, ${c}, 3, 3]`,
      dtype: 'float32',
      flops: 2 * m * m * c * 81,
      setup: () => {
        const K = ol.randn([m, c, 3, 3], { seed: 5 });
        const g = ol.randn([m, m, 5, 5], { seed: 6 });
        return { run: () => ol.ops.kernelSelfCorrelationBackward(K, g).dispose(), dispose: () => { K.dispose(); g.dispose(); } };
      },
    });
  }
  const piCase = (kernel: string, shape: string, flops: number, make: () => { op: ol.ops.PowerIterationOperator; u: ol.Tensor; dispose: () => void },
    torch?: Case['torch']): Case => ({
    kernel,
    shape,
    dtype: 'float32',
    flops,
    torch,
    setup: () => {
      const { op, u, dispose } = make();
      return {
        run: () => {
          const r = ol.ops.powerIteration(op, u, { iters: 10 });
          r.u.dispose();
          r.v.dispose();
        },
        dispose,
      };
    },
  });
  cases.push(piCase('power iteration conv', '10 it, K [64, 64, 3, 3], u [1, 64, 32, 32]', 10 * 2 * 2 * 64 * 64 * 9 * 32 * 32, () => {
      const K = ol.randn([64, 64, 3, 3], { seed: 7 });
      const u = ol.randn([1, 64, 32, 32], { seed: 8 });
      return { op: { conv: K }, u, dispose: () => { K.dispose(); u.dispose(); } };
    }, { script: 'power_iteration', entry: 'power iteration conv 64x3x3 32x32, 10 iterations' }));
  cases.push(piCase('power iteration dense', '10 it, W [1024, 1024]', 10 * 2 * 2 * 1024 * 1024, () => {
    const W = ol.randn([1024, 1024], { seed: 9 });
    const u = ol.randn([1024], { seed: 10 });
    return { op: { matrix: W }, u, dispose: () => { W.dispose(); u.dispose(); } };
  }));
  return cases;
}

function referenceFn(): { fn?: ReferenceFn; reason?: string } {
  const fn = (native() as unknown as { benchReferenceSgemm?: ReferenceFn }).benchReferenceSgemm;
  if (typeof fn !== 'function') return { reason: 'this addon build does not export benchReferenceSgemm' };
  return { fn };
}

const gflops = (flops: number, seconds: number): number => flops / seconds / 1e9;

/** Runs the kernel benchmark. Sets the pool size to `threads` for the duration and restores it. */
export function benchKernels(opts: KernelBenchOptions = {}): KernelBenchResult {
  const info = ol.info();
  const threads = opts.threads ?? info.backends.cpu.threads;
  const rounds = Math.max(1, opts.rounds ?? 3);
  const perRound = (opts.seconds ?? 1.5) / rounds;
  const log = opts.log ?? (() => undefined);
  const previousThreads = info.backends.cpu.threads;
  ol.setNumThreads(threads);
  try {
    const { fn: refFn, reason } = referenceFn();
    const result: KernelBenchResult = {
      date: new Date().toISOString(),
      threads,
      simd: info.backends.cpu.simd,
      reference: { available: false, reason },
      loadBefore: sampleLoad(1000),
      rows: [],
    };
    let cases = kernelCases(opts.sizes ?? [256, 512, 1024, 2048]);
    if (opts.only?.length) cases = cases.filter((c) => opts.only!.some((s) => c.kernel.includes(s)));
    const measured: { c: Case; ours: Timing; ref?: Timing; load: Load | null }[] = [];
    for (const c of cases) {
      const { run, dispose } = c.setup();
      const ours: number[] = [];
      const ref: number[] = [];
      // benchReferenceSgemm takes n ≤ 4096 and at most ~2·10¹² flops per call.
      let refOk = !!(refFn && c.ref && c.ref.n <= 4096);
      const cpu0 = readCpu();
      const t0 = now();
      try {
        for (let r = 0; r < rounds; r++) {
          const t = timeIt(run, { warmup: 1, targetSeconds: perRound, minReps: 3, maxReps: 200 });
          ours.push(...t.samples);
          if (refOk) {
            const n = c.ref!.n;
            const cap = Math.max(1, Math.floor(2e12 / (2 * n * n * n)) - 1);
            const reps = Math.min(cap, Math.max(3, Math.min(200, Math.round(perRound / Math.max(t.best, 1e-6)))));
            const rr = refFn!(c.ref!.n, reps, threads, c.ref!.kind);
            if (rr === null) {
              refOk = false;
              result.reference.reason = 'OpenBLAS (libopenblas.so.0) is not installed';
            } else {
              ref.push(...rr.seconds);
              Object.assign(result.reference, {
                available: true, reason: undefined, library: rr.library, corename: rr.corename, config: rr.config,
              });
              sleepMs(300);  // OpenBLAS's idle threads spin for a while before they sleep
            }
          }
        }
      } finally {
        dispose();
      }
      const load = loadBetween(cpu0, readCpu(), now() - t0);
      const m = { c, ours: summarize(ours), ref: ref.length ? summarize(ref) : undefined, load };
      measured.push(m);
      log(`  ${c.kernel} ${c.shape}: ${gflops(c.flops, m.ours.best).toFixed(1)} GFLOP/s` +
        (m.ref ? ` (OpenBLAS ${gflops(c.flops, m.ref.best).toFixed(1)})` : ''));
    }
    // PyTorch references: each script once per round (after our measurements of its rows), the
    // per-round medians summarized like our samples.
    const torchMeasured = new Map<string, number[]>();
    for (const script of [...new Set(measured.filter((m) => m.c.torch).map((m) => m.c.torch!.script))]) {
      for (let r = 0; r < rounds; r++) {
        const t = runTorchReference(script, threads);
        if (!t.ok) {
          result.torch = { available: false, reason: t.skipped };
          log(`  ${t.skipped}`);
          break;
        }
        result.torch = { available: true, version: t.version };
        for (const [k, v] of Object.entries(t.seconds)) torchMeasured.set(`${script}/${k}`, [...(torchMeasured.get(`${script}/${k}`) ?? []), v]);
      }
    }
    // Ceiling per dtype: the best OpenBLAS GEMM rate of this run, else the nominal peak.
    const ceilingFor = (dtype: 'float32' | 'float64'): { value: number; source: string } => {
      const kernel = dtype === 'float32' ? 'sgemm' : 'dgemm';
      const refs = measured.filter((m) => m.c.kernel === kernel && m.ref).map((m) => gflops(m.c.flops, m.ref!.best));
      const best = Math.max(0, ...refs);
      if (best > 0) return { value: best, source: `OpenBLAS ${kernel} best of this run` };
      const nominal = NOMINAL_F32_PER_CORE * threads * (dtype === 'float32' ? 1 : 0.5);
      const perCore = NOMINAL_F32_PER_CORE * (dtype === 'float32' ? 1 : 0.5);
      return { value: nominal, source: `nominal ${threads}×${perCore.toFixed(1)} GFLOP/s` };
    };
    for (const m of measured) {
      const ceil = ceilingFor(m.c.dtype);
      result.rows.push({ kernel: m.c.kernel, shape: m.c.shape, dtype: m.c.dtype, flops: m.c.flops, ours: m.ours, ref: m.ref,
        ceiling: ceil.value, ceilingSource: ceil.source, load: m.load,
        torch: m.c.torch && torchMeasured.has(`${m.c.torch.script}/${m.c.torch.entry}`)
          ? summarize(torchMeasured.get(`${m.c.torch.script}/${m.c.torch.entry}`)!) : undefined });
    }
    return result;
  } finally {
    ol.setNumThreads(previousThreads);
  }
}

/** Rows compared with PyTorch rather than OpenBLAS (the conv2d and conv power-iteration rows). */
const isTorchRow = (x: KernelRow): boolean => x.kernel.startsWith('conv2d') || x.kernel.startsWith('power iteration conv');

/** The result as the table `onelip bench kernels` prints. */
export function formatKernelBench(r: KernelBenchResult): string {
  const lines: string[] = [];
  lines.push(`onelip bench kernels — ${r.date}`);
  const lowered = process.env.ONELIP_GEMM_ISA ? ` (GEMM kernels lowered by ONELIP_GEMM_ISA=${process.env.ONELIP_GEMM_ISA})` : '';
  lines.push(`cpu: ${r.threads} thread(s) (onelip pool and OpenBLAS), simd ${r.simd}${lowered}`);
  lines.push(r.reference.available
    ? `reference: ${r.reference.library} (${r.reference.corename}; ${r.reference.config})`
    : `reference: none (${r.reference.reason ?? 'not requested'})`);
  if (r.loadBefore) lines.push(`machine before the run: ${pct(r.loadBefore.idle)} idle (other processes ${pct(r.loadBefore.others)} of all cores)`);
  const rows: string[][] = [['kernel', 'shape', 'median ms', 'best ms', 'GFLOP/s', 'of ceiling',
    'OpenBLAS median ms', 'OpenBLAS best ms', 'OpenBLAS GFLOP/s', 'ratio', 'ratio (medians)', 'load']];
  for (const x of r.rows.filter((row) => !isTorchRow(row))) {
    const g = gflops(x.flops, x.ours.best);
    const rg = x.ref ? gflops(x.flops, x.ref.best) : undefined;
    rows.push([
      x.kernel,
      x.shape,
      (x.ours.median * 1e3).toFixed(3),
      (x.ours.best * 1e3).toFixed(3),
      g.toFixed(1),
      pct(g / x.ceiling),
      x.ref ? (x.ref.median * 1e3).toFixed(3) : '-',
      x.ref ? (x.ref.best * 1e3).toFixed(3) : '-',
      rg !== undefined ? rg.toFixed(1) : '-',
      x.ref ? `${(x.ref.best / x.ours.best).toFixed(2)}x` : '-',
      x.ref ? `${(x.ref.median / x.ours.median).toFixed(2)}x` : '-',
      x.load ? pct(x.load.others) : '?',
    ]);
  }
  lines.push(table(rows));
  const sources = [...new Set(r.rows.map((x) => `${x.dtype}: ${x.ceiling.toFixed(1)} GFLOP/s (${x.ceilingSource})`))];
  lines.push('GFLOP/s from the best run (syrk counts n²k, the flops of one triangle); ' +
    'ratio = onelip GFLOP/s ÷ OpenBLAS GFLOP/s (best runs; also of the medians).');
  lines.push(`ceiling: ${sources.join('; ')}.`);
  lines.push(`load: share of all cores used by other processes while the row ran (above ~10% the figures are not trustworthy).`);
  const torchRows = r.rows.filter(isTorchRow);
  if (torchRows.length) {
    lines.push('');
    lines.push(r.torch?.available ? `PyTorch ${r.torch.version} on the same thread count, same run:` : `PyTorch: ${r.torch?.reason ?? 'not run'}`);
    const t: string[][] = [['kernel', 'shape', 'median ms', 'best ms', 'GFLOP/s (median)', 'PyTorch median ms', 'PyTorch GFLOP/s',
      'PyTorch ÷ onelip (medians)', 'load']];
    for (const x of torchRows) {
      t.push([
        x.kernel,
        x.shape,
        (x.ours.median * 1e3).toFixed(3),
        (x.ours.best * 1e3).toFixed(3),
        gflops(x.flops, x.ours.median).toFixed(1),
        x.torch ? (x.torch.median * 1e3).toFixed(3) : '-',
        x.torch ? gflops(x.flops, x.torch.median).toFixed(1) : '-',
        x.torch ? `${(x.torch.median / x.ours.median).toFixed(2)}x` : '-',
        x.load ? pct(x.load.others) : '?',
      ]);
    }
    lines.push(table(t));
    lines.push('PyTorch times: the median over rounds of the reference script\'s medians (bench/torch/conv2d.py: ' +
      'F.conv2d and aten.convolution_backward, warm-up, 10 repeats); "fwd + both bwd" = the sum of its three entries. ' +
      'Power iteration: bench/torch/power_iteration.py, F.conv2d / F.conv_transpose2d with the same normalizations, 10 iterations.');
  }
  return lines.join('\n');
}

const USAGE = 'usage: onelip bench [kernels | layers] [--threads N] [--sizes 256,512,...] [--rounds N] [--seconds S] ' +
  '[--only name,...] [--json]';

/** `onelip bench ...`: returns the process exit code. */
export function benchMain(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        threads: { type: 'string' },
        sizes: { type: 'string' },
        rounds: { type: 'string' },
        seconds: { type: 'string' },
        only: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`onelip bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const what = positionals[0] ?? 'kernels';
  if ((what !== 'kernels' && what !== 'layers') || positionals.length > 1) {
    console.error(`onelip bench: unknown benchmark '${positionals.join(' ')}' (available: kernels, layers)\n${USAGE}`);
    return 2;
  }
  const int = (s: string | undefined, name: string, lo: number, hi: number): number | undefined => {
    if (s === undefined) return undefined;
    const v = Number(s);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`--${name} must be an integer in ${lo}..${hi}, got '${s}'`);
    return v;
  };
  let opts: KernelBenchOptions;
  try {
    opts = {
      threads: int(values.threads, 'threads', 1, 256),
      rounds: int(values.rounds, 'rounds', 1, 100),
      seconds: values.seconds === undefined ? undefined : Number(values.seconds),
      sizes: values.sizes?.split(',').map((s) => int(s, 'sizes', 1, 4096)!),
      only: values.only?.split(','),
    };
    if (opts.seconds !== undefined && !(opts.seconds > 0 && opts.seconds <= 600)) {
      throw new Error(`--seconds must be in (0, 600], got '${values.seconds}'`);
    }
  } catch (e) {
    console.error(`onelip bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.json) opts.log = (l) => console.error(l);
  if (what === 'layers') {
    const lr = benchLayers({ threads: opts.threads, rounds: opts.rounds, seconds: opts.seconds, only: opts.only, log: opts.log });
    console.log(values.json ? JSON.stringify(lr, null, 2) : formatLayerBench(lr));
    return 0;
  }
  const result = benchKernels(opts);
  console.log(values.json ? JSON.stringify(result, null, 2) : formatKernelBench(result));
  return 0;
}
