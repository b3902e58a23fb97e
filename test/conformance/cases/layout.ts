/** Conformance cases: data movement. */
import * as R from '../reference';
import { ALL, Builder, input } from './common';

// ---------------- layout ----------------
const permuteCase: Builder = (rng) =>
  ALL.flatMap((dtype) =>
    ([
      [[2, 3, 4], [2, 0, 1]],
      [[70, 45], [1, 0]],
      [[2, 1, 3, 1, 4], [4, 2, 0, 3, 1]],
      [[5, 6, 7], [0, 1, 2]],
      [[3, 33, 40], [0, 2, 1]],
      [[], []],
    ] as [number[], number[]][]).map(([shape, perm]) => {
      const x = input(rng, shape, dtype);
      return { name: `${dtype} [${shape}] perm [${perm}]`, inputs: [x], attrs: { perm }, expected: [{ ...R.permute(x.data, shape, perm), dtype }] };
    }),
  );

const sliceCase: Builder = (rng) =>
  ALL.flatMap((dtype) =>
    ([
      [[5, 6, 7], [1, 0, 2], [4, 6, 5]],
      [[5, 6, 7], [-3, 1, -7], [-1, -1, 7]],
      [[4, 9], [2, 3], [2, 8]],
      [[100], [17], [83]],
    ] as [number[], number[], number[]][]).map(([shape, begin, end]) => {
      const x = input(rng, shape, dtype);
      const b = begin.map((v, d) => (v < 0 ? v + shape[d] : v));
      const e = end.map((v, d) => (v < 0 ? v + shape[d] : v));
      return { name: `${dtype} [${shape}] [${begin}]:[${end}]`, inputs: [x], attrs: { begin, end }, expected: [{ ...R.slice(x.data, shape, b, e), dtype }] };
    }),
  );

const concatCase: Builder = (rng) =>
  ALL.flatMap((dtype) =>
    ([
      [[[2, 3, 4], [2, 1, 4], [2, 5, 4]], 1],
      [[[2, 3, 4], [2, 3, 2]], -1],
      [[[3, 5], [0, 5], [4, 5]], 0],
      [[[6]], 0],
    ] as [number[][], number][]).map(([shapes, axis]) => {
      const xs = shapes.map((s) => input(rng, s, dtype));
      const ax = axis < 0 ? axis + shapes[0].length : axis;
      return {
        name: `${dtype} ${shapes.map((s) => `[${s}]`).join(' + ')} axis ${axis}`,
        inputs: xs,
        attrs: { axis },
        expected: [{ ...R.concat(xs.map((x) => x.data), shapes, ax), dtype }],
      };
    }),
  );

export const CASES: Record<string, Builder> = {
  permute: permuteCase,
  slice: sliceCase,
  concat: concatCase,
};
