/**
 * SOCConv2d and the SOC ops (SPEC.md A.4): outputs and gradients against a plain float64 reference
 * (skew part, F4 σ from the module's own (u, v) buffers, pixel unshuffle, channel padding, the series as
 * explicit powers, truncation, bias) on cpu and cuda; gradcheck of the ops; orthogonality; the
 * 1-Lipschitz property measured independently (test/util/lipschitz.ts); `lipschitzBound` against the
 * exact norm of the dense operator; the fast weight gradient's O(‖L‖²) error; the eval cache; the
 * state dict.
 */
import * as ol from '../lib';
import { refSkew, refSocExp } from './conformance/cases/soc';
import { lipschitzEstimate } from './util/lipschitz';

const O = ol.ops;
const nn = ol.nn;
const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`soc seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

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
function gauss(n: number, scale = 1): Float64Array {
  const r = rng(seed + 104729 * ++counter);
  return Float64Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}
const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const host = (t: ol.Tensor): Float64Array => Float64Array.from(t.to('cpu').data() as ArrayLike<number>);
const t64 = (d: Float64Array, shape: number[], device: ol.Device = 'cpu'): ol.Tensor => ol.tensor(d, { shape, dtype: 'float64', device });
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const norm = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

/** pixel_unshuffle(x, 2): (c, 2h+dy, 2w+dx) → (4c + 2dy + dx, h, w). */
function unshuffle(x: Float64Array, [N, C, H, W]: number[]): Float64Array {
  const out = new Float64Array(x.length);
  const h2 = H / 2, w2 = W / 2;
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let z = 0; z < W; z++)
          out[(((n * C + c) * 4 + (y % 2) * 2 + (z % 2)) * h2 + (y >> 1)) * w2 + (z >> 1)] = x[((n * C + c) * H + y) * W + z];
  return out;
}

/** Channels resized to `c` (zero-padded at the end or truncated). */
function channels(x: Float64Array, [N, C, H, W]: number[], c: number): Float64Array {
  const out = new Float64Array(N * c * H * W);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < Math.min(C, c); k++)
      for (let p = 0; p < H * W; p++) out[(n * c + k) * H * W + p] = x[(n * C + k) * H * W + p];
  return out;
}

interface Params { M: Float64Array; bias: Float64Array | null; uv: Float64Array[] }

/** The whole layer in plain float64 with F4 vectors uv held constant. */
function refLayer(x: Float64Array, xs: number[], p: Params, m: { inChannels: number; outChannels: number; stride: number; kernelSize: number; channels: number }, terms: number): Float64Array {
  const C = m.channels, k = m.kernelSize;
  const L = refSkew(p.M, [C, C, k, k]);
  // σ_i = Σ L ⊙ u_i ⊙ v_i with u_i, v_i broadcast over the axes they lack
  const shapes = [[[1, C, 1, k], [C, 1, k, 1]], [[1, C, k, 1], [C, 1, 1, k]], [[1, C, k, k], [C, 1, 1, 1]], [[C, 1, k, k], [1, C, 1, 1]]];
  const at = (t: Float64Array, s: number[], o: number, c: number, i: number, j: number): number =>
    t[(((s[0] > 1 ? o : 0) * s[1] + (s[1] > 1 ? c : 0)) * s[2] + (s[2] > 1 ? i : 0)) * s[3] + (s[3] > 1 ? j : 0)];
  const sig = shapes.map(([us, vs], r) => {
    let s = 0;
    for (let o = 0; o < C; o++) for (let c = 0; c < C; c++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++)
      s += L[((o * C + c) * k + i) * k + j] * at(p.uv[2 * r], us, o, c, i, j) * at(p.uv[2 * r + 1], vs, o, c, i, j);
    return s;
  });
  const sigma = Math.min(...sig);
  const Ln = L.map((v) => v / sigma);
  let z = x, zs = xs;
  if (m.stride === 2) {
    z = unshuffle(z, zs);
    zs = [zs[0], zs[1] * 4, zs[2] / 2, zs[3] / 2];
  }
  z = channels(z, zs, C);
  zs = [zs[0], C, zs[2], zs[3]];
  const { y } = refSocExp(z, Ln, { N: zs[0], C, H: zs[2], W: zs[3], kh: k, kw: k }, terms);
  const out = channels(y, zs, m.outChannels);
  if (p.bias) for (let i = 0; i < out.length; i++) out[i] += p.bias[Math.floor(i / (zs[2] * zs[3])) % m.outChannels];
  return out;
}

function paramsOf(layer: ol.nn.SOCConv2d): Params {
  const sd = layer.stateDict();
  return { M: host(sd.weight), bias: sd.bias ? host(sd.bias) : null, uv: ['_u1', '_v1', '_u2', '_v2', '_u3', '_v3', '_u4', '_v4'].map((n) => host(sd[n])) };
}

const configs: [number, number, { kernelSize?: number; stride?: 1 | 2 }, number[]][] = [
  [3, 3, {}, [2, 3, 4, 5]],
  [2, 5, { stride: 2 }, [1, 2, 4, 4]],   // C = max(5, 8) = 8: unshuffle, truncate to 5
  [4, 6, { kernelSize: 1 }, [2, 4, 3, 3]], // pad 4 → 6
  [2, 3, { kernelSize: 5 }, [1, 2, 5, 4]],
];

describe.each(devices)('SOCConv2d on %s', (device) => {
  test.each(configs)('in %d out %d %j: eval and training outputs and gradients match the float64 reference', (cin, cout, o, xs) => {
    const layer = new nn.SOCConv2d(cin, cout, { ...o, dtype: 'float64', device, seed: seed % 100000 });
    const meta = { inChannels: cin, outChannels: cout, stride: o.stride ?? 1, kernelSize: o.kernelSize ?? 3, channels: layer.channels };
    const xd = gauss(numel(xs));
    // eval (15 terms, no F4 step)
    layer.eval();
    const ye = layer.forward(t64(xd, xs, device));
    expect(maxAbs(host(ye), refLayer(xd, xs, paramsOf(layer), meta, 15))).toBeLessThan(1e-11);
    // training (6 terms; one F4 step before σ: the reference uses the buffers after the forward)
    layer.train();
    const x = t64(xd, xs, device);
    x.requiresGrad = true;
    const y = layer.forward(x);
    const p = paramsOf(layer);
    expect(maxAbs(host(y), refLayer(xd, xs, p, meta, 6))).toBeLessThan(1e-11);
    const R = gauss(numel(y.shape));
    O.sum(O.mul(y, t64(R, y.shape, device))).backward();
    const loss = (xv: Float64Array, pv: Params): number => {
      const yy = refLayer(xv, xs, pv, meta, 6);
      return yy.reduce((s, v, i) => s + v * R[i], 0);
    };
    const h = 1e-5;
    const fd = (v: Float64Array, f: () => number): Float64Array => Float64Array.from(v, (_, i) => {
      const keepV = v[i];
      v[i] = keepV + h;
      const a = f();
      v[i] = keepV - h;
      const b = f();
      v[i] = keepV;
      return (a - b) / (2 * h);
    });
    const gx = fd(xd, () => loss(xd, p));
    expect(maxAbs(host(x.grad!), gx)).toBeLessThan(1e-6 * (1 + norm(gx)));
    const gM = fd(p.M, () => loss(xd, p));
    expect(maxAbs(host(layer.weight.grad!), gM)).toBeLessThan(1e-6 * (1 + norm(gM)));
    const gb = fd(p.bias!, () => loss(xd, p));
    expect(maxAbs(host(layer.bias!.grad!), gb)).toBeLessThan(1e-6 * (1 + norm(gb)));
    layer.dispose();
  });

  test('gradcheck: soc_exp (exact) in x and L, soc_skew, and the normalised-kernel pipeline', () => {
    const x = t64(gauss(2 * 3 * 4 * 3), [2, 3, 4, 3], device);
    const L = t64(gauss(3 * 3 * 3 * 3, 0.3), [3, 3, 3, 3], device);
    for (const terms of [1, 2, 6]) ol.gradcheck((a, b) => O.socExp(a, b, { terms }), [x, L]);
    ol.gradcheck((m) => O.socSkew(m), [L]);
    const u = t64(gauss(3 * 9), [1, 3, 3, 3], device);
    const v = t64(gauss(3), [3, 1, 1, 1], device);
    ol.gradcheck((a, m) => {
      const Ls = O.socSkew(m);
      return O.socExp(a, O.div(Ls, O.sum(O.mul(O.mul(Ls, u), v))), { terms: 4 });
    }, [x, L]);
  });

  test('fastGradient: exact input gradient; weight-gradient error O(‖L‖²) over three scales', () => {
    const xs = [2, 4, 5, 5];
    const xd = gauss(numel(xs));
    const gd = gauss(numel(xs));
    const Md = gauss(4 * 4 * 9, 0.5);
    const errs: number[] = [];
    const scales = [0.4, 0.1, 0.025];
    for (const s of scales) {
      const grads = [false, true].map((fastGradient) => {
        const x = t64(xd, xs, device);
        const L = ol.noGrad(() => O.socSkew(t64(Md.map((v) => v * s), [4, 4, 3, 3], device)));
        x.requiresGrad = true;
        L.requiresGrad = true;
        O.sum(O.mul(O.socExp(x, L, { terms: 6, fastGradient }), t64(gd, xs, device))).backward();
        return [host(x.grad!), host(L.grad!)];
      });
      expect(maxAbs(grads[0][0], grads[1][0])).toBeLessThan(1e-12 * norm(grads[0][0]));
      errs.push(norm(grads[0][1].map((v, i) => v - grads[1][1][i])) / norm(grads[0][1]));
    }
    // least-squares slope of log(err) against log(scale)
    const lx = scales.map(Math.log), ly = errs.map(Math.log);
    const mx = lx.reduce((a, b) => a + b) / 3, my = ly.reduce((a, b) => a + b) / 3;
    const slope = lx.reduce((a, v, i) => a + (v - mx) * (ly[i] - my), 0) / lx.reduce((a, v) => a + (v - mx) ** 2, 0);
    expect(errs[0]).toBeGreaterThan(1e-4);  // the approximation is not exact
    expect(slope).toBeGreaterThan(1.8);
    expect(slope).toBeLessThan(2.3);
  });
});

describe('SOCConv2d properties (cpu, float64)', () => {
  test('orthogonal with enough terms (stride 1, equal channels): distances preserved', () => {
    const layer = new nn.SOCConv2d(4, 4, { dtype: 'float64', evalTerms: 30, seed: seed % 1000 + 1 }).eval();
    const xs = [2, 4, 6, 5];
    for (let t = 0; t < 3; t++) {
      const a = gauss(numel(xs)), b = gauss(numel(xs), 0.1 + t);
      const fa = host(layer.forward(t64(a, xs))), fb = host(layer.forward(t64(b, xs)));
      const d = norm(a.map((v, i) => v - b[i]));
      expect(Math.abs(norm(fa.map((v, i) => v - fb[i])) - d)).toBeLessThan(1e-10 * d);
    }
  });

  test.each([
    [3, 3, {}], [2, 6, { stride: 2 as const }], [3, 5, { kernelSize: 1 }], [6, 2, {}],
  ])('in %d out %d %j: Lipschitz ≤ 1 + 1e-4 measured independently', (cin, cout, o) => {
    const layer = new nn.SOCConv2d(cin, cout, { ...o, dtype: 'float64', seed: seed % 1000 + 2 }).eval();
    const rep = lipschitzEstimate((x) => layer.forward(x), [1, cin, 4, 4], { seed: seed % 1000 });
    expect(rep.estimate).toBeLessThanOrEqual(1 + 1e-4);
    expect(rep.estimate).toBeGreaterThan(0.5);
  });

  /** ‖A‖₂ of a dense matrix by cyclic Jacobi on AᵀA (exact up to rounding). */
  function denseNorm(A: Float64Array[], n: number): number {
    const B = Array.from({ length: n }, () => new Float64Array(n));
    // B = AᵀA with A given by columns A[j] (length m)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) B[i][j] = A[i].reduce((s, v, r) => s + v * A[j][r], 0);
    for (let sweep = 0; sweep < 60; sweep++) {
      let off = 0;
      for (let p = 0; p < n; p++)
        for (let q = p + 1; q < n; q++) {
          off += B[p][q] ** 2;
          if (Math.abs(B[p][q]) < 1e-300) continue;
          const th = (B[q][q] - B[p][p]) / (2 * B[p][q]);
          const t = Math.sign(th || 1) / (Math.abs(th) + Math.sqrt(th * th + 1));
          const c = 1 / Math.sqrt(t * t + 1), s = t * c;
          for (let k = 0; k < n; k++) {
            const bp = B[k][p], bq = B[k][q];
            B[k][p] = c * bp - s * bq;
            B[k][q] = s * bp + c * bq;
          }
          for (let k = 0; k < n; k++) {
            const bp = B[p][k], bq = B[q][k];
            B[p][k] = c * bp - s * bq;
            B[q][k] = s * bp + c * bq;
          }
        }
      if (off < 1e-30) break;
    }
    return Math.sqrt(Math.max(...B.map((r, i) => r[i])));
  }

  test.each([3, 6, 15])('lipschitzBound (evalTerms %d) ≥ the exact norm of the dense operator', (T) => {
    const layer = new nn.SOCConv2d(2, 2, { dtype: 'float64', evalTerms: T, seed: seed % 1000 + 3 }).eval();
    const xs = [1, 2, 3, 3];
    const n = numel(xs);
    const p = paramsOf(layer);
    const meta = { inChannels: 2, outChannels: 2, stride: 1, kernelSize: 3, channels: 2 };
    const cols = Array.from({ length: n }, (_, j) => {
      const e = new Float64Array(n);
      e[j] = 1;
      const y = refLayer(e, xs, { ...p, bias: null }, meta, T);
      return y;
    });
    const exact = denseNorm(cols, n);
    const bound = layer.lipschitzBound({ inputSize: [3, 3] });
    expect(bound).toBeGreaterThanOrEqual(exact);
    if (T === 15) expect(bound).toBeLessThan(1 + 1e-3);  // and not vacuous
  });
});

describe('SOCConv2d state', () => {
  test('eval cache: reused while unchanged, rebuilt after an optimizer step, a load or refreshSigma', () => {
    const layer = new nn.SOCConv2d(3, 3, { dtype: 'float64', seed: 7 });
    const xs = [1, 3, 4, 4];
    const xd = gauss(numel(xs));
    const meta = { inChannels: 3, outChannels: 3, stride: 1, kernelSize: 3, channels: 3 };
    const check = (): void => {
      const y = host(layer.forward(t64(xd, xs)));
      expect(maxAbs(y, refLayer(xd, xs, paramsOf(layer), meta, 15))).toBeLessThan(1e-11);
    };
    layer.eval();
    check();
    check();
    // an in-place optimizer step on the weight
    layer.train();
    const opt = new ol.optim.SGD(layer.parameters(), { lr: 0.5 });
    O.sum(O.mul(layer.forward(t64(xd, xs)), t64(gauss(numel(xs)), xs))).backward();
    opt.step();
    layer.eval();
    check();
    // loadStateDict from another layer
    const other = new nn.SOCConv2d(3, 3, { dtype: 'float64', seed: 8 });
    layer.loadStateDict(other.stateDict());
    check();
    layer.refreshSigma(3);
    check();
  });

  test('state dict: names and shapes (SPEC.md A.4); round trip gives the same eval outputs', () => {
    const a = new nn.SOCConv2d(2, 6, { stride: 2, seed: 11 });
    const sd = a.stateDict();
    const C = 8;
    expect(Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, v.shape]))).toEqual({
      weight: [C, C, 3, 3], bias: [6], _u1: [1, C, 1, 3], _v1: [C, 1, 3, 1], _u2: [1, C, 3, 1], _v2: [C, 1, 1, 3],
      _u3: [1, C, 3, 3], _v3: [C, 1, 1, 1], _u4: [C, 1, 3, 3], _v4: [1, C, 1, 1],
    });
    const b = new nn.SOCConv2d(2, 6, { stride: 2, seed: 12 });
    b.loadStateDict(sd);
    const x = ol.tensor(Array.from(gauss(2 * 2 * 4 * 4)), { shape: [2, 2, 4, 4] });
    expect(maxAbs(host(a.eval().forward(x)), host(b.eval().forward(x)))).toBe(0);
  });

  test('bad arguments: OnelipError naming the layer and the argument', () => {
    expect(() => new nn.SOCConv2d(2, 2, { kernelSize: 2 })).toThrow(/SOCConv2d: 'kernelSize' must be odd/);
    expect(() => new nn.SOCConv2d(2, 2, { stride: 3 as 1 })).toThrow(/'stride' must be 1 or 2/);
    expect(() => new nn.SOCConv2d(2, 2, { trainTerms: 0 })).toThrow(/'trainTerms'/);
    const l = new nn.SOCConv2d(2, 2, { stride: 2 });
    expect(() => l.forward(ol.zeros([1, 3, 4, 4]))).toThrow(/SOCConv2d: x must be \[N, 2, H, W\]/);
    expect(() => l.forward(ol.zeros([1, 2, 3, 4]))).toThrow(/even height/);
    expect(() => O.socExp(ol.zeros([1, 2, 3, 3]), ol.zeros([2, 2, 2, 2]))).toThrow(/soc_exp: .*odd/);
    expect(() => O.socExp(ol.zeros([1, 2, 3, 3]), ol.zeros([3, 3, 3, 3]))).toThrow(/soc_exp: input 1 \(L\) has 3 channels/);
  });
});
