/**
 * Conformance cases: kernel_self_correlation and its gradient op, power_iteration_dense and
 * power_iteration_conv.
 *
 * References (plain float64): the self-correlation as its defining sum; its gradient by the product
 * rule applied term by term, and by central finite differences of ⟨G(K), gradG⟩; power iteration as the
 * same iteration written plainly (v ← Au/‖Au‖, u ← Aᵀv/‖Aᵀv‖, sigma = ‖Aᵀv‖ of the last step). The
 * convergence variants check the reference itself (a violation throws): for a matrix with planted
 * singular values sigma equals the largest one, and Aᵀv = sigma·u, ‖u‖ = ‖v‖ = 1; for a small conv
 * the reference matches the exact operator norm of the conv built as a dense matrix (largest
 * eigenvalue of AᵀA by cyclic Jacobi).
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';
import { dot, f64Input, vjpByFiniteDifferences } from './shuffle';

type Ref = { data: Float64Array; shape: number[] };

// ---------------- self-correlation ----------------

/** G[i, j, s] = Σ_c Σ_u K[i, c, u + s]·K[j, c, u], s + k − 1 ∈ [0, 2k − 1)². */
export function refSelfCorr(K: ArrayLike<number>, shape: number[]): Ref {
  const [m, c, k] = shape;
  const w = 2 * k - 1;
  const G = new Float64Array(m * m * w * w);
  const at = (i: number, ch: number, y: number, x: number) => K[((i * c + ch) * k + y) * k + x];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++)
      for (let sy = -(k - 1); sy < k; sy++)
        for (let sx = -(k - 1); sx < k; sx++) {
          let s = 0;
          for (let ch = 0; ch < c; ch++)
            for (let uy = 0; uy < k; uy++)
              for (let ux = 0; ux < k; ux++) {
                const py = uy + sy, px = ux + sx;
                if (py < 0 || py >= k || px < 0 || px >= k) continue;
                s += at(i, ch, py, px) * at(j, ch, uy, ux);
              }
          G[((i * m + j) * w + sy + k - 1) * w + sx + k - 1] = s;
        }
  return { data: G, shape: [m, m, w, w] };
}

/** The gradient of ⟨G(K), gG⟩: each term K[i,c,u+s]·K[j,c,u] of G[i,j,s] differentiated by the product rule. */
function refSelfCorrBackward(K: ArrayLike<number>, gG: ArrayLike<number>, shape: number[]): Ref {
  const [m, c, k] = shape;
  const w = 2 * k - 1;
  const gK = new Float64Array(m * c * k * k);
  const idx = (i: number, ch: number, y: number, x: number) => ((i * c + ch) * k + y) * k + x;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++)
      for (let sy = -(k - 1); sy < k; sy++)
        for (let sx = -(k - 1); sx < k; sx++) {
          const g = gG[((i * m + j) * w + sy + k - 1) * w + sx + k - 1];
          for (let ch = 0; ch < c; ch++)
            for (let uy = 0; uy < k; uy++)
              for (let ux = 0; ux < k; ux++) {
                const py = uy + sy, px = ux + sx;
                if (py < 0 || py >= k || px < 0 || px >= k) continue;
                gK[idx(i, ch, py, px)] += g * K[idx(j, ch, uy, ux)];
                gK[idx(j, ch, uy, ux)] += g * K[idx(i, ch, py, px)];
              }
        }
  return { data: gK, shape: [...shape] };
}

const selfCorrShapes: number[][] = [
  [3, 2, 3, 3],
  [5, 4, 1, 1],
  [4, 3, 5, 5],
  [2, 2, 7, 7],
  [17, 3, 3, 3], // crosses a 16-row tile
  [6, 12, 3, 3], // several channel chunks on cuda
  [1, 1, 3, 3],
  [3, 0, 3, 3], // no channels: G = 0
  [0, 2, 3, 3],
];

/** float32 sums of c·k² products of magnitude ≤ 4. */
const tolFor = (dtype: DType, c: number, k: number) =>
  dtype === 'float32' ? { rtol: 1e-5, atol: 4e-6 * Math.max(1, c * k * k) } : { rtol: 1e-12, atol: 1e-13 * Math.max(1, c * k * k) };

