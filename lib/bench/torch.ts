/**
 * PyTorch side-by-side references for the benchmarks: runs `bench/torch/<name>.py THREADS [REPEATS]`
 * with a Python that can `import torch` and returns the `{ entry: seconds }` object the script prints as
 * its last JSON line. PyTorch is never a dependency: without it (or without the script, which is not
 * part of the npm package) the caller gets `{ skipped: reason }` and prints it.
 *
 * Reference scripts follow one contract: argv[1] the thread count (they call torch.set_num_threads),
 * argv[2] the repeats; they warm up, time each entry, and print one JSON line of {name: median seconds}
 * (keys starting with '_' carry metadata such as '_torch', the version).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export type TorchReference =
  | { ok: true; python: string; version: string; seconds: Record<string, number> }
  | { ok: false; skipped: string };

let cachedPython: { python?: string; reason?: string } | undefined;

/** The first of /usr/bin/python3 and `python3` (PATH) that imports torch. */
export function findTorchPython(): { python?: string; reason?: string } {
  if (cachedPython) return cachedPython;
  const tried: string[] = [];
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    if (r.status === 0) return (cachedPython = { python: py });
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr?.toString().trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return (cachedPython = { reason: `PyTorch not found: reference skipped (${tried.join('; ')})` });
}

/** Directory of the reference scripts: bench/torch/ of the source checkout (dist/bench/ → ../../bench/torch). */
export function torchScriptDir(): string {
  return path.resolve(__dirname, '..', '..', 'bench', 'torch');
}

/**
 * Runs reference script `name` (bench/torch/<name>.py) on `threads` threads. Returns the timings, or
 * why there are none (no PyTorch, no script, the script failed).
 */
export function runTorchReference(name: string, threads: number, repeats = 10): TorchReference {
  const { python, reason } = findTorchPython();
  if (!python) return { ok: false, skipped: reason! };
  const script = path.join(torchScriptDir(), `${name}.py`);
  if (!fs.existsSync(script)) return { ok: false, skipped: `PyTorch reference script ${script} not found: reference skipped` };
  const r = spawnSync(python, [script, String(threads), String(repeats)], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    return { ok: false, skipped: `PyTorch reference ${name} failed (${why})` };
  }
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  try {
    const obj = JSON.parse(line ?? '') as Record<string, unknown>;
    const seconds: Record<string, number> = {};
    for (const [k, v] of Object.entries(obj)) if (!k.startsWith('_') && typeof v === 'number') seconds[k] = v;
    return { ok: true, python, version: String(obj._torch ?? 'unknown'), seconds };
  } catch {
    return { ok: false, skipped: `PyTorch reference ${name} printed no JSON line` };
  }
}
