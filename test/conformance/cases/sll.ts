/**
 * Conformance cases: the SLL and AOL layer ops (sll_dense, sll_conv2d, aol_dense, aol_conv2d) and
 * their backward ops.
 *
 * References (plain float64): the layer formulas of SPEC.md A.2 / A.3 written as loops (the conv as
 * its defining sum with zero padding k//2, the Gram of the conv layers by `refSelfCorr`); the backward
 * ops against central finite differences of ⟨y(x, W, b, q), gy⟩ of that reference, input by input.
 */
import { Builder, DType, Expected, FLOATS, HostInput, input, Rng, round, Variant } from './common';
import { vjpByFiniteDifferences } from './shuffle';
import { refSelfCorr } from './spectral';

type Arr = ArrayLike<number>;

// ---------------- shared pieces ----------------

/** Zero-safe inverse / inverse square root of the row bounds t. */
const safeInv = (t: number): number => (t === 0 ? 0 : 1 / t);

/** t_i = Σ_j A_ij·exp(q_j − q_i) for A = |G| (summed over the trailing offsets when S > 1). */
function rowBound(G: Arr, m: number, S: number, q: Arr): Float64Array {
  const t = new Float64Array(m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) {
      let a = 0;
      for (let s = 0; s < S; s++) a += Math.abs(G[(i * m + j) * S + s]);
      t[i] += a * Math.exp(q[j] - q[i]);
    }
  return t;
}

/** z [N, O, H, W] = K ⋆ x + b, zero padding k//2, stride 1. */
function convRef(x: Arr, K: Arr, b: Arr | null, N: number, C: number, H: number, W: number, O: number, k: number): Float64Array {
  const p = (k - 1) / 2;
  const z = new Float64Array(N * O * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          let s = b ? b[o] : 0;
          for (let c = 0; c < C; c++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) {
                const hh = h + u - p, ww = w + v - p;
                if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
                s += K[((o * C + c) * k + u) * k + v] * x[((n * C + c) * H + hh) * W + ww];
              }
          z[((n * O + o) * H + h) * W + w] = s;
        }
  return z;
}

/** The adjoint of convRef (no bias): out [N, C, H, W] from s [N, O, H, W]. */
function convAdjointRef(s: Arr, K: Arr, N: number, C: number, H: number, W: number, O: number, k: number): Float64Array {
  const p = (k - 1) / 2;
  const out = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const g = s[((n * O + o) * H + h) * W + w];
          for (let c = 0; c < C; c++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) {
                const hh = h + u - p, ww = w + v - p;
                if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
                out[((n * C + c) * H + hh) * W + ww] += K[((o * C + c) * k + u) * k + v] * g;
              }
        }
  return out;
}

// ---------------- references of the four layers ----------------

interface Geo {
  N: number;
  F: number; // dense: features / in; conv: channels
  m: number; // dense SLL inner / AOL out; conv: inner / out
  H?: number;
  W?: number;
  k?: number;
}

/** SLL dense: returns [y, z, T, G]. */
export function sllDenseRef(x: Arr, Wt: Arr, b: Arr, q: Arr, g: Geo): Float64Array[] {
  const { N, F, m } = g;
  const G = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) for (let f = 0; f < F; f++) G[i * m + j] += Wt[i * F + f] * Wt[j * F + f];
  const T = rowBound(G, m, 1, q).map(safeInv);
  const z = new Float64Array(N * m), y = Float64Array.from(x);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < m; i++) {
      let s = b[i];
      for (let f = 0; f < F; f++) s += Wt[i * F + f] * x[n * F + f];
      z[n * m + i] = s;
      const a = T[i] * Math.max(s, 0);
      for (let f = 0; f < F; f++) y[n * F + f] -= 2 * Wt[i * F + f] * a;
    }
  return [y, z, T, G];
}

/** SLL conv: returns [y, z, T, G]. */
export function sllConvRef(x: Arr, K: Arr, b: Arr, q: Arr, g: Geo): Float64Array[] {
  const { N, F: C, m, H = 1, W = 1, k = 1 } = g;
  const G = refSelfCorr(K, [m, C, k, k]).data;
  const S = (2 * k - 1) ** 2;
  const T = rowBound(G, m, S, q).map(safeInv);
  const z = convRef(x, K, b, N, C, H, W, m, k);
  const s = z.map((v, e) => T[Math.floor(e / (H * W)) % m] * Math.max(v, 0));
  const adj = convAdjointRef(s, K, N, C, H, W, m, k);
  const y = Float64Array.from(x, (v, e) => v - 2 * adj[e]);
  return [y, z, T, G];
}

