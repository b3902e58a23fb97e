/**
 * Batched complex linear algebra for many small matrices (one per frequency in the Cayley layers,
 * SPEC.md A.5/A.6). Complex matrices are [..., rows, cols, 2] (re, im interleaved); batch dims must
 * match exactly. float32 and float64, cpu and cuda.
 */
import { check } from '../errors';
import { defineGradient } from '../autograd/table';
import { Tensor } from '../tensor';
import { mul, neg } from './elementwise';
import { permute } from './layout';
import { tensor } from './creation';
import { describe, requireTensor, run1 } from './run';

export interface MatmulComplexOptions {
  /** Use Aᴴ (conjugate transpose): A is read as [..., k, m, 2]. Default false. */
  adjA?: boolean;
  /** Use Bᴴ: B is read as [..., n, k, 2]. Default false. */
  adjB?: boolean;
}

/**
 * X = A⁻¹·B for A [..., n, n, 2] and B [..., n, k, 2] → [..., n, k, 2], by LU with partial pivoting
 * (blocked on the CPU). Cost: 8/3·n³ + 8·n²·k real flops per matrix. Throws ERR_ARGUMENT naming the
 * batch index when A or B holds NaN/Inf, or when A is singular to working precision (a pivot
 * |p| ≤ n·eps·max|A_ij|). Gradient: dB = A⁻ᴴ·dX, dA = −dB·Xᴴ.
 */
export function solveComplex(A: Tensor, B: Tensor): Tensor {
  return run1('solve_complex', [requireTensor(A, 'solve_complex', 'A'), requireTensor(B, 'solve_complex', 'B')]);
}

/**
 * A⁻¹ for A [..., n, n, 2] (solveComplex with B = I). Cost: 8/3·n³ + 8·n³ real flops per matrix. Same
 * errors as solveComplex. Gradient: dA = −A⁻ᴴ·dY·A⁻ᴴ.
 */
export function inverseComplex(A: Tensor): Tensor {
  return run1('inverse_complex', [requireTensor(A, 'inverse_complex', 'A')]);
}

/**
 * C = op(A)·op(B) per batch entry, op = identity or conjugate transpose (`adjA`, `adjB`):
 * [..., m, k, 2]·[..., k, n, 2] → [..., m, n, 2]. Cost: 8·m·n·k real flops per matrix.
 */
export function matmulComplex(A: Tensor, B: Tensor, options?: MatmulComplexOptions): Tensor {
  requireTensor(A, 'matmul_complex', 'A');
  requireTensor(B, 'matmul_complex', 'B');
  check(options === undefined || (typeof options === 'object' && options !== null && !Array.isArray(options)), 'ERR_ARGUMENT',
    () => `matmul_complex: options must be an object { adjA?, adjB? }, got ${describe(options)}`);
  const attrs: Record<string, boolean> = {};
  for (const [key, v] of Object.entries((options ?? {}) as Record<string, unknown>)) {
    check(key === 'adjA' || key === 'adjB', 'ERR_ARGUMENT', () => `matmul_complex: unknown option '${key}' (supported: adjA, adjB)`);
    if (v === undefined) continue;
    check(typeof v === 'boolean', 'ERR_ARGUMENT', () => `matmul_complex: option '${key}' must be a boolean, got ${describe(v)}`);
    attrs[key] = v;
  }
  return run1('matmul_complex', [A, B], attrs);
}

/** Aᴴ of complex matrices [..., m, n, 2] → [..., n, m, 2]. */
export function adjointComplex(A: Tensor): Tensor {
  requireTensor(A, 'adjoint_complex', 'A');
  const r = A.shape.length;
  check(r >= 3 && A.shape[r - 1] === 2, 'ERR_SHAPE',
    () => `adjoint_complex: A must be complex matrices [..., rows, cols, 2], got shape [${A.shape.join(', ')}]`);
  const perm = [...Array(r).keys()];
  perm[r - 3] = r - 2;
  perm[r - 2] = r - 3;
  const t = permute(A, perm);
  const sign = tensor([1, -1], { dtype: A.dtype, device: A.device });
  try {
    return mul(t, sign);
  } finally {
    sign.dispose();
    t.dispose();
  }
}

/** Runs f and disposes the temporaries it lists once it has returned. */
function using<T>(temps: Tensor[], f: () => T): T {
  try {
    return f();
  } finally {
    for (const t of temps) t.dispose();
  }
}

defineGradient('matmul_complex', {
  grad: ([g], ctx) => {
    const [A, B] = ctx.inputs;
    const adjA = ctx.attrs.adjA === true;
    const adjB = ctx.attrs.adjB === true;
    // C = op(A)·op(B); the gradients of op(A) and op(B) are g·op(B)ᴴ and op(A)ᴴ·g, mapped back through op.
    let dA: Tensor | null = null;
    let dB: Tensor | null = null;
    if (ctx.needsGrad[0]) {
      dA = adjA
        ? matmulComplex(B, g, { adjA: adjB, adjB: true })  // (g·op(B)ᴴ)ᴴ = op(B)·gᴴ
        : matmulComplex(g, B, { adjB: !adjB });            // g·op(B)ᴴ
    }
    if (ctx.needsGrad[1]) {
      dB = adjB
        ? matmulComplex(g, A, { adjA: true, adjB: adjA })  // (op(A)ᴴ·g)ᴴ = gᴴ·op(A)
        : matmulComplex(A, g, { adjA: !adjA });            // op(A)ᴴ·g
    }
    return [dA, dB];
  },
});

defineGradient('solve_complex', {
  saveOutputs: true,
  grad: ([g], ctx) => {
    const [A] = ctx.inputs;
    const [X] = ctx.outputs;
    const AH = adjointComplex(A);
    const dB = using([AH], () => solveComplex(AH, g));  // A⁻ᴴ·dX
    const dA = ctx.needsGrad[0] ? using([], () => {
      const p = matmulComplex(dB, X, { adjB: true });
      return using([p], () => neg(p));  // −dB·Xᴴ
    }) : null;
    if (!ctx.needsGrad[1]) {
      dB.dispose();
      return [dA, null];
    }
    return [dA, dB];
  },
});

defineGradient('inverse_complex', {
  saveOutputs: true,
  grad: ([g], ctx) => {
    if (!ctx.needsGrad[0]) return [null];
    const [Y] = ctx.outputs;  // A⁻¹
    const left = matmulComplex(Y, g, { adjA: true });  // A⁻ᴴ·dY
    const p = using([left], () => matmulComplex(left, Y, { adjB: true }));  // ·A⁻ᴴ
    return [using([p], () => neg(p))];
  },
});
