/**
 * Conformance cases: the fused CPL ops cpl_dense, cpl_conv2d and their backward ops.
 *
 * References (plain float64): the layer y = x − h·Aᵀ relu(A x + b), h = 2/(σ² + 1e-4), with A the
 * matrix product or the zero-padded "same" cross-correlation written as loops; the backward ops
 * against the gradient formulas written as loops (chain rule through the relu mask) and, separately,
 * against central finite differences of ⟨y, gy⟩ of the forward reference (exact but for rounding in x,
 * W and b, where the map is at most quadratic between relu kinks; O(step²) in σ).
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';
import { dot, vjpByFiniteDifferences } from './shuffle';

const EPS = 1e-4;

/** The operator A of a CPL layer and its adjoint, on one sample. */
export interface Op {
  apply(W: ArrayLike<number>, x: ArrayLike<number>): Float64Array;
  adjoint(W: ArrayLike<number>, y: ArrayLike<number>): Float64Array;
  /** ∂⟨A(W) x, y⟩/∂W. */
  weightGrad(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array;
  inSize: number;
  outSize: number;
  /** Bias index of output element o. */
  biasOf(o: number): number;
}

export function denseOp(m: number, d: number): Op {
  return {
    inSize: d,
    outSize: m,
    biasOf: (o) => o,
    apply: (W, x) => {
      const z = new Float64Array(m);
      for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) z[i] += W[i * d + j] * x[j];
      return z;
    },
    adjoint: (W, y) => {
      const t = new Float64Array(d);
      for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) t[j] += W[i * d + j] * y[i];
      return t;
    },
    weightGrad: (x, y) => {
      const g = new Float64Array(m * d);
      for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) g[i * d + j] = y[i] * x[j];
      return g;
    },
  };
}

/** K [m, c, k, k] on [c, H, W] maps, stride 1, zero padding k//2. */
export function convOp(m: number, c: number, k: number, H: number, Wd: number): Op {
  const p = (k - 1) / 2;
  // Visits every (output o, input i, kernel index w) triple of the convolution.
  const each = (f: (o: number, i: number, w: number) => void) => {
    for (let oc = 0; oc < m; oc++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < Wd; x++)
          for (let ic = 0; ic < c; ic++)
            for (let ky = 0; ky < k; ky++)
              for (let kx = 0; kx < k; kx++) {
                const iy = y + ky - p, ix = x + kx - p;
                if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
                f((oc * H + y) * Wd + x, (ic * H + iy) * Wd + ix, ((oc * c + ic) * k + ky) * k + kx);
              }
  };
  return {
    inSize: c * H * Wd,
    outSize: m * H * Wd,
    biasOf: (o) => Math.floor(o / (H * Wd)),
    apply: (K, x) => {
      const z = new Float64Array(m * H * Wd);
      each((o, i, w) => (z[o] += K[w] * x[i]));
      return z;
    },
    adjoint: (K, y) => {
      const t = new Float64Array(c * H * Wd);
      each((o, i, w) => (t[i] += K[w] * y[o]));
      return t;
    },
    weightGrad: (x, y) => {
      const g = new Float64Array(m * c * k * k);
      each((o, i, w) => (g[w] += x[i] * y[o]));
      return g;
    },
  };
}

const sample = (a: ArrayLike<number>, n: number, size: number) => Array.prototype.slice.call(a, n * size, (n + 1) * size) as number[];

/** y = x − h·Aᵀ relu(A x + b) for every sample. */
export function refForward(A: Op, N: number, x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number>, sigma: number): Float64Array {
  const h = 2 / (sigma * sigma + EPS);
  const y = new Float64Array(N * A.inSize);
  for (let n = 0; n < N; n++) {
    const xs = sample(x, n, A.inSize);
    const z = A.apply(W, xs);
    for (let o = 0; o < z.length; o++) z[o] = Math.max(0, z[o] + b[A.biasOf(o)]);
    const t = A.adjoint(W, z);
    for (let i = 0; i < A.inSize; i++) y[n * A.inSize + i] = xs[i] - h * t[i];
  }
  return y;
}

