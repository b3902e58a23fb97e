/**
 * CPL layers (SPEC.md A.1): module outputs and gradients against a plain float64 implementation on
 * cpu and cuda, gradcheck, the 1-Lipschitz property measured independently (test/util/lipschitz.ts),
 * eval-cache invalidation, state dicts, validation; and the sound bounds of lib/nn/lipschitz.ts
 * against exact spectral norms from a Jacobi eigen-decomposition written here.
 */
import * as ol from '../lib';
import { convOp, denseOp, Op, refBackward, refForward } from './conformance/cases/cpl';
import { lipschitzEstimate } from './util/lipschitz';

const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

// ---------------- plain float64 helpers ----------------

const norm = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};
const unit = (a: Float64Array) => {
  const n = norm(a);
  return a.map((v) => v / n);
};

/** Largest eigenvalue of a symmetric n×n matrix by cyclic Jacobi rotations (to convergence). */
function jacobiMaxEigenvalue(S: Float64Array, n: number): number {
  const A = Float64Array.from(S);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  let mx = -Infinity;
  for (let i = 0; i < n; i++) mx = Math.max(mx, A[i * n + i]);
  return mx;
}

/** ‖A‖₂ of the linear map `apply` on R^inSize, exactly (Jacobi on AᵀA built column by column). */
function exactNorm(A: Op, W: ArrayLike<number>): number {
  const n = A.inSize;
  const cols: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const e = new Float64Array(n);
    e[j] = 1;
    cols.push(A.apply(W, e));
  }
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < A.outSize; k++) s += cols[i][k] * cols[j][k];
    G[i * n + j] = s;
  }
  return Math.sqrt(jacobiMaxEigenvalue(G, n));
}

/** W = Σ_r σ_r p_r q_rᵀ with orthonormal p, q (Gram–Schmidt of seeded random vectors). */
function planted(m: number, d: number, sigmas: number[], seed: number): Float64Array {
  const rnd = ol.randn([2 * sigmas.length, Math.max(m, d)], { seed, dtype: 'float64' });
  const R = rnd.data() as Float64Array;
  rnd.dispose();
  const ortho = (len: number, off: number) => {
    const out: Float64Array[] = [];
    for (let r = 0; r < sigmas.length; r++) {
      let x = R.slice((off + r) * Math.max(m, d), (off + r) * Math.max(m, d) + len);
      for (let pass = 0; pass < 2; pass++) for (const q of out) {
        let dq = 0;
        for (let i = 0; i < len; i++) dq += x[i] * q[i];
        for (let i = 0; i < len; i++) x[i] -= dq * q[i];
      }
      x = unit(x);
      out.push(x);
    }
    return out;
  };
  const P = ortho(m, 0), Q = ortho(d, sigmas.length);
  const W = new Float64Array(m * d);
  sigmas.forEach((s, r) => {
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) W[i * d + j] += s * P[r][i] * Q[r][j];
  });
  return W;
}

const host = (t: ol.Tensor) => Float64Array.from(t.data());

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  expect(a.length).toBe(b.length);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) - (atol + rtol * Math.abs(b[i]));
    if (e > worst) { worst = e; at = i; }
  }
  if (at >= 0) throw new Error(`${what}: element ${at}: ${a[at]} vs reference ${b[at]}`);
}

// ---------------- module vs plain float64 ----------------

