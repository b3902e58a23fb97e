/**
 * Conformance cases: the conv2d family (conv2d, conv2d_backward_input, conv2d_backward_weight,
 * conv_transpose2d) against direct float64 loops over every (output pixel, channel, tap). The backward
 * ops are also compared with finite-difference vector–Jacobian products of the conv2d reference, and
 * the references satisfy the adjoint identities ⟨conv(x), g⟩ = ⟨x, convᵀ(g)⟩ = ⟨w, dw(x, g)⟩ (checked
 * while building the cases; a violation throws). conv_transpose2d has its own scatter-form reference.
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';
import { checkAdjoint, f64Input, FD_TOL, vjpByFiniteDifferences } from './shuffle';

const UNIT: Record<string, number> = { float32: 2 ** -24, float64: 2 ** -53 };

interface Geo {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

/** A result with the largest count of terms and Σ|term| of any output element (for tolerances). */
type Ref = { data: Float64Array; shape: number[]; terms: number; absSum: number };

const outSize = (inp: number, k: number, s: number, p: number): number => Math.floor((inp + 2 * p - k) / s) + 1;

/** y[n, o, oh, ow] = b[o] + Σ_{c,i,j} x[n, c, oh·sh − ph + i, ow·sw − pw + j]·w[o, c, i, j] (0 outside x). */
function refConv(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], bias: ArrayLike<number> | null, g: Geo): Ref {
  const [N, C, H, W] = xs;
  const O = ws[0];
  const Ho = outSize(H, g.kh, g.sh, g.ph);
  const Wo = outSize(W, g.kw, g.sw, g.pw);
  const out = new Float64Array(N * O * Ho * Wo);
  let absSum = 0;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < Ho; oh++)
        for (let ow = 0; ow < Wo; ow++) {
          let s = bias ? bias[o] : 0;
          let sa = Math.abs(s);
          for (let c = 0; c < C; c++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const ih = oh * g.sh - g.ph + i;
                const iw = ow * g.sw - g.pw + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const v = x[((n * C + c) * H + ih) * W + iw] * w[((o * C + c) * g.kh + i) * g.kw + j];
                s += v;
                sa += v < 0 ? -v : v;
              }
          out[((n * O + o) * Ho + oh) * Wo + ow] = s;
          if (sa > absSum) absSum = sa;
        }
  return { data: out, shape: [N, O, Ho, Wo], terms: C * g.kh * g.kw + 1, absSum };
}

/** dx = Σ over outputs of g[n, o, oh, ow]·w[o, c, i, j] scattered to x[n, c, oh·sh − ph + i, ...]. */
function refConvBackwardInput(gr: ArrayLike<number>, w: ArrayLike<number>, ws: number[], xs: number[], g: Geo): Ref {
  const [N, C, H, W] = xs;
  const O = ws[0];
  const Ho = outSize(H, g.kh, g.sh, g.ph);
  const Wo = outSize(W, g.kw, g.sw, g.pw);
  const out = new Float64Array(N * C * H * W);
  const abs = new Float64Array(out.length);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oh = 0; oh < Ho; oh++)
        for (let ow = 0; ow < Wo; ow++)
          for (let c = 0; c < C; c++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const ih = oh * g.sh - g.ph + i;
                const iw = ow * g.sw - g.pw + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const e = ((n * C + c) * H + ih) * W + iw;
                const v = gr[((n * O + o) * Ho + oh) * Wo + ow] * w[((o * C + c) * g.kh + i) * g.kw + j];
                out[e] += v;
                abs[e] += v < 0 ? -v : v;
              }
  return { data: out, shape: [...xs], terms: O * g.kh * g.kw, absSum: Math.max(0, ...abs) };
}

/** dw[o, c, i, j] = Σ_{n,oh,ow} g[n, o, oh, ow]·x[n, c, oh·sh − ph + i, ow·sw − pw + j]. */
function refConvBackwardWeight(x: ArrayLike<number>, xs: number[], gr: ArrayLike<number>, O: number, g: Geo): Ref {
  const [N, C, H, W] = xs;
  const Ho = outSize(H, g.kh, g.sh, g.ph);
  const Wo = outSize(W, g.kw, g.sw, g.pw);
  const out = new Float64Array(O * C * g.kh * g.kw);
  let absSum = 0;
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < g.kh; i++)
        for (let j = 0; j < g.kw; j++) {
          let s = 0;
          let sa = 0;
          for (let n = 0; n < N; n++)
            for (let oh = 0; oh < Ho; oh++)
              for (let ow = 0; ow < Wo; ow++) {
                const ih = oh * g.sh - g.ph + i;
                const iw = ow * g.sw - g.pw + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const v = gr[((n * O + o) * Ho + oh) * Wo + ow] * x[((n * C + c) * H + ih) * W + iw];
                s += v;
                sa += v < 0 ? -v : v;
              }
          out[((o * C + c) * g.kh + i) * g.kw + j] = s;
          if (sa > absSum) absSum = sa;
        }
  return { data: out, shape: [O, C, g.kh, g.kw], terms: N * Ho * Wo, absSum };
}

