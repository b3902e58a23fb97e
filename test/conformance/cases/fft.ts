/**
 * Conformance cases: rfft2, irfft2 and their adjoint (gradient) ops rfft2_backward, irfft2_backward.
 * References are plain float64 DFT sums (angles reduced mod N so the reference is accurate); irfft2's
 * reference follows numpy's definition literally (complex inverse DFT along H, then the real inverse
 * along W that reads Re of the bins q = 0 and q = W/2); the round trip irfft2(rfft2(x)) = x is checked;
 * the gradient ops are also compared with finite-difference vector–Jacobian products of the forward
 * references, after the adjoint identities ⟨f(x), y⟩ = ⟨x, fᵀ(y)⟩ (a violation throws).
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';
import { checkAdjoint, f64Input, FD_TOL, vjpByFiniteDifferences } from './shuffle';

type Ref = { data: Float64Array; shape: number[] };
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Tables of cos/sin(−2π·t/n), t < n, computed once per n. */
const tables = new Map<number, { c: Float64Array; s: Float64Array }>();
function table(n: number): { c: Float64Array; s: Float64Array } {
  let t = tables.get(n);
  if (!t) {
    t = { c: new Float64Array(n), s: new Float64Array(n) };
    for (let i = 0; i < n; i++) {
      t.c[i] = Math.cos((-2 * Math.PI * i) / n);
      t.s[i] = Math.sin((-2 * Math.PI * i) / n);
    }
    tables.set(n, t);
  }
  return t;
}

/** X[p, q] = Σ_{h,w} x[h, w]·e^{−2πi(ph/H + qw/W)} for q ≤ W/2, per plane. */
export function refRfft2(x: ArrayLike<number>, shape: number[]): Ref {
  const H = shape[shape.length - 2];
  const W = shape[shape.length - 1];
  const Wh = Math.floor(W / 2) + 1;
  const planes = numel(shape.slice(0, -2));
  const out = new Float64Array(planes * H * Wh * 2);
  for (let b = 0; b < planes; b++)
    for (let p = 0; p < H; p++)
      for (let q = 0; q < Wh; q++) {
        let re = 0;
        let im = 0;
        for (let h = 0; h < H; h++)
          for (let w = 0; w < W; w++) {
            // e^{−2πi(ph/H + qw/W)} = e^{−2πi(ph·W + qw·H)/(HW)}
            const tb = table(H * W);
            const ti = (p * h * W + q * w * H) % (H * W);
            const c = tb.c[ti];
            const s = tb.s[ti];
            const v = x[(b * H + h) * W + w];
            re += v * c;
            im += v * s;
          }
        out[((b * H + p) * Wh + q) * 2] = re;
        out[((b * H + p) * Wh + q) * 2 + 1] = im;
      }
  return { data: out, shape: [...shape.slice(0, -1), Wh, 2] };
}

/** numpy's irfft2: complex inverse DFT along H, then along W y[w] = (1/W)·Σ over the Hermitian row. */
export function refIrfft2(X: ArrayLike<number>, shape: number[], H: number, W: number): Ref {
  const Wh = Math.floor(W / 2) + 1;
  const planes = numel(shape.slice(0, -3));
  const out = new Float64Array(planes * H * W);
  const zr = new Float64Array(H * Wh);
  const zi = new Float64Array(H * Wh);
  for (let b = 0; b < planes; b++) {
    for (let h = 0; h < H; h++)
      for (let q = 0; q < Wh; q++) {
        let re = 0;
        let im = 0;
        for (let p = 0; p < H; p++) {
          const tb = table(H);
          const ti = (p * h) % (H);  // e^{+iθ} = (c, −s)
          const c = tb.c[ti];
          const s = tb.s[ti];
          const vr = X[((b * H + p) * Wh + q) * 2];
          const vi = X[((b * H + p) * Wh + q) * 2 + 1];
          re += vr * c + vi * s;
          im += vi * c - vr * s;
        }
        zr[h * Wh + q] = re / H;
        zi[h * Wh + q] = im / H;
      }
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        // full Hermitian row F[q] (q < W): Z[q] for q < Wh, conj Z[W − q] beyond; Re of self-conjugate bins
        let acc = 0;
        for (let q = 0; q < W; q++) {
          const low = q < Wh;
          const src = low ? q : W - q;
          const fr = zr[h * Wh + src];
          let fi = low ? zi[h * Wh + src] : -zi[h * Wh + src];
          if (q === 0 || 2 * q === W) fi = 0;
          const tb = table(W);
          const ti = (q * w) % (W);
          const c = tb.c[ti];
          const s = tb.s[ti];
          acc += fr * c + fi * s;  // Re(F·e^{+iθ})
        }
        out[(b * H + h) * W + w] = acc / W;
      }
  }
  return { data: out, shape: [...shape.slice(0, -3), H, W] };
}

