/**
 * Spectral ops of the Lipschitz layers: the self-correlation (Gram tensor) of a conv kernel, used by
 * the SLL and AOL bounds (SPEC.md A.2, A.3), and power iteration for the operator norm of a matrix or
 * a convolution (CPL, SOC, certificates; SPEC.md A.1, A.7). float32 and float64, cpu and cuda.
 */
import { defineGradient, defineNonDifferentiable } from '../autograd/table';
import { check, OnelipError } from '../errors';
import { Tensor } from '../tensor';
import { describe, requireTensor, run1, runOp } from './run';

/**
 * The self-correlation of a conv kernel: K [m, c, k, k] (k odd, 1..7) → G [m, m, 2k−1, 2k−1],
 *
 *     G[i, j, s] = Σ_c Σ_u K[i, c, u + s] · K[j, c, u],   s ∈ [−(k−1), k−1]² stored at s + k − 1,
 *
 * summed over the positions u where both u and u + s lie inside the k×k kernel (= PyTorch
 * `conv2d(K, K, padding=k−1)`: K read as a batch of m images of c channels, correlated with itself).
 *
 * Convention: for the convolution J: x ↦ K ⋆ x (c → m channels, stride 1, on an unbounded or
 * zero-padded map away from its border), G is the kernel of J Jᵀ: (J Jᵀ)[(i, p), (j, p + s)] =
 * G[i, j, s], so (J Jᵀ y)_i = Σ_j G[i, j] ⋆ y_j with padding k−1. The row sums t_i = Σ_{j,s} |G[i, j, s]|
 * bound J Jᵀ (Gershgorin) — the SLL conv rescaling (SPEC.md A.2). For JᵀJ (AOL, SPEC.md A.3) pass K
 * with its first two axes swapped ([c, m, k, k], `ol.ops.permute(K, [1, 0, 2, 3])`).
 * G[j, i, −s] = G[i, j, s].
 *
 * Cost: 2·m²·c·k⁴ flops (on the CPU about half of them, by the symmetry). Differentiable
 * (`kernelSelfCorrelationBackward`).
 */
export function kernelSelfCorrelation(K: Tensor): Tensor {
  return run1('kernel_self_correlation', [requireTensor(K, 'kernel_self_correlation', 'K')]);
}

/**
 * Gradient of `kernelSelfCorrelation` at K for an upstream gradient gradG [m, m, 2k−1, 2k−1]:
 * gradK[a, c, v] = Σ_{j,s} (gradG[a, j, s] + gradG[j, a, −s]) · K[j, c, v − s] (both factors of the
 * product). Cost: 2·m²·c·k⁴ flops.
 */
export function kernelSelfCorrelationBackward(K: Tensor, gradG: Tensor): Tensor {
  const op = 'kernel_self_correlation_backward';
  return run1(op, [requireTensor(K, op, 'K'), requireTensor(gradG, op, 'gradG')]);
}

defineGradient('kernel_self_correlation', {
  grad: ([gradG], ctx) => [ctx.needsGrad[0] ? kernelSelfCorrelationBackward(ctx.inputs[0], gradG) : null],
});
defineNonDifferentiable('kernel_self_correlation_backward', 'a gradient op (no second derivatives)');
defineNonDifferentiable('power_iteration_dense', 'an iterative estimate; layers differentiate through sigma by their own formula');
defineNonDifferentiable('power_iteration_conv', 'an iterative estimate; layers differentiate through sigma by their own formula');

/** The linear operator of `powerIteration`. */
export type PowerIterationOperator =
  | { matrix: Tensor }
  | {
      /** Kernel [O, C, kh, kw] of the convolution u ↦ K ⋆ u (cross-correlation, as PyTorch conv2d). */
      conv: Tensor;
      /** Zero padding, one integer or [h, w]; default kh // 2, kw // 2 ("same" for odd kernels, stride 1). */
      padding?: number | [number, number];
      /** Stride, one integer or [h, w]; default 1. */
      stride?: number | [number, number];
    };

export interface PowerIterationOptions {
  /** Number of iterations, an integer in 1..1e6. */
  iters: number;
}