/** AOL dense (P [n, d] = [m, F]): returns [y, D, M]. */
export function aolDenseRef(x: Arr, P: Arr, b: Arr, q: Arr, g: Geo): Float64Array[] {
  const { N, F: d, m: n } = g;
  const M = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let o = 0; o < n; o++) M[i * d + j] += P[o * d + i] * P[o * d + j];
  const D = rowBound(M, d, 1, q).map((t) => safeInv(Math.sqrt(t)));
  const y = new Float64Array(N * n);
  for (let r = 0; r < N; r++)
    for (let o = 0; o < n; o++) {
      let s = b[o];
      for (let j = 0; j < d; j++) s += P[o * d + j] * D[j] * x[r * d + j];
      y[r * n + o] = s;
    }
  return [y, D, M];
}

/** AOL conv (K [O, C, k, k] = [m, F, k, k]): returns [y, D, M]. */
export function aolConvRef(x: Arr, K: Arr, b: Arr, q: Arr, g: Geo): Float64Array[] {
  const { N, F: C, m: O, H = 1, W = 1, k = 1 } = g;
  const Kt = new Float64Array(K.length);
  for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let e = 0; e < k * k; e++) Kt[(c * O + o) * k * k + e] = K[(o * C + c) * k * k + e];
  const M = refSelfCorr(Kt, [C, O, k, k]).data;
  const D = rowBound(M, C, (2 * k - 1) ** 2, q).map((t) => safeInv(Math.sqrt(t + 1e-6)));
  const Ks = Float64Array.from(K, (v, e) => v * D[Math.floor(e / (k * k)) % C]);
  return [convRef(x, Ks, b, N, C, H, W, O, k), D, M];
}

// ---------------- variants ----------------

type Kind = 'sll_dense' | 'sll_conv2d' | 'aol_dense' | 'aol_conv2d';
const REF: Record<Kind, (x: Arr, w: Arr, b: Arr, q: Arr, g: Geo) => Float64Array[]> = {
  sll_dense: sllDenseRef,
  sll_conv2d: sllConvRef,
  aol_dense: aolDenseRef,
  aol_conv2d: aolConvRef,
};

function shapes(kind: Kind, g: Geo): { x: number[]; w: number[]; b: number[]; q: number[]; saved: number[][] } {
  const { N, F, m, H = 1, W = 1, k = 1 } = g;
  const S = 2 * k - 1;
  switch (kind) {
    case 'sll_dense':
      return { x: [N, F], w: [m, F], b: [m], q: [m], saved: [[N, F], [N, m], [m], [m, m]] };
    case 'sll_conv2d':
      return { x: [N, F, H, W], w: [m, F, k, k], b: [m], q: [m], saved: [[N, F, H, W], [N, m, H, W], [m], [m, m, S, S]] };
    case 'aol_dense':
      return { x: [N, F], w: [m, F], b: [m], q: [F], saved: [[N, m], [F], [F, F]] };
    case 'aol_conv2d':
      return { x: [N, F, H, W], w: [m, F, k, k], b: [m], q: [F], saved: [[N, m, H, W], [F], [F, F, S, S]] };
  }
}

const GEOS: Record<Kind, Geo[]> = {
  sll_dense: [{ N: 3, F: 6, m: 4 }, { N: 5, F: 3, m: 7 }, { N: 1, F: 1, m: 1 }],
  sll_conv2d: [{ N: 2, F: 3, m: 4, H: 5, W: 4, k: 3 }, { N: 1, F: 2, m: 3, H: 3, W: 6, k: 1 }, { N: 1, F: 2, m: 2, H: 6, W: 5, k: 5 }],
  aol_dense: [{ N: 3, F: 6, m: 4 }, { N: 4, F: 3, m: 5 }],
  aol_conv2d: [{ N: 2, F: 3, m: 4, H: 5, W: 4, k: 3 }, { N: 1, F: 4, m: 2, H: 4, W: 4, k: 5 }],
};

/** Element count of the sums in the outputs (for the float32 tolerance). */
const depth = (g: Geo): number => g.F * g.m * (g.k ?? 1) ** 4;
const tol = (dtype: DType, g: Geo) =>
  dtype === 'float32' ? { rtol: 2e-4 * Math.sqrt(depth(g)), atol: 2e-4 * Math.sqrt(depth(g)) } : { rtol: 1e-10, atol: 1e-11 * depth(g) };

function params(rng: Rng, kind: Kind, g: Geo, dtype: DType): HostInput[] {
  const sh = shapes(kind, g);
  return [input(rng, sh.x, dtype), input(rng, sh.w, dtype, -1, 1), input(rng, sh.b, dtype, -0.5, 0.5), input(rng, sh.q, dtype, -1, 1)];
}