/**
 * PyTorch's definition of conv_transpose2d, written independently of the conv2d references: every
 * x[n, ci, h, v] spreads x·w[ci, co, i, j] onto y[n, co, h·sh − ph + i, v·sw − pw + j] (dropped when
 * outside), and bias[co] is added to every pixel.
 */
function refConvTranspose(x: ArrayLike<number>, xs: number[], w: ArrayLike<number>, ws: number[], bias: ArrayLike<number> | null, g: Geo, oph: number, opw: number): Ref {
  const [N, Ci, H, W] = xs;
  const Co = ws[1];
  const Ho = (H - 1) * g.sh - 2 * g.ph + g.kh + oph;
  const Wo = (W - 1) * g.sw - 2 * g.pw + g.kw + opw;
  const out = new Float64Array(N * Co * Ho * Wo);
  const abs = new Float64Array(out.length);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Co; co++)
      for (let e = 0; e < Ho * Wo; e++) {
        out[(n * Co + co) * Ho * Wo + e] = bias ? bias[co] : 0;
        abs[(n * Co + co) * Ho * Wo + e] = bias ? Math.abs(bias[co]) : 0;
      }
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Ci; ci++)
      for (let h = 0; h < H; h++)
        for (let v = 0; v < W; v++) {
          const xv = x[((n * Ci + ci) * H + h) * W + v];
          for (let co = 0; co < Co; co++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const y = h * g.sh - g.ph + i;
                const z = v * g.sw - g.pw + j;
                if (y < 0 || y >= Ho || z < 0 || z >= Wo) continue;
                const t = xv * w[((ci * Co + co) * g.kh + i) * g.kw + j];
                out[((n * Co + co) * Ho + y) * Wo + z] += t;
                abs[((n * Co + co) * Ho + y) * Wo + z] += t < 0 ? -t : t;
              }
        }
  return { data: out, shape: [N, Co, Ho, Wo], terms: Ci * g.kh * g.kw + 1, absSum: Math.max(0, ...abs) };
}

/** |error| ≤ 2·u·(terms + 2)·max Σ|term| (the worst-case bound of a sum), in the output's unit. */
const tol = (dtype: DType, r: Ref) => ({ atol: 2 * UNIT[dtype] * (r.terms + 2) * r.absSum + 1e-300, rtol: 0 });

interface Setup {
  x: number[];
  o: number;
  k: number | [number, number];
  attrs: Record<string, unknown>;
  bias: boolean;
  dtypes?: DType[];
}

/** Kernel sizes 1..7 (and an even one), strides 1 and 2, default and explicit padding, non-square shapes. */
const SETUPS: Setup[] = [
  { x: [2, 3, 7, 9], o: 4, k: 3, attrs: {}, bias: true },
  { x: [2, 3, 7, 9], o: 4, k: 3, attrs: { stride: 2, padding: 0 }, bias: false },
  { x: [1, 2, 6, 5], o: 3, k: 1, attrs: {}, bias: true },                          // 1×1: no im2col
  { x: [2, 2, 5, 8], o: 3, k: 1, attrs: { stride: 2, padding: [1, 0] }, bias: false },
  { x: [1, 3, 9, 8], o: 2, k: 5, attrs: { stride: 1 }, bias: true },
  { x: [2, 2, 11, 9], o: 3, k: 5, attrs: { stride: [2, 2], padding: [2, 1] }, bias: true },
  { x: [1, 2, 8, 10], o: 3, k: 7, attrs: { padding: 0 }, bias: false },
  { x: [1, 2, 9, 7], o: 2, k: 7, attrs: { stride: 2 }, bias: true },
  { x: [2, 3, 6, 7], o: 2, k: [3, 5], attrs: { stride: [1, 2], padding: [1, 2] }, bias: false },
  { x: [1, 2, 5, 6], o: 2, k: 2, attrs: {}, bias: true },                          // even kernel: Ho = H + 1
  { x: [1, 3, 7, 7], o: 5, k: 3, attrs: { padding: 4 }, bias: false },            // padding ≥ k
  { x: [2, 2, 2, 3], o: 3, k: 5, attrs: { stride: 2, padding: 2 }, bias: true },  // input smaller than the kernel
  { x: [4, 8, 12, 12], o: 12, k: 3, attrs: {}, bias: true },                      // packed GEMM paths, split depth
  { x: [2, 2, 70, 5], o: 3, k: 3, attrs: {}, bias: true },                       // several im2col blocks per image
  { x: [2, 1, 300, 6], o: 2, k: 5, attrs: { stride: 2, padding: [1, 2] }, bias: false },
  { x: [1, 16, 72, 72], o: 12, k: 3, attrs: {}, bias: true, dtypes: ['float32'] }, // one image, GEMM threaded by columns
  { x: [0, 2, 5, 5], o: 3, k: 3, attrs: {}, bias: true },                         // empty batch
];