export interface PowerIterationResult {
  /**
   * The estimate σ = ‖Aᵀv‖ = ⟨A u, v⟩ ≤ ‖A‖₂. Power iteration approaches the operator norm from
   * below: σ is a lower bound, never an upper bound by itself (a certificate needs a margin or a
   * sound bound on top).
   */
  sigma: number;
  /** The updated right singular-vector estimate, u's shape, unit norm (0 only when Aᵀ v = 0). */
  u: Tensor;
  /** The left singular-vector estimate: [m] for a matrix, [1, O, Ho, Wo] for a conv; unit norm (or 0). */
  v: Tensor;
}

const PI_OPTIONS = ['iters'] as const;
const CONV_KEYS = ['conv', 'padding', 'stride'] as const;

/**
 * Power iteration for the spectral norm ‖A‖₂ of a dense matrix (`{ matrix: W }`, W [m, n], u [n]) or of
 * a convolution (`{ conv: K, padding?, stride? }`, K [O, C, kh, kw], u [1, C, H, W]: the zero-padded
 * conv on u's spatial size, whose adjoint is the transposed convolution). `iters` times:
 *
 *     v ← A u / ‖A u‖;   u ← Aᵀ v / ‖Aᵀ v‖;        sigma = ‖Aᵀ v‖ of the last step = ⟨A u, v⟩
 *
 * (SPEC.md A.1, the CPL power method; warm-start by passing the previous `u`). A vector of norm 0 is
 * kept at 0 rather than divided (so A = 0 gives sigma = 0, never NaN). Errors: a start vector of norm 0
 * or with non-finite values, a non-finite W / K, a norm overflowing float32 (use float64).
 *
 * sigma ≤ ‖A‖₂ always: power iteration approaches the norm from below and is not an upper bound by
 * itself. Not differentiable. Cost per iteration: one product with A and one with Aᵀ (4·m·n flops
 * dense; a conv2d and a transposed conv for a kernel) plus O(m + n); everything stays on the device
 * until one read of a few scalars at the end.
 */
export function powerIteration(op: PowerIterationOperator, u: Tensor, options: PowerIterationOptions): PowerIterationResult {
  const name = 'powerIteration';
  check(typeof op === 'object' && op !== null && !Array.isArray(op), 'ERR_ARGUMENT',
    () => `${name}: 'op' must be { matrix: W } or { conv: K, padding?, stride? }, got ${describe(op)}`);
  check(typeof options === 'object' && options !== null && !Array.isArray(options), 'ERR_ARGUMENT',
    () => `${name}: options must be an object { iters }, got ${describe(options)}`);
  for (const key of Object.keys(options))
    check((PI_OPTIONS as readonly string[]).includes(key), 'ERR_ARGUMENT',
      () => `${name}: unknown option '${key}' (supported: ${PI_OPTIONS.join(', ')})`);
  const iters = options.iters;
  check(typeof iters === 'number' && Number.isInteger(iters) && iters >= 1 && iters <= 1e6, 'ERR_ARGUMENT',
    () => `${name}: option 'iters' must be an integer in 1..1000000, got ${describe(iters)}`);
  const o = op as Record<string, unknown>;
  let outs: Tensor[];
  if ('matrix' in o) {
    check(Object.keys(o).length === 1, 'ERR_ARGUMENT',
      () => `${name}: a matrix operator takes no other keys than 'matrix', got ${Object.keys(o).join(', ')}`);
    const W = requireTensor(o.matrix, 'power_iteration_dense', 'matrix');
    outs = runOp('power_iteration_dense', [W, requireTensor(u, 'power_iteration_dense', 'u')], { iters });
  } else if ('conv' in o) {
    for (const key of Object.keys(o))
      check((CONV_KEYS as readonly string[]).includes(key), 'ERR_ARGUMENT',
        () => `${name}: unknown key '${key}' of a conv operator (supported: ${CONV_KEYS.join(', ')})`);
    const K = requireTensor(o.conv, 'power_iteration_conv', 'conv');
    const attrs: Record<string, unknown> = { iters };
    if (o.padding !== undefined) attrs.padding = o.padding;
    if (o.stride !== undefined) attrs.stride = o.stride;
    outs = runOp('power_iteration_conv', [K, requireTensor(u, 'power_iteration_conv', 'u')], attrs);
  } else {
    throw new OnelipError('ERR_ARGUMENT',
      `${name}: 'op' must have a 'matrix' or a 'conv' key, got keys [${Object.keys(o).join(', ')}]`);
  }
  const [s, uOut, vOut] = outs;
  const sigma = s.item();
  s.dispose();
  return { sigma, u: uOut, v: vOut };
}
