/**
 * ol.optim: the first three steps of SGD / Adam / AdamW (with groups, momentum, nesterov, weight
 * decay, amsgrad) equal updates written out by hand in float64 here, on cpu and cuda; lr changes,
 * zeroGrad, state dicts (a loaded optimizer takes the same next step); validation of every option and
 * of the native in-place ops; schedules at their breakpoints and the Scheduler.
 */
import * as ol from '../lib';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`optim seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
let s = seed >>> 0;
function rnd(): number {
  let t = (s = (s + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
/** Non-zero values in ±[0.25, 2.25). */
const values = (n: number): number[] => Array.from({ length: n }, () => (0.25 + 2 * rnd()) * (rnd() < 0.5 ? -1 : 1));

const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || ol.info().backends.cuda.available);

function expectClose(got: ArrayLike<number>, want: number[], rtol: number, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= rtol * (1 + Math.abs(want[i])))) throw new Error(`${what}: element ${i}: got ${got[i]}, expected ${want[i]}`);
  }
}

function expectError(fn: () => unknown, code: string, parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ol.OnelipError);
  expect((err as ol.OnelipError).code).toBe(code);
  for (const p of parts) expect((err as Error).message).toContain(p);
}

/** A parameter tensor and a float64 host copy that the hand computation updates. */
function param(shape: number[], device: ol.Device, dtype: ol.DType = 'float64') {
  const v = values(shape.reduce((a, b) => a * b, 1));
  const t = ol.tensor(dtype === 'float32' ? v.map(Math.fround) : v, { shape, dtype, device });
  t.requiresGrad = true;
  return { t, host: dtype === 'float32' ? v.map(Math.fround) : v };
}
function setGrad(p: ol.Tensor, g: number[]): void {
  if (p.grad) p.grad.dispose();
  (p as { grad: ol.Tensor | null }).grad = ol.tensor(g, { shape: p.shape, dtype: p.dtype, device: p.device });
}

describe.each(devices)('optimizers on %s', (device) => {
  test('SGD: 3 steps with momentum, dampening, weight decay, nesterov in two groups equal the hand computation', () => {
    const a = param([3, 4], device);
    const b = param([5], device);
    const opt = new ol.optim.SGD(
      [
        { params: [a.t], momentum: 0.9, dampening: 0.2, weightDecay: 0.01 },
        { params: [b.t], lr: 0.05, nesterov: true },
      ],
      { lr: 0.1, momentum: 0.8 },
    );
    // hand computation, PyTorch's SGD: d = g + wd p; buf = d (step 1) else mu buf + (1 - damp) d;
    // d = nesterov ? d + mu buf : buf; p -= lr d
    const bufA: number[] = [];
    const bufB: number[] = [];
    for (let step = 1; step <= 3; step++) {
      const ga = values(12);
      const gb = values(5);
      setGrad(a.t, ga);
      setGrad(b.t, gb);
      opt.step();
      for (let i = 0; i < 12; i++) {
        const d = ga[i] + 0.01 * a.host[i];
        bufA[i] = step === 1 ? d : 0.9 * bufA[i] + (1 - 0.2) * d;
        a.host[i] -= 0.1 * bufA[i];
      }
      for (let i = 0; i < 5; i++) {
        const d = gb[i];
        bufB[i] = step === 1 ? d : 0.8 * bufB[i] + 1 * d;
        b.host[i] -= 0.05 * (d + 0.8 * bufB[i]);
      }
      expectClose(a.t.data(), a.host, 1e-13, `group 0, step ${step}`);
      expectClose(b.t.data(), b.host, 1e-13, `group 1, step ${step}`);
    }
    const st = opt.stateDict();
    expectClose((st.state[0].momentum_buffer as ol.Tensor).data(), bufA, 1e-13, 'momentum buffer');
    expect(st.paramGroups.map((g) => g.params)).toEqual([[0], [1]]);
    expect(st.paramGroups[1]).toMatchObject({ lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0 });
  });

  test('SGD without momentum keeps no state; lr set between steps is used; float32', () => {
    const a = param([6], device, 'float32');
    const opt = new ol.optim.SGD([a.t], { lr: 0.1 });
    for (const lr of [0.1, 0.01, 0.3]) {
      opt.paramGroups[0].lr = lr;
      const g = values(6).map(Math.fround);
      setGrad(a.t, g);
      opt.step();
      a.host = a.host.map((p, i) => p - lr * g[i]);
      expectClose(a.t.data(), a.host, 1e-6, `lr ${lr}`);
    }
    expect(opt.stateDict().state).toEqual({ 0: {} });
  });

  for (const amsgrad of [false, true]) {
    test(`Adam (L2 weight decay${amsgrad ? ', amsgrad' : ''}) and AdamW: 3 steps equal the hand computation`, () => {
      for (const decoupled of [false, true]) {
        const a = param([2, 3, 2], device);
        const cfg = { lr: 0.01, betas: [0.8, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.05, amsgrad };
        const opt = decoupled ? new ol.optim.AdamW([a.t], cfg) : new ol.optim.Adam([a.t], cfg);
        const n = 12;
        const m = new Array(n).fill(0);
        const v = new Array(n).fill(0);
        const vmax = new Array(n).fill(0);
        for (let t = 1; t <= 3; t++) {
          const g0 = values(n);
          setGrad(a.t, g0);
          opt.step();
          for (let i = 0; i < n; i++) {
            let g = g0[i];
            let p = a.host[i];
            if (decoupled) p = p * (1 - 0.01 * 0.05);
            else g = g + 0.05 * p;
            m[i] = 0.8 * m[i] + 0.2 * g;
            v[i] = 0.95 * v[i] + 0.05 * g * g;
            vmax[i] = Math.max(vmax[i], v[i]);
            const mhat = m[i] / (1 - 0.8 ** t);
            const vhat = (amsgrad ? vmax[i] : v[i]) / (1 - 0.95 ** t);
            // PyTorch's form: p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), i.e. lr * mhat / (sqrt(vhat) + eps)
            a.host[i] = p - (0.01 * mhat) / (Math.sqrt(vhat) + 1e-6);
          }
          expectClose(a.t.data(), a.host, 1e-12, `${decoupled ? 'AdamW' : 'Adam'} step ${t}`);
        }
        const st = opt.stateDict().state[0];
        expect(st.step).toBe(3);
        expectClose((st.exp_avg as ol.Tensor).data(), m, 1e-13, 'exp_avg');
        expectClose((st.exp_avg_sq as ol.Tensor).data(), v, 1e-13, 'exp_avg_sq');
        if (amsgrad) expectClose((st.max_exp_avg_sq as ol.Tensor).data(), vmax, 1e-13, 'max_exp_avg_sq');
        else expect(st.max_exp_avg_sq).toBeUndefined();
        opt.dispose();
      }
    });
  }

  test('parameters without a gradient are skipped; zeroGrad clears or zeroes', () => {
    const a = param([4], device);
    const b = param([4], device);
    const opt = new ol.optim.Adam([a.t, b.t], { lr: 0.1 });
    setGrad(a.t, values(4));
    opt.step();
    expect(Array.from(b.t.data())).toEqual(b.host);
    expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    const g = a.t.grad!;
    opt.zeroGrad();
    expect(a.t.grad).toBeNull();
    expect(g.isDisposed).toBe(true);
    setGrad(a.t, values(4));
    opt.zeroGrad({ setToNone: false });
    expect(Array.from(a.t.grad!.data())).toEqual([0, 0, 0, 0]);
    expect(a.t.grad!.device).toBe(device);
  });

  test('stateDict → loadStateDict: the loaded optimizer takes the identical next step', () => {
    for (const make of [
      (ps: ol.Tensor[]) => new ol.optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }),
      (ps: ol.Tensor[]) => new ol.optim.Adam(ps, { lr: 0.01, amsgrad: true }),
    ]) {
      const a = param([3, 3], device);
      const optA = make([a.t]);
      for (let i = 0; i < 2; i++) {
        setGrad(a.t, values(9));
        optA.step();
      }
      const b = ol.tensor(Array.from(a.t.data()), { shape: [3, 3], dtype: 'float64', device });
      const optB = make([b]);
      optB.loadStateDict(optA.stateDict());
      const g = values(9);
      setGrad(a.t, g);
      setGrad(b, g);
      optA.step();
      optB.step();
      expect(Array.from(b.data())).toEqual(Array.from(a.t.data()));
      // the loaded state is a copy: stepping A again does not move B's state
      setGrad(a.t, values(9));
      optA.step();
      const before = Array.from(b.data());
      setGrad(b, g);
      expect(Array.from(b.data())).toEqual(before);
    }
  });
});

describe.each(devices)('training end to end on %s', (device) => {
  // least squares: loss(w) = |Xw − y|² / n with y = X·w*, gradient 2/n·Xᵀ(Xw − y) computed with ops;
  // every optimizer with a schedule must bring w to w* (the loss has a unique minimum)
  const n = 64;
  const d = 5;
  const X = values(n * d);
  const wStar = values(d);
  const y = Array.from({ length: n }, (_, i) => wStar.reduce((acc, w, j) => acc + w * X[i * d + j], 0));
  const makers: [string, (w: ol.Tensor) => ol.optim.Optimizer<object>, number, (steps: number) => ol.optim.Schedule][] = [
    ['SGD nesterov + cosine', (w) => new ol.optim.SGD([w], { lr: 0.05, momentum: 0.9, nesterov: true }) as ol.optim.Optimizer<object>, 300,
      (T) => ol.optim.schedules.cosine({ lr: 0.05, total: T, warmup: 10 })],
    ['Adam + triangular', (w) => new ol.optim.Adam([w], { lr: 0.1 }) as ol.optim.Optimizer<object>, 600,
      (T) => ol.optim.schedules.triangular({ total: T, peak: 0.1 })],
    ['AdamW (wd 0) amsgrad + multiStep', (w) => new ol.optim.AdamW([w], { lr: 0.1, weightDecay: 0, amsgrad: true }) as ol.optim.Optimizer<object>, 600,
      (T) => ol.optim.schedules.multiStep({ lr: 0.1, milestones: [300, 450], gamma: 0.3 })],
  ];
  test.each(makers)('%s reaches the least-squares solution', (_name, make, steps, schedule) => {
    const Xt = ol.tensor(X, { shape: [n, d], dtype: 'float64', device });
    const yt = ol.tensor(y, { shape: [n, 1], dtype: 'float64', device });
    const w = ol.zeros([d, 1], { dtype: 'float64', device });
    const opt = make(w);
    const sch = new ol.optim.Scheduler(opt as unknown as ol.optim.schedules.HasParamGroups, schedule(steps));
    for (let t = 0; t < steps; t++) {
      ol.tidy(() => {
        const r = ol.ops.sub(ol.ops.matmul(Xt, w), yt);
        setGrad(w, Array.from(ol.ops.scale(ol.ops.matmul(Xt, r, { transA: true }), 2 / n).data()));
        opt.step();
      });
      sch.step();
    }
    const got = Array.from(w.data());
    for (let j = 0; j < d; j++) expect(Math.abs(got[j] - wStar[j])).toBeLessThan(1e-3);
  });
});

describe('optimizer validation', () => {
  const p = () => ol.tensor(values(4), { shape: [4] });
  test('bad options raise ERR_ARGUMENT naming the optimizer and option', () => {
    expectError(() => new ol.optim.SGD([p()], { lr: -1 }), 'ERR_ARGUMENT', ['SGD', "'lr'", '≥ 0']);
    expectError(() => new ol.optim.SGD([p()], { lr: NaN }), 'ERR_ARGUMENT', ['SGD', "'lr'"]);
    expectError(() => new ol.optim.SGD([p()], {} as { lr: number }), 'ERR_ARGUMENT', ['SGD', 'lr']);
    expectError(() => new ol.optim.SGD([p()], { lr: 0.1, nesterov: true }), 'ERR_ARGUMENT', ['SGD', 'nesterov', 'momentum > 0']);
    expectError(() => new ol.optim.SGD([p()], { lr: 0.1, momentum: 0.9, dampening: 2 }), 'ERR_ARGUMENT', ["'dampening'", '[0, 1]']);
    expectError(() => new ol.optim.SGD([p()], { lr: 0.1, mometum: 0.9 } as { lr: number }), 'ERR_ARGUMENT', ["unknown option 'mometum'", 'momentum']);
    expectError(() => new ol.optim.Adam([p()], { betas: [0.9, 1] }), 'ERR_ARGUMENT', ['Adam', "'betas'", '[0, 1)']);
    expectError(() => new ol.optim.Adam([p()], { eps: 0 }), 'ERR_ARGUMENT', ["'eps'", '> 0']);
    expectError(() => new ol.optim.AdamW([p()], { amsgrad: 1 as unknown as boolean }), 'ERR_ARGUMENT', ['AdamW', "'amsgrad'", 'boolean']);
    expectError(() => new ol.optim.Adam([], {}), 'ERR_ARGUMENT', ['Adam', 'non-empty']);
    // undefined options take the defaults
    const d = new ol.optim.SGD([{ params: [p()], lr: undefined }], { lr: 0.2, momentum: undefined });
    expect(d.paramGroups[0]).toMatchObject({ lr: 0.2, momentum: 0 });
    const q = p();
    expectError(() => new ol.optim.Adam([{ params: [q] }, { params: [q] }], {}), 'ERR_ARGUMENT', ['more than once']);
    expectError(() => new ol.optim.Adam([{ params: [q], lr: -3 }], {}), 'ERR_ARGUMENT', ['group 0', "'lr'"]);
    expectError(() => new ol.optim.Adam([ol.tensor([1, 2], { dtype: 'int32' })], {}), 'ERR_DTYPE', ['Adam', 'float32 or float64']);
  });

  test('a bad gradient is refused and a bad lr set later fails step() before any parameter changes', () => {
    const a = p();
    const b = p();
    const before = [Array.from(a.data()), Array.from(b.data())];
    const opt = new ol.optim.SGD([a, b], { lr: 0.1, momentum: 0.5 });
    setGrad(a, values(4));
    // A mis-shaped gradient cannot even be attached (Tensor.grad's setter checks it), so step() never sees one.
    expectError(() => { (b as { grad: ol.Tensor | null }).grad = ol.tensor(values(3), { shape: [3] }); }, 'ERR_SHAPE', ['Tensor.grad', '[3]', '[4]']);
    (b as { grad: ol.Tensor | null }).grad = ol.tensor(values(4), { shape: [4] });
    opt.paramGroups[0].lr = -0.5;
    expectError(() => opt.step(), 'ERR_ARGUMENT', ["'lr'"]);
    expect([Array.from(a.data()), Array.from(b.data())]).toEqual(before);
    expect(opt.stateDict().state).toEqual({});
  });

  test('loadStateDict rejects a mismatched state without changing the optimizer', () => {
    const a = p();
    const opt = new ol.optim.Adam([a], { lr: 0.1 });
    setGrad(a, values(4));
    opt.step();
    const good = opt.stateDict();
    const expAvg = Array.from((good.state[0].exp_avg as ol.Tensor).data());
    expectError(() => opt.loadStateDict({ state: {}, paramGroups: [] }), 'ERR_ARGUMENT', ['parameter groups']);
    expectError(() => opt.loadStateDict({ ...good, state: { 0: { ...good.state[0], exp_avg: ol.zeros([5]) } } }), 'ERR_SHAPE', ['exp_avg', '[5]']);
    expectError(() => opt.loadStateDict({ ...good, state: { 0: { ...good.state[0], bogus: 1 } } }), 'ERR_ARGUMENT', ["unknown entry 'bogus'"]);
    expectError(() => opt.loadStateDict({ ...good, state: { 3: {} } }), 'ERR_ARGUMENT', ["state key '3'"]);
    expectError(() => opt.loadStateDict({ ...good, state: { 0: { exp_avg: good.state[0].exp_avg } } }), 'ERR_ARGUMENT', ["lacks 'step'"]);
    expectError(() => opt.loadStateDict({ state: good.state, paramGroups: [{ ...good.paramGroups[0], lr: -1 }] }), 'ERR_ARGUMENT', ["'lr'"]);
    const now = opt.stateDict();
    expect(now.state[0].step).toBe(1);
    expect(Array.from((now.state[0].exp_avg as ol.Tensor).data())).toEqual(expAvg);
    expect(now.paramGroups[0].lr).toBe(0.1);
  });

  test('the native in-place ops validate shapes, dtypes, devices, aliasing and attributes', () => {
    const a = p();
    const g = p();
    const before = Array.from(a.data());
    expectError(() => ol.optim.sgdStep(a, ol.zeros([5]), null, { lr: 0.1 }), 'ERR_SHAPE', ['sgd_step', 'input 1 (grad)', '[5]', '[4]']);
    expectError(() => ol.optim.sgdStep(a, ol.zeros([4], { dtype: 'float64' }), null, { lr: 0.1 }), 'ERR_DTYPE', ['sgd_step', 'input 1']);
    expectError(() => ol.optim.sgdStep(ol.zeros([4], { dtype: 'int32' }), ol.zeros([4], { dtype: 'int32' }), null, { lr: 0.1 }), 'ERR_DTYPE', ['sgd_step', 'float32, float64']);
    expectError(() => ol.optim.sgdStep(a, a, null, { lr: 0.1 }), 'ERR_ARGUMENT', ['sgd_step', 'share storage']);
    expectError(() => ol.optim.sgdStep(a, a.reshape([2, 2]).reshape([4]), null, { lr: 0.1 }), 'ERR_ARGUMENT', ['share storage']);
    expectError(() => ol.optim.sgdStep(a, g, null, { lr: 0.1, momentum: 0.9 }), 'ERR_ARGUMENT', ['sgd_step', 'momentum_buffer']);
    expectError(() => ol.optim.sgdStep(a, g, p(), { lr: 0.1 }), 'ERR_ARGUMENT', ['sgd_step', 'momentum is 0']);
    expectError(() => ol.optim.sgdStep(a, g, null, { lr: Infinity }), 'ERR_ARGUMENT', ['sgd_step', "'lr'", 'finite']);
    expectError(() => ol.optim.sgdStep(a, g, null, {} as { lr: number }), 'ERR_ARGUMENT', ['sgd_step', "'lr'"]);
    expectError(() => ol.optim.adamStep(a, g, p(), p(), null, { lr: 0.1, step: 0 }), 'ERR_ARGUMENT', ['adam_step', "'step'"]);
    expectError(() => ol.optim.adamStep(a, g, p(), p(), null, { lr: 0.1, step: 1.5 }), 'ERR_ARGUMENT', ['adam_step', 'step']);
    expectError(() => ol.optim.adamStep(a, g, p(), p(), null, { lr: 0.1 } as ol.optim.AdamStepOptions), 'ERR_ARGUMENT', ['adam_step', "'step'"]);
    expectError(() => ol.optim.adamStep(a, g, p(), p(), null, { lr: 0.1, step: 1, beta2: 1 }), 'ERR_ARGUMENT', ['adam_step', "'beta2'"]);
    const m = p();
    expectError(() => ol.optim.adamStep(a, g, m, m, null, { lr: 0.1, step: 1 }), 'ERR_ARGUMENT', ['input 2 (exp_avg)', 'input 3 (exp_avg_sq)', 'share storage']);
    if (devices.includes('cuda'))
      expectError(() => ol.optim.sgdStep(a, ol.zeros([4], { device: 'cuda' }), null, { lr: 0.1 }), 'ERR_DEVICE', ['sgd_step', 'input 1']);
    expect(Array.from(a.data())).toEqual(before);
  });
});

describe('schedules', () => {
  const S = ol.optim.schedules;
  const near = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-12 * (1 + Math.abs(b)));

  test('triangular: 0 → lr at 40 % → lr/20 at 80 % → 0 (CPL/SLL/Cayley), linear in between', () => {
    const f = S.triangular({ total: 200, peak: 0.01 });
    near(f(0), 0);
    near(f(40), 0.005);
    near(f(80), 0.01);
    near(f(120), 0.01 - (0.01 - 0.0005) / 2);
    near(f(160), 0.0005);
    near(f(180), 0.00025);
    near(f(200), 0);
    near(f(250), 0);
    near(f(80.5), 0.01 - (0.0095 * 0.5) / 80);  // fractional epochs
    const g = S.triangular({ total: 10, peak: 1, peakAt: 0.2, start: 0.1, decayAt: 0.5, decayTo: 0.4, end: 0.2 });
    near(g(0), 0.1);
    near(g(1), 0.55);
    near(g(2), 1);
    near(g(5), 0.4);
    near(g(7.5), 0.3);
    near(g(10), 0.2);
  });

  test('multiStep, cosine, linearWarmup at their breakpoints', () => {
    const m = S.multiStep({ lr: 0.1, milestones: [100, 150], gamma: 0.1 });
    near(m(0), 0.1);
    near(m(99.9), 0.1);
    near(m(100), 0.01);
    near(m(149), 0.01);
    near(m(150), 0.001);
    near(m(1000), 0.001);
    const c = S.cosine({ lr: 1, total: 10, min: 0.1 });
    near(c(0), 1);
    near(c(5), 0.55);
    near(c(10), 0.1);
    near(c(20), 0.1);
    const cw = S.cosine({ lr: 2, total: 12, warmup: 2 });
    near(cw(0), 0);
    near(cw(1), 1);
    near(cw(2), 2);
    near(cw(7), 1);
    near(cw(12), 0);
    const w = S.linearWarmup(0.5, { steps: 4, start: 0.1 });
    near(w(0), 0.1);
    near(w(2), 0.3);
    near(w(4), 0.5);
    near(w(100), 0.5);
    const wm = S.linearWarmup(S.multiStep({ lr: 1, milestones: [10] }), { steps: 5 });
    near(wm(2.5), 0.5);
    near(wm(10), 0.1);
  });

  test('Scheduler sets group lrs (absolute and relative) and resumes at any position', () => {
    const a = ol.tensor(values(2));
    const b = ol.tensor(values(2));
    const opt = new ol.optim.SGD([{ params: [a] }, { params: [b], lr: 0.2 }], { lr: 0.1 });
    const f = S.triangular({ total: 100, peak: 0.1 });
    const sch = new ol.optim.Scheduler(opt, f);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0, 0]);
    for (let i = 0; i < 30; i++) sch.step();
    near(opt.paramGroups[1].lr, f(30));
    const resumed = new ol.optim.Scheduler(opt, f, { start: sch.stateDict().t });
    near(opt.paramGroups[0].lr, f(30));
    expect(resumed.t).toBe(30);
    const opt2 = new ol.optim.SGD([{ params: [ol.tensor(values(2))] }, { params: [ol.tensor(values(2))], lr: 0.2 }], { lr: 0.1 });
    const rel = new ol.optim.Scheduler(opt2, S.multiStep({ lr: 1, milestones: [2] }), { mode: 'relative' });
    rel.set(3);
    near(opt2.paramGroups[0].lr, 0.01);
    near(opt2.paramGroups[1].lr, 0.02);
  });

  test('bad schedule options raise ERR_ARGUMENT naming the schedule and option', () => {
    expectError(() => S.triangular({ total: 0, peak: 1 }), 'ERR_ARGUMENT', ['triangular', "'total'"]);
    expectError(() => S.triangular({ total: 10, peak: 1, peakAt: 0.9 }), 'ERR_ARGUMENT', ['triangular', 'peakAt < decayAt']);
    expectError(() => S.triangular({ total: 10, peek: 1 } as unknown as ol.optim.schedules.TriangularOptions), 'ERR_ARGUMENT', ["unknown option 'peek'"]);
    expectError(() => S.multiStep({ lr: 1, milestones: [5, 3] }), 'ERR_ARGUMENT', ['multiStep', 'increasing']);
    expectError(() => S.cosine({ lr: 1, total: 5, warmup: 5 }), 'ERR_ARGUMENT', ['cosine', 'warmup']);
    expectError(() => S.linearWarmup(1, { steps: 0 }), 'ERR_ARGUMENT', ['linearWarmup', "'steps'"]);
    expectError(() => S.triangular({ total: 10, peak: 1 })(-1), 'ERR_ARGUMENT', ['t must be']);
    expectError(() => S.cosine({ lr: 1, total: 5 })(NaN), 'ERR_ARGUMENT', ['cosine', 't must be']);
    const opt = new ol.optim.SGD([ol.tensor([1])], { lr: 0.1 });
    expectError(() => new ol.optim.Scheduler(opt, () => NaN), 'ERR_ARGUMENT', ['Scheduler', 'finite']);
    expect(opt.paramGroups[0].lr).toBe(0.1);
  });
});