function geoOf(s: Setup): Geo {
  const [kh, kw] = typeof s.k === 'number' ? [s.k, s.k] : s.k;
  const pair = (v: unknown, d: [number, number]): [number, number] =>
    v === undefined ? d : typeof v === 'number' ? [v, v] : [(v as number[])[0], (v as number[])[(v as number[]).length - 1]];
  const [sh, sw] = pair(s.attrs.stride, [1, 1]);
  const [ph, pw] = pair(s.attrs.padding, [Math.floor(kh / 2), Math.floor(kw / 2)]);
  return { kh, kw, sh, sw, ph, pw };
}

const label = (s: Setup, dtype: string) =>
  `${dtype} x [${s.x}] w ${s.o}×${s.x[1]}×${typeof s.k === 'number' ? `${s.k}×${s.k}` : s.k.join('×')} ${JSON.stringify(s.attrs)}${s.bias ? ' +bias' : ''}`;

function each(rng: Rng, f: (s: Setup, dtype: DType, g: Geo) => Variant): Variant[] {
  return SETUPS.flatMap((s) => (s.dtypes ?? FLOATS).map((dtype) => f(s, dtype, geoOf(s))));
}

const conv2dCase: Builder = (rng) =>
  each(rng, (s, dtype, g) => {
    const ws = [s.o, s.x[1], g.kh, g.kw];
    const x = input(rng, s.x, dtype);
    const w = input(rng, ws, dtype);
    const b = s.bias ? input(rng, [s.o], dtype) : null;
    const ref = refConv(x.data, s.x, w.data, ws, b ? b.data : null, g);
    return { name: label(s, dtype), inputs: b ? [x, w, b] : [x, w], attrs: s.attrs, expected: [{ data: ref.data, shape: ref.shape, dtype, ...tol(dtype, ref) }] };
  });

/** Small float64 setups for the finite-difference checks (each costs 2·numel forward evaluations). */
const FD_SETUPS: Setup[] = [
  { x: [1, 2, 5, 6], o: 3, k: 3, attrs: {}, bias: false },
  { x: [2, 2, 5, 4], o: 2, k: 3, attrs: { stride: 2, padding: 0 }, bias: false },
  { x: [1, 2, 6, 5], o: 2, k: [1, 5], attrs: { stride: [2, 1], padding: [0, 3] }, bias: false },
];

const backwardInputCase: Builder = (rng) => [
  ...each(rng, (s, dtype, g) => {
    const ws = [s.o, s.x[1], g.kh, g.kw];
    const ys = [s.x[0], s.o, outSize(s.x[2], g.kh, g.sh, g.ph), outSize(s.x[3], g.kw, g.sw, g.pw)];
    const gr = input(rng, ys, dtype);
    const w = input(rng, ws, dtype);
    const ref = refConvBackwardInput(gr.data, w.data, ws, s.x, g);
    return { name: label(s, dtype), inputs: [gr, w], attrs: { ...s.attrs, inputShape: s.x }, expected: [{ data: ref.data, shape: ref.shape, dtype, ...tol(dtype, ref) }] };
  }),
  ...FD_SETUPS.map((s): Variant => {
    const g = geoOf(s);
    const ws = [s.o, s.x[1], g.kh, g.kw];
    const x = f64Input(rng, s.x);
    const w = f64Input(rng, ws);
    const fx = refConv(x.data, s.x, w.data, ws, null, g);
    const gr = f64Input(rng, fx.shape);
    const back = refConvBackwardInput(gr.data, w.data, ws, s.x, g);
    checkAdjoint(`conv2d in x ${label(s, 'float64')}`, fx.data, gr.data, x.data, back.data);
    const fd = vjpByFiniteDifferences((v) => refConv(v, s.x, w.data, ws, null, g).data, x.data, gr.data, 2 ** -10);
    return { name: `${label(s, 'float64')}: gradient of conv2d in x by finite differences`, inputs: [gr, w], attrs: { ...s.attrs, inputShape: s.x }, expected: [{ data: fd, shape: s.x, dtype: 'float64', ...FD_TOL }] };
  }),
];

