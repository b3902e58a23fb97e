/**
 * Conformance cases: pixel unshuffle / shuffle and channel padding / truncation. Besides the plain
 * float64 references, each op is checked as the gradient of its partner: a float64 variant whose
 * expected output is the finite-difference vector–Jacobian product of the partner's reference, and the
 * adjoint identity ⟨f(x), y⟩ = ⟨x, fᵀ(y)⟩ between the two references (a violation throws). The
 * gradient-check helpers are shared with pooling.ts.
 */
import * as R from '../reference';
import { ALL, Builder, DType, HostInput, input, Rng, Variant } from './common';

type Ref = { data: Float64Array; shape: number[] };

// ---------------- references ----------------

/** y[n, c·r² + i·r + j, h, w] = x[n, c, h·r + i, w·r + j]. */
export function refPixelUnshuffle(x: ArrayLike<number>, shape: number[], r: number): Ref {
  const [N, C, H, W] = shape;
  const Ho = H / r;
  const Wo = W / r;
  const out = new Float64Array(x.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < r; i++)
        for (let j = 0; j < r; j++)
          for (let h = 0; h < Ho; h++)
            for (let w = 0; w < Wo; w++) {
              const oc = c * r * r + i * r + j;
              out[((n * C * r * r + oc) * Ho + h) * Wo + w] = x[((n * C + c) * H + h * r + i) * W + w * r + j];
            }
  return { data: out, shape: [N, C * r * r, Ho, Wo] };
}

/** y[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w]. */
export function refPixelShuffle(x: ArrayLike<number>, shape: number[], r: number): Ref {
  const [N, Cin, H, W] = shape;
  const C = Cin / (r * r);
  const out = new Float64Array(x.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < r; i++)
        for (let j = 0; j < r; j++)
          for (let h = 0; h < H; h++)
            for (let w = 0; w < W; w++) {
              const ic = c * r * r + i * r + j;
              out[((n * C + c) * H * r + h * r + i) * W * r + w * r + j] = x[((n * Cin + ic) * H + h) * W + w];
            }
  return { data: out, shape: [N, C, H * r, W * r] };
}

/** Channels (dim 1) [0, min(C, c)) copied, the rest zero: pad_channels (c ≥ C) and first_channels (c ≤ C). */
export function refChannels(x: ArrayLike<number>, shape: number[], c: number): Ref {
  const outShape = [...shape];
  outShape[1] = c;
  const out = new Float64Array(R.numel(outShape));
  for (let o = 0; o < out.length; o++) {
    const idx = R.unravel(o, outShape);
    out[o] = idx[1] < shape[1] ? x[R.ravel(idx, shape)] : 0;
  }
  return { data: out, shape: outShape };
}

// ---------------- gradient checks (also used by pooling.ts) ----------------

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/**
 * The vector–Jacobian product yᵀ·∂f/∂x at x by central differences:
 * g_i = ⟨f(x + h·e_i) − f(x − h·e_i), y⟩ / 2h.
 */
export function vjpByFiniteDifferences(f: (x: Float64Array) => ArrayLike<number>, x: ArrayLike<number>, y: ArrayLike<number>, h: number): Float64Array {
  const xp = Float64Array.from(x);
  const g = new Float64Array(xp.length);
  for (let i = 0; i < xp.length; i++) {
    const v = xp[i];
    xp[i] = v + h;
    const fp = Float64Array.from(f(xp));
    xp[i] = v - h;
    const fm = f(xp);
    xp[i] = v;
    let s = 0;
    for (let k = 0; k < fp.length; k++) s += (fp[k] - fm[k]) * y[k];
    g[i] = s / (2 * h);
  }
  return g;
}

/** Throws unless ⟨f(x), y⟩ = ⟨x, fᵀ(y)⟩ (relative to the magnitudes involved). */
export function checkAdjoint(what: string, fx: ArrayLike<number>, y: ArrayLike<number>, x: ArrayLike<number>, fty: ArrayLike<number>): void {
  const lhs = dot(fx, y);
  const rhs = dot(x, fty);
  let scale = 1;
  for (let i = 0; i < fx.length; i++) scale += Math.abs(fx[i] * y[i]);
  for (let i = 0; i < x.length; i++) scale += Math.abs(x[i] * fty[i]);
  if (!(Math.abs(lhs - rhs) <= 1e-12 * scale)) throw new Error(`adjoint identity fails for ${what}: <f(x), y> = ${lhs}, <x, f^T(y)> = ${rhs}`);
}

/** float64 tolerance of a finite-difference expectation (the ops are piecewise linear: FD is exact but for rounding). */
export const FD_TOL = { rtol: 1e-8, atol: 1e-9 };

export const f64Input = (rng: Rng, shape: number[]): HostInput => input(rng, shape, 'float64');

// ---------------- cases ----------------

const pixelShapes: [number[], number][] = [
  [[2, 3, 4, 6], 2],
  [[1, 2, 6, 3], 3],
  [[2, 1, 4, 4], 1],
  [[1, 3, 8, 8], 4],
  [[3, 2, 2, 2], 2],
  [[0, 2, 4, 4], 2],
];

