/**
 * `onelip bench kernels` (`npm run bench -- kernels`): times the CPU matrix kernels (matmul float32 /
 * float64, syrk, a batch of small products, a matrix-vector product) on a few shapes and prints, per
 * kernel, the median and best time, GFLOP/s, the share of the machine's ceiling and, when OpenBLAS is
 * installed, OpenBLAS's time for the same product measured in the same run (loaded by the addon with
 * dlopen; never a dependency).
 */
import { parseArgs } from 'util';
import * as ol from '../index';
import { native } from '../native';
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
}

export interface KernelBenchResult {
  date: string;
  threads: number;
  simd: string;
  reference: { available: boolean; reason?: string; library?: string; corename?: string; config?: string };
  loadBefore: Load | null;
  rows: KernelRow[];
}

interface Case {
  kernel: string;
  shape: string;
  dtype: 'float32' | 'float64';
  flops: number;
  /** Allocates the inputs; returns the timed call and a cleanup. */
  setup: () => { run: () => void; dispose: () => void };
  ref?: { kind: 'sgemm' | 'dgemm' | 'ssyrk'; n: number };
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
        ceiling: ceil.value, ceilingSource: ceil.source, load: m.load });
    }
    return result;
  } finally {
    ol.setNumThreads(previousThreads);
  }
}

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
  for (const x of r.rows) {
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
  return lines.join('\n');
}

const USAGE = 'usage: onelip bench [kernels] [--threads N] [--sizes 256,512,...] [--rounds N] [--seconds S] ' +
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
  if (what !== 'kernels' || positionals.length > 1) {
    console.error(`onelip bench: unknown benchmark '${positionals.join(' ')}' (available: kernels)\n${USAGE}`);
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
  const result = benchKernels(opts);
  console.log(values.json ? JSON.stringify(result, null, 2) : formatKernelBench(result));
  return 0;
}