/** rfft2ᵀ: y[h, w] = Re Σ_{p, q ≤ W/2} G[p, q]·e^{+2πi(ph/H + qw/W)}. */
export function refRfft2Adjoint(G: ArrayLike<number>, shape: number[], H: number, W: number): Ref {
  const Wh = Math.floor(W / 2) + 1;
  const planes = numel(shape.slice(0, -3));
  const out = new Float64Array(planes * H * W);
  for (let b = 0; b < planes; b++)
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++) {
        let acc = 0;
        for (let p = 0; p < H; p++)
          for (let q = 0; q < Wh; q++) {
            const tb = table(H * W);
            const ti = (p * h * W + q * w * H) % (H * W);
            const c = tb.c[ti];
            const s = tb.s[ti];
            acc += G[((b * H + p) * Wh + q) * 2] * c + G[((b * H + p) * Wh + q) * 2 + 1] * s;
          }
        out[(b * H + h) * W + w] = acc;
      }
  return { data: out, shape: [...shape.slice(0, -3), H, W] };
}

/** irfft2ᵀ: (c_q/(HW))·rfft2(g)[p, q]. */
export function refIrfft2Adjoint(g: ArrayLike<number>, shape: number[]): Ref {
  const H = shape[shape.length - 2];
  const W = shape[shape.length - 1];
  const r = refRfft2(g, shape);
  const Wh = Math.floor(W / 2) + 1;
  for (let i = 0; i < r.data.length; i++) {
    const q = Math.floor(i / 2) % Wh;
    r.data[i] *= (q === 0 || 2 * q === W ? 1 : 2) / (H * W);
  }
  return r;
}

// ---------------- cases ----------------

/** Real shapes [..., H, W]: every supported size appears on some axis (with the batch shapes the Cayley conv uses); the last
 * three put several planes in one CUDA block with a partial last block. */
const shapes: number[][] = [
  [2, 3, 8, 8],
  [1, 6, 12],
  [4, 4],
  [2, 3, 64],
  [16, 24],
  [3, 1, 1],
  [2, 48, 6],
  [32, 2],
  [1, 64, 64],
  [2, 2, 1, 32],
  [0, 4, 4],
  // several planes per CUDA block (G = 1024/(H·W)) with a partial last block
  [70, 4, 4],
  [5, 16, 24],
  [9, 3, 6],
];

/** Float32 error of a transform of sum |x| ≈ HW: O(ε·(H + W)) relative to ‖x‖, per output. */
function tolFor(dtype: DType, H: number, W: number, inScale: number): { rtol: number; atol: number } {
  const e = dtype === 'float32' ? 6e-8 : 1.2e-16;
  return { rtol: 8 * e, atol: 8 * e * (H + W) * Math.sqrt(H * W) * inScale };
}

const hw = (s: number[]): [number, number] => [s[s.length - 2], s[s.length - 1]];
const halfShape = (s: number[]): number[] => [...s.slice(0, -1), Math.floor(s[s.length - 1] / 2) + 1, 2];

/** A random half spectrum with magnitudes like rfft2 of unit inputs (nonzero imaginary parts everywhere). */
function spectrum(rng: Rng, realShape: number[], dtype: DType): HostInput {
  const [H, W] = hw(realShape);
  return input(rng, halfShape(realShape), dtype, -Math.sqrt(H * W), Math.sqrt(H * W));
}

const rfft2Case: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    shapes.map((shape) => {
      const x = input(rng, shape, dtype);
      const [H, W] = hw(shape);
      return { name: `${dtype} [${shape}]`, inputs: [x], attrs: {}, expected: [{ ...refRfft2(x.data, shape), dtype, ...tolFor(dtype, H, W, 1) }] };
    }),
  );