describe.each(devices)('CPL modules on %s against plain float64', (device) => {
  const cases: [string, () => { layer: ol.nn.CPLDense | ol.nn.CPLConv2d; A: Op; xShape: number[]; W: () => ol.Tensor }][] = [
    ['CPLDense', () => {
      const layer = new ol.nn.CPLDense(6, { inner: 4, seed: 3, dtype: 'float64', device });
      return { layer, A: denseOp(4, 6), xShape: [3, 6], W: () => layer.weights };
    }],
    ['CPLConv2d', () => {
      const layer = new ol.nn.CPLConv2d(2, { inner: 3, kernelSize: 3, inputSize: [5, 4], seed: 4, dtype: 'float64', device });
      return { layer, A: convOp(3, 2, 3, 5, 4), xShape: [2, 2, 5, 4], W: () => layer.kernel };
    }],
  ];
  test.each(cases)('%s: training forward (1 power iteration), gradients of x, W, b, u update', (_name, make) => {
    const { layer, A, xShape, W } = make();
    const u0 = host(layer.stateDict()['pm.u']);
    const Wh = host(W()), bh = host(layer.bias);
    const x = ol.randn(xShape, { seed: 10, dtype: 'float64', device });
    x.requiresGrad = true;
    const g = ol.randn(xShape, { seed: 11, dtype: 'float64', device });
    const y = layer.forward(x);
    y.backward(g);
    // reference: one power iteration from u0, σ = ⟨W u, v⟩ with gradient v uᵀ to W
    const v = unit(A.apply(Wh, u0));
    const t = A.adjoint(Wh, v);
    const sigma = norm(t);
    const u = t.map((e) => e / sigma);
    const N = xShape[0];
    expectClose(host(y), refForward(A, N, host(x), Wh, bh, sigma), 1e-12, 1e-12, 'y');
    const r = refBackward(A, N, host(g), host(x), Wh, bh, sigma, bh.length);
    const dSigma = A.weightGrad(u, v);  // ∂⟨A u, v⟩/∂W = v uᵀ (conv: its weight gradient)
    const gW = r.gW.map((e, i) => e + r.gsigma * dSigma[i]);
    expectClose(host(x.grad!), r.gx, 1e-11, 1e-12, 'grad x');
    expectClose(host(W().grad!), gW, 1e-10, 1e-12, 'grad W');
    expectClose(host(layer.bias.grad!), r.gb, 1e-11, 1e-12, 'grad b');
    expectClose(host(layer.stateDict()['pm.u']), u, 1e-12, 1e-13, 'u after the forward');
    expect(layer.stateDict()['eval_sv_max'].item()).toBe(0);
    layer.dispose();
  });

  test('float32 CPLConv2d agrees with the float64 layer', () => {
    const a = new ol.nn.CPLConv2d(3, { inner: 4, kernelSize: 5, seed: 9, device });
    const b = new ol.nn.CPLConv2d(3, { inner: 4, kernelSize: 5, seed: 9, dtype: 'float64', device });
    const x = ol.randn([2, 3, 6, 6], { seed: 1, device });
    const ya = host(a.forward(x)), yb = host(b.forward(x.astype('float64')));
    expectClose(ya, yb, 1e-4, 1e-5, 'float32 vs float64');
    a.dispose();
    b.dispose();
  });
});

// ---------------- gradcheck ----------------

describe('gradcheck', () => {
  test.each(devices)('fused ops cpl_dense / cpl_conv2d on %s: x, W, b and sigma', (device) => {
    const o = { dtype: 'float64' as const, device };
    const x = ol.randn([3, 5], { seed: 1, ...o }), W = ol.ops.scale(ol.randn([4, 5], { seed: 2, ...o }), 0.5), b = ol.randn([4], { seed: 3, ...o });
    const s = ol.tensor([1.3], o);
    ol.gradcheck((x1, W1, b1, s1) => ol.ops.cplDense(x1, W1, b1, s1), [x, W, b, s]);
    const xc = ol.randn([2, 2, 4, 4], { seed: 4, ...o }), K = ol.ops.scale(ol.randn([3, 2, 3, 3], { seed: 5, ...o }), 0.3), bc = ol.randn([3], { seed: 6, ...o });
    ol.gradcheck((x1, K1, b1, s1) => ol.ops.cplConv2d(x1, K1, b1, s1), [xc, K, bc, s], { maxElements: 64 });
  });

  test('modules with converged u (the reference drops nothing then): gradient through σ̂ included', () => {
    // trainIters 400 from a fixed start converges u, v; the v-path term onelip drops (∝ (I − vvᵀ)Wu) is then ~0.
    const m = new ol.nn.CPLDense(5, { inner: 4, seed: 7, dtype: 'float64', powerIteration: { trainIters: 400 } });
    const u0 = m.stateDict()['pm.u'].to('cpu');
    const x = ol.randn([3, 5], { seed: 8, dtype: 'float64' });
    const report = ol.gradcheck((x1) => {
      m.stateDict()['pm.u'].assign(u0.to('cpu'));
      return m.forward(x1);
    }, [x, m.weights, m.bias], { atol: 1e-6, rtol: 1e-5 });
    expect(report.ok).toBe(true);
    const c = new ol.nn.CPLConv2d(2, { inner: 2, kernelSize: 3, inputSize: [4, 4], seed: 3, dtype: 'float64', powerIteration: { trainIters: 3000 } });
    const uc = c.stateDict()['pm.u'].to('cpu');
    const xc = ol.randn([2, 2, 4, 4], { seed: 9, dtype: 'float64' });
    ol.gradcheck((x1) => {
      c.stateDict()['pm.u'].assign(uc.to('cpu'));
      return c.forward(x1);
    }, [xc, c.kernel, c.bias], { atol: 1e-6, rtol: 1e-5, maxElements: 40 });
    m.dispose();
    c.dispose();
  });
});

