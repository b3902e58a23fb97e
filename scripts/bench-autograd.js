// Autograd overhead: recording cost per op, backward cost, an MLP step (docs/PERF.md "Autograd").
// Usage: npx tsc -p tsconfig.json && ONELIP_ADDON=emu ONELIP_NUM_THREADS=1 node scripts/bench-autograd.js
const ol = require('../dist');
const O = ol.ops;
function time(label, n, fn) {
  fn(); const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  console.log(`${label}: ${us.toFixed(2)} µs`);
}
const a = ol.rand([16], { seed: 1 }); const b = ol.rand([16], { seed: 2 });
const ag = ol.rand([16], { seed: 1 }); ag.requiresGrad = true;
time('mul [16], no grad', 20000, () => O.mul(a, b).dispose());
time('mul [16], recorded', 20000, () => O.mul(ag, b).dispose());
time('mul [16], recorded inside noGrad', 20000, () => ol.noGrad(() => O.mul(ag, b)).dispose());
time('mul+sum+backward [16]', 5000, () => ol.tidy(() => O.sum(O.mul(ag, b)).backward()));
for (const device of ['cpu', 'cuda']) {
  const model = new ol.nn.Sequential([new ol.nn.Linear(64, 128, { device }), new ol.nn.ReLU(), new ol.nn.Linear(128, 10, { device })]);
  const x = ol.randn([64, 64], { seed: 3, device });
  const y = Array.from({ length: 64 }, (_, i) => i % 10);
  time(`MLP 64-128-10 batch 64 forward only (${device})`, 200, () => ol.tidy(() => { ol.noGrad(() => ol.loss.crossEntropy(model.forward(x), y)); }));
  time(`MLP 64-128-10 batch 64 forward+backward (${device})`, 200, () => ol.tidy(() => { ol.loss.crossEntropy(model.forward(x), y).backward(); }));
  model.zeroGrad();
}
