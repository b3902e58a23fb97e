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
