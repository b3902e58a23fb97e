/**
 * Plain float64 references for the conformance suite: written directly from the definitions, with no
 * code shared with the kernels.
 */

export type Shape = number[];

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export function strides(s: Shape): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

/** Multi-index of flat position `o` in `shape`. */
export function unravel(o: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = o % shape[d];
    o = Math.floor(o / shape[d]);
  }
  return idx;
}

export function ravel(idx: number[], shape: Shape): number {
  let o = 0;
  for (let d = 0; d < shape.length; d++) o = o * shape[d] + idx[d];
  return o;
}

export function broadcastShape(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) throw new Error('not broadcastable');
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Elementwise f(a, b) with numpy broadcasting. */
export function binary(a: ArrayLike<number>, as: Shape, b: ArrayLike<number>, bs: Shape, f: (x: number, y: number) => number) {
  const shape = broadcastShape(as, bs);
  const out = new Float64Array(numel(shape));
  for (let o = 0; o < out.length; o++) {
    const idx = unravel(o, shape);
    const pick = (s: Shape) => idx.slice(idx.length - s.length).map((v, d) => (s[d] === 1 ? 0 : v));
    out[o] = f(a[ravel(pick(as), as)], b[ravel(pick(bs), bs)]);
  }
  return { data: out, shape };
}

/** Reduction over `axes` (sorted, non-negative) with `init` and `step`, then `finish`. */
export function reduce(
  x: ArrayLike<number>,
  shape: Shape,
  axes: number[],
  keepDims: boolean,
  init: number,
  step: (acc: number, v: number) => number,
  finish: (acc: number, count: number) => number = (a) => a,
) {
  const outShape: Shape = [];
  const keptShape: Shape = [];
  shape.forEach((d, i) => {
    if (axes.includes(i)) {
      keptShape.push(1);
      if (keepDims) outShape.push(1);
    } else {
      keptShape.push(d);
      outShape.push(d);
    }
  });
  const count = axes.reduce((a, ax) => a * shape[ax], 1);
  const acc = new Float64Array(numel(keptShape)).fill(init);
  for (let i = 0; i < x.length; i++) {
    const idx = unravel(i, shape).map((v, d) => (axes.includes(d) ? 0 : v));
    const o = ravel(idx, keptShape);
    acc[o] = step(acc[o], x[i]);
  }
  return { data: acc.map((a) => finish(a, count)), shape: outShape };
}

export function permute(x: ArrayLike<number>, shape: Shape, perm: number[]) {
  const outShape = perm.map((p) => shape[p]);
  const out = new Float64Array(x.length);
  for (let o = 0; o < out.length; o++) {
    const oi = unravel(o, outShape);
    const ii = new Array<number>(shape.length);
    perm.forEach((p, d) => (ii[p] = oi[d]));
    out[o] = x[ravel(ii, shape)];
  }
  return { data: out, shape: outShape };
}

export function slice(x: ArrayLike<number>, shape: Shape, begin: number[], end: number[]) {
  const outShape = shape.map((_, d) => end[d] - begin[d]);
  const out = new Float64Array(numel(outShape));
  for (let o = 0; o < out.length; o++) {
    const idx = unravel(o, outShape).map((v, d) => v + begin[d]);
    out[o] = x[ravel(idx, shape)];
  }
  return { data: out, shape: outShape };
}

export function concat(xs: ArrayLike<number>[], shapes: Shape[], axis: number) {
  const outShape = [...shapes[0]];
  outShape[axis] = shapes.reduce((a, s) => a + s[axis], 0);
  const out = new Float64Array(numel(outShape));
  for (let o = 0; o < out.length; o++) {
    const idx = unravel(o, outShape);
    let k = 0;
    let pos = idx[axis];
    while (pos >= shapes[k][axis]) pos -= shapes[k++][axis];
    const src = [...idx];
    src[axis] = pos;
    out[o] = xs[k][ravel(src, shapes[k])];
  }
  return { data: out, shape: outShape };
}

// ---- Philox4x32-10, from the published description (Salmon et al., SC'11), with BigInt ----
const M0 = 0xd2511f53n;
const M1 = 0xcd9e8d57n;
const W0 = 0x9e3779b9n;
const W1 = 0xbb67ae85n;
const MASK = 0xffffffffn;

export function philox(counter: number, seed: number): number[] {
  let c = [BigInt(counter) & MASK, BigInt(Math.floor(counter / 2 ** 32)) & MASK, 0n, 0n];
  let k0 = BigInt(seed) & MASK;
  let k1 = BigInt(Math.floor(seed / 2 ** 32)) & MASK;
  for (let r = 0; r < 10; r++) {
    const p0 = M0 * c[0];
    const p1 = M1 * c[2];
    c = [((p1 >> 32n) ^ c[1] ^ k0) & MASK, p1 & MASK, ((p0 >> 32n) ^ c[3] ^ k1) & MASK, p0 & MASK];
    k0 = (k0 + W0) & MASK;
    k1 = (k1 + W1) & MASK;
  }
  return c.map(Number);
}

const unitDouble = (hi: number, lo: number): number => ((hi >>> 5) * 2 ** 26 + (lo >>> 6)) / 2 ** 53;

/** Element i of rand(seed) in [low, high) as the kernels define it. */
export function uniformAt(seed: number, i: number, low: number, high: number, f32: boolean): number {
  const w = philox(i, seed);
  if (f32) {
    const f = Math.fround;
    const u = f((w[0] >>> 8) / 2 ** 24);
    const v = f(f(low) + f(f(high - low) * u));
    return v < f(high) ? v : f(low);
  }
  const v = low + (high - low) * unitDouble(w[0], w[1]);
  return v < high ? v : low;
}

/** Element i of randn(seed): Box–Muller in double. */
export function normalAt(seed: number, i: number, mean: number, std: number): number {
  const w = philox(i, seed);
  const u1 = 1 - unitDouble(w[0], w[1]);
  const u2 = unitDouble(w[2], w[3]);
  return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(6.283185307179586 * u2);
}
