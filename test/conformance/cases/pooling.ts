/**
 * Conformance cases: avg_pool2d (+ divisor override) and max_min with their gradient ops. The gradient
 * ops are also compared with finite-difference vector–Jacobian products of the forward references, and
 * the avg-pool pair satisfies the adjoint identity ⟨pool(x), g⟩ = ⟨x, poolᵀ(g)⟩ (checked on the
 * references; a violation throws).
 *
 * MaxMin rule under test: channels c and c + C/2 form a pair (a, b); the pair is swapped iff b > a, so
 * ties and NaN keep their order. The gradient follows the same permutation: at a tie, a receives the
 * gradient of the max output and b that of the min output.
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';
import { checkAdjoint, f64Input, FD_TOL, vjpByFiniteDifferences } from './shuffle';

type Ref = { data: Float64Array; shape: number[] };

interface Window {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  divisor: number;
}

// ---------------- references ----------------

const pooledShape = (s: number[], w: Window): number[] => [s[0], s[1], Math.floor((s[2] - w.kh) / w.sh) + 1, Math.floor((s[3] - w.kw) / w.sw) + 1];

/** y[p, oh, ow] = Σ_{i<kh, j<kw} x[p, oh·sh + i, ow·sw + j] / divisor. */
function refAvgPool(x: ArrayLike<number>, shape: number[], w: Window): Ref {
  const [N, C, H, W] = shape;
  const os = pooledShape(shape, w);
  const [, , Ho, Wo] = os;
  const out = new Float64Array(N * C * Ho * Wo);
  for (let p = 0; p < N * C; p++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++) {
        let s = 0;
        for (let i = 0; i < w.kh; i++) for (let j = 0; j < w.kw; j++) s += x[(p * H + oh * w.sh + i) * W + ow * w.sw + j];
        out[(p * Ho + oh) * Wo + ow] = s / w.divisor;
      }
  return { data: out, shape: os };
}

/** The transpose of refAvgPool: every g[p, oh, ow] / divisor added to each element of its window. */
function refAvgPoolBackward(g: ArrayLike<number>, inputShape: number[], w: Window): Ref {
  const [N, C, H, W] = inputShape;
  const [, , Ho, Wo] = pooledShape(inputShape, w);
  const out = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let i = 0; i < w.kh; i++)
          for (let j = 0; j < w.kw; j++) out[(p * H + oh * w.sh + i) * W + ow * w.sw + j] += g[(p * Ho + oh) * Wo + ow] / w.divisor;
  return { data: out, shape: [...inputShape] };
}

/** Pairs (a, b) = (x[n, c, s], x[n, c + C/2, s]) of a [N, C, ...] tensor, as flat offsets. */
function pairs(shape: number[]): [number, number][] {
  const S = shape.slice(2).reduce((a, b) => a * b, 1);
  const half = shape[1] / 2;
  const out: [number, number][] = [];
  for (let n = 0; n < shape[0]; n++)
    for (let c = 0; c < half; c++)
      for (let s = 0; s < S; s++) out.push([(n * shape[1] + c) * S + s, (n * shape[1] + c + half) * S + s]);
  return out;
}

/** Channel c gets max(a, b), channel c + C/2 min(a, b); swapped only if b > a (ties, NaN: unchanged). */
function refMaxMin(x: ArrayLike<number>, shape: number[]): Ref {
  const out = new Float64Array(x.length);
  for (const [ia, ib] of pairs(shape)) {
    const a = x[ia];
    const b = x[ib];
    if (b > a) {
      out[ia] = b;
      out[ib] = a;
    } else {
      out[ia] = a;
      out[ib] = b;
    }
  }
  return { data: out, shape: [...shape] };
}

/** dx of max_min: a swapped pair gets (g_min, g_max), any other (g_max, g_min). */
function refMaxMinBackward(x: ArrayLike<number>, g: ArrayLike<number>, shape: number[]): Ref {
  const out = new Float64Array(x.length);
  for (const [ia, ib] of pairs(shape)) {
    if (x[ib] > x[ia]) {
      out[ia] = g[ib];
      out[ib] = g[ia];
    } else {
      out[ia] = g[ia];
      out[ib] = g[ib];
    }
  }
  return { data: out, shape: [...shape] };
}

// ---------------- cases ----------------

/** [input shape, attrs as passed to the op (number or [h, w] forms), the window they mean]. */
const poolConfigs: [number[], Record<string, unknown>, Window][] = [
  [[2, 3, 8, 8], { kernelSize: 4, divisor: 4 }, { kh: 4, kw: 4, sh: 4, sw: 4, divisor: 4 }],
  [[1, 2, 7, 9], { kernelSize: [2, 3], stride: [2, 2] }, { kh: 2, kw: 3, sh: 2, sw: 2, divisor: 6 }],
  [[2, 2, 5, 6], { kernelSize: 3, stride: 1 }, { kh: 3, kw: 3, sh: 1, sw: 1, divisor: 9 }],
  [[1, 1, 9, 7], { kernelSize: [2], stride: 3, divisor: 2.5 }, { kh: 2, kw: 2, sh: 3, sw: 3, divisor: 2.5 }],
  [[3, 2, 4, 4], { kernelSize: [4, 4] }, { kh: 4, kw: 4, sh: 4, sw: 4, divisor: 16 }],
  [[2, 1, 6, 5], { kernelSize: [3, 1], stride: [1, 2], divisor: 1 }, { kh: 3, kw: 1, sh: 1, sw: 2, divisor: 1 }],
  [[0, 2, 4, 4], { kernelSize: 2 }, { kh: 2, kw: 2, sh: 2, sw: 2, divisor: 4 }],
];