// ---------------- 1-Lipschitz, measured independently ----------------

describe('1-Lipschitz in eval mode (float64, test/util/lipschitz.ts)', () => {
  const train = (m: ol.nn.Module, xShape: number[], steps: number) => {
    const opt = new ol.optim.Adam(m.parameters(), { lr: 0.05 });
    m.train();
    for (let s = 0; s < steps; s++)
      ol.tidy(() => {
        const x = ol.randn(xShape, { seed: 100 + s, dtype: 'float64' });
        const y = m.forward(x);
        ol.ops.sum(ol.ops.mul(y, y)).backward();  // pushes W to grow
        opt.step();
        m.zeroGrad();
      });
  };
  test.each([0, 15])('CPLDense and CPLConv2d after %i training steps', (steps) => {
    const d = new ol.nn.CPLDense(8, { inner: 6, seed: 21, dtype: 'float64' });
    const c = new ol.nn.CPLConv2d(2, { inner: 3, kernelSize: 3, inputSize: [5, 5], seed: 22, dtype: 'float64' });
    for (const [m, shape] of [[d, [1, 8]], [c, [1, 2, 5, 5]]] as const) {
      train(m, [4, ...shape.slice(1)], steps);
      m.eval();
      const rep = lipschitzEstimate((x) => m.forward(x), [...shape], { points: 3, pairs: 6, seed: steps + 1 });
      expect(rep.estimate).toBeLessThanOrEqual(1 + 1e-4);
      expect(rep.estimate).toBeGreaterThan(0.5);  // the measurement sees the layer
      // and the sound bound is above the measurement
      expect(ol.nn.lipschitzBound(m)).toBeGreaterThanOrEqual(rep.estimate - 1e-6);
      m.dispose();
    }
  });
});

// ---------------- eval cache, state dict ----------------

