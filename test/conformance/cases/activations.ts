/**
 * Conformance cases: lip_pool (ChannelPool 'lip1', SPEC.md B.2) and householder (HH1, SPEC.md B.1) with
 * their backward ops. The references are written geometrically, independently of the kernels' formulas:
 * lip_pool is the signed distance to the two boundary rays of the wedge {|angle| ≤ θ/2} (negative
 * inside), householder reflects p across the line of direction d = (cos θ/2, sin θ/2) as 2(p·d)d − p
 * when p lies clockwise of d. The backward references are central finite differences of these (inputs
 * kept away from the kinks, so ±h never crosses one).
 */
import { Builder, DType, FLOATS, HostInput, input, Rng } from './common';

type Ref = { data: Float64Array; shape: number[] };

/** (flat index of x, of y, pair index p in [N, C/2, S], channel pair c) for x [N, C, S...]. */
function pairs(shape: number[]): [number, number, number, number][] {
  const S = shape.slice(2).reduce((a, b) => a * b, 1);
  const half = shape[1] / 2;
  const out: [number, number, number, number][] = [];
  for (let n = 0; n < shape[0]; n++)
    for (let c = 0; c < half; c++)
      for (let s = 0; s < S; s++) out.push([(n * shape[1] + c) * S + s, (n * shape[1] + c + half) * S + s, (n * half + c) * S + s, c]);
  return out;
}

/** Distance from (x, y) to the ray from the origin with unit direction (dx, dy). */
function rayDistance(x: number, y: number, dx: number, dy: number): number {
  const along = x * dx + y * dy;
  return along >= 0 ? Math.abs(x * dy - y * dx) : Math.hypot(x, y);
}

/** Signed distance of (x, y) to the boundary of the wedge {|angle| ≤ θ/2}: negative inside. */
export function wedgeDistance(x: number, y: number, theta: number): number {
  const d = Math.min(rayDistance(x, y, Math.cos(theta / 2), Math.sin(theta / 2)), rayDistance(x, y, Math.cos(theta / 2), -Math.sin(theta / 2)));
  return Math.abs(Math.atan2(y, x)) <= theta / 2 ? -d : d;
}

/** HH1 of one pair: the reflection 2(p·d)d − p when d × p < 0, else p. */
export function reflectPair(x: number, y: number, theta: number): [number, number] {
  const dx = Math.cos(theta / 2);
  const dy = Math.sin(theta / 2);
  if (dx * y - dy * x >= 0) return [x, y];
  const t = 2 * (x * dx + y * dy);
  return [t * dx - x, t * dy - y];
}

const halfShape = (shape: number[]): number[] => [shape[0], shape[1] / 2, ...shape.slice(2)];

function refLipPool(x: ArrayLike<number>, th: ArrayLike<number>, shape: number[]): Ref {
  const hs = halfShape(shape);
  const out = new Float64Array(hs.reduce((a, b) => a * b, 1));
  for (const [ia, ib, p, c] of pairs(shape)) out[p] = wedgeDistance(x[ia], x[ib], th[c]);
  return { data: out, shape: hs };
}

function refHouseholder(x: ArrayLike<number>, th: ArrayLike<number>, shape: number[]): Ref {
  const out = new Float64Array(x.length);
  for (const [ia, ib, , c] of pairs(shape)) [out[ia], out[ib]] = reflectPair(x[ia], x[ib], th[c]);
  return { data: out, shape: [...shape] };
}

const H = 1e-6;

/** (dx, dθ per element) of lip_pool by central differences, each pair on its own. */
function fdLipPool(x: ArrayLike<number>, th: ArrayLike<number>, g: ArrayLike<number>, shape: number[]): [Ref, Ref] {
  const dx = new Float64Array(x.length);
  const hs = halfShape(shape);
  const dth = new Float64Array(g.length);
  for (const [ia, ib, p, c] of pairs(shape)) {
    const [a, b, t] = [x[ia], x[ib], th[c]];
    dx[ia] = ((wedgeDistance(a + H, b, t) - wedgeDistance(a - H, b, t)) / (2 * H)) * g[p];
    dx[ib] = ((wedgeDistance(a, b + H, t) - wedgeDistance(a, b - H, t)) / (2 * H)) * g[p];
    dth[p] = ((wedgeDistance(a, b, t + H) - wedgeDistance(a, b, t - H)) / (2 * H)) * g[p];
  }
  return [{ data: dx, shape: [...shape] }, { data: dth, shape: hs }];
}

function fdHouseholder(x: ArrayLike<number>, th: ArrayLike<number>, g: ArrayLike<number>, shape: number[]): [Ref, Ref] {
  const dx = new Float64Array(x.length);
  const dth = new Float64Array(x.length / 2);
  const vjp = (f: (d: number) => [number, number], ga: number, gb: number): number => {
    const [pa, pb] = f(H);
    const [ma, mb] = f(-H);
    return ((pa - ma) * ga + (pb - mb) * gb) / (2 * H);
  };
  for (const [ia, ib, p, c] of pairs(shape)) {
    const [a, b, t, ga, gb] = [x[ia], x[ib], th[c], g[ia], g[ib]];
    dx[ia] = vjp((d) => reflectPair(a + d, b, t), ga, gb);
    dx[ib] = vjp((d) => reflectPair(a, b + d, t), ga, gb);
    dth[p] = vjp((d) => reflectPair(a, b, t + d), ga, gb);
  }
  return [{ data: dx, shape: [...shape] }, { data: dth, shape: halfShape(shape) }];
}

