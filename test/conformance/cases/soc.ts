/**
 * Conformance cases: soc_skew, soc_exp (the truncated exponential of a convolution, with its saved
 * Horner intermediates) and soc_exp_backward (exact and fast weight gradient). References are plain
 * float64 loops: the convolution and its adjoint written out, the series as Σ_j (L⋆)^j x / j! from
 * explicit powers (not Horner), the intermediates from their closed form
 * z⁽ⁱ⁾ = Σ_{j ≤ n+1−i} (L⋆)^j x · (i−1)!/(i−1+j)!, and the exact weight gradient as
 * Σ_{a+b ≤ n−1} wgrad((L⋆)^b x, ((L⋆)ᵀ)^a g)/(a+b+1)!. The exact gradients are also checked against
 * finite differences of the forward reference. soc_f4_step: F4 power steps written per reshape as a
 * matrix with explicit index maps.
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';
import { FD_TOL, f64Input, vjpByFiniteDifferences } from './shuffle';

type Ref = { data: Float64Array; shape: number[] };
type Geo = { N: number; C: number; H: number; W: number; kh: number; kw: number };

const geoOf = (xs: number[], ls: number[]): Geo => ({ N: xs[0], C: xs[1], H: xs[2], W: xs[3], kh: ls[2], kw: ls[3] });

/** y[n, o, h, w] = Σ_{c,i,j} L[o, c, i, j] · x[n, c, h + i − kh/2, w + j − kw/2] (zero outside). */
function conv(x: ArrayLike<number>, L: ArrayLike<number>, g: Geo): Float64Array {
  const { N, C, H, W, kh, kw } = g;
  const ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const y = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < C; o++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          let s = 0;
          for (let c = 0; c < C; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const ih = h + i - ph, iw = w + j - pw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += L[((o * C + c) * kh + i) * kw + j] * x[((n * C + c) * H + ih) * W + iw];
              }
          y[((n * C + o) * H + h) * W + w] = s;
        }
  return y;
}

/** The adjoint of conv: every y entry scattered back through the kernel taps it was read from. */
function convAdj(gy: ArrayLike<number>, L: ArrayLike<number>, g: Geo): Float64Array {
  const { N, C, H, W, kh, kw } = g;
  const ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const x = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < C; o++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const v = gy[((n * C + o) * H + h) * W + w];
          for (let c = 0; c < C; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const ih = h + i - ph, iw = w + j - pw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                x[((n * C + c) * H + ih) * W + iw] += L[((o * C + c) * kh + i) * kw + j] * v;
              }
        }
  return x;
}

/** dL[o, c, i, j] = Σ_{n,h,w} gy[n, o, h, w] · x[n, c, h + i − kh/2, w + j − kw/2]. */
function wgrad(x: ArrayLike<number>, gy: ArrayLike<number>, g: Geo): Float64Array {
  const { N, C, H, W, kh, kw } = g;
  const ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const dL = new Float64Array(C * C * kh * kw);
  for (let o = 0; o < C; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++) {
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let h = 0; h < H; h++)
              for (let w = 0; w < W; w++) {
                const ih = h + i - ph, iw = w + j - pw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += gy[((n * C + o) * H + h) * W + w] * x[((n * C + c) * H + ih) * W + iw];
              }
          dL[((o * C + c) * kh + i) * kw + j] = s;
        }
  return dL;
}

const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1));

/** [v, Av, A²v, …, A^count v]. */
function powers(v: ArrayLike<number>, A: (u: ArrayLike<number>) => Float64Array, count: number): Float64Array[] {
  const out: Float64Array[] = [Float64Array.from(v)];
  for (let j = 1; j <= count; j++) out.push(A(out[j - 1]));
  return out;
}

const axpy = (acc: Float64Array, a: number, v: ArrayLike<number>): void => {
  for (let e = 0; e < acc.length; e++) acc[e] += a * v[e];
};