describe('eval cache and state dict', () => {
  test('σ̂ is computed once in eval; an optimizer step and loadStateDict invalidate it', () => {
    const m = new ol.nn.CPLDense(6, { inner: 5, seed: 31, dtype: 'float64', powerIteration: { evalIters: 50 } });
    const x = ol.randn([2, 6], { seed: 2, dtype: 'float64' });
    m.eval();
    const y1 = host(m.forward(x));
    expect(m.powerIterationCalls).toBe(1);
    const s1 = m.stateDict()['eval_sv_max'].item();
    expect(s1).toBeGreaterThan(0);
    expectClose(host(m.forward(x)), y1, 0, 0, 'cached forward');
    m.forward(x);
    expect(m.powerIterationCalls).toBe(1);
    // an optimizer step changes W: recomputed
    const opt = new ol.optim.SGD(m.parameters(), { lr: 0.1 });
    ol.tidy(() => ol.ops.sum(m.forward(ol.randn([2, 6], { seed: 3, dtype: 'float64' }))).backward());
    expect(m.powerIterationCalls).toBe(1);
    opt.step();
    m.forward(x);
    expect(m.powerIterationCalls).toBe(2);
    expect(m.stateDict()['eval_sv_max'].item()).not.toBe(s1);
    m.forward(x);
    expect(m.powerIterationCalls).toBe(2);
    // loadStateDict: recomputed, then cached again
    const copy = Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, t.to('cpu')]));
    m.loadStateDict(copy);
    m.forward(x);
    expect(m.powerIterationCalls).toBe(3);
    m.forward(x);
    expect(m.powerIterationCalls).toBe(3);
    // a training forward resets the cache to 0 (reference) and the next eval forward recomputes
    m.train();
    m.forward(x);
    expect(m.stateDict()['eval_sv_max'].item()).toBe(0);
    m.eval();
    m.forward(x);
    expect(m.powerIterationCalls).toBe(5);
    m.dispose();
  });

  test('state dict names and shapes of the reference; u persists and round-trips', () => {
    const d = new ol.nn.CPLDense(7, { inner: 3, seed: 1 });
    const sd = d.stateDict();
    expect(Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.shape]))).toEqual({
      weights: [3, 7], bias: [3], alpha: [1], eval_sv_max: [1], 'pm.u': [1, 7],
    });
    const c = new ol.nn.CPLConv2d(4, { inner: 5, inputSize: [6, 6], seed: 2 });
    expect(Object.fromEntries(Object.entries(c.stateDict()).map(([k, t]) => [k, t.shape]))).toEqual({
      kernel: [5, 4, 3, 3], bias: [5], eval_sv_max: [1], 'pm.u': [1, 4, 6, 6],
    });
    const x = ol.randn([2, 4, 6, 6], { seed: 5 });
    for (let i = 0; i < 3; i++) c.forward(x);  // moves u
    const saved = Object.fromEntries(Object.entries(c.stateDict()).map(([k, t]) => [k, t.to('cpu')]));
    const c2 = new ol.nn.CPLConv2d(4, { inner: 5, inputSize: [6, 6], seed: 99 });
    c2.loadStateDict(saved);
    expectClose(host(c2.stateDict()['pm.u']), host(saved['pm.u']), 0, 0, 'u round trip');
    expectClose(host(c2.forward(x)), host(c.forward(x)), 0, 0, 'same next training forward');
    // lazily created u (no inputSize): created by the first forward, then in the state dict
    const lazy = new ol.nn.CPLConv2d(4, { inner: 5, seed: 2 });
    expect(Object.keys(lazy.stateDict())).not.toContain('pm.u');
    lazy.forward(x);
    expect(lazy.stateDict()['pm.u'].shape).toEqual([1, 4, 6, 6]);
    for (const m of [d, c, c2, lazy]) m.dispose();
  });
});

// ---------------- validation ----------------

