/** Conformance cases: elementwise ops (binary with broadcasting, unary, scale, clamp, cast). */
import * as R from '../reference';
import { ALL, Builder, DType, FLOATS, input, round, wrap32 } from './common';

// ---------------- elementwise ----------------
const BINARY_SHAPES: [number[], number[]][] = [
  [[5, 7], [5, 7]],
  [[64, 129], [64, 129]],
  [[3, 1, 5], [4, 1]],
  [[], [2, 3]],
  [[2, 3, 4], [4]],
  [[2, 1, 4, 1], [1, 3, 1, 5]],
  [[0, 3], [1, 3]],
];

function binaryOp(name: string, f: (a: number, b: number) => number, dtypes: DType[]): Builder {
  return (rng) =>
    dtypes.flatMap((dtype) =>
      BINARY_SHAPES.map(([sa, sb]) => {
        const a = input(rng, sa, dtype);
        const b = input(rng, sb, dtype, name === 'div' ? 0.5 : -2, name === 'div' ? 3 : 2);
        if (name === 'div') b.data = b.data.map((v, i) => (i % 2 ? -v : v));
        const ref = R.binary(a.data, sa, b.data, sb, dtype === 'int32' ? (x, y) => wrap32(f(x, y)) : f);
        return { name: `${dtype} [${sa}] ${name} [${sb}]`, inputs: [a, b], attrs: {}, expected: [{ ...ref, dtype }] };
      }),
    );
}

function unaryOp(name: string, f: (x: number) => number, dtypes: DType[], lo = -3, hi = 3, attrs: Record<string, unknown> = {}): Builder {
  return (rng) =>
    dtypes.flatMap((dtype) =>
      [[37], [4, 65], [], [0, 2]].map((shape) => {
        const x = input(rng, shape, dtype, lo, hi);
        const data = x.data.map((v) => (dtype === 'int32' ? wrap32(f(v)) : f(v)));
        return { name: `${dtype} [${shape}]`, inputs: [x], attrs, expected: [{ data, shape, dtype }] };
      }),
    );
}

/** eq: a few elements of b are copied from a (broadcast-aware) so both outcomes occur. */
const eqCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    BINARY_SHAPES.map(([sa, sb]) => {
      const a = input(rng, sa, dtype);
      const b = input(rng, sb, dtype);
      const nb = R.numel(sb);
      if (R.numel(sa) > 0) for (let i = 0; i < nb; i += 3) b.data[i] = a.data[i % R.numel(sa)];
      b.data[0] = nb > 1 ? NaN : b.data[0];
      const ref = R.binary(a.data, sa, b.data, sb, (x, y) => (x === y ? 1 : 0));
      return { name: `${dtype} [${sa}] eq [${sb}]`, inputs: [a, b], attrs: {}, expected: [{ ...ref, dtype }] };
    }),
  );

/** log(1 + eˣ) written plainly in float64, switching to the asymptote where eˣ would overflow. */
const softplusRef = (x: number): number => (x > 30 ? x + Math.exp(-x) : Math.log1p(Math.exp(x)));
const sigmoidRef = (x: number): number => 1 / (1 + Math.exp(-x));

/** softplus / sigmoid on moderate inputs, plus extreme ones (±1e4, ±80, ±1e-8) that must stay finite. */
function smoothCase(name: string, f: (x: number) => number): Builder {
  const moderate = unaryOp(name, f, FLOATS, -6, 6);
  return (rng) => [
    ...moderate(rng),
    ...FLOATS.map((dtype) => {
      const vals = [1e4, -1e4, 80, -80, 40, -40, 1e-8, -1e-8, 0, 17, -17, -745, 700];
      const data = vals.map((v) => round(v, dtype));
      return { name: `${dtype} extremes`, inputs: [{ data, shape: [vals.length], dtype }], attrs: {},
        expected: [{ data: data.map(f), shape: [vals.length], dtype, rtol: dtype === 'float32' ? 2e-6 : 1e-12, atol: 1e-300 }] };
    }),
  ];
}

const scaleCase: Builder = (rng) =>
  FLOATS.map((dtype) => {
    const alpha = rng.uniform(-3, 3);
    const beta = rng.uniform(-1, 1);
    const x = input(rng, [3, 50], dtype);
    const r = (v: number) => (dtype === 'float32' ? Math.fround(v) : v);
    return {
      name: `${dtype} alpha=${alpha.toFixed(3)} beta=${beta.toFixed(3)}`,
      inputs: [x],
      attrs: { alpha, beta },
      expected: [{ data: x.data.map((v) => r(alpha) * v + r(beta)), shape: [3, 50], dtype }],
    };
  });

const clampCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) => {
    const lo = rng.uniform(-1.5, -0.2);
    const hi = rng.uniform(0.2, 1.5);
    const r = (v: number) => (dtype === 'float32' ? Math.fround(v) : v);
    const x = input(rng, [7, 9], dtype);
    x.data[3] = NaN;
    return [
      { name: `${dtype} [${lo.toFixed(2)}, ${hi.toFixed(2)}] with NaN`, inputs: [x], attrs: { min: lo, max: hi },
        expected: [{ data: x.data.map((v) => (Number.isNaN(v) ? NaN : Math.min(Math.max(v, r(lo)), r(hi)))), shape: [7, 9], dtype }] },
      { name: `${dtype} min only`, inputs: [x], attrs: { min: lo },
        expected: [{ data: x.data.map((v) => (Number.isNaN(v) ? NaN : Math.max(v, r(lo)))), shape: [7, 9], dtype }] },
    ];
  });

function castTo(v: number, to: DType): number {
  if (to === 'int32') {
    if (Number.isNaN(v)) return 0;
    if (v >= 2147483647) return 2147483647;
    if (v <= -2147483648) return -2147483648;
    return Math.trunc(v);
  }
  return to === 'float32' ? Math.fround(v) : v;
}

const castCase: Builder = (rng) =>
  ALL.flatMap((from) =>
    ALL.map((to) => {
      const x = input(rng, [5, 11], from, -1000, 1000);
      if (from !== 'int32') {
        x.data[0] = NaN;
        x.data[1] = 3e9;
        x.data[2] = -3e9;
        x.data[3] = round(-7.75, from);
      }
      return { name: `${from} → ${to}`, inputs: [x], attrs: { dtype: to }, expected: [{ data: x.data.map((v) => castTo(v, to)), shape: [5, 11], dtype: to }] };
    }),
  );

export const CASES: Record<string, Builder> = {
  add: binaryOp('add', (a, b) => a + b, ALL),
  sub: binaryOp('sub', (a, b) => a - b, ALL),
  mul: binaryOp('mul', (a, b) => a * b, ALL),
  div: binaryOp('div', (a, b) => a / b, FLOATS),
  neg: unaryOp('neg', (x) => -x, ALL),
  abs: unaryOp('abs', Math.abs, ALL),
  exp: unaryOp('exp', Math.exp, FLOATS, -5, 5),
  log: unaryOp('log', Math.log, FLOATS, 0.05, 20),
  sqrt: unaryOp('sqrt', Math.sqrt, FLOATS, 0.01, 20),
  relu: unaryOp('relu', (x) => Math.max(x, 0), FLOATS),
  eq: eqCase,
  softplus: smoothCase('softplus', softplusRef),
  sigmoid: smoothCase('sigmoid', sigmoidRef),
  sign: unaryOp('sign', (x) => (x > 0 ? 1 : x < 0 ? -1 : x), FLOATS),
  scale: scaleCase,
  clamp: clampCase,
  cast: castCase,
};