const irfft2Case: Builder = (rng) =>
  FLOATS.flatMap((dtype) => [
    ...shapes.map((shape): Variant => {
      const [H, W] = hw(shape);
      const X = spectrum(rng, shape, dtype);
      return { name: `${dtype} size [${H}, ${W}] batch [${shape.slice(0, -2)}]`, inputs: [X], attrs: { size: [H, W] },
        expected: [{ ...refIrfft2(X.data, X.shape, H, W), dtype, ...tolFor(dtype, H, W, 1 / Math.sqrt(H * W)) }] };
    }),
    // the round trip: irfft2(rfft2(x)) = x
    ...shapes.slice(0, 6).map((shape): Variant => {
      const [H, W] = hw(shape);
      const x = f64Input(rng, shape);
      const X = refRfft2(x.data, shape);
      const Xin = { data: Array.from(X.data, (v) => (dtype === 'float32' ? Math.fround(v) : v)), shape: X.shape, dtype };
      return { name: `${dtype} round trip [${shape}]`, inputs: [Xin], attrs: { size: [H, W] },
        expected: [{ data: Float64Array.from(x.data), shape, dtype, ...tolFor(dtype, H, W, 1) }] };
    }),
  ]);

/** Small shapes for the finite-difference checks (one reference evaluation per input element, twice). */
const fdShapes: number[][] = [[1, 6, 8], [2, 4, 3], [1, 3, 12]];

const rfft2BackwardCase: Builder = (rng) => [
  ...FLOATS.flatMap((dtype) =>
    shapes.map((shape): Variant => {
      const [H, W] = hw(shape);
      const G = spectrum(rng, shape, dtype);
      return { name: `${dtype} size [${H}, ${W}] batch [${shape.slice(0, -2)}]`, inputs: [G], attrs: { size: [H, W] },
        expected: [{ ...refRfft2Adjoint(G.data, G.shape, H, W), dtype, ...tolFor(dtype, H, W, Math.sqrt(H * W)) }] };
    }),
  ),
  ...fdShapes.map((shape): Variant => {
    const [H, W] = hw(shape);
    const x = f64Input(rng, shape);
    const G = spectrum(rng, shape, 'float64');
    const back = refRfft2Adjoint(G.data, G.shape, H, W);
    checkAdjoint(`rfft2 [${shape}]`, refRfft2(x.data, shape).data, G.data, x.data, back.data);
    const fd = vjpByFiniteDifferences((v) => refRfft2(v, shape).data, x.data, G.data, 2 ** -10);
    return { name: `[${shape}]: gradient of rfft2 by finite differences`, inputs: [G], attrs: { size: [H, W] },
      expected: [{ data: fd, shape, dtype: 'float64', ...FD_TOL }] };
  }),
];

const irfft2BackwardCase: Builder = (rng) => [
  ...FLOATS.flatMap((dtype) =>
    shapes.map((shape): Variant => {
      const [H, W] = hw(shape);
      const g = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}]`, inputs: [g], attrs: {}, expected: [{ ...refIrfft2Adjoint(g.data, shape), dtype, ...tolFor(dtype, H, W, 1 / Math.sqrt(H * W)) }] };
    }),
  ),
  ...fdShapes.map((shape): Variant => {
    const [H, W] = hw(shape);
    const X = spectrum(rng, shape, 'float64');
    const g = f64Input(rng, shape);
    const back = refIrfft2Adjoint(g.data, shape);
    checkAdjoint(`irfft2 [${shape}]`, refIrfft2(X.data, X.shape, H, W).data, g.data, X.data, back.data);
    const fd = vjpByFiniteDifferences((v) => refIrfft2(v, X.shape, H, W).data, X.data, g.data, 2 ** -10);
    return { name: `[${shape}]: gradient of irfft2 by finite differences`, inputs: [g], attrs: {},
      expected: [{ data: fd, shape: X.shape, dtype: 'float64', ...FD_TOL }] };
  }),
];

export const CASES: Record<string, Builder> = {
  rfft2: rfft2Case,
  irfft2: irfft2Case,
  rfft2_backward: rfft2BackwardCase,
  irfft2_backward: irfft2BackwardCase,
};
