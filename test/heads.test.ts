/**
 * Heads and channel-pair activations (SPEC.md A.6, B.1, B.2, B.4, D.2): LinearNormalized and its
 * certificate against plain float64 formulas; ChannelPool ('max', 'lip1') and HouseholderActivation:
 * gradcheck in x and θ, identities, the independent Lipschitz measurement, state dict shapes;
 * MLPCurvatureHead: its certified radii are never broken by an L2 PGD attack.
 */
import * as ol from '../lib';
import { lipschitzEstimate } from './util/lipschitz';

const nn = ol.nn;
const O = ol.ops;
const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`heads seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);
let counter = 0;
const nextSeed = (): number => (seed + 7919 * ++counter) % 2 ** 31;
const f64 = (t: ol.Tensor): Float64Array => Float64Array.from(t.data());

describe.each(devices)('LinearNormalized on %s', (device) => {
  test('forward, normalized weight and certificate vs plain float64 formulas; gradcheck', () => {
    ol.tidy(() => {
      const [F, Cn, N] = [5, 4, 6];
      const L = new nn.LinearNormalized(F, Cn, { dtype: 'float64', device, seed: nextSeed() });
      const W = f64(L.weight);
      const b = f64(L.bias);
      const Wn = W.map((v, i) => {
        const r = Math.floor(i / F);
        let s = 0;
        for (let k = 0; k < F; k++) s += W[r * F + k] ** 2;
        return v / Math.sqrt(s);
      });
      const nw = f64(L.normalizedWeight());
      Wn.forEach((v, i) => expect(Math.abs(nw[i] - v)).toBeLessThan(1e-14));
      const x = ol.randn([N, F], { dtype: 'float64', device, seed: nextSeed() });
      const xs = f64(x);
      const y = f64(L.forward(x));
      const labels = Array.from({ length: N }, (_, i) => i % Cn);
      const Lip = 1.7;
      const radii = L.certify(L.forward(x), labels, { lipschitz: Lip });
      for (let n = 0; n < N; n++) {
        const f = Array.from({ length: Cn }, (_, j) => {
          let s = b[j];
          for (let k = 0; k < F; k++) s += Wn[j * F + k] * xs[n * F + k];
          return s;
        });
        f.forEach((v, j) => expect(Math.abs(y[n * Cn + j] - v)).toBeLessThan(1e-12));
        const yl = labels[n];
        let r = Infinity;
        for (let j = 0; j < Cn; j++) {
          if (j === yl) continue;
          let d = 0;
          for (let k = 0; k < F; k++) d += (Wn[yl * F + k] - Wn[j * F + k]) ** 2;
          r = Math.min(r, (f[yl] - f[j]) / (Lip * Math.sqrt(d)));
        }
        expect(Math.abs(radii[n] - Math.max(r, 0))).toBeLessThan(1e-12);
      }
      const rep = ol.gradcheck((xx) => L.forward(xx), [x, L.weight, L.bias], { seed: nextSeed(), raise: false });
      expect(rep.mismatches).toEqual([]);
      L.dispose();
    });
  });
});

describe.each(devices)('channel-pair activations on %s', (device) => {
  test("ChannelPool 'max' is the max of each pair; HH1 at θ = π/2 is MaxMin with the halves swapped", () => {
    ol.tidy(() => {
      const x = ol.randn([2, 6, 3, 3], { dtype: 'float64', device, seed: nextSeed() });
      const xs = f64(x);
      const p = f64(new nn.ChannelPool({ mode: 'max' }).forward(x));
      const S = 9;
      for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let s = 0; s < S; s++)
        expect(p[(n * 3 + c) * S + s]).toBe(Math.max(xs[(n * 6 + c) * S + s], xs[(n * 6 + c + 3) * S + s]));
      const H = new nn.HouseholderActivation(6, { dtype: 'float64', device });
      expect(H.theta.shape).toEqual([1, 3, 1, 1]);
      const h = f64(H.forward(x));
      const mm = f64(O.maxMin(x));
      for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let s = 0; s < S; s++) {
        expect(Math.abs(h[(n * 6 + c) * S + s] - mm[(n * 6 + c + 3) * S + s])).toBeLessThan(1e-14);
        expect(Math.abs(h[(n * 6 + c + 3) * S + s] - mm[(n * 6 + c) * S + s])).toBeLessThan(1e-14);
      }
    });
  });

  test("gradcheck of ChannelPool 'lip1' and HouseholderActivation in x and θ", () => {
    ol.tidy(() => {
      const P = new nn.ChannelPool({ mode: 'lip1', channels: 4, dtype: 'float64', device, seed: nextSeed() });
      expect(P.theta!.shape).toEqual([2]);
      const H = new nn.HouseholderActivation(4, { dtype: 'float64', device });
      H.theta.assign(ol.rand([1, 2, 1, 1], { low: 0.3, high: 2.8, dtype: 'float64', device, seed: nextSeed() }));
      for (const m of [P, H]) {
        const x = ol.randn([2, 4, 2, 3], { dtype: 'float64', device, seed: nextSeed() });
        const theta = m === P ? P.theta! : H.theta;
        const rep = ol.gradcheck((xx) => m.forward(xx), [x, theta], { seed: nextSeed(), raise: false, eps: 1e-7 });
        expect(rep.mismatches).toEqual([]);
      }
    });
  });
});

describe('Lipschitz constants measured independently (float64, cpu)', () => {
  test.each([
    ["ChannelPool 'lip1'", () => new nn.ChannelPool({ mode: 'lip1', channels: 6, dtype: 'float64', seed: nextSeed() })],
    ["ChannelPool 'max'", () => new nn.ChannelPool({ mode: 'max' })],
    ['HouseholderActivation', () => {
      const H = new nn.HouseholderActivation(6, { dtype: 'float64' });
      H.theta.assign(ol.rand([1, 3, 1, 1], { low: 0, high: 2 * Math.PI, dtype: 'float64', seed: nextSeed() }));
      return H;
    }],
  ] as [string, () => ol.nn.Module][])('%s ≤ 1 + 1e-4', (_, make) => {
    const m = make().eval();
    const rep = lipschitzEstimate((x) => m.forward(x), [2, 6, 2, 2], { seed: nextSeed() % 1000, iters: 15, points: 3, pairs: 6 });
    expect(rep.estimate).toBeLessThanOrEqual(1 + 1e-4);
    expect(rep.estimate).toBeGreaterThan(0.5);
    m.dispose();
  });
});

test('bad arguments raise OnelipError naming the layer and argument', () => {
  expect(() => new nn.ChannelPool({ mode: 'min' as 'max' })).toThrow(/ChannelPool: 'mode' must be 'max' or 'lip1'/);
  expect(() => new nn.ChannelPool({ mode: 'lip1', channels: 3 })).toThrow(/ChannelPool: 'channels' must be an even integer/);
  expect(() => new nn.HouseholderActivation(5)).toThrow(/HouseholderActivation: 'channels'/);
  expect(() => O.lipPool(ol.zeros([1, 4]), ol.zeros([3]))).toThrow(/lip_pool: input 1 \(theta\) must hold one angle per channel pair/);
  expect(() => O.householder(ol.zeros([1, 3]), ol.zeros([1]))).toThrow(/householder: input 0 \(x\) must be .* even number of channels/);
  expect(() => new nn.LinearNormalized(3, 0)).toThrow(/LinearNormalized: 'outFeatures'/);
  const L = new nn.LinearNormalized(3, 2);
  expect(() => L.certify(ol.zeros([2, 2]), [0, 2])).toThrow(/LinearNormalized.certify: labels must be integers in \[0, 2\)/);
  L.dispose();
});

describe('MLPCurvatureHead', () => {
  test('state dict names and shapes (SPEC.md B.4); forward = W2·softplus(W1 z + b1) + b2', () => {
    ol.tidy(() => {
      const h = new nn.MLPCurvatureHead(3, { hidden: 5, classes: 4, dtype: 'float64', seed: nextSeed() });
      const sd = h.stateDict();
      expect(Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.shape]))).toEqual({
        'linear1.weight': [5, 3], 'linear1.bias': [5], 'linear2.weight': [4, 5], 'linear2.bias': [4], _u: [3], _v: [5],
      });
      const z = ol.randn([2, 3], { dtype: 'float64', seed: nextSeed() });
      const [W1, b1, W2, b2, zs] = [sd['linear1.weight'], sd['linear1.bias'], sd['linear2.weight'], sd['linear2.bias'], z].map(f64);
      const y = f64(h.eval().forward(z));
      for (let n = 0; n < 2; n++) for (let c = 0; c < 4; c++) {
        let s = b2[c];
        for (let k = 0; k < 5; k++) {
          let a = b1[k];
          for (let i = 0; i < 3; i++) a += W1[k * 3 + i] * zs[n * 3 + i];
          s += W2[c * 5 + k] * Math.log(1 + Math.exp(a));
        }
        expect(Math.abs(y[n * 4 + c] - s)).toBeLessThan(1e-12);
      }
      h.dispose();
    });
  });

  test('fastRadii equals the B.4 fast-certificate formula written out in float64; gradcheck', () => {
    ol.tidy(() => {
      const [F, H, C, N] = [3, 6, 4, 5];
      const h = new nn.MLPCurvatureHead(F, { hidden: H, classes: C, dtype: 'float64', seed: nextSeed() });
      const z = ol.randn([N, F], { dtype: 'float64', seed: nextSeed() });
      const labels = [0, 1, 2, 3, 1];
      const r = f64(h.fastRadii(z, labels));
      const sd = h.stateDict();
      const [W1, b1, W2, b2, u, v, zs] = [sd['linear1.weight'], sd['linear1.bias'], sd['linear2.weight'], sd['linear2.bias'], sd._u, sd._v, z].map(f64);
      let sigma = 0;
      for (let k = 0; k < H; k++) for (let i = 0; i < F; i++) sigma += v[k] * W1[k * F + i] * u[i];
      for (let n = 0; n < N; n++) {
        const a = Array.from({ length: H }, (_, k) => b1[k] + [0, 1, 2].reduce((t, i) => t + W1[k * F + i] * zs[n * F + i], 0));
        const f = Array.from({ length: C }, (_, c) => b2[c] + a.reduce((t, ak, k) => t + W2[c * H + k] * Math.log1p(Math.exp(ak)), 0));
        const y = labels[n];
        let best = Infinity;
        for (let j = 0; j < C; j++) {
          if (j === y) continue;
          const d = a.map((_, k) => W2[y * H + k] - W2[j * H + k]);
          const g = f[y] - f[j];
          const grad = [0, 1, 2].map((i) => a.reduce((t, ak, k) => t + (d[k] * W1[k * F + i]) / (1 + Math.exp(-ak)), 0));
          const gn = Math.hypot(...grad);
          const K = 0.25 * sigma * sigma * Math.max(0, ...d.map((x) => (g > 0 ? -x : x)));
          const rj = K > 0 ? (Math.sqrt(gn * gn + 2 * K * Math.abs(g)) - gn) / K : Math.abs(g) / gn;
          best = Math.min(best, g > 0 ? rj : -rj);
        }
        expect(Math.abs(r[n] - best)).toBeLessThan(1e-10 * Math.max(1, Math.abs(best)));
      }
      const rep = ol.gradcheck((zz) => h.fastRadii(zz, labels), [z, h.linear1.weight, h.linear2.weight], { seed: nextSeed(), raise: false });
      expect(rep.mismatches).toEqual([]);
      h.dispose();
    });
  });

  test('on a briefly trained head, no point certified at r is broken by L2 PGD (10 restarts) inside 0.99·r', () => {
    const F = 2;
    const C = 3;
    const head = new nn.MLPCurvatureHead(F, { hidden: 16, classes: C, dtype: 'float64', seed: nextSeed() });
    // three Gaussian clusters in the plane
    const centers = [[0, 2], [-1.8, -1], [1.8, -1]];
    let s = nextSeed();
    const uni = (): number => ((s = (Math.imul(s ^ (s >>> 15), 1 | s) + 0x6d2b79f5) >>> 0) + 0.5) / 4294967296;
    const gauss = (): number => Math.sqrt(-2 * Math.log(uni())) * Math.cos(2 * Math.PI * uni());
    const sample = (n: number): { x: Float64Array; y: number[] } => {
      const x = new Float64Array(n * F);
      const y: number[] = [];
      for (let i = 0; i < n; i++) {
        const c = i % C;
        y.push(c);
        x[i * F] = centers[c][0] + 0.6 * gauss();
        x[i * F + 1] = centers[c][1] + 0.6 * gauss();
      }
      return { x, y };
    };
    const train = sample(96);
    const opt = new ol.optim.Adam(head.parameters(), { lr: 0.03 });
    for (let step = 0; step < 120; step++) {
      ol.tidy(() => {
        const z = ol.tensor(train.x, { shape: [96, F], dtype: 'float64' });
        const loss = O.add(ol.loss.crossEntropy(head.forward(z), train.y), O.scale(head.curvatureRegularizer(), 0.01));
        head.zeroGrad();
        loss.backward();
        opt.step();
      });
    }
    head.eval();
    const test = sample(24);
    const z = ol.tensor(test.x, { shape: [24, F], dtype: 'float64' });
    const radii = head.certify(z, test.y);
    const certified = Array.from(radii).filter((r) => r > 0).length;
    expect(certified).toBeGreaterThan(12);  // non-vacuous after training
    const eps = Array.from(radii, (r) => 0.99 * r);
    const res = ol.attack.pgd(head, z, test.y, { eps, steps: 60, stepSize: 0.08, restarts: 10, seed: nextSeed() % 1000 });
    for (let n = 0; n < 24; n++) if (radii[n] > 0) expect({ n, broken: res.success[n] }).toEqual({ n, broken: false });
    // the attack is not toothless: at 3× the radius (+0.5) it breaks some certified points
    const far = ol.attack.pgd(head, z, test.y, { eps: Array.from(radii, (r) => 3 * r + 0.5), steps: 60, stepSize: 0.08, restarts: 3, seed: 1 });
    expect(far.success.filter((b, n) => b && radii[n] > 0).length).toBeGreaterThan(0);
    z.dispose();
    head.dispose();
  });
});