/** The activation relu(A x + b) of every sample. */
export function refActivation(A: Op, N: number, x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(N * A.outSize);
  for (let n = 0; n < N; n++) {
    const z = A.apply(W, sample(x, n, A.inSize));
    for (let o = 0; o < z.length; o++) out[n * A.outSize + o] = Math.max(0, z[o] + b[A.biasOf(o)]);
  }
  return out;
}

/** [gx, gW, gb, gsigma] of ⟨gy, y⟩ by the chain rule, sample by sample. */
export function refBackward(A: Op, N: number, gy: ArrayLike<number>, x: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number>, sigma: number, nb: number) {
  const den = sigma * sigma + EPS;
  const h = 2 / den;
  const gx = new Float64Array(N * A.inSize);
  const gW = new Float64Array(W.length);
  const gb = new Float64Array(nb);
  let gh = 0;
  for (let n = 0; n < N; n++) {
    const xs = sample(x, n, A.inSize), gs = sample(gy, n, A.inSize);
    const z = A.apply(W, xs);
    const a = new Float64Array(z.length), s = new Float64Array(z.length);
    const r = A.apply(W, gs);  // ∂⟨gy, Aᵀa⟩/∂a = A gy
    for (let o = 0; o < z.length; o++) {
      const zo = z[o] + b[A.biasOf(o)];
      a[o] = Math.max(0, zo);
      s[o] = zo > 0 ? r[o] : 0;
    }
    // y = x − h·Aᵀa: through x directly and through a = relu(Ax + b)
    const t = A.adjoint(W, s);
    for (let i = 0; i < A.inSize; i++) gx[n * A.inSize + i] = gs[i] - h * t[i];
    const g1 = A.weightGrad(gs, a), g2 = A.weightGrad(xs, s);
    for (let w = 0; w < gW.length; w++) gW[w] -= h * (g1[w] + g2[w]);
    for (let o = 0; o < z.length; o++) gb[A.biasOf(o)] -= h * s[o];
    gh -= dot(a, r);
  }
  const gsigma = gh * (-4 * sigma) / (den * den);  // dh/dσ = −4σ/(σ² + ε)²
  return { gx, gW, gb, gsigma };
}

interface Geometry {
  name: string;
  A: Op;
  N: number;
  xShape: number[];
  wShape: number[];
  m: number;
  aShape: number[];
}

const denseGeoms: [number, number, number][] = [[3, 5, 4], [1, 7, 2], [6, 4, 9], [2, 33, 17]];
const convGeoms: [number, number, number, number, number, number][] = [
  // N, c, m, k, H, W
  [2, 3, 4, 3, 5, 4],
  [1, 2, 3, 1, 3, 3],
  [2, 2, 2, 5, 6, 5],
  [1, 3, 2, 7, 4, 4], // kernel larger than the map
  [3, 4, 5, 3, 8, 8],
];

function geometries(conv: boolean): Geometry[] {
  if (!conv) return denseGeoms.map(([N, d, m]) => ({ name: `x [${N}, ${d}], W [${m}, ${d}]`, A: denseOp(m, d), N, xShape: [N, d], wShape: [m, d], m, aShape: [N, m] }));
  return convGeoms.map(([N, c, m, k, H, W]) => ({
    name: `x [${N}, ${c}, ${H}, ${W}], K [${m}, ${c}, ${k}, ${k}]`, A: convOp(m, c, k, H, W), N, xShape: [N, c, H, W], wShape: [m, c, k, k], m, aShape: [N, m, H, W],
  }));
}

