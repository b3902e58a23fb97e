/** Conformance cases: fill and the Philox generators. */
import * as R from '../reference';
import { ALL, Builder, FLOATS, round } from './common';

// ---------------- creation ----------------
const fillCase: Builder = (rng) =>
  ALL.flatMap((dtype) =>
    [[3, 4], [], [0], [2, 3, 5, 7]].map((shape) => {
      const value = round(dtype === 'int32' ? rng.int(-100, 100) : rng.uniform(-5, 5), dtype);
      return { name: `${dtype} [${shape}] = ${value}`, inputs: [], attrs: { shape, dtype, value }, expected: [{ data: new Array(R.numel(shape)).fill(value), shape, dtype }] };
    }),
  );

const randCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    [[0, 1], [-2, 3]].map(([low, high]) => {
      const seed = rng.int(0, 2 ** 31) * 4096 + rng.int(0, 4095);
      const shape = [25, 40];
      const data = Array.from({ length: 1000 }, (_, i) => R.uniformAt(seed, i, low, high, dtype === 'float32'));
      // One ulp of slack for FMA contraction on real GPUs; CPU and the emulator are exact.
      return { name: `${dtype} seed=${seed} [${low}, ${high})`, inputs: [], attrs: { shape, dtype, seed, low, high },
        expected: [{ data, shape, dtype, rtol: dtype === 'float32' ? 1.2e-7 : 2.3e-16, atol: 0 }] };
    }),
  );

const randnCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    [[0, 1], [1.5, 0.25]].map(([mean, std]) => {
      const seed = rng.int(0, 2 ** 31);
      const shape = [10, 100];
      const data = Array.from({ length: 1000 }, (_, i) => R.normalAt(seed, i, mean, std));
      return { name: `${dtype} seed=${seed} N(${mean}, ${std})`, inputs: [], attrs: { shape, dtype, seed, mean, std },
        expected: [{ data, shape, dtype, rtol: dtype === 'float32' ? 1.2e-7 : 1e-13, atol: dtype === 'float32' ? 1e-7 : 1e-14 }] };
    }),
  );

export const CASES: Record<string, Builder> = {
  fill: fillCase,
  rand: randCase,
  randn: randnCase,
};
