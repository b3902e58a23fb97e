#!/usr/bin/env node
// Times the fused in-place optimizer ops on the cpu device: median of --reps steps over one float32
// parameter of --n elements, reported as time per step and effective memory bandwidth (bytes each
// element is read + written). Usage: node scripts/bench-optim.js [--n 4194304] [--reps 30] [--threads T]
// (needs dist/: npx tsc -p tsconfig.json).
const ol = require('../dist');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const n = arg('n', 1 << 22);
const reps = arg('reps', 30);
const threads = arg('threads', 0);
if (threads) ol.setNumThreads(threads);
const mk = (seed) => ol.rand([n], { seed });
const p = mk(1), g = mk(2), b = mk(3), m = mk(4), v = mk(5), vmax = mk(6);
const cases = [
  ['sgd (no momentum)', 3, () => ol.optim.sgdStep(p, g, null, { lr: 1e-6 })],
  ['sgd momentum+wd', 5, () => ol.optim.sgdStep(p, g, b, { lr: 1e-6, momentum: 0.9, weightDecay: 5e-4 })],
  ['adam', 7, (t) => ol.optim.adamStep(p, g, m, v, null, { lr: 1e-6, step: t })],
  ['adamw amsgrad', 9, (t) => ol.optim.adamStep(p, g, m, v, vmax, { lr: 1e-6, step: t, weightDecay: 1e-2, decoupled: true })],
];
console.log(`cpu threads ${ol.info().backends.cpu.threads}, simd ${ol.info().backends.cpu.simd}, n = ${n} float32, ${reps} reps (median)`);
for (const [name, words, fn] of cases) {
  for (let i = 1; i <= 3; i++) fn(i);
  const ts = [];
  for (let i = 1; i <= reps; i++) {
    const t0 = process.hrtime.bigint();
    fn(i + 3);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ts.sort((a, c) => a - c);
  const ms = ts[Math.floor(ts.length / 2)];
  console.log(`${name.padEnd(20)} ${ms.toFixed(2).padStart(8)} ms/step  ${((words * 4 * n) / ms / 1e6).toFixed(1).padStart(6)} GB/s effective`);
}