const backwardWeightCase: Builder = (rng) => [
  ...each(rng, (s, dtype, g) => {
    const ys = [s.x[0], s.o, outSize(s.x[2], g.kh, g.sh, g.ph), outSize(s.x[3], g.kw, g.sw, g.pw)];
    const x = input(rng, s.x, dtype);
    const gr = input(rng, ys, dtype);
    const ref = refConvBackwardWeight(x.data, s.x, gr.data, s.o, g);
    return { name: label(s, dtype), inputs: [x, gr], attrs: { ...s.attrs, kernelSize: s.k }, expected: [{ data: ref.data, shape: ref.shape, dtype, ...tol(dtype, ref) }] };
  }),
  ...FD_SETUPS.map((s): Variant => {
    const g = geoOf(s);
    const ws = [s.o, s.x[1], g.kh, g.kw];
    const x = f64Input(rng, s.x);
    const w = f64Input(rng, ws);
    const fw = refConv(x.data, s.x, w.data, ws, null, g);
    const gr = f64Input(rng, fw.shape);
    const back = refConvBackwardWeight(x.data, s.x, gr.data, s.o, g);
    checkAdjoint(`conv2d in w ${label(s, 'float64')}`, fw.data, gr.data, w.data, back.data);
    const fd = vjpByFiniteDifferences((v) => refConv(x.data, s.x, v, ws, null, g).data, w.data, gr.data, 2 ** -10);
    return { name: `${label(s, 'float64')}: gradient of conv2d in w by finite differences`, inputs: [x, gr], attrs: { ...s.attrs, kernelSize: s.k }, expected: [{ data: fd, shape: ws, dtype: 'float64', ...FD_TOL }] };
  }),
];

/** [x, Cout, kernel, attrs, bias]: conv_transpose2d's own attrs (outputPadding < stride). */
const TRANSPOSE_SETUPS: Setup[] = [
  { x: [2, 3, 4, 5], o: 2, k: 3, attrs: {}, bias: true },
  { x: [2, 3, 4, 5], o: 2, k: 3, attrs: { stride: 2, outputPadding: 1 }, bias: false },
  { x: [1, 2, 3, 4], o: 3, k: [1, 5], attrs: { stride: [2, 1], padding: [0, 1], outputPadding: [1, 0] }, bias: true },
  { x: [1, 4, 5, 5], o: 3, k: 5, attrs: { stride: 2, padding: 0 }, bias: false },
  { x: [1, 2, 3, 3], o: 2, k: 7, attrs: { padding: 1 }, bias: true },
  { x: [2, 2, 6, 6], o: 3, k: 1, attrs: {}, bias: false },
  { x: [3, 6, 8, 8], o: 8, k: 3, attrs: { stride: 2, padding: 1, outputPadding: 1 }, bias: true },
];

const transposeCase: Builder = (rng) =>
  TRANSPOSE_SETUPS.flatMap((s) =>
    FLOATS.map((dtype): Variant => {
      const g = geoOf(s);
      const op = s.attrs.outputPadding;
      const [oph, opw] = op === undefined ? [0, 0] : typeof op === 'number' ? [op, op] : (op as number[]);
      const ws = [s.x[1], s.o, g.kh, g.kw];
      const x = input(rng, s.x, dtype);
      const w = input(rng, ws, dtype);
      const b = s.bias ? input(rng, [s.o], dtype) : null;
      const ref = refConvTranspose(x.data, s.x, w.data, ws, b ? b.data : null, g, oph, opw);
      if (!b && dtype === 'float64') {
        // conv_transpose2d is the adjoint of conv2d with the same weight: ⟨convᵀ(x), y⟩ = ⟨x, conv(y)⟩.
        const y = f64Input(rng, ref.shape);
        checkAdjoint(`conv_transpose2d ${JSON.stringify(s.attrs)}`, ref.data, y.data, x.data, refConv(y.data, ref.shape, w.data, ws, null, g).data);
      }
      return { name: `${dtype} x [${s.x}] w [${ws}] ${JSON.stringify(s.attrs)}${s.bias ? ' +bias' : ''}`, inputs: b ? [x, w, b] : [x, w], attrs: s.attrs, expected: [{ data: ref.data, shape: ref.shape, dtype, ...tol(dtype, ref) }] };
    }),
  );

export const CASES: Record<string, Builder> = {
  conv2d: conv2dCase,
  conv2d_backward_input: backwardInputCase,
  conv2d_backward_weight: backwardWeightCase,
  conv_transpose2d: transposeCase,
};

export type { HostInput };