// cpu: offsets large enough to run one after the other with every thread (float64 only: slow reference)
const bigShape = [40, 200, 3, 3];

const selfCorrCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    (dtype === 'float64' ? [...selfCorrShapes, bigShape] : selfCorrShapes).map((shape): Variant => {
      const K = input(rng, shape, dtype);
      return { name: `${dtype} K [${shape}]`, inputs: [K], attrs: {}, expected: [{ ...refSelfCorr(K.data, shape), dtype, ...tolFor(dtype, shape[1], shape[2]) }] };
    }),
  );

const selfCorrBackwardCase: Builder = (rng) => [
  ...FLOATS.flatMap((dtype) =>
    (dtype === 'float64' ? [...selfCorrShapes, bigShape] : selfCorrShapes).map((shape): Variant => {
      const K = input(rng, shape, dtype);
      const w = 2 * shape[2] - 1;
      const gG = input(rng, [shape[0], shape[0], w, w], dtype);
      const m = shape[0];
      return {
        name: `${dtype} K [${shape}]`,
        inputs: [K, gG],
        attrs: {},
        expected: [{ ...refSelfCorrBackward(K.data, gG.data, shape), dtype, ...tolFor(dtype, 2 * m * shape[1], 2 * shape[2]) }],
      };
    }),
  ),
  // by finite differences of ⟨G(K), gG⟩ (quadratic in K: central differences are exact but for rounding)
  ...[[3, 2, 3, 3], [2, 3, 5, 5], [4, 1, 1, 1]].map((shape): Variant => {
    const K = f64Input(rng, shape);
    const w = 2 * shape[2] - 1;
    const gG = f64Input(rng, [shape[0], shape[0], w, w]);
    const fd = vjpByFiniteDifferences((x) => refSelfCorr(x, shape).data, K.data, gG.data, 2 ** -8);
    return {
      name: `K [${shape}]: gradient by finite differences`,
      inputs: [K, gG],
      attrs: {},
      expected: [{ data: fd, shape, dtype: 'float64', rtol: 1e-9, atol: 1e-9 }],
    };
  }),
];

// ---------------- power iteration ----------------

const norm = (x: ArrayLike<number>): number => Math.sqrt(dot(x, x));
const normalized = (x: Float64Array): { y: Float64Array; n: number } => {
  const n = norm(x);
  return { y: n > 0 ? x.map((v) => v / n) : new Float64Array(x.length), n };
};

/** The iteration of power_iteration_* for A with adjoint At: sigma, u, v after `iters` steps. */
export function refPowerIteration(A: (u: Float64Array) => Float64Array, At: (v: Float64Array) => Float64Array, u0: ArrayLike<number>, iters: number) {
  let u: Float64Array = normalized(Float64Array.from(u0)).y;
  let v: Float64Array = new Float64Array(0);
  let sigma = 0;
  for (let t = 0; t < iters; t++) {
    v = normalized(A(u)).y;
    const r = normalized(At(v));
    u = r.y;
    sigma = r.n;
  }
  return { sigma, u, v };
}

const matVec = (W: ArrayLike<number>, m: number, n: number) => (u: Float64Array): Float64Array => {
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i] += W[i * n + j] * u[j];
  return out;
};
const matTVec = (W: ArrayLike<number>, m: number, n: number) => (v: Float64Array): Float64Array => {
  const out = new Float64Array(n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j] += W[i * n + j] * v[i];
  return out;
};

/** A random n×r matrix with orthonormal columns (Gram–Schmidt twice on a random matrix). */
function orthonormal(rng: Rng, n: number, r: number): Float64Array[] {
  const cols: Float64Array[] = [];
  while (cols.length < r) {
    const x = Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
    for (let pass = 0; pass < 2; pass++)
      for (const q of cols) {
        const d = dot(x, q);
        for (let i = 0; i < n; i++) x[i] -= d * q[i];
      }
    const nx = norm(x);
    if (nx > 1e-3) cols.push(x.map((v) => v / nx));
  }
  return cols;
}