/** Σ_{j ≤ terms−1} (L⋆)^j x / j! and the Horner intermediates z⁽ⁱ⁾, i = 2..n (closed form). */
export function refSocExp(x: ArrayLike<number>, L: ArrayLike<number>, g: Geo, terms: number): { y: Float64Array; z: Float64Array[] } {
  const n = terms - 1;
  const P = powers(x, (u) => conv(u, L, g), n);
  const y = new Float64Array(x.length);
  for (let j = 0; j <= n; j++) axpy(y, 1 / fact(j), P[j]);
  const z: Float64Array[] = [];
  for (let i = 2; i <= n; i++) {
    const zi = new Float64Array(x.length);
    for (let j = 0; j <= n + 1 - i; j++) axpy(zi, fact(i - 1) / fact(i - 1 + j), P[j]);
    z.push(zi);
  }
  return { y, z };
}

/** [dx, dL] of y = S(L)x for upstream gy: exact, or the fast approximation (SPEC.md A.4). */
export function refSocExpBackward(gy: ArrayLike<number>, x: ArrayLike<number>, L: ArrayLike<number>, g: Geo, terms: number, fast: boolean): [Float64Array, Float64Array] {
  const n = terms - 1;
  const Px = powers(x, (u) => conv(u, L, g), n);
  const Pg = powers(gy, (u) => convAdj(u, L, g), n);
  const dx = new Float64Array(x.length);
  for (let a = 0; a <= n; a++) axpy(dx, 1 / fact(a), Pg[a]);
  const dL = new Float64Array(L.length);
  if (!fast) {
    for (let a = 0; a < n; a++) for (let b = 0; a + b <= n - 1; b++) axpy(dL, 1 / fact(a + b + 1), wgrad(Px[b], Pg[a], g));
  } else if (n > 0) {
    const z1 = new Float64Array(x.length);
    const G = new Float64Array(x.length);
    for (let j = 0; j < n; j++) {
      axpy(z1, 1 / fact(j + 1), Px[j]);
      axpy(G, 1 / fact(j + 1), Pg[j]);
    }
    dL.set(wgrad(z1, G, g));
  }
  return [dx, dL];
}

