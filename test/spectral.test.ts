/**
 * Properties of the spectral ops through the public API, on cpu and cuda (float64):
 * - the documented convention of kernelSelfCorrelation: G is the kernel of J Jᵀ for the conv
 *   J = conv2d(·, K, "same"), checked against the conv ops themselves on an interior-supported input;
 * - its gradient-table entry against central finite differences of ⟨G(K), gG⟩;
 * - power iteration: sigma never exceeds the exact ‖W‖₂ of a planted matrix and increases towards it;
 *   warm starts compose (5 + 5 iterations = 10); at convergence Aᵀv = sigma·u for a strided conv.
 */
import * as ol from '../lib';
import { gradientOf } from '../lib/autograd/table';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`spectral seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
let st = seed >>> 0;
function rnd(): number {
  let t = (st = (st + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randn = (shape: number[], device: ol.Device) =>
  ol.tensor(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 2 * rnd() - 1 + (rnd() < 0.5 ? 0.1 : -0.1)), { shape, dtype: 'float64', device });
const devices: ol.Device[] = ol.info().backends.cuda.available ? ['cpu', 'cuda'] : ['cpu'];
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};

describe.each(devices)('spectral ops on %s', (device) => {
  test('kernelSelfCorrelation is the kernel of J Jᵀ for J = conv2d(·, K, padding k//2)', () => {
    ol.tidy(() => {
      const [m, c, k, H, W] = [3, 4, 3, 8, 9];
      const K = randn([m, c, k, k], device);
      const G = ol.ops.kernelSelfCorrelation(K);
      // y supported at distance ≥ k//2 from the border: there the zero padding of J plays no role
      const y = Float64Array.from(randn([1, m, H, W], device).data());
      for (let i = 0; i < m; i++)
        for (let p = 0; p < H; p++)
          for (let q = 0; q < W; q++) if (p < 1 || q < 1 || p >= H - 1 || q >= W - 1) y[(i * H + p) * W + q] = 0;
      const yt = ol.tensor(y, { shape: [1, m, H, W], dtype: 'float64', device });
      const jjt = ol.ops.conv2d(ol.ops.conv2dBackwardInput(yt, K, [1, c, H, W]), K);
      const viaG = ol.ops.conv2d(yt, G, { padding: k - 1 });
      expect(maxAbsDiff(jjt.data(), viaG.data())).toBeLessThan(1e-12);
      // and the symmetry G[j, i, −s] = G[i, j, s]
      const g = G.data();
      const w = 2 * k - 1;
      for (let i = 0; i < m; i++)
        for (let j = 0; j < m; j++)
          for (let s = 0; s < w * w; s++) expect(g[(i * m + j) * w * w + s]).toBe(g[(j * m + i) * w * w + (w * w - 1 - s)]);
    });
  });

  test('the gradient-table entry of kernel_self_correlation matches finite differences', () => {
    ol.tidy(() => {
      const shape = [3, 2, 3, 3];
      const K = randn(shape, device);
      const gG = randn([3, 3, 5, 5], device);
      const entry = gradientOf('kernel_self_correlation');
      expect(entry).toBeDefined();
      const [gK] = entry!.grad([gG], { op: 'kernel_self_correlation', inputs: [K], outputs: [], attrs: {}, needsGrad: [true] });
      const kd = Float64Array.from(K.data());
      const gd = gG.data();
      const f = (x: Float64Array) => {
        const G = ol.ops.kernelSelfCorrelation(ol.tensor(x, { shape, dtype: 'float64', device })).data();
        let s = 0;
        for (let i = 0; i < G.length; i++) s += G[i] * gd[i];
        return s;
      };
      const h = 2 ** -10;
      const fd = kd.map((v, i) => {
        const xp = Float64Array.from(kd);
        xp[i] = v + h;
        const xm = Float64Array.from(kd);
        xm[i] = v - h;
        return (f(xp) - f(xm)) / (2 * h);
      });
      expect(maxAbsDiff(gK!.data(), fd)).toBeLessThan(1e-9);
    });
  });

  test('ol.gradcheck through the tape: a loss of kernelSelfCorrelation (float64 finite differences)', () => {
    ol.tidy(() => {
      const weights = randn([2, 2, 5, 5], device);
      const K = randn([2, 3, 3, 3], device);
      K.requiresGrad = true;
      const r = ol.gradcheck((k: ol.Tensor) => ol.ops.mul(ol.ops.kernelSelfCorrelation(k), weights), [K]);
      expect(r.ok).toBe(true);
      expect(r.checked).toBeGreaterThan(0);
    });
  });

  test('power iteration: sigma ≤ ‖W‖₂, increasing towards it; warm starts compose', () => {
    ol.tidy(() => {
      // W = diag-like planted matrix: P diag(σ) Qᵀ with P, Q permutations with signs → ‖W‖₂ = max σ
      const [m, n] = [7, 5];
      const sig = [2.5, 2.2, 1, 0.5, 0.1];
      const rows = [3, 0, 6, 1, 4];
      const cols = [2, 4, 0, 3, 1];
      const Wd = new Float64Array(m * n);
      sig.forEach((s, r) => (Wd[rows[r] * n + cols[r]] = rnd() < 0.5 ? -s : s));
      const W = ol.tensor(Wd, { shape: [m, n], dtype: 'float64', device });
      const u0 = randn([n], device);
      let prev = 0;
      for (const iters of [1, 2, 4, 8, 16, 64]) {
        const r = ol.ops.powerIteration({ matrix: W }, u0, { iters });
        expect(r.sigma).toBeLessThanOrEqual(2.5 * (1 + 1e-14));
        expect(r.sigma).toBeGreaterThanOrEqual(prev * (1 - 1e-13));
        prev = r.sigma;
      }
      expect(Math.abs(prev - 2.5)).toBeLessThan(1e-6);
      const a = ol.ops.powerIteration({ matrix: W }, u0, { iters: 5 });
      const b = ol.ops.powerIteration({ matrix: W }, a.u, { iters: 5 });
      const c = ol.ops.powerIteration({ matrix: W }, u0, { iters: 10 });
      expect(Math.abs(b.sigma - c.sigma)).toBeLessThan(1e-14);
      expect(maxAbsDiff(b.u.data(), c.u.data())).toBeLessThan(1e-13);
      expect(maxAbsDiff(b.v.data(), c.v.data())).toBeLessThan(1e-13);
    });
  });

  test('power iteration on a stride-2 conv: Aᵀv = sigma·u, unit vectors, at convergence', () => {
    ol.tidy(() => {
      // a positive kernel: AᵀA is entrywise non-negative and irreducible, so its top eigenvalue is
      // simple (Perron–Frobenius) and the iteration converges; warm-started in chunks until it has
      const K = ol.tensor(Array.from({ length: 54 }, () => 0.5 + rnd()), { shape: [3, 2, 3, 3], dtype: 'float64', device });
      let u: ol.Tensor = randn([1, 2, 6, 6], device);
      let r = ol.ops.powerIteration({ conv: K, stride: 2 }, u, { iters: 50 });
      const residual = () => {
        const atv = ol.ops.conv2dBackwardInput(r.v, K, [1, 2, 6, 6], { stride: 2 }).data();
        return maxAbsDiff(atv, Array.from(r.u.data(), (x) => x * r.sigma));
      };
      for (let chunk = 0; chunk < 40 && residual() > 1e-9 * r.sigma; chunk++) {
        u = r.u;
        r = ol.ops.powerIteration({ conv: K, stride: 2 }, u, { iters: 50 });
      }
      expect(residual()).toBeLessThan(1e-9 * r.sigma);
      expect(r.v.shape).toEqual([1, 3, 3, 3]);
      const norm = (t: ol.Tensor) => Math.sqrt(Array.from(t.data()).reduce((acc, x) => acc + x * x, 0));
      expect(Math.abs(norm(r.u) - 1)).toBeLessThan(1e-12);
      expect(Math.abs(norm(r.v) - 1)).toBeLessThan(1e-12);
      // ⟨A u, v⟩ = sigma
      const au = Array.from(ol.ops.conv2d(r.u, K, { stride: 2 }).data());
      const v = r.v.data();
      expect(Math.abs(au.reduce((acc, x, i) => acc + x * v[i], 0) - r.sigma)).toBeLessThan(1e-12 * r.sigma);
    });
  });
});