/** W = Σ_r σ_r p_r q_rᵀ (m×n) with orthonormal p, q: its singular values are exactly σ. */
function planted(rng: Rng, m: number, n: number, sigmas: number[]): Float64Array {
  const P = orthonormal(rng, m, sigmas.length);
  const Q = orthonormal(rng, n, sigmas.length);
  const W = new Float64Array(m * n);
  sigmas.forEach((s, r) => {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) W[i * n + j] += s * P[r][i] * Q[r][j];
  });
  return W;
}

/** Throws unless Aᵀv = sigma·u and ‖u‖ = ‖v‖ = 1 (the converged reference), to `tol`. */
function checkConverged(what: string, At: (v: Float64Array) => Float64Array, r: { sigma: number; u: Float64Array; v: Float64Array }, tol: number): void {
  const atv = At(r.v);
  let err = 0;
  for (let i = 0; i < atv.length; i++) err = Math.max(err, Math.abs(atv[i] - r.sigma * r.u[i]));
  if (!(err <= tol * r.sigma && Math.abs(norm(r.u) - 1) <= tol && Math.abs(norm(r.v) - 1) <= tol))
    throw new Error(`${what}: the reference power iteration did not converge (|Aᵀv − σu| = ${err}, σ = ${r.sigma})`);
}

/** sigma from float32 runs: rounding of O(m + n) sums per step, amplified over iterations. */
const piTol = (dtype: DType) => (dtype === 'float32' ? { rtol: 2e-4, atol: 2e-5 } : { rtol: 1e-9, atol: 1e-11 });

function piExpected(r: { sigma: number; u: Float64Array; v: Float64Array }, uShape: number[], vShape: number[], dtype: DType) {
  return [
    { data: [r.sigma], shape: [], dtype, ...piTol(dtype) },
    { data: r.u, shape: uShape, dtype, ...piTol(dtype) },
    { data: r.v, shape: vShape, dtype, ...piTol(dtype) },
  ];
}

const asInput = (data: ArrayLike<number>, shape: number[], dtype: DType): HostInput => ({
  data: Array.from(data, (v) => (dtype === 'float32' ? Math.fround(v) : v)),
  shape,
  dtype,
});

const denseCase: Builder = (rng) => {
  const out: Variant[] = [];
  for (const dtype of FLOATS) {
    // a few iterations from a random start: the same iteration as the reference, step for step
    for (const [m, n, iters] of [[5, 7, 1], [9, 4, 3], [1, 6, 2], [6, 1, 2], [33, 20, 5]]) {
      const W = input(rng, [m, n], dtype);
      const u0 = input(rng, [n], dtype);
      const r = refPowerIteration(matVec(W.data, m, n), matTVec(W.data, m, n), u0.data, iters);
      out.push({ name: `${dtype} W [${m}, ${n}], ${iters} iterations`, inputs: [W, u0], attrs: { iters }, expected: piExpected(r, [n], [m], dtype) });
    }
    // convergence: planted singular values 3 > 1 > 0.5 > …: sigma = ‖W‖₂ = 3 after 40 iterations
    for (const [m, n] of [[12, 8], [6, 10]]) {
      const sig = [3, 1, 0.5, 0.25];
      const Wd = planted(rng, m, n, sig);
      const W = asInput(Wd, [m, n], dtype);
      const u0 = input(rng, [n], dtype);
      const r = refPowerIteration(matVec(W.data, m, n), matTVec(W.data, m, n), u0.data, 40);
      checkConverged(`planted W [${m}, ${n}]`, matTVec(W.data, m, n), r, 1e-12);
      if (dtype === 'float64' && Math.abs(r.sigma - 3) > 1e-12) throw new Error(`planted W: reference sigma ${r.sigma} != 3`);
      const exp = piExpected(r, [n], [m], dtype);
      exp[0] = { data: [dtype === 'float64' ? 3 : r.sigma], shape: [], dtype, ...piTol(dtype) };
      out.push({ name: `${dtype} planted W [${m}, ${n}] (‖W‖₂ = 3), 40 iterations`, inputs: [W, u0], attrs: { iters: 40 }, expected: exp });
    }
    // W = 0: sigma 0, u and v 0 (no NaN)
    out.push({
      name: `${dtype} W = 0`,
      inputs: [asInput(new Float64Array(12), [3, 4], dtype), input(rng, [4], dtype)],
      attrs: { iters: 2 },
      expected: [
        { data: [0], shape: [], dtype },
        { data: new Float64Array(4), shape: [4], dtype },
        { data: new Float64Array(3), shape: [3], dtype },
      ],
    });
  }
  return out;
};

