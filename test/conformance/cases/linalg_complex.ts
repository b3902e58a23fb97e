/**
 * Conformance cases: solve_complex, inverse_complex, matmul_complex. References are plain float64
 * complex arithmetic: Gaussian elimination with partial pivoting for the solve, Gauss–Jordan for the
 * inverse, triple loops for the product; each reference is checked against the identities A·X = B and
 * A·A⁻¹ = I before use (a violation throws). Matrices: I + 0.1·U/√n (U uniform in ±2: well
 * conditioned) and U·diag(s)·Vᴴ with random unitary U, V and planted singular values s in [1, κ]; the
 * float32 tolerance scales with κ.
 */
import { Builder, DType, FLOATS, HostInput, input, Rng, round, Variant } from './common';

type C = [number, number];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const cmul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const cdiv = (a: C, b: C): C => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
const cabs2 = (a: C) => a[0] * a[0] + a[1] * a[1];

/** Matrix e of a batch of rows×cols complex matrices (interleaved) as rows of complex numbers. */
function mat(data: ArrayLike<number>, e: number, rows: number, cols: number): C[][] {
  const off = e * rows * cols * 2;
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j): C => [data[off + 2 * (i * cols + j)], data[off + 2 * (i * cols + j) + 1]]));
}
const flatten = (ms: C[][][]): Float64Array => Float64Array.from(ms.flatMap((m) => m.flatMap((r) => r.flatMap((c) => c))));

function matmulRef(a: C[][], b: C[][]): C[][] {
  return a.map((row) => b[0].map((_, j) => row.reduce((acc: C, v, p) => {
    const t = cmul(v, b[p][j]);
    return [acc[0] + t[0], acc[1] + t[1]];
  }, [0, 0] as C)));
}
const adjoint = (a: C[][]): C[][] => a[0].map((_, j) => a.map((row): C => [row[j][0], -row[j][1]]));

/** X with A·X = B by Gaussian elimination with partial pivoting on [A | B]. */
function solveRef(a: C[][], b: C[][]): C[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row.map((v): C => [...v]), ...b[i].map((v): C => [...v])]);
  for (let j = 0; j < n; j++) {
    let piv = j;
    for (let i = j + 1; i < n; i++) if (cabs2(m[i][j]) > cabs2(m[piv][j])) piv = i;
    [m[j], m[piv]] = [m[piv], m[j]];
    for (let i = j + 1; i < n; i++) {
      const f = cdiv(m[i][j], m[j][j]);
      for (let q = j; q < m[i].length; q++) {
        const t = cmul(f, m[j][q]);
        m[i][q] = [m[i][q][0] - t[0], m[i][q][1] - t[1]];
      }
    }
  }
  const k = b[0].length;
  const x: C[][] = Array.from({ length: n }, () => Array.from({ length: k }, (): C => [0, 0]));
  for (let i = n - 1; i >= 0; i--)
    for (let q = 0; q < k; q++) {
      let s: C = [...m[i][n + q]];
      for (let j = i + 1; j < n; j++) {
        const t = cmul(m[i][j], x[j][q]);
        s = [s[0] - t[0], s[1] - t[1]];
      }
      x[i][q] = cdiv(s, m[i][i]);
    }
  return x;
}

/** A⁻¹ by Gauss–Jordan elimination with partial pivoting on [A | I]. */
function inverseRef(a: C[][]): C[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row.map((v): C => [...v]), ...row.map((_, j): C => [i === j ? 1 : 0, 0])]);
  for (let j = 0; j < n; j++) {
    let piv = j;
    for (let i = j + 1; i < n; i++) if (cabs2(m[i][j]) > cabs2(m[piv][j])) piv = i;
    [m[j], m[piv]] = [m[piv], m[j]];
    const d = m[j][j];
    m[j] = m[j].map((v) => cdiv(v, d));
    for (let i = 0; i < n; i++) {
      if (i === j) continue;
      const f = m[i][j];
      m[i] = m[i].map((v, q) => {
        const t = cmul(f, m[j][q]);
        return [v[0] - t[0], v[1] - t[1]];
      });
    }
  }
  return m.map((row) => row.slice(n));
}

/** Throws unless ‖A·X − B‖_max ≤ tol·(1 + ‖B‖_max). */
function checkIdentity(what: string, a: C[][], x: C[][], b: C[][], tol: number): void {
  const ax = matmulRef(a, x);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++)
    for (let j = 0; j < b[0].length; j++) {
      err = Math.max(err, Math.abs(ax[i][j][0] - b[i][j][0]), Math.abs(ax[i][j][1] - b[i][j][1]));
      scale = Math.max(scale, Math.abs(b[i][j][0]), Math.abs(b[i][j][1]));
    }
  if (!(err <= tol * scale)) throw new Error(`${what}: reference residual ${err} > ${tol * scale}`);
}

