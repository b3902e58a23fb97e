/**
 * The C++ self-tests of the CUDA emulator (cuda/emu/): test/emu/run-selftest.sh compiles and runs
 * them and prints "N passed, M failed". Required: the script exits 0, M = 0 and N > 0.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const SCRIPT = path.join(ROOT, 'test', 'emu', 'run-selftest.sh');

/** The last "N passed, M failed" of the output. */
export function parseSummary(out: string): { passed: number; failed: number } | null {
  const all = Array.from(out.matchAll(/(\d+)\s+passed,\s+(\d+)\s+failed/g));
  if (!all.length) return null;
  const m = all[all.length - 1];
  return { passed: Number(m[1]), failed: Number(m[2]) };
}

test('the summary parser takes the last "N passed, M failed"', () => {
  expect(parseSummary('x\n3 passed, 1 failed\n...\n12 passed, 0 failed\n')).toEqual({ passed: 12, failed: 0 });
  expect(parseSummary('nothing here')).toBeNull();
});

test('emulator self-tests: N passed, 0 failed', () => {
  if (!fs.existsSync(SCRIPT)) throw new Error(`${path.relative(ROOT, SCRIPT)} does not exist (the emulator's self-test driver)`);
  const t0 = Date.now();
  const r = spawnSync('bash', [SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 600000, maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  // eslint-disable-next-line no-console
  console.log(`emu-selftest: ${Date.now() - t0} ms, status ${r.status}, signal ${r.signal}\n${out.trim().split('\n').slice(-15).join('\n')}`);
  const s = parseSummary(out);
  if (!s) throw new Error(`no "N passed, M failed" line in the output (status ${r.status}, signal ${r.signal}):\n${out.slice(-4000)}`);
  if (s.failed !== 0) throw new Error(`${s.failed} emulator self-test(s) failed:\n${out.slice(-6000)}`);
  expect(s.passed).toBeGreaterThan(0);
  expect(r.signal).toBeNull();
  expect(r.status).toBe(0);
}, 600000);