/** ½(M − Mᵀ) with Mᵀ[o, c, i, j] = M[c, o, kh−1−i, kw−1−j]. */
export function refSkew(M: ArrayLike<number>, shape: number[]): Float64Array {
  const [C, , kh, kw] = shape;
  const L = new Float64Array(M.length);
  for (let o = 0; o < C; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          L[((o * C + c) * kh + i) * kw + j] = 0.5 * (M[((o * C + c) * kh + i) * kw + j] - M[((c * C + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]);
  return L;
}

const flat = (zs: Float64Array[]): Float64Array => {
  const out = new Float64Array(zs.reduce((s, z) => s + z.length, 0));
  let off = 0;
  for (const z of zs) {
    out.set(z, off);
    off += z.length;
  }
  return out;
};

const tolFor = (dtype: DType) => (dtype === 'float32' ? { rtol: 2e-4, atol: 2e-4 } : { rtol: 1e-10, atol: 1e-11 });

/** [x shape, kernel size, terms]. Kernels have entries in ±0.25 so the series converges quickly. */
const configs: [number[], [number, number], number][] = [
  [[2, 3, 5, 4], [3, 3], 6],
  [[1, 4, 3, 3], [1, 1], 3],
  [[2, 2, 6, 5], [5, 3], 4],
  [[1, 3, 4, 4], [3, 3], 2],
  [[2, 2, 3, 3], [3, 3], 1],
  [[0, 2, 3, 3], [3, 3], 4],
];

const kernelInput = (rng: Rng, C: number, k: [number, number], dtype: DType): HostInput => input(rng, [C, C, k[0], k[1]], dtype, -0.25, 0.25);
const asInput = (data: Float64Array, shape: number[], dtype: DType): HostInput => ({
  data: Array.from(data, (v) => (dtype === 'float32' ? Math.fround(v) : v)),
  shape,
  dtype,
});

const skewCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    ([[3, 3, 3, 3], [5, 5, 1, 1], [2, 2, 5, 3], [4, 4, 7, 7], [0, 0, 3, 3]] as number[][]).map((shape) => {
      const M = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}]`, inputs: [M], attrs: {}, expected: [{ data: refSkew(M.data, shape), shape, dtype }] };
    }),
  );

const saveModes = ['none', 'last', 'all'] as const;

function savedOf(z: Float64Array[], mode: (typeof saveModes)[number]): Float64Array[] {
  return mode === 'none' ? [] : mode === 'last' ? z.slice(0, 1) : z;
}

const socExpCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    configs.flatMap(([xs, k, terms]) =>
      saveModes.map((save): Variant => {
        const x = input(rng, xs, dtype);
        const L = kernelInput(rng, xs[1], k, dtype);
        const { y, z } = refSocExp(x.data, L.data, geoOf(xs, L.shape), terms);
        const s = savedOf(z, save);
        return {
          name: `${dtype} x [${xs}] k ${k} terms ${terms} save ${save}`,
          inputs: [x, L],
          attrs: { terms, save },
          expected: [
            { data: y, shape: xs, dtype, ...tolFor(dtype) },
            { data: flat(s), shape: [s.length, ...xs], dtype, ...tolFor(dtype) },
          ],
        };
      }),
    ),
  );

const socExpBackwardCase: Builder = (rng) => [
  ...FLOATS.flatMap((dtype) =>
    configs.flatMap(([xs, k, terms]) =>
      [false, true].map((fast): Variant => {
        const x = input(rng, xs, dtype);
        const L = kernelInput(rng, xs[1], k, dtype);
        const gy = input(rng, xs, dtype);
        const geo = geoOf(xs, L.shape);
        const s = savedOf(refSocExp(x.data, L.data, geo, terms).z, fast ? 'last' : 'all');
        const [dx, dL] = refSocExpBackward(gy.data, x.data, L.data, geo, terms, fast);
        return {
          name: `${dtype} x [${xs}] k ${k} terms ${terms} ${fast ? 'fast' : 'exact'}`,
          inputs: [gy, x, L, asInput(flat(s), [s.length, ...xs], dtype)],
          attrs: { terms, fast },
          expected: [
            { data: dx, shape: xs, dtype, ...tolFor(dtype) },
            { data: dL, shape: L.shape, dtype, ...tolFor(dtype) },
          ],
        };
      }),
    ),
  ),
  // the exact gradients by finite differences of the forward reference (in x, then in L)
  ...configs.slice(0, 4).flatMap(([xs, k, terms]): Variant[] => {
    const x = f64Input(rng, xs);
    const L = kernelInput(rng, xs[1], k, 'float64');
    const gy = f64Input(rng, xs);
    const geo = geoOf(xs, L.shape);
    const fdx = vjpByFiniteDifferences((v) => refSocExp(v, L.data, geo, terms).y, x.data, gy.data, 2 ** -10);
    const fdL = vjpByFiniteDifferences((v) => refSocExp(x.data, v, geo, terms).y, L.data, gy.data, 2 ** -10);
    const s = refSocExp(x.data, L.data, geo, terms).z;
    // the reference backward must agree with the finite differences too (a wrong reference throws)
    const [rdx, rdL] = refSocExpBackward(gy.data, x.data, L.data, geo, terms, false);
    const worst = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((m, v, e) => Math.max(m, Math.abs(v - b[e])), 0);
    if (worst(rdx, fdx) > 1e-7 || worst(rdL, fdL) > 1e-5) throw new Error('soc reference backward disagrees with finite differences');
    return [{
      name: `x [${xs}] k ${k} terms ${terms}: exact gradients by finite differences`,
      inputs: [gy, x, L, asInput(flat(s), [s.length, ...xs], 'float64')],
      attrs: { terms, fast: false },
      expected: [
        { data: fdx, shape: xs, dtype: 'float64', ...FD_TOL },
        { data: fdL, shape: L.shape, dtype: 'float64', rtol: 1e-5, atol: 1e-5 },  // O(h²) in L (degree-n polynomial)
      ],
    }];
  }),
];

/** Sizes/shapes of the F4 vectors u1, v1, …, u4, v4 for a kernel [C, C, kh, kw]. */
const f4Shapes = (C: number, kh: number, kw: number): number[][] => [
  [1, C, 1, kw], [C, 1, kh, 1], [1, C, kh, 1], [C, 1, 1, kw], [1, C, kh, kw], [C, 1, 1, 1], [C, 1, kh, kw], [1, C, 1, 1],
];

/**
 * F4 power steps written per reshape with explicit index maps: reshape r views L[o, c, h, w] as a matrix
 * (rows: the indices v keeps, columns: those u keeps); v ← normalize(A u), u ← normalize(Aᵀ v);
 * σ_r = vᵀ A u at the end.
 */
function refF4(L: ArrayLike<number>, [C, , kh, kw]: number[], uv0: ArrayLike<number>[], iterations: number): { uv: Float64Array[]; sigma: Float64Array } {
  const uv = uv0.map((t) => Float64Array.from(t));
  // [row index of v, column index of u] of L[o, c, h, w] for each reshape
  const maps: ((o: number, c: number, h: number, w: number) => [number, number])[] = [
    (o, c, h, w) => [o * kh + h, c * kw + w],
    (o, c, h, w) => [o * kw + w, c * kh + h],
    (o, c, h, w) => [o, (c * kh + h) * kw + w],
    (o, c, h, w) => [c, (o * kh + h) * kw + w],
  ];
  const normalize = (a: Float64Array): number => {
    const n = Math.sqrt(a.reduce((s, v) => s + v * v, 0));
    const d = Math.max(n, 1e-12);
    for (let i = 0; i < a.length; i++) a[i] /= d;
    return d;
  };
  const sigma = new Float64Array(4);
  for (let it = 0; it < iterations; it++)
    for (let r = 0; r < 4; r++) {
      const u = uv[2 * r], v = new Float64Array(uv[2 * r + 1].length), un = new Float64Array(u.length);
      for (let o = 0; o < C; o++) for (let c = 0; c < C; c++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) {
        const [i, j] = maps[r](o, c, h, w);
        v[i] += L[((o * C + c) * kh + h) * kw + w] * u[j];
      }
      normalize(v);
      for (let o = 0; o < C; o++) for (let c = 0; c < C; c++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) {
        const [i, j] = maps[r](o, c, h, w);
        un[j] += L[((o * C + c) * kh + h) * kw + w] * v[i];
      }
      normalize(un);
      uv[2 * r] = un;
      uv[2 * r + 1] = v;
      let sg = 0;
      for (let o = 0; o < C; o++) for (let c = 0; c < C; c++) for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) {
        const [i, j] = maps[r](o, c, h, w);
        sg += L[((o * C + c) * kh + h) * kw + w] * v[i] * un[j];
      }
      sigma[r] = sg;
    }
  return { uv, sigma };
}

const f4Case: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    ([[[3, 3, 3, 3], 1], [[4, 4, 1, 1], 3], [[2, 2, 5, 3], 2], [[5, 5, 3, 3], 7]] as [number[], number][]).map(([shape, iterations]): Variant => {
      const L = input(rng, shape, dtype);
      const uv = f4Shapes(shape[0], shape[2], shape[3]).map((s) => input(rng, s, dtype));
      const ref = refF4(L.data, shape, uv.map((t) => t.data), iterations);
      const tol = dtype === 'float32' ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-10, atol: 1e-12 };
      return {
        name: `${dtype} L [${shape}] iterations ${iterations}`,
        inputs: [L, ...uv],
        attrs: { iterations },
        expected: [...ref.uv.map((d, i) => ({ data: d, shape: uv[i].shape, dtype, ...tol })), { data: ref.sigma, shape: [4], dtype, ...tol }],
      };
    }),
  );

export const CASES: Record<string, Builder> = {
  soc_f4_step: f4Case,
  soc_skew: skewCase,
  soc_exp: socExpCase,
  soc_exp_backward: socExpBackwardCase,
};