/** A random unitary n×n matrix: Gram–Schmidt (twice) of a random complex matrix. */
function unitary(rng: Rng, n: number): C[][] {
  const cols: C[][] = [];
  for (let j = 0; j < n; j++) {
    let v: C[] = Array.from({ length: n }, (): C => [rng.uniform(-1, 1), rng.uniform(-1, 1)]);
    for (let pass = 0; pass < 2; pass++)
      for (const u of cols) {
        let d: C = [0, 0];  // uᴴv
        for (let i = 0; i < n; i++) {
          const t = cmul([u[i][0], -u[i][1]], v[i]);
          d = [d[0] + t[0], d[1] + t[1]];
        }
        v = v.map((x, i) => {
          const t = cmul(d, u[i]);
          return [x[0] - t[0], x[1] - t[1]];
        });
      }
    const nrm = Math.sqrt(v.reduce((s, x) => s + cabs2(x), 0));
    cols.push(v.map((x): C => [x[0] / nrm, x[1] / nrm]));
  }
  return Array.from({ length: n }, (_, i) => cols.map((c) => c[i]));
}

type Kind = 'near-identity' | 'planted' | 'permuted';

/**
 * A batch of matrices: 'near-identity' I + 0.1·U/√n, 'planted' U·diag(s)·Vᴴ with s from 1 to κ
 * (log-spaced), or 'permuted' (a row-shifted near-identity with A[0][0] = 0: pivoting required). Values
 * rounded to the dtype, so the reference solves exactly the stored matrices.
 */
function matrices(rng: Rng, batch: number[], n: number, dtype: DType, kind: Kind, kappa = 1): HostInput {
  const ms: C[][][] = [];
  for (let e = 0; e < numel(batch); e++) {
    if (kind === 'permuted') {
      // rows of I + 0.1·U/√n cyclically shifted by one, the entry that lands at (0, 0) set to 0: the first
      // pivot cannot be the leading entry, and every column's pivot sits below the diagonal
      const m = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j): C => [(i === j ? 1 : 0) + (0.1 * rng.uniform(-2, 2)) / Math.sqrt(n), (0.1 * rng.uniform(-2, 2)) / Math.sqrt(n)]));
      const p = m.map((_, i) => m[(i + 1) % n]);
      p[0][0] = [0, 0];
      ms.push(p);
    } else if (kind === 'near-identity') {
      ms.push(Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j): C => [(i === j ? 1 : 0) + (0.1 * rng.uniform(-2, 2)) / Math.sqrt(n), (0.1 * rng.uniform(-2, 2)) / Math.sqrt(n)])));
    } else {
      const u = unitary(rng, n);
      const v = unitary(rng, n);
      const s = Array.from({ length: n }, (_, i) => (n === 1 ? 1 : kappa ** (i / (n - 1))));
      const us = u.map((row) => row.map((x, j): C => [x[0] * s[j], x[1] * s[j]]));
      ms.push(matmulRef(us, adjoint(v)));
    }
  }
  return { data: Array.from(flatten(ms), (v) => round(v, dtype)), shape: [...batch, n, n, 2], dtype };
}

/**
 * [batch dims, n, k, kind, κ]; n ≥ 20 crosses the CPU's 16-column panels (blocked paths: panel, triangular solve, GEMM update).
 * CUDA: n ≤ 75 (float32) / 53 (float64) factors in shared memory, above by 32-column panels and 64×64 GEMM tiles; 54 and 76
 * are just above those limits (76: both dtypes blocked), 96 and 130 leave partial panels / tiles, the triangular solves are
 * blocked by 32 rows for every n.
 */
const systems: [number[], number, number, Kind, number][] = [
  [[], 1, 1, 'near-identity', 1],
  [[3], 4, 2, 'near-identity', 1],
  [[2, 3], 7, 5, 'near-identity', 1],
  [[2], 12, 1, 'planted', 100],
  [[2], 20, 20, 'planted', 1000],
  [[1], 64, 3, 'near-identity', 1],
  [[1], 100, 9, 'planted', 30],
  [[0], 5, 2, 'near-identity', 1],
  [[2], 3, 0, 'near-identity', 1],
  [[2], 54, 3, 'planted', 10],
  [[2], 76, 5, 'near-identity', 1],
  [[3], 40, 6, 'permuted', 1],
  [[1], 96, 40, 'planted', 30],
  [[1], 130, 4, 'permuted', 1],
];