/** Inputs with W scaled so that h·‖W‖² is of order 1 (the layer's regime). */
function layerInputs(rng: Rng, g: Geometry, dtype: DType, sigmaShape: number[]): HostInput[] {
  const x = input(rng, g.xShape, dtype);
  const fanIn = g.wShape.slice(1).reduce((a, v) => a * v, 1);
  const W = input(rng, g.wShape, dtype, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
  const b = input(rng, [g.m], dtype, -0.5, 0.5);
  const sigma = input(rng, sigmaShape, dtype, 0.5, 2);
  return [x, W, b, sigma];
}

/** The forward's activation as the backward op's input (rounded to dtype). */
function activationInput(g: Geometry, x: HostInput, W: HostInput, b: HostInput, dtype: DType): HostInput {
  const a = refActivation(g.A, g.N, x.data, W.data, b.data);
  return { data: Array.from(a, (v) => (dtype === 'float32' ? Math.fround(v) : v)), shape: g.aShape, dtype };
}

const tol = (dtype: DType) => (dtype === 'float32' ? { rtol: 2e-4, atol: 2e-4 } : { rtol: 1e-10, atol: 1e-11 });

const forwardCase = (conv: boolean): Builder => (rng) =>
  FLOATS.flatMap((dtype) =>
    geometries(conv).map((g, gi): Variant => {
      const ins = layerInputs(rng, g, dtype, gi % 2 ? [1] : []);
      const [x, W, b, s] = ins;
      return {
        name: `${dtype} ${g.name}`,
        inputs: ins,
        attrs: {},
        expected: [
          { data: refForward(g.A, g.N, x.data, W.data, b.data, s.data[0]), shape: g.xShape, dtype, ...tol(dtype) },
          { data: refActivation(g.A, g.N, x.data, W.data, b.data), shape: g.aShape, dtype, ...tol(dtype) },
        ],
      };
    }),
  );

const backwardCase = (conv: boolean): Builder => (rng) => [
  ...FLOATS.flatMap((dtype) =>
    geometries(conv).map((g, gi): Variant => {
      const sShape = gi % 2 ? [1] : [];
      const [x, W, b, s] = layerInputs(rng, g, dtype, sShape);
      const gy = input(rng, g.xShape, dtype);
      const r = refBackward(g.A, g.N, gy.data, x.data, W.data, b.data, s.data[0], g.m);
      return {
        name: `${dtype} ${g.name}`,
        inputs: [gy, x, W, activationInput(g, x, W, b, dtype), s],
        attrs: {},
        expected: [
          { data: r.gx, shape: g.xShape, dtype, ...tol(dtype) },
          { data: r.gW, shape: g.wShape, dtype, ...tol(dtype) },
          { data: r.gb, shape: [g.m], dtype, ...tol(dtype) },
          { data: [r.gsigma], shape: sShape, dtype, ...tol(dtype) },
        ],
      };
    }),
  ),
  // float64, against central finite differences of ⟨gy, y⟩ of the forward reference
  ...geometries(conv).slice(0, 3).map((g): Variant => {
    const [x, W, b, s] = layerInputs(rng, g, 'float64', []);
    const gy = input(rng, g.xShape, 'float64');
    const f = (xv: ArrayLike<number>, Wv: ArrayLike<number>, bv: ArrayLike<number>, sv: number) => refForward(g.A, g.N, xv, Wv, bv, sv);
    const step = 1e-6;
    const fd = (which: number) =>
      vjpByFiniteDifferences(
        (v) => (which === 0 ? f(v, W.data, b.data, s.data[0]) : which === 1 ? f(x.data, v, b.data, s.data[0]) : which === 2 ? f(x.data, W.data, v, s.data[0]) : f(x.data, W.data, b.data, v[0])),
        [x.data, W.data, b.data, s.data][which], gy.data, step);
    const t = { rtol: 1e-5, atol: 1e-6 };
    return {
      name: `float64 ${g.name}: gradients by finite differences`,
      inputs: [gy, x, W, activationInput(g, x, W, b, 'float64'), s],
      attrs: {},
      expected: [
        { data: fd(0), shape: g.xShape, dtype: 'float64', ...t },
        { data: fd(1), shape: g.wShape, dtype: 'float64', ...t },
        { data: fd(2), shape: [g.m], dtype: 'float64', ...t },
        { data: fd(3), shape: [], dtype: 'float64', ...t },
      ],
    };
  }),
];

export const CASES: Record<string, Builder> = {
  cpl_dense: forwardCase(false),
  cpl_dense_backward: backwardCase(false),
  cpl_conv2d: forwardCase(true),
  cpl_conv2d_backward: backwardCase(true),
};
