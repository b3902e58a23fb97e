/**
 * Cayley layers (SPEC.md A.5, A.6): CayleyConv2d and CayleyLinear against plain float64 references
 * (explicit DFTs, complex Gaussian elimination) on cpu and cuda; gradcheck; orthogonality (norm
 * preservation, orthonormal columns); the independent Lipschitz measurement; eval caches invalidated by
 * optimizer steps and loadStateDict; state dicts round-trip.
 */
import * as ol from '../lib';
import { lipschitzEstimate } from './util/lipschitz';

const nn = ol.nn;
const O = ol.ops;
const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`cayley seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);
let counter = 0;
const nextSeed = (): number => (seed + 7919 * ++counter) % 2 ** 31;

// ---------------- plain float64 references ----------------
type C = [number, number];
const cmul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const cadd = (a: C, b: C): C => [a[0] + b[0], a[1] + b[1]];
const csub = (a: C, b: C): C => [a[0] - b[0], a[1] - b[1]];
const cdiv = (a: C, b: C): C => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
const conj = (a: C): C => [a[0], -a[1]];
const cexp = (t: number): C => [Math.cos(t), Math.sin(t)];
type M = C[][];
const mat = (r: number, c: number): M => Array.from({ length: r }, () => Array.from({ length: c }, (): C => [0, 0]));
const mm = (A: M, B: M): M => {
  const out = mat(A.length, B[0].length);
  for (let i = 0; i < A.length; i++) for (let j = 0; j < B[0].length; j++) for (let k = 0; k < B.length; k++) out[i][j] = cadd(out[i][j], cmul(A[i][k], B[k][j]));
  return out;
};
const adj = (A: M): M => A[0].map((_, j) => A.map((row) => conj(row[j])));
const tr = (A: M): M => A[0].map((_, j) => A.map((row) => row[j]));
/** A⁻¹B by Gauss–Jordan elimination with partial pivoting. */
function solve(A: M, B: M): M {
  const n = A.length;
  const a = A.map((r, i) => [...r.map((v): C => [...v] as C), ...B[i].map((v): C => [...v] as C)]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.hypot(...a[r][c]) > Math.hypot(...a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    const piv = a[c][c];
    a[c] = a[c].map((v) => cdiv(v, piv));
    for (let r = 0; r < n; r++) if (r !== c) { const f = a[r][c]; a[r] = a[r].map((v, j) => csub(v, cmul(f, a[c][j]))); }
  }
  return a.map((r) => r.slice(n));
}
const eye = (n: number): M => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j): C => [i === j ? 1 : 0, 0]));
/** SPEC.md A.5's Cayley map (tall: [ (I+A)⁻¹(I−A) ; −2V(I+A)⁻¹ ]; wide: of the transpose). */
function cayleyRef(W: M): M {
  const m = W.length;
  const n = W[0].length;
  if (m < n) return tr(cayleyRef(tr(W)));
  const U = W.slice(0, n);
  const V = W.slice(n);
  let A = U.map((r, i) => r.map((v, j) => csub(v, conj(U[j][i]))));
  if (V.length) { const VV = mm(adj(V), V); A = A.map((r, i) => r.map((v, j) => cadd(v, VV[i][j]))); }
  const I = eye(n);
  const IpA = A.map((r, i) => r.map((v, j) => cadd(v, I[i][j])));
  const ImA = A.map((r, i) => r.map((v, j) => csub(I[i][j], v)));
  const top = solve(IpA, ImA);
  if (!V.length) return top;
  const inv = solve(IpA, I);
  const bottom = mm(V, inv).map((r) => r.map((v): C => [-2 * v[0], -2 * v[1]]));
  return [...top, ...bottom];
}

/** PyTorch pixel_unshuffle(2): [N, C, H, W] → [N, 4C, H/2, W/2], channel c·4 + 2i + j. */
function unshuffle(x: Float64Array, [N, Cc, H, W]: number[]): Float64Array {
  const out = new Float64Array(x.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < Cc; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
    out[(((n * Cc * 4 + c * 4 + (h % 2) * 2 + (w % 2)) * H) / 2 + Math.floor(h / 2)) * (W / 2) + Math.floor(w / 2)] = x[((n * Cc + c) * H + h) * W + w];
  return out;
}

/**
 * CayleyConv2d in float64, written from SPEC.md A.5: D = rfft2(W padded to n×n) by a direct sum,
 * Ŵ = e^{−2πi·s(p+q)/n}·conj(D), scaled by α/‖Ŵ‖_F over the half spectrum, Q = cayley(Ŵ) per frequency,
 * Ŷ = Q·X̂ (X̂ the direct DFT of x), y = the inverse real DFT of the half spectrum, + bias.
 */
function refCayleyConv(x: Float64Array, xs: number[], W: Float64Array, ws: number[], alpha: number, bias: Float64Array | null, stride: number): { y: Float64Array; shape: number[] } {
  if (stride === 2) { x = unshuffle(x, xs); xs = [xs[0], xs[1] * 4, xs[2] / 2, xs[3] / 2]; }
  const [N, ci, n] = xs;
  const [co, , k] = ws;
  const s = (k - 1) / 2;
  const h = n / 2 + 1;
  const What: M[] = [];
  let fro = 0;
  for (let p = 0; p < n; p++) for (let q = 0; q < h; q++) {
    const Wf = mat(co, ci);
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) {
      let d: C = [0, 0];
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) d = cadd(d, cmul([W[((o * ci + i) * k + a) * k + b], 0], cexp((-2 * Math.PI * (p * a + q * b)) / n)));
      Wf[o][i] = cmul(cexp((-2 * Math.PI * s * (p + q)) / n), conj(d));
      fro += Wf[o][i][0] ** 2 + Wf[o][i][1] ** 2;
    }
    What.push(Wf);
  }
  fro = Math.sqrt(fro);
  const y = new Float64Array(N * co * n * n);
  for (let bt = 0; bt < N; bt++) {
    const Yf: M[] = [];
    for (let p = 0; p < n; p++) for (let q = 0; q < h; q++) {
      const Q = cayleyRef(What[p * h + q].map((r) => r.map((v): C => [(v[0] * alpha) / fro, (v[1] * alpha) / fro])));
      const X = mat(ci, 1);
      for (let i = 0; i < ci; i++) for (let a = 0; a < n; a++) for (let b = 0; b < n; b++)
        X[i][0] = cadd(X[i][0], cmul([x[((bt * ci + i) * n + a) * n + b], 0], cexp((-2 * Math.PI * (p * a + q * b)) / n)));
      Yf.push(mm(Q, X));
    }
    for (let o = 0; o < co; o++) for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) {
      let acc = 0;
      for (let p = 0; p < n; p++) for (let q = 0; q < h; q++) {
        const wq = q === 0 || 2 * q === n ? 1 : 2;
        acc += wq * cmul(Yf[p * h + q][o][0], cexp((2 * Math.PI * (p * a + q * b)) / n))[0];
      }
      y[((bt * co + o) * n + a) * n + b] = acc / (n * n) + (bias ? bias[o] : 0);
    }
  }
  return { y, shape: [N, co, n, n] };
}

const f64 = (t: ol.Tensor): Float64Array => Float64Array.from(t.data());
const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return m / s;
};
const norm = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((t, v) => t + v * v, 0));

describe.each(devices)('CayleyConv2d on %s', (device) => {
  const configs: [number, number, 1 | 2, number, number][] = [
    // [in, out, stride, kernel, n]
    [3, 3, 1, 3, 4],
    [2, 5, 1, 3, 6],
    [4, 2, 1, 1, 4],
    [1, 4, 2, 3, 8],
  ];
  test.each(configs)('in %i out %i stride %i kernel %i size %i: forward vs the float64 reference', (cin, cout, stride, k, n) => {
    ol.tidy(() => {
      for (const dtype of ['float64', 'float32'] as const) {
        const L = new nn.CayleyConv2d(cin, cout, { kernelSize: k, stride, dtype, device, seed: nextSeed() });
        const x = ol.randn([2, cin, n, n], { dtype, device, seed: nextSeed() });
        const y = L.forward(x);
        const ref = refCayleyConv(f64(x), x.shape, f64(L.weight), L.weight.shape, L.alpha.item(), f64(L.bias!), stride);
        expect(y.shape).toEqual(ref.shape);
        expect(maxRel(y.data(), ref.y)).toBeLessThan(dtype === 'float64' ? 1e-11 : 2e-5);
        L.dispose();
      }
    });
  });

  test('gradcheck in x, weight, alpha and bias (float64, stride 1 and 2)', () => {
    ol.tidy(() => {
      for (const [cin, cout, stride] of [[2, 3, 1], [1, 2, 2]] as const) {
        const L = new nn.CayleyConv2d(cin, cout, { dtype: 'float64', device, seed: nextSeed(), stride });
        const x = ol.randn([1, cin, 4, 4], { dtype: 'float64', device, seed: nextSeed() });
        L.forward(x);  // initialises alpha
        const rep = ol.gradcheck((xx) => L.forward(xx), [x, L.weight, L.alpha, L.bias!], { seed: nextSeed(), raise: false });
        expect(rep.mismatches).toEqual([]);
        L.dispose();
      }
    });
  });

  test('in = out, stride 1 preserves distances; stride 2 with 4·in = out too', () => {
    ol.tidy(() => {
      for (const [cin, cout, stride, dtype, tol] of [[4, 4, 1, 'float64', 1e-12], [3, 3, 1, 'float32', 2e-6], [2, 8, 2, 'float64', 1e-12]] as const) {
        const L = new nn.CayleyConv2d(cin, cout, { dtype, device, seed: nextSeed(), stride });
        const x = ol.randn([3, cin, 8, 8], { dtype, device, seed: nextSeed() });
        const y = ol.randn([3, cin, 8, 8], { dtype, device, seed: nextSeed() });
        const d = norm(O.sub(L.forward(x), L.forward(y)).data());
        const d0 = norm(O.sub(x, y).data());
        expect(Math.abs(d - d0)).toBeLessThan(tol * d0 * 10);
        L.dispose();
      }
    });
  });
});

describe.each(devices)('CayleyLinear on %s', (device) => {
  test.each([[5, 7], [6, 6], [8, 3]])('in %i out %i: Q vs the reference, orthonormal columns/rows, forward', (fin, fout) => {
    ol.tidy(() => {
      const L = new nn.CayleyLinear(fin, fout, { dtype: 'float64', device, seed: nextSeed() });
      const W = f64(L.weight);
      const fro = norm(W);
      const alpha = L.alpha.item();
      expect(Math.abs(alpha - fro)).toBeLessThan(1e-12 * fro);
      const Wm: M = Array.from({ length: fout }, (_, i) => Array.from({ length: fin }, (__, j): C => [(W[i * fin + j] * alpha) / fro, 0]));
      const Qref = cayleyRef(Wm);
      const Q = f64(L.orthogonalWeight());
      for (let i = 0; i < fout; i++) for (let j = 0; j < fin; j++) expect(Math.abs(Q[i * fin + j] - Qref[i][j][0])).toBeLessThan(1e-12);
      // orthonormal columns (tall) or rows (wide)
      const k = Math.min(fin, fout);
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
        let s = 0;
        for (let t = 0; t < Math.max(fin, fout); t++) s += fout >= fin ? Q[t * fin + a] * Q[t * fin + b] : Q[a * fin + t] * Q[b * fin + t];
        expect(Math.abs(s - (a === b ? 1 : 0))).toBeLessThan(1e-12);
      }
      const x = ol.randn([4, fin], { dtype: 'float64', device, seed: nextSeed() });
      const y = f64(L.forward(x));
      const xs = f64(x);
      const b = f64(L.bias!);
      for (let r = 0; r < 4; r++) for (let i = 0; i < fout; i++) {
        let s = b[i];
        for (let j = 0; j < fin; j++) s += Qref[i][j][0] * xs[r * fin + j];
        expect(Math.abs(y[r * fout + i] - s)).toBeLessThan(1e-12);
      }
      expect(L.lipschitzBound()).toBeLessThan(1 + 1e-12);
      expect(L.lipschitzBound()).toBeGreaterThanOrEqual(1);
      L.dispose();
    });
  });

  test('gradcheck in x, weight, alpha, bias', () => {
    ol.tidy(() => {
      const L = new nn.CayleyLinear(4, 6, { dtype: 'float64', device, seed: nextSeed() });
      const x = ol.randn([3, 4], { dtype: 'float64', device, seed: nextSeed() });
      const rep = ol.gradcheck((xx) => L.forward(xx), [x, L.weight, L.alpha, L.bias!], { seed: nextSeed(), raise: false });
      expect(rep.mismatches).toEqual([]);
      L.dispose();
    });
  });
});

describe('Lipschitz constants measured independently (float64, cpu)', () => {
  const layers: [string, () => ol.nn.Module, number[]][] = [
    ['CayleyConv2d 3→5', () => new nn.CayleyConv2d(3, 5, { dtype: 'float64', seed: nextSeed() }), [1, 3, 4, 4]],
    ['CayleyConv2d 4→2 k=1', () => new nn.CayleyConv2d(4, 2, { kernelSize: 1, dtype: 'float64', seed: nextSeed() }), [1, 4, 4, 4]],
    ['CayleyConv2d stride 2 1→3', () => new nn.CayleyConv2d(1, 3, { stride: 2, dtype: 'float64', seed: nextSeed() }), [1, 1, 8, 8]],
    ['CayleyLinear 6→4', () => new nn.CayleyLinear(6, 4, { dtype: 'float64', seed: nextSeed() }), [2, 6]],
    ['CayleyLinear 3→7', () => new nn.CayleyLinear(3, 7, { dtype: 'float64', seed: nextSeed() }), [2, 3]],
  ];
  test.each(layers)('%s ≤ 1 + 1e-4 (and its lipschitzBound ≥ the measurement)', (_, make, shape) => {
    const L = make().eval();
    const rep = lipschitzEstimate((x) => L.forward(x), shape, { seed: nextSeed() % 1000, iters: 20, points: 2, pairs: 4 });
    expect(rep.estimate).toBeLessThanOrEqual(1 + 1e-4);
    expect(rep.estimate).toBeGreaterThan(0.5);
    expect((L as unknown as { lipschitzBound(): number }).lipschitzBound()).toBeGreaterThanOrEqual(rep.estimate - 1e-9);
    L.dispose();
  });
});

describe('eval caches and state dicts', () => {
  test.each(['conv', 'linear'] as const)('%s: an optimizer step and loadStateDict invalidate the eval cache; state dict round-trips', (kind) => {
    ol.tidy(() => {
      const make = (s: number): ol.nn.Module & { weight: ol.Tensor } =>
        kind === 'conv' ? new nn.CayleyConv2d(2, 3, { dtype: 'float64', seed: s }) : new nn.CayleyLinear(4, 3, { dtype: 'float64', seed: s });
      const shape = kind === 'conv' ? [2, 2, 4, 4] : [2, 4];
      const L = make(nextSeed());
      const x = ol.randn(shape, { dtype: 'float64', seed: nextSeed() });
      L.forward(x);  // (conv) initialises alpha
      L.eval();
      const y0 = f64(L.forward(x));
      expect(maxRel(f64(L.forward(x)), y0)).toBe(0);  // cached
      // one SGD step (gradient from a training forward)
      L.train();
      const loss = O.sum(O.mul(L.forward(x), L.forward(x)));
      loss.backward();
      const opt = new ol.optim.SGD(L.parameters(), { lr: 0.05 });
      opt.step();
      L.eval();
      const y1 = f64(L.forward(x));
      L.train();
      const fresh = f64(L.forward(x));
      L.eval();
      expect(maxRel(y1, y0)).toBeGreaterThan(1e-6);
      expect(maxRel(y1, fresh)).toBeLessThan(1e-13);
      // state dict round trip into another layer; loading into an eval-mode layer invalidates its cache
      const sd = L.stateDict();
      expect(Object.keys(sd).sort()).toEqual(['alpha', 'bias', 'weight']);
      expect(sd.alpha.shape).toEqual([]);
      const M = make(nextSeed());
      M.forward(x);
      M.eval();
      const before = f64(M.forward(x));
      M.loadStateDict(sd);
      const after = f64(M.forward(x));
      expect(maxRel(after, before)).toBeGreaterThan(1e-6);
      expect(maxRel(after, y1)).toBe(0);
      L.dispose();
      M.dispose();
    });
  });
});

test('bad arguments raise OnelipError naming the layer and argument', () => {
  expect(() => new nn.CayleyConv2d(2, 2, { kernelSize: 2 })).toThrow(/CayleyConv2d: 'kernelSize' must be an odd/);
  expect(() => new nn.CayleyConv2d(2, 2, { stride: 3 as 1 })).toThrow(/CayleyConv2d: 'stride' must be 1 or 2/);
  const L = new nn.CayleyConv2d(2, 2);
  expect(() => L.forward(ol.zeros([1, 3, 4, 4]))).toThrow(/CayleyConv2d: 'x' must be \[N, 2, n, n\]/);
  expect(() => L.forward(ol.zeros([1, 2, 4, 6]))).toThrow(/square/);
  expect(() => new nn.CayleyLinear(0, 2)).toThrow(/CayleyLinear: 'inFeatures'/);
  L.dispose();
});
