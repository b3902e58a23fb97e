/** Matrix products: matmul (batched, broadcast batch dims, optional transposes) and syrk (a·aᵀ / aᵀ·a). */
import { check } from '../errors';
import { Tensor } from '../tensor';
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