// ---------------- conv power iteration ----------------

interface ConvGeom {
  O: number;
  C: number;
  kh: number;
  kw: number;
  H: number;
  W: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}
const outSize = (g: ConvGeom): [number, number] => [Math.floor((g.H + 2 * g.ph - g.kh) / g.sh) + 1, Math.floor((g.W + 2 * g.pw - g.kw) / g.sw) + 1];

/** y[o, p, q] = Σ_{c,a,b} K[o, c, a, b]·x[c, p·sh + a − ph, q·sw + b − pw] (zero padding). */
function refConv(K: ArrayLike<number>, g: ConvGeom) {
  const [Ho, Wo] = outSize(g);
  return (x: Float64Array): Float64Array => {
    const y = new Float64Array(g.O * Ho * Wo);
    for (let o = 0; o < g.O; o++)
      for (let p = 0; p < Ho; p++)
        for (let q = 0; q < Wo; q++) {
          let s = 0;
          for (let c = 0; c < g.C; c++)
            for (let a = 0; a < g.kh; a++)
              for (let b = 0; b < g.kw; b++) {
                const iy = p * g.sh + a - g.ph, ix = q * g.sw + b - g.pw;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                s += K[((o * g.C + c) * g.kh + a) * g.kw + b] * x[(c * g.H + iy) * g.W + ix];
              }
          y[(o * Ho + p) * Wo + q] = s;
        }
    return y;
  };
}

/** The adjoint of refConv: each output's K-weighted value scattered back onto the input positions. */
function refConvT(K: ArrayLike<number>, g: ConvGeom) {
  const [Ho, Wo] = outSize(g);
  return (y: Float64Array): Float64Array => {
    const x = new Float64Array(g.C * g.H * g.W);
    for (let o = 0; o < g.O; o++)
      for (let p = 0; p < Ho; p++)
        for (let q = 0; q < Wo; q++)
          for (let c = 0; c < g.C; c++)
            for (let a = 0; a < g.kh; a++)
              for (let b = 0; b < g.kw; b++) {
                const iy = p * g.sh + a - g.ph, ix = q * g.sw + b - g.pw;
                if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
                x[(c * g.H + iy) * g.W + ix] += K[((o * g.C + c) * g.kh + a) * g.kw + b] * y[(o * Ho + p) * Wo + q];
              }
    return x;
  };
}

/** Eigenvalues of the symmetric n×n matrix S, descending (cyclic Jacobi rotations until off-diagonal ≈ 0). */
export function jacobiEigenvalues(S: Float64Array, n: number): number[] {
  const a = Float64Array.from(S);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  const ev: number[] = [];
  for (let i = 0; i < n; i++) ev.push(a[i * n + i]);
  return ev.sort((x, y) => y - x);
}

/** The two largest singular values of the conv as a dense matrix: √λ(AᵀA), AᵀA built column by column. */
function exactConvSingular(K: ArrayLike<number>, g: ConvGeom): [number, number] {
  const n = g.C * g.H * g.W;
  const A = refConv(K, g), At = refConvT(K, g);
  const S = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const e = new Float64Array(n);
    e[j] = 1;
    const col = At(A(e));
    for (let i = 0; i < n; i++) S[i * n + j] = col[i];
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) S[i * n + j] = S[j * n + i] = (S[i * n + j] + S[j * n + i]) / 2;
  const ev = jacobiEigenvalues(S, n);
  return [Math.sqrt(ev[0]), Math.sqrt(Math.max(0, ev[1]))];
}

