/** Conformance cases: reductions over axes. */
import * as R from '../reference';
import { ALL, Builder, DType, FLOATS, input, Variant, wrap32 } from './common';

// ---------------- reductions ----------------
const REDUCE_SETUPS: { shape: number[]; axes?: number[]; keepDims?: boolean }[] = [
  { shape: [3, 4, 5, 6] },
  { shape: [3, 4, 5, 6], axes: [1] },
  { shape: [3, 4, 5, 6], axes: [-1], keepDims: true },
  { shape: [3, 4, 5, 6], axes: [0, 2] },
  { shape: [3, 4, 5, 6], axes: [3, 1], keepDims: true },
  { shape: [3, 4, 5, 6], axes: [1, 2] },
  { shape: [3, 4, 5, 6], axes: [] },
  { shape: [2, 5000], axes: [1] },
  { shape: [20000] },
  { shape: [300, 7], axes: [0] },
  { shape: [] },
];

function reduceOp(name: 'sum' | 'mean' | 'max', dtypes: DType[]): Builder {
  return (rng) => {
    const out: Variant[] = [];
    for (const dtype of dtypes) {
      const setups = [...REDUCE_SETUPS];
      if (name === 'sum') setups.push({ shape: [0, 4], axes: [0] }, { shape: [3, 0], axes: [1], keepDims: true });
      for (const s of setups) {
        const x = input(rng, s.shape, dtype);
        if (name === 'max' && dtype !== 'int32' && s.shape.length === 2 && s.shape[0] === 300) x.data[5 * 7 + 2] = NaN;
        const nd = s.shape.length;
        const axes = (s.axes ?? [...Array(nd).keys()]).map((a) => (a < 0 ? a + nd : a)).sort((a, b) => a - b);
        const absSum = R.reduce(x.data, s.shape, axes, !!s.keepDims, 0, (a, v) => a + Math.abs(v));
        let ref;
        if (name === 'max') ref = R.reduce(x.data, s.shape, axes, !!s.keepDims, -Infinity, (a, v) => (Number.isNaN(a) || Number.isNaN(v) ? NaN : Math.max(a, v)));
        else ref = R.reduce(x.data, s.shape, axes, !!s.keepDims, 0, (a, v) => a + v, name === 'mean' ? (a, c) => a / c : (a) => a);
        const count = axes.reduce((a, ax) => a * s.shape[ax], 1);
        const eps = dtype === 'float32' ? 2e-6 : 1e-13;
        const data = dtype === 'int32' ? Array.from(ref.data, wrap32) : ref.data;
        // Summation error scales with the sum of magnitudes, not with the (possibly cancelled) result.
        const atol = name === 'max' || dtype === 'int32' ? 0 : Math.max(...Array.from(absSum.data, (v) => v * eps / (name === 'mean' ? count : 1)), 0);
        out.push({
          name: `${dtype} [${s.shape}] axes=${s.axes === undefined ? 'all' : `[${s.axes}]`}${s.keepDims ? ' keepDims' : ''}`,
          inputs: [x],
          attrs: { axes: s.axes, keepDims: s.keepDims ?? false },
          expected: [{ data, shape: ref.shape, dtype, atol, rtol: eps }],
        });
      }
    }
    return out;
  };
}

export const CASES: Record<string, Builder> = {
  sum: reduceOp('sum', ALL),
  mean: reduceOp('mean', FLOATS),
  max: reduceOp('max', ALL),
};