const host = (data: Arr, shape: number[], dtype: DType): HostInput => ({ data: Array.from(data, (v) => round(v, dtype)), shape, dtype });

function forwardCase(kind: Kind): Builder {
  return (rng) => {
    const out: Variant[] = [];
    for (const dtype of FLOATS)
      for (const g of GEOS[kind]) {
        const ins = params(rng, kind, g, dtype);
        const ref = REF[kind](ins[0].data, ins[1].data, ins[2].data, ins[3].data, g);
        const sh = shapes(kind, g);
        const t = tol(dtype, g);
        out.push({
          name: `${dtype} ${JSON.stringify(g)}`,
          inputs: ins,
          attrs: {},
          expected: ref.map((data, i) => ({ data, shape: sh.saved[i], dtype, ...t })),
        });
        // the eval path: the rescaling vector given as input 4, no Gram (returned empty)
        const scaleIdx = kind.startsWith('sll') ? 2 : 1;
        const cached: Expected[] = ref.map((data, i) => ({ data, shape: sh.saved[i], dtype, ...t }));
        cached[cached.length - 1] = { data: [], shape: [0], dtype, ...t };
        out.push({
          name: `${dtype} ${JSON.stringify(g)} with the cached scale`,
          inputs: [...ins, host(ref[scaleIdx], sh.saved[scaleIdx], dtype)],
          attrs: {},
          expected: cached,
        });
      }
    // a zero row (SLL) / zero input column (AOL) of the weight: the safe inverse gives 0, not Inf/NaN
    for (const dtype of FLOATS) {
      const g = GEOS[kind][0];
      const ins = params(rng, kind, g, dtype);
      const per = kind.endsWith('conv2d') ? g.F * (g.k ?? 1) ** 2 : g.F;
      const wd = ins[1].data;
      if (kind.startsWith('sll')) for (let e = 0; e < per; e++) wd[e] = 0;  // row 0 of W / K
      else for (let e = 0; e < wd.length; e++) if (Math.floor(e / ((g.k ?? 1) ** 2)) % g.F === 0) wd[e] = 0;  // input column 0
      const ref = REF[kind](ins[0].data, wd, ins[2].data, ins[3].data, g);
      const sh = shapes(kind, g);
      out.push({
        name: `${dtype} zero ${kind.startsWith('sll') ? 'row' : 'input column'}: safe inverse`,
        inputs: ins,
        attrs: {},
        expected: ref.map((data, i) => ({ data, shape: sh.saved[i], dtype, ...tol(dtype, g) })),
      });
    }
    return out;
  };
}

function backwardCase(kind: Kind): Builder {
  return (rng) => {
    const out: Variant[] = [];
    for (const dtype of FLOATS)
      for (const g of GEOS[kind]) {
        const ins = params(rng, kind, g, dtype);
        const sh = shapes(kind, g);
        const [x, w, b, q] = ins.map((h) => Float64Array.from(h.data));
        const ref = REF[kind](x, w, b, q, g);
        const gy = input(rng, sh.saved[0], dtype);
        const h = 1e-5;
        const f = (i: number) => (v: Float64Array) => {
          const a = [x, w, b, q].map((arr, j) => (j === i ? v : arr));
          return REF[kind](a[0], a[1], a[2], a[3], g)[0];
        };
        const grads = [x, w, b, q].map((a, i) => vjpByFiniteDifferences(f(i), a, gy.data, h));
        const t = dtype === 'float32' ? { rtol: 2e-3 * Math.sqrt(depth(g)), atol: 2e-3 * Math.sqrt(depth(g)) } : { rtol: 1e-6, atol: 1e-7 * depth(g) };
        out.push({
          name: `${dtype} ${JSON.stringify(g)} vs finite differences`,
          inputs: [gy, ins[0], ins[1], ins[3], ...ref.slice(1).map((data, i) => host(data, sh.saved[i + 1], dtype))],
          attrs: {},
          expected: grads.map((data, i) => ({ data, shape: [sh.x, sh.w, sh.b, sh.q][i], dtype, ...t })),
        });
      }
    return out;
  };
}

export const CASES: Record<string, Builder> = {
  sll_dense: forwardCase('sll_dense'),
  sll_conv2d: forwardCase('sll_conv2d'),
  aol_dense: forwardCase('aol_dense'),
  aol_conv2d: forwardCase('aol_conv2d'),
  sll_dense_backward: backwardCase('sll_dense'),
  sll_conv2d_backward: backwardCase('sll_conv2d'),
  aol_dense_backward: backwardCase('aol_dense'),
  aol_conv2d_backward: backwardCase('aol_conv2d'),
};
