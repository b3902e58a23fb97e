/**
 * The gradient-table entries of rfft2, irfft2, matmul_complex, solve_complex and inverse_complex
 * (lib/ops/fft.ts, lib/ops/linalg_complex.ts), each compared with central finite differences of the
 * op itself in float64 on every device; and the errors of these ops (singular and non-finite
 * matrices naming the batch index, unsupported transform sizes, bad shapes and dtypes).
 */
import * as ol from '../../lib';
import { gradientOf } from '../../lib/autograd/table';
import { runOp } from '../../lib/ops/run';
import { Rng } from './cases';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`fft/linalg seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

type Dev = 'cpu' | 'cuda';
const rand = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.uniform(-1, 1));
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** A batch of well-conditioned complex matrices I + 0.2·U/√n (U uniform in ±1). */
function nearIdentity(rng: Rng, batch: number, n: number): number[] {
  const out: number[] = [];
  for (let e = 0; e < batch; e++)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) out.push((i === j ? 1 : 0) + (0.2 * rng.uniform(-1, 1)) / Math.sqrt(n), (0.2 * rng.uniform(-1, 1)) / Math.sqrt(n));
  return out;
}

/**
 * Checks the gradient entry of `op` at `inputs` (float64 host arrays) on `device` against
 * ⟨op(x + h·e_i) − op(x − h·e_i), g⟩ / 2h for every input element i, g random.
 */
function checkGradient(op: string, device: Dev, inputs: { data: number[]; shape: number[] }[], attrs: Record<string, unknown>, rng: Rng, tol: number): void {
  ol.tidy(() => {
    const mk = (d: number[], s: number[]) => ol.tensor(d, { shape: s, dtype: 'float64', device });
    const ts = inputs.map((x) => mk(x.data, x.shape));
    const outs = runOp(op, ts, attrs, device);
    const g = mk(rand(rng, numel(outs[0].shape)), outs[0].shape);
    const entry = gradientOf(op);
    expect(entry).toBeDefined();
    const grads = entry!.grad([g], { op, inputs: ts, outputs: entry!.saveOutputs ? outs : [], attrs, needsGrad: ts.map(() => true) });
    expect(grads.length).toBe(inputs.length);
    const gd = g.data();
    const h = 1e-6;
    inputs.forEach((x, k) => {
      const got = grads[k]!.data();
      expect(grads[k]!.shape).toEqual(x.shape);
      let worst = 0;
      let scale = 1e-3;
      for (let i = 0; i < x.data.length; i++) {
        const f = (delta: number) => {
          const d = x.data.slice();
          d[i] += delta;
          const args = ts.map((t, j) => (j === k ? mk(d, x.shape) : t));
          const y = runOp(op, args, attrs, device)[0].data();
          let s = 0;
          for (let q = 0; q < y.length; q++) s += y[q] * gd[q];
          return s;
        };
        const fd = (f(h) - f(-h)) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - got[i]));
        scale = Math.max(scale, Math.abs(fd));
      }
      if (!(worst <= tol * scale)) throw new Error(`${op} on ${device}: gradient of input ${k} differs from finite differences by ${worst} (scale ${scale})`);
    });
  });
}

describe('gradient-table entries vs finite differences (float64)', () => {
  for (const device of devices) {
    test(`rfft2 and irfft2 on ${device}`, () => {
      const rng = new Rng(seed ^ 1);
      for (const [H, W] of [[4, 6], [3, 8], [6, 3]]) {
        checkGradient('rfft2', device, [{ data: rand(rng, 2 * H * W), shape: [2, H, W] }], {}, rng, 1e-7);
        const Wh = Math.floor(W / 2) + 1;
        checkGradient('irfft2', device, [{ data: rand(rng, 2 * H * Wh * 2), shape: [2, H, Wh, 2] }], { size: [H, W] }, rng, 1e-7);
      }
    });
    test(`matmul_complex (all adjA/adjB) on ${device}`, () => {
      const rng = new Rng(seed ^ 2);
      const [m, n, k] = [3, 2, 4];
      for (const adjA of [false, true])
        for (const adjB of [false, true]) {
          const a = { data: rand(rng, 2 * m * k * 2), shape: [2, adjA ? k : m, adjA ? m : k, 2] };
          const b = { data: rand(rng, 2 * k * n * 2), shape: [2, adjB ? n : k, adjB ? k : n, 2] };
          checkGradient('matmul_complex', device, [a, b], { adjA, adjB }, rng, 1e-7);
        }
    });
    test(`solve_complex and inverse_complex on ${device}`, () => {
      const rng = new Rng(seed ^ 3);
      const n = 4;
      const a = { data: nearIdentity(rng, 2, n), shape: [2, n, n, 2] };
      checkGradient('solve_complex', device, [a, { data: rand(rng, 2 * n * 3 * 2), shape: [2, n, 3, 2] }], {}, rng, 1e-6);
      checkGradient('inverse_complex', device, [a], {}, rng, 1e-6);
    });
  }
});

describe('large systems: residual identities (float64)', () => {
  // n = 200 float64: on cuda the first LU panels narrow to 29 columns to fit in shared memory, the
  // GEMM updates leave partial 64×64 tiles; checked by ‖A·X − B‖ and ‖A·A⁻¹ − I‖ in plain float64
  for (const device of devices)
    test(`solve_complex / inverse_complex n = 200 on ${device}`, () => {
      const rng = new Rng(seed ^ 5);
      const n = 200;
      const k = 3;
      const ad = nearIdentity(rng, 2, n);
      // pivoting required: swap rows 0 and 1 of matrix 1
      for (let j = 0; j < 2 * n; j++) [ad[2 * n * n + j], ad[2 * n * n + 2 * n + j]] = [ad[2 * n * n + 2 * n + j], ad[2 * n * n + j]];
      const bd = rand(rng, 2 * n * k * 2);
      ol.tidy(() => {
        const a = ol.tensor(ad, { shape: [2, n, n, 2], dtype: 'float64', device });
        const x = ol.ops.solveComplex(a, ol.tensor(bd, { shape: [2, n, k, 2], dtype: 'float64', device })).data();
        const y = ol.ops.inverseComplex(a).data();
        let worstSolve = 0;
        let worstInv = 0;
        for (let e = 0; e < 2; e++) {
          const A = (i: number, j: number): [number, number] => [ad[((e * n + i) * n + j) * 2], ad[((e * n + i) * n + j) * 2 + 1]];
          for (let i = 0; i < n; i++) {
            for (let q = 0; q < k; q++) {
              let re = -bd[((e * n + i) * k + q) * 2];
              let im = -bd[((e * n + i) * k + q) * 2 + 1];
              for (let j = 0; j < n; j++) {
                const [ar, ai] = A(i, j);
                const xr = x[((e * n + j) * k + q) * 2];
                const xi = x[((e * n + j) * k + q) * 2 + 1];
                re += ar * xr - ai * xi;
                im += ar * xi + ai * xr;
              }
              worstSolve = Math.max(worstSolve, Math.abs(re), Math.abs(im));
            }
            for (let q = 0; q < n; q++) {
              let re = i === q ? -1 : 0;
              let im = 0;
              for (let j = 0; j < n; j++) {
                const [ar, ai] = A(i, j);
                const yr = y[((e * n + j) * n + q) * 2];
                const yi = y[((e * n + j) * n + q) * 2 + 1];
                re += ar * yr - ai * yi;
                im += ar * yi + ai * yr;
              }
              worstInv = Math.max(worstInv, Math.abs(re), Math.abs(im));
            }
          }
        }
        expect(worstSolve).toBeLessThan(1e-12);
        expect(worstInv).toBeLessThan(1e-12);
      });
    });
});

/** Runs fn, expects an OnelipError with `code` whose message contains every part. */
function expectError(fn: () => unknown, code: string, parts: string[]): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ol.OnelipError);
  const err = thrown as ol.OnelipError;
  if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`);
  for (const p of parts) if (!err.message.includes(p)) throw new Error(`message lacks ${JSON.stringify(p)}: ${err.message}`);
}

