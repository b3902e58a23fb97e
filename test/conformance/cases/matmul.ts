/**
 * Conformance cases: matrix products (matmul, syrk). The references are plain float64 triple loops over
 * the broadcast batch; tolerances scale with k and with Σ|a·b| (the size of the terms summed), since the
 * kernels sum in another order (and with FMA) than the reference.
 */
import * as R from '../reference';
import { Builder, DType, FLOATS, HostInput, input, Rng, Variant } from './common';

const UNIT: Record<string, number> = { float32: 2 ** -24, float64: 2 ** -53 };

/** op(a)·op(b) with numpy-broadcast batch dims, and the largest Σ|a·b| of an output element. */
function matmulRef(a: HostInput, b: HostInput, transA: boolean, transB: boolean) {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const n = transB ? br : bc;
  // op(a)(i, p) = A[oa + i·sai + p·sap], op(b)(p, j) = B[ob + p·sbp + j·sbj].
  const sai = transA ? 1 : ac;
  const sap = transA ? ac : 1;
  const sbp = transB ? 1 : bc;
  const sbj = transB ? bc : 1;
  const A = Float64Array.from(a.data);
  const B = Float64Array.from(b.data);
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const batch = R.broadcastShape(ba, bb);
  const nb = R.numel(batch);
  const out = new Float64Array(nb * m * n);
  let worst = 0;
  for (let e = 0; e < nb; e++) {
    const idx = R.unravel(e, batch);
    const pick = (s: number[]) => idx.slice(idx.length - s.length).map((v, d) => (s[d] === 1 ? 0 : v));
    const oa = R.ravel(pick(ba), ba) * ar * ac;
    const ob = R.ravel(pick(bb), bb) * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let sa = 0;
        for (let p = 0; p < k; p++) {
          const v = A[oa + i * sai + p * sap] * B[ob + p * sbp + j * sbj];
          s += v;
          sa += v < 0 ? -v : v;  // (Math.abs is ~100× slower inside jest's vm context)
        }
        out[(e * m + i) * n + j] = s;
        if (sa > worst) worst = sa;
      }
    }
  }
  return { data: out, shape: [...batch, m, n], k, absSum: worst };
}

/** a·aᵀ (or aᵀ·a with trans) per batch entry, computed as a full product (no symmetry assumed). */
function syrkRef(a: HostInput, trans: boolean) {
  const [r, c] = a.shape.slice(-2);
  const n = trans ? c : r;
  const k = trans ? r : c;
  const nb = R.numel(a.shape.slice(0, -2));
  const A = Float64Array.from(a.data);
  // op(a)(i, p) = A[o + i·si + p·sp]; the product is op(a)·op(a)ᵀ.
  const si = trans ? 1 : c;
  const sp = trans ? c : 1;
  const out = new Float64Array(nb * n * n);
  let worst = 0;
  for (let e = 0; e < nb; e++) {
    const o = e * r * c;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let sa = 0;
        for (let p = 0; p < k; p++) {
          const v = A[o + i * si + p * sp] * A[o + j * si + p * sp];
          s += v;
          sa += v < 0 ? -v : v;  // (Math.abs is ~100× slower inside jest's vm context)
        }
        out[(e * n + i) * n + j] = s;
        if (sa > worst) worst = sa;
      }
    }
  }
  return { data: out, shape: [...a.shape.slice(0, -2), n, n], k, absSum: worst };
}

/** |error| ≤ 2·u·(k + 2)·max Σ|a·b|: the worst-case bound of a length-k sum, in the output's unit. */
const tolerance = (dtype: DType, k: number, absSum: number) => ({ atol: 2 * UNIT[dtype] * (k + 2) * absSum + 1e-300, rtol: 0 });

interface MatmulSetup {
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
  dtypes?: DType[];
}

const MATMUL_SETUPS: MatmulSetup[] = [
  { a: [67, 45], b: [45, 131] },                     // ragged edges on every side of the micro-tiles
  { a: [13, 29], b: [29, 17] },
  { a: [29, 13], b: [29, 17], transA: true },
  { a: [13, 29], b: [17, 29], transB: true },
  { a: [29, 13], b: [17, 29], transA: true, transB: true },
  { a: [2, 1, 5, 7], b: [3, 7, 4] },                  // broadcast batch dims on both sides
  { a: [4, 7, 5], b: [7, 6], transA: true },          // batched a, one b
  { a: [3, 9, 13], b: [1, 6, 13], transB: true },
  { a: [5, 12, 33], b: [33, 40] },                    // batch folded into rows of one product
  { a: [64, 4, 4], b: [64, 4, 4] },                   // many small matrices
  { a: [3, 0], b: [0, 4] },                           // k = 0: zeros
  { a: [2, 0, 5], b: [5, 3] },                        // m = 0
  { a: [1, 300], b: [300, 70] },                      // m = 1 (vector · matrix)
  { a: [1, 300], b: [70, 300], transB: true },
  { a: [50, 64], b: [64, 1] },                        // n = 1 (matrix · vector)
  { a: [64, 50], b: [1, 64], transA: true, transB: true },
  { a: [20, 1700], b: [1700, 24] },                   // long k, few tiles
  { a: [300, 300], b: [300, 300], dtypes: ['float32'] },
  { a: [130, 200], b: [150, 200], transB: true, dtypes: ['float64'] },
];

const matmulCase: Builder = (rng: Rng) => {
  const out: Variant[] = [];
  for (const s of MATMUL_SETUPS) {
    for (const dtype of s.dtypes ?? FLOATS) {
      const a = input(rng, s.a, dtype);
      const b = input(rng, s.b, dtype);
      const ref = matmulRef(a, b, !!s.transA, !!s.transB);
      out.push({
        name: `${dtype} [${s.a}]${s.transA ? 'ᵀ' : ''} · [${s.b}]${s.transB ? 'ᵀ' : ''}`,
        inputs: [a, b],
        attrs: { transA: !!s.transA, transB: !!s.transB },
        expected: [{ data: ref.data, shape: ref.shape, dtype, ...tolerance(dtype, ref.k, ref.absSum) }],
      });
    }
  }
  return out;
};

const SYRK_SETUPS: { a: number[]; trans?: boolean; dtypes?: DType[] }[] = [
  { a: [45, 131] },
  { a: [45, 131], trans: true },
  { a: [3, 20, 7] },
  { a: [2, 2, 5, 40], trans: true },
  { a: [1, 9] },
  { a: [9, 1], trans: true },
  { a: [4, 0] },
  { a: [70, 300], dtypes: ['float32'] },
  { a: [200, 150], trans: true, dtypes: ['float64'] },
];

const syrkCase: Builder = (rng: Rng) => {
  const out: Variant[] = [];
  for (const s of SYRK_SETUPS) {
    for (const dtype of s.dtypes ?? FLOATS) {
      const a = input(rng, s.a, dtype);
      const ref = syrkRef(a, !!s.trans);
      out.push({
        name: `${dtype} [${s.a}]${s.trans ? ' trans' : ''}`,
        inputs: [a],
        attrs: { trans: !!s.trans },
        expected: [{ data: ref.data, shape: ref.shape, dtype, ...tolerance(dtype, ref.k, ref.absSum) }],
      });
    }
  }
  return out;
};

export const CASES: Record<string, Builder> = {
  matmul: matmulCase,
  syrk: syrkCase,
};