const convGeoms: [ConvGeom, number][] = [
  [{ O: 3, C: 2, kh: 3, kw: 3, H: 5, W: 6, sh: 1, sw: 1, ph: 1, pw: 1 }, 3],
  [{ O: 2, C: 3, kh: 3, kw: 3, H: 6, W: 5, sh: 2, sw: 2, ph: 1, pw: 1 }, 2],
  [{ O: 4, C: 2, kh: 1, kw: 1, H: 3, W: 3, sh: 1, sw: 1, ph: 0, pw: 0 }, 2],
  [{ O: 2, C: 2, kh: 3, kw: 5, H: 4, W: 7, sh: 1, sw: 2, ph: 0, pw: 2 }, 1],
];

const convAttrs = (g: ConvGeom, iters: number) => ({ iters, stride: [g.sh, g.sw], padding: [g.ph, g.pw] });

const convCase: Builder = (rng) => {
  const out: Variant[] = [];
  for (const dtype of FLOATS) {
    for (const [g, iters] of convGeoms) {
      const K = input(rng, [g.O, g.C, g.kh, g.kw], dtype);
      const u0 = input(rng, [1, g.C, g.H, g.W], dtype);
      const r = refPowerIteration(refConv(K.data, g), refConvT(K.data, g), u0.data, iters);
      const [Ho, Wo] = outSize(g);
      out.push({
        name: `${dtype} K [${g.O}, ${g.C}, ${g.kh}, ${g.kw}] on ${g.H}x${g.W}, stride ${g.sh},${g.sw}, padding ${g.ph},${g.pw}, ${iters} iterations`,
        inputs: [K, u0],
        attrs: convAttrs(g, iters),
        expected: piExpected(r, [1, g.C, g.H, g.W], [1, g.O, Ho, Wo], dtype),
      });
    }
    // convergence to the exact operator norm of the zero-padded conv ("same" padding, default attrs),
    // on a kernel whose top two singular values differ by ≥ 10% (random kernels are redrawn until then)
    const g: ConvGeom = { O: 2, C: 2, kh: 3, kw: 3, H: 4, W: 4, sh: 1, sw: 1, ph: 1, pw: 1 };
    let K = input(rng, [g.O, g.C, g.kh, g.kw], dtype);
    let [s1, s2] = exactConvSingular(K.data, g);
    for (let tries = 0; s2 > 0.9 * s1 && tries < 100; tries++) {
      K = input(rng, [g.O, g.C, g.kh, g.kw], dtype);
      [s1, s2] = exactConvSingular(K.data, g);
    }
    if (s2 > 0.9 * s1) throw new Error('no conv kernel with a spectral gap found in 100 draws');
    const u0 = input(rng, [1, g.C, g.H, g.W], dtype);
    const r = refPowerIteration(refConv(K.data, g), refConvT(K.data, g), u0.data, 200);
    if (!(Math.abs(r.sigma - s1) <= 1e-12 * s1))
      throw new Error(`conv power iteration reference: sigma ${r.sigma} vs exact ‖A‖₂ ${s1}`);
    const exp = piExpected(r, [1, g.C, g.H, g.W], [1, g.O, g.H, g.W], dtype);
    exp[0] = { data: [s1], shape: [], dtype, ...piTol(dtype) };
    checkConverged('conv', refConvT(K.data, g), r, 1e-9);
    out.push({ name: `${dtype} K [2, 2, 3, 3] on 4x4: sigma → exact ‖A‖₂ (σ₂ ≤ 0.9 σ₁), 200 iterations`, inputs: [K, u0], attrs: { iters: 200 }, expected: exp });
  }
  return out;
};

export const CASES: Record<string, Builder> = {
  kernel_self_correlation: selfCorrCase,
  kernel_self_correlation_backward: selfCorrBackwardCase,
  power_iteration_dense: denseCase,
  power_iteration_conv: convCase,
};