/** float32 window sums are accumulated in float32. */
const tolFor = (dtype: string) => (dtype === 'float32' ? { rtol: 1e-5, atol: 3e-5 } : {});

const avgPoolCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    poolConfigs.map(([shape, attrs, w]) => {
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] ${JSON.stringify(attrs)}`, inputs: [x], attrs, expected: [{ ...refAvgPool(x.data, shape, w), dtype, ...tolFor(dtype) }] };
    }),
  );

const avgPoolBackwardCase: Builder = (rng) => [
  ...FLOATS.flatMap((dtype) =>
    poolConfigs.map(([shape, attrs, w]) => {
      const g = input(rng, pooledShape(shape, w), dtype);
      return {
        name: `${dtype} input [${shape}] ${JSON.stringify(attrs)}`,
        inputs: [g],
        attrs: { ...attrs, inputShape: shape },
        expected: [{ ...refAvgPoolBackward(g.data, shape, w), dtype, ...tolFor(dtype) }],
      };
    }),
  ),
  // the gradient of avg_pool2d by finite differences of its reference, after the adjoint identity
  ...poolConfigs.slice(0, 6).map(([shape, attrs, w]): Variant => {
    const x = f64Input(rng, shape);
    const g = f64Input(rng, pooledShape(shape, w));
    const back = refAvgPoolBackward(g.data, shape, w);
    checkAdjoint(`avg_pool2d ${JSON.stringify(attrs)}`, refAvgPool(x.data, shape, w).data, g.data, x.data, back.data);
    const fd = vjpByFiniteDifferences((v) => refAvgPool(v, shape, w).data, x.data, g.data, 2 ** -10);
    return {
      name: `input [${shape}] ${JSON.stringify(attrs)}: gradient of avg_pool2d by finite differences`,
      inputs: [g],
      attrs: { ...attrs, inputShape: shape },
      expected: [{ data: fd, shape: back.shape, dtype: 'float64', ...FD_TOL }],
    };
  }),
];

const maxMinShapes: number[][] = [[4, 6], [2, 4, 3, 5], [3, 2, 1], [2, 2, 2, 2, 2], [1, 8, 1, 1], [3, 0], [0, 4, 2, 2]];

/** Inputs with exact ties (equal pair members) in about a third of the pairs, and NaN in a few. */
function withTies(rng: Rng, shape: number[], dtype: DType, nan: boolean): HostInput {
  const x = input(rng, shape, dtype);
  for (const [ia, ib] of pairs(shape)) {
    const u = rng.next();
    if (u < 0.33) x.data[ib] = x.data[ia];
    else if (nan && u < 0.4) x.data[ia] = NaN;
    else if (nan && u < 0.47) x.data[ib] = NaN;
  }
  return x;
}

const maxMinCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) => [
    ...maxMinShapes.map((shape) => {
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}]`, inputs: [x], attrs: {}, expected: [{ ...refMaxMin(x.data, shape), dtype }] };
    }),
    ...[false, true].map((nan) => {
      const shape = [3, 6, 2, 3];
      const x = withTies(rng, shape, dtype, nan);
      return { name: `${dtype} [${shape}] with ties${nan ? ' and NaN' : ''}`, inputs: [x], attrs: {}, expected: [{ ...refMaxMin(x.data, shape), dtype }] };
    }),
  ]);

/** float64 input whose pair members differ by more than 0.01, so ±h never crosses a kink. */
function separated(rng: Rng, shape: number[]): HostInput {
  const x = f64Input(rng, shape);
  for (const [ia, ib] of pairs(shape)) if (Math.abs(x.data[ia] - x.data[ib]) < 0.01) x.data[ib] = x.data[ia] + (rng.next() < 0.5 ? 0.5 : -0.5);
  return x;
}

const maxMinBackwardCase: Builder = (rng) => [
  ...FLOATS.flatMap((dtype) => [
    ...maxMinShapes.map((shape) => {
      const x = input(rng, shape, dtype);
      const g = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}]`, inputs: [x, g], attrs: {}, expected: [{ ...refMaxMinBackward(x.data, g.data, shape), dtype }] };
    }),
    ...[false, true].map((nan) => {
      const shape = [2, 4, 3, 3];
      const x = withTies(rng, shape, dtype, nan);
      const g = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] with ties${nan ? ' and NaN' : ''}`, inputs: [x, g], attrs: {}, expected: [{ ...refMaxMinBackward(x.data, g.data, shape), dtype }] };
    }),
  ]),
  // the gradient of max_min by finite differences of its reference (away from ties)
  ...[[5, 6], [2, 6, 3, 3]].map((shape): Variant => {
    const x = separated(rng, shape);
    const g = f64Input(rng, shape);
    const fd = vjpByFiniteDifferences((v) => refMaxMin(v, shape).data, x.data, g.data, 2 ** -12);
    return { name: `[${shape}]: gradient of max_min by finite differences`, inputs: [x, g], attrs: {}, expected: [{ data: fd, shape, dtype: 'float64', ...FD_TOL }] };
  }),
];

export const CASES: Record<string, Builder> = {
  avg_pool2d: avgPoolCase,
  avg_pool2d_backward: avgPoolBackwardCase,
  max_min: maxMinCase,
  max_min_backward: maxMinBackwardCase,
};
