/**
 * Losses and plain modules: losses against plain float64 formulas and gradcheck, stability at ±1e4;
 * gradcheck of every module on cpu and cuda; naming, state dicts, to(device); a small MLP trained by
 * hand-written gradient descent to 100 % training accuracy on both devices; a 50-step training loop
 * inside tidy() that leaks nothing.
 */
import * as v8 from 'v8';
import * as vm from 'vm';
import * as ol from '../lib';
import { setCreationHook } from '../lib/tensor';

const O = ol.ops;
const nn = ol.nn;
const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`nn seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

/** mulberry32: the tests' own host-side random numbers. */
function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    let t = (a = (a + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let counter = 0;
function randn64(shape: number[], device: ol.Device, scale = 1): ol.Tensor {
  const r = rng(seed + 104729 * ++counter);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = Float64Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
  return ol.tensor(d, { shape, dtype: 'float64', device });
}
function labelsFor(n: number, c: number): number[] {
  const r = rng(seed + 7 * ++counter);
  return Array.from({ length: n }, () => Math.floor(r() * c));
}

// ---- plain float64 references ----
function refCE(f: number[][], y: number[]): number {
  let total = 0;
  f.forEach((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - row[y[i]];
  });
  return total / f.length;
}
function refOffsetCE(f: number[][], y: number[], o: number, t: number): number {
  return t * refCE(f.map((row, i) => row.map((v, j) => (v - (j === y[i] ? o : 0)) / t)), y);
}
function refHinge(f: number[][], y: number[], m: number): number {
  let total = 0;
  f.forEach((row, i) => {
    let s = 0;
    row.forEach((v, j) => {
      if (j !== y[i]) s += Math.max(0, m - (row[y[i]] - v));
    });
    total += s / row.length;
  });
  return total / f.length;
}

describe.each(devices)('losses on %s', (device) => {
  test('values match plain float64 formulas (labels as array and as int32 tensor)', () => {
    ol.tidy(() => {
      const f = randn64([6, 5], device, 2);
      const y = labelsFor(6, 5);
      const rows = f.toArray() as number[][];
      const yt = ol.tensor(y, { dtype: 'int32', device });
      expect(ol.loss.crossEntropy(f, y).item()).toBeCloseTo(refCE(rows, y), 12);
      expect(ol.loss.crossEntropy(f, yt).item()).toBeCloseTo(refCE(rows, y), 12);
      expect(ol.loss.offsetCrossEntropy(f, yt, { offset: 0.9, temperature: 0.5 }).item()).toBeCloseTo(refOffsetCE(rows, y, 0.9, 0.5), 12);
      expect(ol.loss.offsetCrossEntropy(f, y).item()).toBeCloseTo(refOffsetCE(rows, y, 1.5 * Math.SQRT2, 0.25), 12);
      expect(ol.loss.hinge(f, y, { margin: 0.5 }).item()).toBeCloseTo(refHinge(rows, y, 0.5), 12);
      expect(ol.loss.hinge(f, yt).item()).toBeCloseTo(refHinge(rows, y, 0.7), 12);
      const f32 = f.astype('float32');
      expect(ol.loss.crossEntropy(f32, y).dtype).toBe('float32');
      expect(ol.loss.crossEntropy(f32, y).item()).toBeCloseTo(refCE(rows, y), 5);
    });
  });

  test('gradcheck of each loss', () => {
    ol.tidy(() => {
      const y = labelsFor(4, 3);
      const f = randn64([4, 3], device);
      ol.gradcheck((z) => ol.loss.crossEntropy(z, y), [f]);
      ol.gradcheck((z) => ol.loss.offsetCrossEntropy(z, y, { offset: 0.7, temperature: 0.3 }), [f]);
      ol.gradcheck((z) => ol.loss.hinge(z, y, { margin: 0.4 }), [f]);
    });
  });

  test('stable for logits of ±1e4 (float32 and float64): finite values and gradients', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      ol.tidy(() => {
        const f = ol.tensor([[1e4, -1e4, 0], [-1e4, 1e4, 1e4]], { dtype, device, requiresGrad: true });
        const ce = ol.loss.crossEntropy(f, [1, 2]);
        // row 0: lse ≈ 1e4, minus f[0][1] = −1e4 → 2e4; row 1: lse = 1e4 + ln 2, minus 1e4 → ln 2
        expect(ce.item()).toBeCloseTo((2e4 + Math.LN2) / 2, dtype === 'float32' ? 0 : 6);
        ce.backward();
        const g = f.grad!.toArray() as number[][];
        expect(g.flat().every(Number.isFinite)).toBe(true);
        expect(g[0][0]).toBeCloseTo(0.5, 6);   // softmax 1 at the max, minus 0, over N = 2
        expect(g[0][1]).toBeCloseTo(-0.5, 6);
        expect(g[1][1]).toBeCloseTo(0.25, 6);
        const oce = ol.loss.offsetCrossEntropy(f, [1, 2]);
        expect(Number.isFinite(oce.item())).toBe(true);
        expect(Number.isFinite(ol.loss.hinge(f, [1, 2]).item())).toBe(true);
      });
    }
  });

  test('bad input: OnelipError naming the loss and the argument', () => {
    ol.tidy(() => {
      const f = randn64([2, 3], device);
      expect(() => ol.loss.crossEntropy(f, [0, 3])).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/crossEntropy: labels\[1\] = 3 is outside \[0, 3\)/) }));
      expect(() => ol.loss.crossEntropy(f, [0])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
      expect(() => ol.loss.crossEntropy(f, [0, 1.5])).toThrow(/not an integer/);
      expect(() => ol.loss.hinge(f, ol.tensor([0, 1], { device }))).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
      expect(() => ol.loss.hinge(O.reshape(f, [6]), [0])).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/'logits' must have shape \[N, C\]/) }));
      expect(() => ol.loss.offsetCrossEntropy(f, [0, 1], { temperature: 0 })).toThrow(/'temperature' must be a finite number > 0/);
      expect(() => ol.loss.hinge(f, [0, 1], { margin: -1 })).toThrow(/'margin'/);
    });
  });
});

/** A module with a nested Sequential, to check dotted names. */
class Net extends nn.Module {
  readonly layers: ol.nn.Sequential;
  constructor(opts: ol.nn.ParamOptions) {
    super();
    this.layers = this.registerModule('layers', new nn.Sequential([
      new nn.Linear(4, 6, { ...opts, seed: (opts.seed ?? 0) + 1 }),
      new nn.ReLU(),
      new nn.Sequential([new nn.Linear(6, 6, { ...opts, seed: (opts.seed ?? 0) + 2, bias: false })]),
      new nn.Linear(6, 3, { ...opts, seed: (opts.seed ?? 0) + 3 }),
    ]));
    this.registerBuffer('steps', ol.zeros([1], { dtype: opts.dtype, device: opts.device }));
  }
  forward(x: ol.Tensor): ol.Tensor {
    return this.layers.forward(x);
  }
}

describe.each(devices)('modules on %s', (device) => {
  const f64 = { dtype: 'float64' as const, device };
  const cases: [string, () => { m: ol.nn.Module; x: ol.Tensor }][] = [
    ['Linear', () => ({ m: new nn.Linear(3, 2, { ...f64, seed: seed % 1000 }), x: randn64([2, 3], device) })],
    ['Linear (no bias, 1-d input)', () => ({ m: new nn.Linear(3, 2, { ...f64, seed: 5, bias: false }), x: randn64([3], device) })],
    ['ReLU', () => ({ m: new nn.ReLU(), x: randn64([7], device) })],
    ['Flatten', () => ({ m: new nn.Flatten(), x: randn64([2, 2, 3], device) })],
    ['MaxMin', () => ({ m: new nn.MaxMin(), x: randn64([2, 4], device) })],
    ['PaddingChannels', () => ({ m: new nn.PaddingChannels(5), x: randn64([1, 3, 2, 2], device) })],
    ['FirstChannels', () => ({ m: new nn.FirstChannels(2), x: randn64([1, 3, 2, 2], device) })],
    ['PixelUnshuffle', () => ({ m: new nn.PixelUnshuffle(2), x: randn64([1, 1, 4, 4], device) })],
    ['AvgPool2d', () => ({ m: new nn.AvgPool2d({ kernelSize: 2, divisor: 2 }), x: randn64([1, 2, 4, 4], device) })],
    ['Sequential (Net)', () => ({ m: new Net({ ...f64, seed: 11 }), x: randn64([2, 4], device) })],
  ];
  test.each(cases)('gradcheck of %s (input and parameters)', (_n, make) => {
    ol.tidy(() => {
      const { m, x } = make();
      const r = ol.gradcheck((z) => m.forward(z), [x, ...m.parameters()], { maxElements: 64 });
      expect(r.ok).toBe(true);
      m.dispose();
    });
  });

  test('PyTorch-style names, parameters, buffers, train/eval', () => {
    const m = new Net({ device, seed: 3 });
    expect(m.namedParameters().map(([n]) => n)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.2.0.weight', 'layers.3.weight', 'layers.3.bias']);
    expect(m.namedParameters().map(([, t]) => t.shape)).toEqual([[6, 4], [6], [6, 6], [3, 6], [3]]);
    expect(m.buffers().map(([n]) => n)).toEqual(['steps']);
    expect(Object.keys(m.stateDict())).toEqual(['steps', 'layers.0.weight', 'layers.0.bias', 'layers.2.0.weight', 'layers.3.weight', 'layers.3.bias']);
    expect(m.parameters().every((p) => p.requiresGrad && p.dtype === 'float32' && p.device === device)).toBe(true);
    expect(m.training).toBe(true);
    m.eval();
    expect(m.layers.at(2).training).toBe(false);
    m.train();
    expect(m.layers.at(2).training).toBe(true);
    m.dispose();
    expect(m.parameters().every((p) => p.isDisposed)).toBe(true);
  });

  test('Linear init is U(±1/√in) like PyTorch and reproducible by seed', () => {
    const a = new nn.Linear(50, 40, { device, seed: 99 });
    const b = new nn.Linear(50, 40, { device, seed: 99 });
    const w = Array.from(a.weight.data());
    expect(w).toEqual(Array.from(b.weight.data()));
    const bound = 1 / Math.sqrt(50);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.1 * bound);
    expect(Array.from(a.bias!.data())).not.toEqual(w.slice(0, 40));
    nn.manualSeed(7);
    const c = new nn.Linear(5, 5, { device });
    nn.manualSeed(7);
    const d = new nn.Linear(5, 5, { device });
    expect(Array.from(c.weight.data())).toEqual(Array.from(d.weight.data()));
    for (const m of [a, b, c, d]) m.dispose();
  });

  test('stateDict round trip; loadStateDict with a wrong shape, dtype or key throws and changes nothing', () => {
    ol.tidy(() => {
      const a = new Net({ ...f64, seed: 100 });
      const b = new Net({ ...f64, seed: 200 });
      const x = randn64([3, 4], device);
      expect(a.forward(x).toArray()).not.toEqual(b.forward(x).toArray());
      const held = b.parameters();
      b.loadStateDict(a.stateDict());
      expect(b.forward(x).toArray()).toEqual(a.forward(x).toArray());
      expect(b.parameters()).toEqual(held);  // same tensor objects (optimizers keep working)
      expect(b.parameters().every((p) => p.requiresGrad)).toBe(true);
      // values are copies: disposing a's tensors leaves b intact
      const before = b.forward(x).toArray();

      const c = new Net({ ...f64, seed: 300 });
      const snapshot = () => Object.entries(c.stateDict()).map(([k, t]) => [k, Array.from(t.data())]);
      const s0 = snapshot();
      const bad = { ...a.stateDict(), 'layers.3.bias': randn64([4], device) };
      expect(() => c.loadStateDict(bad)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/'layers.3.bias' has shape \[4\]; the module expects \[3\]/) }));
      expect(snapshot()).toEqual(s0);
      const badType = { ...a.stateDict(), 'layers.0.weight': a.stateDict()['layers.0.weight'].astype('float32') };
      expect(() => c.loadStateDict(badType)).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
      expect(snapshot()).toEqual(s0);
      const missing = { ...a.stateDict() };
      delete missing.steps;
      expect(() => c.loadStateDict(missing)).toThrow(/missing: steps/);
      expect(() => c.loadStateDict({ ...a.stateDict(), extra: x })).toThrow(/unexpected: extra/);
      expect(snapshot()).toEqual(s0);
      c.loadStateDict(missing, { strict: false });
      expect(c.forward(x).toArray()).toEqual(a.forward(x).toArray());
      a.dispose();
      expect(b.forward(x).toArray()).toEqual(before);
      b.dispose();
      c.dispose();
    });
  });

  test('to(device) moves parameters in place and keeps the function', () => {
    if (devices.length < 2) return;
    ol.tidy(() => {
      const m = new Net({ ...f64, seed: 5 });
      const x = randn64([2, 4], device);
      const y = m.forward(x).toArray() as number[][];
      const other = device === 'cpu' ? 'cuda' : 'cpu';
      const p0 = m.parameters()[0];
      m.to(other);
      expect(m.parameters()[0]).toBe(p0);
      expect(m.parameters().every((p) => p.device === other)).toBe(true);
      const y2 = m.forward(x.to(other)).toArray() as number[][];
      y2.flat().forEach((v, i) => expect(v).toBeCloseTo(y.flat()[i], 12));
      m.dispose();
    });
  });
});

/** Three Gaussian blobs in 2-D, well separated (a separable problem). */
function blobs(n: number, s: number): { x: number[][]; y: number[] } {
  const r = rng(s);
  const centers = [[2, 0], [-1, 1.8], [-1, -1.8]];
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    x.push([centers[c][0] + 0.4 * (r() - 0.5), centers[c][1] + 0.4 * (r() - 0.5)]);
    y.push(c);
  }
  return { x, y };
}

function accuracy(logits: ol.Tensor, y: number[]): number {
  const rows = logits.toArray() as number[][];
  return rows.filter((row, i) => row.indexOf(Math.max(...row)) === y[i]).length / y.length;
}

/** One step of plain gradient descent written here (the optimizers live elsewhere). */
function sgdStep(params: ol.Tensor[], lr: number): void {
  ol.noGrad(() => {
    for (const p of params) {
      if (p.grad) p.assign(O.sub(p, O.scale(p.grad, lr)));
      p.clearGrad();
    }
  });
}

describe.each(devices)('training on %s', (device) => {
  test('a small MLP reaches 100 % training accuracy with plain gradient descent', () => {
    const { x, y } = blobs(30, seed);
    const model = new nn.Sequential([new nn.Linear(2, 16, { device, seed: 1 }), new nn.ReLU(), new nn.Linear(16, 3, { device, seed: 2 })]);
    const xt = ol.tensor(x, { device });
    const yt = ol.tensor(y, { dtype: 'int32', device });
    let loss = Infinity;
    for (let step = 0; step < 60; step++) {
      loss = ol.tidy(() => {
        const l = ol.loss.crossEntropy(model.forward(xt), yt);
        l.backward();
        sgdStep(model.parameters(), 0.5);
        return l.item();
      });
    }
    expect(loss).toBeLessThan(0.2);
    expect(ol.tidy(() => accuracy(ol.noGrad(() => model.forward(xt)), y))).toBe(1);
    model.dispose();
    xt.dispose();
    yt.dispose();
  });

  test('50 training steps inside tidy() leak no tensor and do not grow native memory', () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const { x, y } = blobs(12, seed + 1);
    const model = new nn.Sequential([new nn.Linear(2, 8, { device, seed: 3 }), new nn.ReLU(), new nn.Linear(8, 3, { device, seed: 4 })]);
    const xt = ol.tensor(x, { device });
    const yt = ol.tensor(y, { dtype: 'int32', device });
    const step = () =>
      ol.tidy(() => {
        const l = ol.loss.hinge(model.forward(xt), yt);
        l.backward();
        sgdStep(model.parameters(), 0.1);
      });
    step();
    // Strong references to everything created, so that no finalizer can hide a leak; gc() only frees
    // the host ArrayBuffers of label transfers, which V8 counts in the same external-memory figure.
    const created: ol.Tensor[] = [];
    setCreationHook((t) => created.push(t));
    try {
      gc();
      const before = ol.info().externalMemoryBytes;
      for (let i = 0; i < 50; i++) step();
      gc();
      expect(ol.info().externalMemoryBytes).toBeLessThanOrEqual(before);
    } finally {
      setCreationHook(null);
    }
    expect(created.length).toBeGreaterThan(50 * 10);
    const params = new Set(model.parameters());
    // Live after the steps: nothing but the parameters' views created by assign().
    expect(created.filter((t) => !t.isDisposed).length).toBe(0);
    expect([...params].every((p) => !p.isDisposed)).toBe(true);
    model.dispose();
    xt.dispose();
    yt.dispose();
  });
});

// ---- Conv2d: needs the native conv2d op (with its gradient entries) from the conv family ----
const haveConv = info.ops.cpu.includes('conv2d');
if (!haveConv) {
  // eslint-disable-next-line no-console
  console.warn('nn.test: the conv2d op is not registered in this build: Conv2d tests skipped');
}
const convTest = haveConv ? test : test.skip;

/** Images [N, 1, 6, 6]: class 0 has a bright 2×2 patch in the top-left quadrant, class 1 in the bottom-right. */
function patches(n: number, s: number): { x: Float32Array; y: number[] } {
  const r = rng(s);
  const x = new Float32Array(n * 36);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    for (let p = 0; p < 36; p++) x[i * 36 + p] = 0.2 * (r() - 0.5);
    const top = c === 0 ? Math.floor(r() * 2) : 3 + Math.floor(r() * 2);
    const left = c === 0 ? Math.floor(r() * 2) : 3 + Math.floor(r() * 2);
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) x[i * 36 + (top + a) * 6 + left + b] += 1;
    y.push(c);
  }
  return { x, y };
}

describe.each(devices)('Conv2d on %s', (device) => {
  convTest('gradcheck of Conv2d (stride 1 same padding; stride 2 padding 0) wrt input and parameters', () => {
    ol.tidy(() => {
      for (const [stride, padding] of [[1, undefined], [2, 0]] as const) {
        const m = new nn.Conv2d(2, 3, { kernelSize: 3, stride, padding, dtype: 'float64', device, seed: seed % 1000 });
        expect(m.namedParameters().map(([n, t]) => [n, t.shape])).toEqual([['weight', [3, 2, 3, 3]], ['bias', [3]]]);
        const x = randn64([1, 2, 5, 5], device);
        expect(m.forward(x).shape).toEqual(stride === 1 ? [1, 3, 5, 5] : [1, 3, 2, 2]);
        expect(ol.gradcheck((z) => m.forward(z), [x, ...m.parameters()], { maxElements: 64 }).ok).toBe(true);
        m.dispose();
      }
    });
  });

  convTest('a small CNN reaches 100 % training accuracy with plain gradient descent', () => {
    const { x, y } = patches(12, seed + 2);
    const model = new nn.Sequential([
      new nn.Conv2d(1, 4, { kernelSize: 3, device, seed: 1 }),
      new nn.ReLU(),
      new nn.AvgPool2d({ kernelSize: 2 }),
      new nn.Flatten(),
      new nn.Linear(36, 2, { device, seed: 2 }),
    ]);
    const xt = ol.tensor(x, { shape: [12, 1, 6, 6], device });
    const yt = ol.tensor(y, { dtype: 'int32', device });
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) {
      losses.push(ol.tidy(() => {
        const l = ol.loss.crossEntropy(model.forward(xt), yt);
        l.backward();
        sgdStep(model.parameters(), 0.5);
        return l.item();
      }));
    }
    // eslint-disable-next-line no-console
    console.log(`CNN on ${device}: loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}`);
    expect(losses[losses.length - 1]).toBeLessThan(0.25 * losses[0]);
    expect(ol.tidy(() => accuracy(ol.noGrad(() => model.forward(xt)), y))).toBe(1);
    model.dispose();
    xt.dispose();
    yt.dispose();
  });
});
