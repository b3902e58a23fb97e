/** What a conformance case is, and the input generators shared by the case files. */
import * as R from '../reference';

export type DType = 'float32' | 'float64' | 'int32';

export interface HostInput {
  data: number[];
  shape: number[];
  dtype: DType;
}

export interface Expected {
  data: ArrayLike<number>;
  shape: number[];
  dtype: DType;
  /** |out − ref| ≤ atol + rtol·|ref| elementwise (NaN must match NaN). Omitted: defaults per dtype. */
  rtol?: number;
  atol?: number;
}

export interface Variant {
  name: string;
  inputs: HostInput[];
  attrs: Record<string, unknown>;
  expected: Expected[];
  /**
   * In-place ops (they write into their inputs): [input index, what that input must hold after the
   * call]. Inputs not listed must be unchanged (checked for every variant).
   */
  inPlace?: [number, Expected][];
}

/** A seeded PRNG (mulberry32) so a failing run can be replayed from its printed seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return Math.floor(this.uniform(lo, hi + 1));
  }
}

export const round = (v: number, dtype: DType): number => (dtype === 'float32' ? Math.fround(v) : dtype === 'int32' ? Math.trunc(v) : v);

export function input(rng: Rng, shape: number[], dtype: DType, lo = -2, hi = 2): HostInput {
  const n = R.numel(shape);
  const data: number[] = [];
  for (let i = 0; i < n; i++) {
    let v = dtype === 'int32' ? rng.int(Math.ceil(lo * 25), Math.floor(hi * 25)) : rng.uniform(lo, hi);
    if (dtype !== 'int32' && Math.abs(v) < 1e-3) v += 0.5;  // keep values away from exact zero
    data.push(round(v, dtype));
  }
  return { data, shape, dtype };
}

export const FLOATS: DType[] = ['float32', 'float64'];
export const ALL: DType[] = ['float32', 'float64', 'int32'];

/** Wraps int32 results as the kernels store them (two's complement). */
export const wrap32 = (v: number): number => v | 0;

export type Builder = (rng: Rng) => Variant[];