describe('errors of the FFT and complex linear-algebra ops', () => {
  for (const device of devices)
    for (const dtype of ['float32', 'float64'] as const) {
      test(`${dtype} on ${device}`, () => {
        const rng = new Rng(seed ^ 4);
        ol.tidy(() => {
          const t = (d: number[], shape: number[], dt: ol.DType = dtype) => ol.tensor(d, { shape, dtype: dt, device });
          const n = 3;
          // batch index 1 exactly singular (a zero column), index 2 singular to working precision
          const data = nearIdentity(rng, 3, n);
          for (let i = 0; i < n; i++) data.splice((n * n + i * n + 1) * 2, 2, 0, 0);
          const ok = nearIdentity(rng, 1, n);
          const a = t(data, [3, n, n, 2]);
          const b = t(rand(rng, 3 * n * 2 * 2), [3, n, 2, 2]);
          expectError(() => ol.ops.solveComplex(a, b), 'ERR_ARGUMENT', ['solve_complex', 'batch index 1', 'singular']);
          expectError(() => ol.ops.inverseComplex(a), 'ERR_ARGUMENT', ['inverse_complex', 'batch index 1', 'singular']);
          // rank one: u·vᴴ + (tiny) — numerically singular, not exactly
          const u = rand(rng, n);
          const rank1: number[] = [...ok];
          for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) rank1.push(u[i] * u[j] * (1 + (i === j && i === 0 ? 1e-19 : 0)), 0);
          expectError(() => ol.ops.inverseComplex(t(rank1, [2, n, n, 2])), 'ERR_ARGUMENT', ['batch index 1', 'singular', 'n·eps·max|A_ij|']);
          expectError(() => ol.ops.inverseComplex(t(new Array(2 * n * n * 2).fill(0), [2, n, n, 2])), 'ERR_ARGUMENT', ['batch index 0', 'singular']);
          for (const bad of [NaN, Infinity]) {
            const d = [...ok, ...ok];
            d[2 * n * n + 3] = bad;
            expectError(() => ol.ops.inverseComplex(t(d, [2, n, n, 2])), 'ERR_ARGUMENT', ['inverse_complex', 'batch index 1', 'non-finite']);
            const bd = rand(rng, 2 * n * 2);
            bd[5] = bad;
            expectError(() => ol.ops.solveComplex(t(ok, [1, n, n, 2]), t(bd, [1, n, 2, 2])), 'ERR_ARGUMENT', ['solve_complex', 'batch index 0', 'non-finite']);
          }
          // the same rules on the blocked path (CUDA: n = 80 factors by panels and GEMM updates): in a batch of 4,
          // index 2 has two equal rows (exactly singular, found in the second panel) and index 3 a NaN (non-finite
          // wins over singular only in its own matrix: the lowest failing index is reported)
          {
            const nb = 80;
            const big = nearIdentity(rng, 4, nb);
            const m2 = 2 * nb * nb * 2;
            for (let j = 0; j < nb; j++) for (let c = 0; c < 2; c++) big[m2 + (50 * nb + j) * 2 + c] = big[m2 + (45 * nb + j) * 2 + c];
            big[3 * nb * nb * 2 + 7] = NaN;
            const A = t(big, [4, nb, nb, 2]);
            const B = t(rand(rng, 4 * nb * 2 * 2), [4, nb, 2, 2]);
            expectError(() => ol.ops.solveComplex(A, B), 'ERR_ARGUMENT', ['solve_complex', 'batch index 2', 'singular', `${nb}×${nb}`]);
            expectError(() => ol.ops.inverseComplex(A), 'ERR_ARGUMENT', ['inverse_complex', 'batch index 2', 'singular']);
            const okBig = t(big.slice(0, 2 * nb * nb * 2), [2, nb, nb, 2]);
            const bBad = rand(rng, 2 * nb * 2 * 2);
            bBad[nb * 2 * 2 + 11] = Infinity;
            expectError(() => ol.ops.solveComplex(okBig, t(bBad, [2, nb, 2, 2])), 'ERR_ARGUMENT', ['solve_complex', 'batch index 1', 'non-finite']);
            expectError(() => ol.ops.inverseComplex(t(big.slice(2 * nb * nb * 2), [2, nb, nb, 2])), 'ERR_ARGUMENT', ['inverse_complex', 'batch index 0', 'singular']);
            const nanFirst = [...big.slice(3 * nb * nb * 2), ...big.slice(2 * nb * nb * 2, 3 * nb * nb * 2)];
            expectError(() => ol.ops.inverseComplex(t(nanFirst, [2, nb, nb, 2])), 'ERR_ARGUMENT', ['inverse_complex', 'batch index 0', 'non-finite']);
          }
          expectError(() => ol.ops.solveComplex(t(ok, [1, n, n, 2]), t(rand(rng, 8), [1, 2, 2, 2])), 'ERR_SHAPE', ['solve_complex', 'input 1 (B)', 'n = 3']);
          expectError(() => ol.ops.inverseComplex(t(rand(rng, 12), [1, 2, 3, 2])), 'ERR_SHAPE', ['inverse_complex', 'square']);
          expectError(() => ol.ops.inverseComplex(t(rand(rng, 12), [2, 2, 3])), 'ERR_SHAPE', ['inverse_complex', '[..., rows, cols, 2]']);
          expectError(() => ol.ops.matmulComplex(t(rand(rng, 12), [1, 2, 3, 2]), t(rand(rng, 16), [1, 2, 4, 2])), 'ERR_SHAPE', ['matmul_complex', 'inner sizes']);
          expectError(() => ol.ops.matmulComplex(t(rand(rng, 12), [1, 2, 3, 2]), t(rand(rng, 12), [1, 3, 2, 2]), { adjA: 1 as unknown as boolean }), 'ERR_ARGUMENT', ['matmul_complex', 'adjA', 'boolean']);
          expectError(() => ol.ops.solveComplex(t([1, 0], [1, 1, 1, 2]), t([1, 0], [1, 1, 1, 2], dtype === 'float32' ? 'float64' : 'float32')), 'ERR_DTYPE', ['solve_complex', 'input 1']);
          expectError(() => ol.ops.inverseComplex(t([1, 0], [1, 1, 2], 'int32')), 'ERR_DTYPE', ['inverse_complex', 'float32, float64']);
          // FFT sizes
          for (const [H, W] of [[5, 8], [8, 128], [96, 4], [8, 7]]) {
            expectError(() => ol.ops.rfft2(t(rand(rng, H * W), [H, W])), 'ERR_ARGUMENT', ['rfft2', 'not a supported transform size', '1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64']);
          }
          expectError(() => ol.ops.rfft2(t(rand(rng, 4), [4])), 'ERR_SHAPE', ['rfft2', '[..., H, W]']);
          expectError(() => ol.ops.irfft2(t(rand(rng, 4 * 3 * 2), [4, 3, 2]), { size: [4, 6] }), 'ERR_SHAPE', ['irfft2', '[..., 4, 4, 2]', 'size [4, 6]']);
          expectError(() => ol.ops.irfft2(t(rand(rng, 4 * 3 * 2), [4, 3, 2]), { size: [4, 10] }), 'ERR_ARGUMENT', ['irfft2', '10', 'supported']);
          expectError(() => ol.ops.irfft2(t(rand(rng, 4 * 3 * 2), [4, 3, 2]), { size: [4] as unknown as [number, number] }), 'ERR_ARGUMENT', ['irfft2', 'size', '[H, W]']);
          expectError(() => ol.ops.rfft2(t([1, 2, 3, 4], [2, 2], 'int32')), 'ERR_DTYPE', ['rfft2', 'float32, float64']);
        });
      });
    }
});
