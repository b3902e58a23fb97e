/**
 * Timing helpers of the benchmarks: warm-up, repeated runs with median and best, and a check of how
 * busy the machine was (other processes) while a measurement ran, read from /proc/stat (Linux).
 */
import * as fs from 'fs';

/** Seconds since an arbitrary origin, from the monotonic high-resolution clock. */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Blocks the thread for `ms` milliseconds without spinning. */
export function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export interface Timing {
  /** Seconds of each timed run (warm-up excluded), in run order. */
  samples: number[];
  median: number;
  best: number;
}

/** Median and minimum of run times. */
export function summarize(samples: number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { samples, median, best: s[0] };
}

export interface TimeOptions {
  /** Untimed runs first (default 1). */
  warmup?: number;
  /** Timed runs; default: enough for about `targetSeconds`, between minReps and maxReps. */
  reps?: number;
  targetSeconds?: number;
  minReps?: number;
  maxReps?: number;
}

/**
 * Times `fn`: `warmup` untimed calls, then `reps` timed calls (or as many as fit in `targetSeconds`,
 * judged from the warm-up, within [minReps, maxReps]).
 */
export function timeIt(fn: () => void, opts: TimeOptions = {}): Timing {
  const warmup = opts.warmup ?? 1;
  let est = 0;
  for (let i = 0; i < warmup; i++) {
    const t0 = now();
    fn();
    est = now() - t0;
  }
  const fit = (opts.targetSeconds ?? 1) / Math.max(est, 1e-6);
  const reps = opts.reps ?? Math.round(Math.min(opts.maxReps ?? 50, Math.max(opts.minReps ?? 5, fit)));
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    fn();
    samples.push(now() - t0);
  }
  return summarize(samples);
}

/** Cumulative CPU time counters (clock ticks): the whole machine and this process. */
export interface CpuCounters {
  total: number;
  idle: number;
  self: number;
}

/** Reads /proc/stat and /proc/self/stat; null where they do not exist (not Linux). */
export function readCpu(): CpuCounters | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = v[3] + (v[4] ?? 0);
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const self = Number(fields[11]) + Number(fields[12]);  // utime + stime (fields 14 and 15)
    return { total, idle, self };
  } catch {
    return null;
  }
}

export interface Load {
  /** Share of all cores' time that processes other than this one used (0..1). */
  others: number;
  /** Share of all cores' time that was idle (0..1). */
  idle: number;
  /** Seconds the sample covered. */
  seconds: number;
}

/** CPU use between two readCpu() samples; null when either is missing or no time passed. */
export function loadBetween(a: CpuCounters | null, b: CpuCounters | null, seconds: number): Load | null {
  if (!a || !b) return null;
  const total = b.total - a.total;
  if (total <= 0) return null;
  const busy = total - (b.idle - a.idle);
  const others = Math.max(0, busy - (b.self - a.self)) / total;
  return { others, idle: (b.idle - a.idle) / total, seconds };
}

/** Samples the machine for `ms` milliseconds while this process sleeps: how idle it is right now. */
export function sampleLoad(ms = 1000): Load | null {
  const a = readCpu();
  const t0 = now();
  sleepMs(ms);
  return loadBetween(a, readCpu(), now() - t0);
}

/** Runs `fn` and reports how much CPU other processes used meanwhile. */
export function withLoad<T>(fn: () => T): { result: T; load: Load | null } {
  const a = readCpu();
  const t0 = now();
  const result = fn();
  return { result, load: loadBetween(a, readCpu(), now() - t0) };
}

/** "42%" */
export const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;

/** Pads each column of `rows` to its widest cell; numbers-looking cells are right-aligned. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (/^[-+]?[\d.]+(%|x|×)?$/.test(c) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n');
}