describe('bad input', () => {
  test('OnelipErrors naming the layer or op and the argument', () => {
    expect(() => new ol.nn.CPLConv2d(4, { inner: 2, kernelSize: 4 })).toThrow(/CPLConv2d: 'kernelSize' must be odd/);
    expect(() => new ol.nn.CPLDense(4, {} as never)).toThrow(/CPLDense: 'inner' must be a positive integer/);
    expect(() => new ol.nn.CPLDense(4, { inner: 2, powerIteration: { trainIters: 0 } })).toThrow(/trainIters/);
    const c = new ol.nn.CPLConv2d(4, { inner: 2, inputSize: [6, 6] });
    expect(() => c.forward(ol.randn([1, 3, 6, 6]))).toThrow(/CPLConv2d: 'x' must have shape \[N, 4, H, W\]/);
    expect(() => c.forward(ol.randn([1, 4, 5, 5]))).toThrow(/power-iteration vector/);
    const d = new ol.nn.CPLDense(4, { inner: 3 });
    d.weights.assign(ol.tensor(new Float32Array(12).fill(NaN), { shape: [3, 4] }));
    expect(() => d.forward(ol.randn([2, 4]))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    expect(() => ol.ops.cplDense(ol.randn([2, 4]), ol.randn([3, 4]), ol.randn([3]), ol.tensor([NaN]))).toThrow(/cpl_dense: sigma must be finite/);
    expect(() => ol.ops.cplConv2d(ol.randn([2, 4, 5, 5]), ol.randn([3, 4, 2, 2]), ol.randn([3]), ol.tensor([1]))).toThrow(/cpl_conv2d: .*odd kernel sizes/);
    expect(() => ol.ops.cplDense(ol.randn([2, 4]), ol.randn([3, 5]), ol.randn([3]), ol.tensor([1]))).toThrow(/cpl_dense: W \[m, d\] has d = 5/);
    c.dispose();
    d.dispose();
  });
});

// ---------------- sound bounds ----------------

describe('lipschitzBound: sound upper bounds', () => {
  test('dense: ≥ the exact spectral norm (Jacobi), also for clustered top singular values; tight', () => {
    const shapes: [number, number, number[]][] = [
      [7, 5, []],
      [20, 30, [2, 2 - 1e-7, 2 - 2e-7, 2 - 3e-7, 1.5]],   // clustered top: power iteration crawls
      [30, 12, [1, 1, 1, 1, 1, 1, 1, 1]],                  // exactly repeated
      [16, 16, [3, 3 * (1 - 1e-9), 0.1]],
    ];
    shapes.forEach(([m, d, sig], i) => {
      const Wh = sig.length ? planted(m, d, sig, 40 + i) : host(ol.randn([m, d], { seed: 40 + i, dtype: 'float64' }));
      const exact = exactNorm(denseOp(m, d), Wh);
      for (const dtype of ['float64', 'float32'] as const) {
        const W = ol.tensor(Wh, { shape: [m, d], dtype });
        const Wexact = dtype === 'float64' ? exact : exactNorm(denseOp(m, d), host(W));
        const ub = ol.nn.denseSpectralUpperBound(W);
        expect(ub).toBeGreaterThanOrEqual(Wexact);
        expect(ub).toBeLessThanOrEqual(Wexact * 1.02);
        W.dispose();
      }
    });
  });

  test('conv: ≥ the exact norm of the zero-padded conv built as a dense matrix', () => {
    const shapes: [number, number, number, number, number][] = [[3, 2, 3, 5, 4], [2, 3, 5, 4, 4], [4, 4, 1, 3, 3], [2, 2, 3, 6, 6]];
    shapes.forEach(([m, c, k, H, W], i) => {
      const K = ol.randn([m, c, k, k], { seed: 60 + i, dtype: 'float64' });
      const exact = exactNorm(convOp(m, c, k, H, W), host(K));
      const ub = ol.nn.convSpectralUpperBound(K, [H, W]);
      expect(ub).toBeGreaterThanOrEqual(exact);
      // the map-size-free bound (plain Conv2d) is also above it
      expect(ol.nn.convSpectralUpperBound(K, null)).toBeGreaterThanOrEqual(exact);
      K.dispose();
    });
  });

  test('modules: products over Sequential, CPL formula, parameter-free blocks, refusal', () => {
    const lin = new ol.nn.Linear(6, 4, { seed: 1, dtype: 'float64' });
    const exactLin = exactNorm(denseOp(4, 6), host(lin.weight));
    const pool = new ol.nn.AvgPool2d({ kernelSize: 4, divisor: 4 });
    expect(ol.nn.lipschitzBound(pool)).toBeCloseTo(1, 8);  // √16 / 4
    expect(ol.nn.lipschitzBound(new ol.nn.AvgPool2d({ kernelSize: 2 }))).toBeCloseTo(0.5, 8);  // √4 / 4
    const seq = new ol.nn.Sequential([lin, new ol.nn.ReLU(), new ol.nn.MaxMin()]);
    const bl = ol.nn.lipschitzBound(seq);
    expect(bl).toBeGreaterThanOrEqual(exactLin);
    expect(bl).toBeLessThanOrEqual(exactLin * 1.01);
    // CPL: max(1, h·‖W‖² − 1) ≥ 1, and > 1 when σ̂ underestimates a lot
    const d = new ol.nn.CPLDense(6, { inner: 5, seed: 3, dtype: 'float64', powerIteration: { evalIters: 1 } });
    d.eval();
    const exactW = exactNorm(denseOp(5, 6), host(d.weights));
    const s = d.evalSigma();
    const expected = Math.max(1, (2 / (s * s + 1e-4)) * exactW * exactW - 1);
    const b = ol.nn.lipschitzBound(d);
    expect(b).toBeGreaterThanOrEqual(expected);
    expect(b).toBeLessThanOrEqual(expected * 1.01 + 1e-9);
    class Custom extends ol.nn.Module {
      forward(x: ol.Tensor) {
        return x;
      }
    }
    expect(() => ol.nn.lipschitzBound(new ol.nn.Sequential([new Custom()]))).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/Custom/) }));
    seq.dispose();
    d.dispose();
  });
});