// ---------------- inputs ----------------

/** [x shape, θ shape]. */
const configs: [number[], number[]][] = [
  [[2, 6, 3, 4], [3]],
  [[3, 4, 2, 2], [1, 2, 1, 1]],
  [[5, 8], [4]],
  [[1, 2, 5], [1]],
  [[2, 4, 1, 1, 3], [2]],
  [[0, 4, 2, 2], [2]],
];

/** Angles in [0.1, π − 0.1] (ChannelPool clamps to [0, π]; HH1 accepts any). */
function angles(rng: Rng, shape: number[], dtype: DType): HostInput {
  const t = input(rng, shape, dtype, 0.1, Math.PI - 0.1);
  for (let i = 0; i < t.data.length; i++) t.data[i] = dtype === 'float32' ? Math.fround(Math.abs(t.data[i])) : Math.abs(t.data[i]);
  return t;
}

/** Angular distance of (x, y) from the kinks: lip_pool's region borders or HH1's reflecting line. */
function kinkDistance(kind: 'lip' | 'hh', x: number, y: number, t: number): number {
  let phi = Math.atan2(y, x);
  if (phi < 0) phi += 2 * Math.PI;
  const borders = kind === 'lip' ? [t / 2, (t + Math.PI) / 2, (3 * Math.PI - t) / 2, 2 * Math.PI - t / 2, 0, 2 * Math.PI] : [t / 2, t / 2 + Math.PI];
  return Math.min(...borders.map((b) => Math.abs(phi - b)));
}

/** x with every pair at least 0.02 rad away from a kink and of norm ≥ 0.1 (resampled until so). */
function awayFromKinks(rng: Rng, kind: 'lip' | 'hh', shape: number[], th: HostInput, dtype: DType): HostInput {
  const x = input(rng, shape, dtype);
  for (const [ia, ib, , c] of pairs(shape)) {
    while (kinkDistance(kind, x.data[ia], x.data[ib], th.data[c]) < 0.02 || Math.hypot(x.data[ia], x.data[ib]) < 0.1) {
      const r = input(rng, [2], dtype);
      x.data[ia] = r.data[0];
      x.data[ib] = r.data[1];
    }
  }
  return x;
}

const tolFor = (dtype: DType) => (dtype === 'float32' ? { rtol: 2e-5, atol: 2e-5 } : {});
const FD = (dtype: DType) => (dtype === 'float32' ? { rtol: 1e-4, atol: 1e-4 } : { rtol: 1e-7, atol: 1e-8 });

const forwardCase = (kind: 'lip' | 'hh'): Builder => (rng) =>
  FLOATS.flatMap((dtype) =>
    configs.map(([shape, ts]) => {
      const th = angles(rng, ts, dtype);
      const x = awayFromKinks(rng, kind, shape, th, dtype);
      const ref = kind === 'lip' ? refLipPool(x.data, th.data, shape) : refHouseholder(x.data, th.data, shape);
      return { name: `${dtype} x [${shape}] theta [${ts}]`, inputs: [x, th], attrs: {}, expected: [{ ...ref, dtype, ...tolFor(dtype) }] };
    }),
  );

const backwardCase = (kind: 'lip' | 'hh'): Builder => (rng) =>
  FLOATS.flatMap((dtype) =>
    configs.map(([shape, ts]) => {
      const th = angles(rng, ts, dtype);
      const x = awayFromKinks(rng, kind, shape, th, dtype);
      const g = input(rng, kind === 'lip' ? halfShape(shape) : shape, dtype);
      const [dx, dth] = kind === 'lip' ? fdLipPool(x.data, th.data, g.data, shape) : fdHouseholder(x.data, th.data, g.data, shape);
      return {
        name: `${dtype} x [${shape}] theta [${ts}] (finite differences)`,
        inputs: [x, th, g],
        attrs: {},
        expected: [{ ...dx, dtype, ...FD(dtype) }, { ...dth, dtype, ...FD(dtype) }],
      };
    }),
  );

/** A pair exactly at the origin (φ = atan2(0, 0) = 0: first region): 0, the first piece's gradient, no NaN. */
const originCase: Builder = () =>
  FLOATS.map((dtype) => ({
    name: `${dtype} pair at the origin`,
    inputs: [{ data: [0, 0], shape: [1, 2], dtype }, { data: [1], shape: [1], dtype }, { data: [1.5], shape: [1, 1], dtype }],
    attrs: {},
    expected: [{ data: [-Math.sin(0.5) * 1.5, Math.cos(0.5) * 1.5], shape: [1, 2], dtype, ...tolFor(dtype) }, { data: [0], shape: [1, 1], dtype }],
  }));

export const CASES: Record<string, Builder> = {
  lip_pool: forwardCase('lip'),
  lip_pool_backward: (rng) => [...backwardCase('lip')(rng), ...originCase(rng)],
  householder: forwardCase('hh'),
  householder_backward: backwardCase('hh'),
};
