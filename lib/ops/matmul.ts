/** Matrix products: matmul (batched, broadcast batch dims, optional transposes) and syrk (a·aᵀ / aᵀ·a). */
import { check } from '../errors';
import { Tensor } from '../tensor';
import { sumToShape } from '../autograd/grad_util';
import { defineGradient } from '../autograd/table';
import { describe, requireTensor, run1 } from './run';

export interface MatmulOptions {
  /** Use aᵀ: `a` is read as [..., k, m] instead of [..., m, k]. Default false. */
  transA?: boolean;
  /** Use bᵀ: `b` is read as [..., n, k] instead of [..., k, n]. Default false. */
  transB?: boolean;
}

export interface SyrkOptions {
  /** Compute aᵀ·a ([..., k, k]) instead of a·aᵀ ([..., n, n]). Default false. */
  trans?: boolean;
}

function options(o: unknown, op: string, names: readonly string[]): Record<string, boolean> {
  check(o === undefined || (typeof o === 'object' && o !== null && !Array.isArray(o)), 'ERR_ARGUMENT',
    () => `${op}: options must be an object, got ${describe(o)}`);
  const out: Record<string, boolean> = {};
  for (const [key, v] of Object.entries((o ?? {}) as Record<string, unknown>)) {
    check(names.includes(key), 'ERR_ARGUMENT', () => `${op}: unknown option '${key}' (supported: ${names.join(', ')})`);
    if (v === undefined) continue;
    check(typeof v === 'boolean', 'ERR_ARGUMENT', () => `${op}: option '${key}' must be a boolean, got ${describe(v)}`);
    out[key] = v;
  }
  return out;
}

/**
 * Matrix product op(a)·op(b), op = transpose when `transA` / `transB` is set.
 *
 * Shapes: a [..., m, k] (transA: [..., k, m]), b [..., k, n] (transB: [..., n, k]), at least 2-d each;
 * the batch dims (all but the last two) broadcast like numpy. Output [...batch, m, n]. Both inputs must
 * have the same dtype, float32 (the fast path) or float64, and live on the same device. Cost: 2·m·n·k
 * flops per batch entry. On the CPU: a packed, cache-blocked GEMM (AVX-512 / AVX2+FMA / portable, chosen
 * at run time) over the thread pool.
 */
export function matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor {
  const attrs = options(opts, 'matmul', ['transA', 'transB']);
  return run1('matmul', [requireTensor(a, 'matmul', 'a'), requireTensor(b, 'matmul', 'b')], attrs);
}

/**
 * Symmetric rank-k product: a·aᵀ ([..., n, n] for a [..., n, k]) or, with `trans`, aᵀ·a ([..., k, k]).
 * One triangle is computed and mirrored, so the result is exactly symmetric at half the cost of
 * matmul(a, a, { transB: true }): n·n·k flops per batch entry. float32 or float64. This is the Gram
 * matrix WᵀW / W·Wᵀ that SLL and AOL layers rescale by every step.
 */
export function syrk(a: Tensor, opts?: SyrkOptions): Tensor {
  const attrs = options(opts, 'syrk', ['trans']);
  return run1('syrk', [requireTensor(a, 'syrk', 'a')], attrs);
}

// ---- gradients ----
// C = op(A)·op(B) with Ā = op(A), B̄ = op(B): dĀ = G·B̄ᵀ and dB̄ = Āᵀ·G, each written as one matmul with
// the transposes folded into its flags, then summed over the batch dims that were broadcast.
defineGradient('matmul', {
  grad: ([g], { inputs: [a, b], attrs, needsGrad }) => {
    const tA = attrs.transA === true;
    const tB = attrs.transB === true;
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needsGrad[0]) {
      da = !tA ? matmul(g, b, { transB: !tB }) : matmul(b, g, { transA: tB, transB: true });
      da = sumToShape(da, a.shape);
    }
    if (needsGrad[1]) {
      db = !tB ? matmul(a, g, { transA: !tA }) : matmul(g, a, { transA: true, transB: tA });
      db = sumToShape(db, b.shape);
    }
    return [da, db];
  },
});
// S = A·Aᵀ: dA = (G + Gᵀ)·A; S = AᵀA: dA = A·(G + Gᵀ).
defineGradient('syrk', {
  grad: ([g], { inputs: [a], attrs }) => {
    const n = g.ndim;
    const perm = [...Array(n).keys()];
    perm[n - 2] = n - 1;
    perm[n - 1] = n - 2;
    const sym = run1('add', [g, run1('permute', [g], { perm })]);
    return [attrs.trans === true ? matmul(a, sym) : matmul(sym, a)];
  },
});