/**
 * For op = fᵀ with f the partner op: a float64 variant comparing op(y) with the finite-difference VJP of
 * f's reference at a random x, after checking the adjoint identity between the two references.
 */
function gradVariant(rng: Rng, name: string, xShape: number[], yShape: number[], attrs: Record<string, unknown>,
  f: (x: ArrayLike<number>) => Ref, ft: (y: ArrayLike<number>) => Ref): Variant {
  const x = f64Input(rng, xShape);
  const y = f64Input(rng, yShape);
  const fty = ft(y.data);
  checkAdjoint(name, f(x.data).data, y.data, x.data, fty.data);
  const fd = vjpByFiniteDifferences((v) => f(v).data, x.data, y.data, 2 ** -10);
  return { name: `${name}: gradient of the partner op by finite differences`, inputs: [y], attrs, expected: [{ data: fd, shape: fty.shape, dtype: 'float64', ...FD_TOL }] };
}

const pixelUnshuffleCase: Builder = (rng) => [
  ...ALL.flatMap((dtype: DType) =>
    pixelShapes.map(([shape, r]) => {
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] factor ${r}`, inputs: [x], attrs: { factor: r }, expected: [{ ...refPixelUnshuffle(x.data, shape, r), dtype }] };
    }),
  ),
  // pixel_unshuffle = gradient of pixel_shuffle: f = shuffle on [N, C·r², H, W]
  ...([[[2, 8, 2, 3], 2], [[1, 9, 2, 2], 3]] as [number[], number][]).map(([s, r]) =>
    gradVariant(rng, `[${s}] factor ${r}`, s, [s[0], s[1] / (r * r), s[2] * r, s[3] * r], { factor: r },
      (v) => refPixelShuffle(v, s, r), (v) => refPixelUnshuffle(v, [s[0], s[1] / (r * r), s[2] * r, s[3] * r], r))),
];

const pixelShuffleCase: Builder = (rng) => [
  ...ALL.flatMap((dtype: DType) =>
    pixelShapes.map(([s, r]) => {
      const shape = [s[0], s[1] * r * r, s[2] / r, s[3] / r];
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] factor ${r}`, inputs: [x], attrs: { factor: r }, expected: [{ ...refPixelShuffle(x.data, shape, r), dtype }] };
    }),
  ),
  // pixel_shuffle = gradient of pixel_unshuffle: f = unshuffle on [N, C, H, W]
  ...([[[2, 2, 4, 6], 2], [[1, 1, 6, 3], 3]] as [number[], number][]).map(([s, r]) =>
    gradVariant(rng, `[${s}] factor ${r}`, s, [s[0], s[1] * r * r, s[2] / r, s[3] / r], { factor: r },
      (v) => refPixelUnshuffle(v, s, r), (v) => refPixelShuffle(v, [s[0], s[1] * r * r, s[2] / r, s[3] / r], r))),
];

const channelShapes: [number[], number][] = [
  [[2, 3, 4, 5], 7],
  [[3, 5], 8],
  [[2, 4, 3], 4],
  [[1, 1, 2, 2, 3], 3],
  [[2, 0, 3, 3], 2],
  [[0, 3, 2, 2], 5],
];

const padChannelsCase: Builder = (rng) => [
  ...ALL.flatMap((dtype: DType) =>
    channelShapes.map(([shape, c]) => {
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] to ${c} channels`, inputs: [x], attrs: { channels: c }, expected: [{ ...refChannels(x.data, shape, c), dtype }] };
    }),
  ),
  // pad_channels(·, C) = gradient of first_channels(·, c) on [N, C, ...]
  ...([[[2, 5, 3, 2], 3], [[4, 6], 1]] as [number[], number][]).map(([s, c]) => {
    const ys = [...s];
    ys[1] = c;
    return gradVariant(rng, `[${s}] first ${c}`, s, ys, { channels: s[1] }, (v) => refChannels(v, s, c), (v) => refChannels(v, ys, s[1]));
  }),
];

const firstChannelsCase: Builder = (rng) => [
  ...ALL.flatMap((dtype: DType) =>
    channelShapes.map(([s, c]) => {
      // the mirror of the padding shapes: from c channels down to s[1]
      const shape = [...s];
      shape[1] = c;
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] to ${s[1]} channels`, inputs: [x], attrs: { channels: s[1] }, expected: [{ ...refChannels(x.data, shape, s[1]), dtype }] };
    }),
  ),
  // first_channels(·, C) = gradient of pad_channels(·, c) on [N, C, ...]
  ...([[[2, 3, 3, 2], 5], [[4, 2], 7]] as [number[], number][]).map(([s, c]) => {
    const ys = [...s];
    ys[1] = c;
    return gradVariant(rng, `[${s}] padded to ${c}`, s, ys, { channels: s[1] }, (v) => refChannels(v, s, c), (v) => refChannels(v, ys, s[1]));
  }),
];

export const CASES: Record<string, Builder> = {
  pixel_unshuffle: pixelUnshuffleCase,
  pixel_shuffle: pixelShuffleCase,
  pad_channels: padChannelsCase,
  first_channels: firstChannelsCase,
};