/** Relative tolerance of a solve in dtype for condition number κ (forward error ~ κ·n·ε). */
const solveTol = (dtype: DType, n: number, kappa: number) => {
  const e = dtype === 'float32' ? 6e-8 : 1.1e-16;
  const t = 4 * kappa * Math.max(4, n) * e;
  return { rtol: t, atol: t };
};

const solveCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    systems.map(([batch, n, k, kind, kappa]): Variant => {
      const a = matrices(rng, batch, n, dtype, kind, kappa);
      const b = input(rng, [...batch, n, k, 2], dtype);
      const xs: C[][][] = [];
      for (let e = 0; e < numel(batch); e++) {
        if (k === 0) continue;
        const A = mat(a.data, e, n, n);
        const B = mat(b.data, e, n, k);
        const X = solveRef(A, B);
        checkIdentity(`solve ${n}×${n}`, A, X, B, 1e-12 * kappa * n);
        xs.push(X);
      }
      // scale the tolerance by max|X| (the error bound is relative to ‖X‖)
      const ref = flatten(xs);
      const xmax = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
      const tol = solveTol(dtype, n, kappa);
      return { name: `${dtype} ${kind} κ=${kappa} batch [${batch}] n=${n} k=${k}`, inputs: [a, b], attrs: {},
        expected: [{ data: ref, shape: [...batch, n, k, 2], dtype, rtol: tol.rtol, atol: tol.atol * xmax }] };
    }),
  );

const inverseCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    systems.filter(([, , k]) => k > 0).map(([batch, n, , kind, kappa]): Variant => {
      const a = matrices(rng, batch, n, dtype, kind, kappa);
      const invs: C[][][] = [];
      for (let e = 0; e < numel(batch); e++) {
        const A = mat(a.data, e, n, n);
        const Y = inverseRef(A);
        const I = A.map((row, i) => row.map((_, j): C => [i === j ? 1 : 0, 0]));
        checkIdentity(`inverse ${n}×${n}`, A, Y, I, 1e-12 * kappa * n);
        invs.push(Y);
      }
      const ref = flatten(invs);
      const ymax = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
      const tol = solveTol(dtype, n, kappa);
      return { name: `${dtype} ${kind} κ=${kappa} batch [${batch}] n=${n}`, inputs: [a], attrs: {},
        expected: [{ data: ref, shape: [...batch, n, n, 2], dtype, rtol: tol.rtol, atol: tol.atol * ymax }] };
    }),
  );

/** [batch, m, n, k]. */
const products: [number[], number, number, number][] = [
  [[], 3, 4, 5],
  [[2], 1, 7, 3],
  [[2, 3], 6, 1, 4],
  [[3], 17, 19, 33],
  [[1], 40, 30, 70],
  [[2], 4, 3, 0],
  [[0], 2, 2, 2],
];

const matmulCase: Builder = (rng) =>
  FLOATS.flatMap((dtype) =>
    products.flatMap(([batch, m, n, k]) =>
      [[false, false], [true, false], [false, true], [true, true]].map(([adjA, adjB]): Variant => {
        const a = input(rng, [...batch, adjA ? k : m, adjA ? m : k, 2], dtype);
        const b = input(rng, [...batch, adjB ? n : k, adjB ? k : n, 2], dtype);
        const cs: C[][][] = [];
        for (let e = 0; e < numel(batch); e++) {
          if (m === 0 || n === 0) continue;
          let A = k === 0 ? Array.from({ length: m }, () => [] as C[]) : mat(a.data, e, adjA ? k : m, adjA ? m : k);
          let B = mat(b.data, e, adjB ? n : k, adjB ? k : n);
          if (k > 0 && adjA) A = adjoint(A);
          if (k > 0 && adjB) B = adjoint(B);
          cs.push(k === 0 ? Array.from({ length: m }, () => Array.from({ length: n }, (): C => [0, 0])) : matmulRef(A, B));
        }
        const e32 = 4e-6 * Math.sqrt(Math.max(1, k));
        return { name: `${dtype} batch [${batch}] m=${m} n=${n} k=${k} adjA=${adjA} adjB=${adjB}`, inputs: [a, b], attrs: { adjA, adjB },
          expected: [{ data: flatten(cs), shape: [...batch, m, n, 2], dtype, ...(dtype === 'float32' ? { rtol: 1e-5, atol: e32 } : { rtol: 1e-12, atol: 1e-12 * Math.max(1, k) }) }] };
      }),
    ),
  );

export const CASES: Record<string, Builder> = {
  solve_complex: solveCase,
  inverse_complex: inverseCase,
  matmul_complex: matmulCase,
};
