/**
 * End to end through the public API: modules (ol.nn), losses (ol.loss), the fused optimizers
 * (ol.optim) and checkpoints (ol.io) together, on cpu and cuda (emulated under `npm test`).
 *  - an MLP trained with Adam and a small CNN trained with SGD + Nesterov momentum on generated,
 *    separable problems reach 100 % training accuracy;
 *  - a run checkpointed mid-way and resumed into a fresh model and optimizer continues bit for bit.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ol from '../lib';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`training seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || ol.info().backends.cuda.available);

/** xorshift32 in [0, 1). */
function rng(s: number): () => number {
  let x = (s >>> 0) || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** Two concentric rings in 2-d (not linearly separable): label 1 outside radius 1.5. */
function rings(n: number, s: number): { x: Float32Array; y: Int32Array } {
  const r = rng(s);
  const x = new Float32Array(2 * n);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const radius = label === 0 ? 0.3 + 0.7 * r() : 2 + 0.8 * r();
    const a = 2 * Math.PI * r();
    x[2 * i] = radius * Math.cos(a);
    x[2 * i + 1] = radius * Math.sin(a);
    y[i] = label;
  }
  return { x, y };
}

/** 1×6×6 images: a bright vertical bar (label 0) or horizontal bar (label 1) at a random place, plus noise. */
function bars(n: number, s: number): { x: Float32Array; y: Int32Array } {
  const r = rng(s);
  const x = new Float32Array(n * 36);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const at = Math.floor(r() * 6);
    for (let p = 0; p < 36; p++) {
      const [row, col] = [Math.floor(p / 6), p % 6];
      x[i * 36 + p] = 0.3 * (r() - 0.5) + ((label === 0 ? col : row) === at ? 1 : 0);
    }
    y[i] = label;
  }
  return { x, y };
}

function accuracy(model: ol.nn.Module, x: ol.Tensor, labels: Int32Array): number {
  return ol.tidy(() => ol.noGrad(() => {
    const logits = model.forward(x).data();
    const k = logits.length / labels.length;
    let right = 0;
    labels.forEach((l, i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + best]) best = c;
      if (best === l) right++;
    });
    return right / labels.length;
  }));
}

function trainStep(model: ol.nn.Module, opt: { step(): void; zeroGrad(): void }, x: ol.Tensor, y: ol.Tensor): number {
  return ol.tidy(() => {
    opt.zeroGrad();
    const loss = ol.loss.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  });
}

const mlp = (s: number, device: ol.Device): ol.nn.Sequential =>
  new ol.nn.Sequential([
    new ol.nn.Linear(2, 32, { seed: s, device }),
    new ol.nn.ReLU(),
    new ol.nn.Linear(32, 32, { seed: s + 1, device }),
    new ol.nn.ReLU(),
    new ol.nn.Linear(32, 2, { seed: s + 2, device }),
  ]);

describe.each(devices)('training on %s', (device) => {
  test('an MLP trained with Adam separates two rings (100 % training accuracy)', () => {
    const data = rings(64, seed);
    const x = ol.tensor(data.x, { shape: [64, 2], device });
    const y = ol.tensor(data.y, { shape: [64], dtype: 'int32', device });
    const model = mlp(seed % 100000, device);
    const opt = new ol.optim.Adam(model.parameters(), { lr: 0.02 });
    const first = trainStep(model, opt, x, y);
    let last = first;
    for (let i = 0; i < 300 && accuracy(model, x, data.y) < 1; i++) last = trainStep(model, opt, x, y);
    expect(accuracy(model, x, data.y)).toBe(1);
    expect(last).toBeLessThan(first);
    model.dispose();
    x.dispose();
    y.dispose();
  });

  test('a CNN trained with SGD + Nesterov momentum tells vertical from horizontal bars (100 %)', () => {
    const n = 32;
    const data = bars(n, seed + 1);
    const x = ol.tensor(data.x, { shape: [n, 1, 6, 6], device });
    const y = ol.tensor(data.y, { shape: [n], dtype: 'int32', device });
    const s = seed % 100000;
    const model = new ol.nn.Sequential([
      new ol.nn.Conv2d(1, 4, { kernelSize: 3, seed: s, device }),
      new ol.nn.ReLU(),
      new ol.nn.AvgPool2d({ kernelSize: 2 }),
      new ol.nn.Flatten(),
      new ol.nn.Linear(36, 2, { seed: s + 1, device }),
    ]);
    const opt = new ol.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
    for (let i = 0; i < 200 && accuracy(model, x, data.y) < 1; i++) trainStep(model, opt, x, y);
    expect(accuracy(model, x, data.y)).toBe(1);
    model.dispose();
    x.dispose();
    y.dispose();
  });

  test('a checkpointed run resumed into a fresh model and optimizer continues bit for bit', () => {
    const data = rings(32, seed + 2);
    const x = ol.tensor(data.x, { shape: [32, 2], device });
    const y = ol.tensor(data.y, { shape: [32], dtype: 'int32', device });
    const s = seed % 100000;
    const a = mlp(s, device);
    const optA = new ol.optim.AdamW(a.parameters(), { lr: 0.01, weightDecay: 0.01 });
    for (let i = 0; i < 3; i++) trainStep(a, optA, x, y);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-train-')), 'ckpt.safetensors');
    ol.io.save(file, a, { optimizer: optA, metadata: { step: 3 } });

    const b = mlp(s + 7, device);  // different initial weights: everything must come from the file
    const optB = new ol.optim.AdamW(b.parameters(), { lr: 0.5 });
    expect(ol.io.loadInto(b, file, { optimizer: optB }).metadata).toEqual({ step: 3 });
    for (let i = 0; i < 3; i++) expect(trainStep(b, optB, x, y)).toBe(trainStep(a, optA, x, y));
    const sa = a.stateDict();
    const sb = b.stateDict();
    for (const k of Object.keys(sa)) expect(Array.from(sb[k].data())).toEqual(Array.from(sa[k].data()));
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    a.dispose();
    b.dispose();
    x.dispose();
    y.dispose();
  });
});
