/**
 * Skew orthogonal convolution (SOC, SPEC.md A.4) ops: the skew kernel L = ½(M − Mᵀ) and the truncated
 * exponential of the convolution x ↦ L ⋆ x, fused into one native call forward and one backward.
 * float32 and float64, cpu and cuda.
 */
import { check } from '../errors';
import { defineGradient, defineNonDifferentiable } from '../autograd/table';
import { wantsRecord } from '../autograd/tape';
import { Tensor } from '../tensor';
import { requireTensor, run1, runOp } from './run';

/**
 * L = ½(M − Mᵀ) for a kernel M [C, C, kh, kw] (kh, kw odd, 1..7), where Mᵀ[o, c, i, j] =
 * M[c, o, kh−1−i, kw−1−j] (channels swapped, both spatial axes flipped): the zero-padded "same"
 * convolution with L is a skew-symmetric operator. Linear and self-adjoint (its gradient is itself).
 * Cost: one pass over M.
 */
export function socSkew(M: Tensor): Tensor {
  return run1('soc_skew', [requireTensor(M, 'soc_skew', 'M')]);
}

/** Options of `socExp`. */
export interface SocExpOptions {
  /** Number of series terms T (degree T − 1), an integer in 1..64. Default 6 (training). */
  terms?: number;
  /**
   * The backward to prepare when the call is recorded for autograd: false (default) the exact
   * gradient (saves T − 2 intermediates), true the fast weight gradient (saves one; SPEC.md A.4).
   */
  fastGradient?: boolean;
}

type SaveMode = 'none' | 'last' | 'all';

function termsOf(o: SocExpOptions | undefined, op: string): { terms: number; fast: boolean } {
  check(o === undefined || (typeof o === 'object' && o !== null && !Array.isArray(o)), 'ERR_ARGUMENT',
    () => `${op}: options must be an object { terms?, fastGradient? }`);
  for (const k of Object.keys(o ?? {}))
    check(k === 'terms' || k === 'fastGradient', 'ERR_ARGUMENT', () => `${op}: unknown option '${k}' (supported: terms, fastGradient)`);
  const terms = o?.terms ?? 6;
  check(Number.isInteger(terms) && terms >= 1 && terms <= 64, 'ERR_ARGUMENT',
    () => `${op}: option 'terms' must be an integer in 1..64, got ${String(terms)}`);
  const fast = o?.fastGradient ?? false;
  check(typeof fast === 'boolean', 'ERR_ARGUMENT', () => `${op}: option 'fastGradient' must be a boolean`);
  return { terms, fast };
}

/**
 * y = S(L) x = Σ_{j=0}^{T−1} (L⋆)^j x / j! by Horner's scheme (z ← x; for i = T−1…1: z ← x + (L ⋆ z)/i),
 * with x [N, C, H, W] and L [C, C, kh, kw] (any kernel; skew for SOC), L⋆ the stride-1 convolution with
 * zero padding kh/2. Cost: T − 1 convolutions forward; backward T − 1 input-adjoint convolutions plus
 * T − 1 weight-gradient convolutions (exact) or one (fastGradient). Gradient: `socExpBackward`.
 */
export function socExp(x: Tensor, L: Tensor, options?: SocExpOptions): Tensor {
  const { terms, fast } = termsOf(options, 'soc_exp');
  requireTensor(x, 'soc_exp', 'x');
  requireTensor(L, 'soc_exp', 'L');
  const save: SaveMode = wantsRecord([x, L]) ? (fast ? 'last' : 'all') : 'none';
  const [y, saved] = runOp('soc_exp', [x, L], { terms, save });
  if (save === 'none') saved.dispose();
  return y;
}

/** The op-level form: y and the Horner intermediates saved for `socExpBackward` (see the native op). */
export function socExpRaw(x: Tensor, L: Tensor, terms: number, save: SaveMode): [Tensor, Tensor] {
  const [y, saved] = runOp('soc_exp', [requireTensor(x, 'soc_exp', 'x'), requireTensor(L, 'soc_exp', 'L')], { terms, save });
  return [y, saved];
}

/**
 * Gradients of `socExp` for the upstream gradient g: [dx, dL] with dx = S(L)ᵀ g exactly, and dL exact
 * (Σ_i wgrad(z⁽ⁱ⁺¹⁾, d⁽ⁱ⁾)/i) or, with `fast`, the one-convolution approximation
 * wgrad(z₁, Σ_{a<T−1} ((L⋆)ᵀ)^a g/(a+1)!), exact to first order in L. `saved` is soc_exp's second output
 * with save 'all' (exact) or 'last' (fast).
 */
export function socExpBackward(g: Tensor, x: Tensor, L: Tensor, saved: Tensor, terms: number, fast = false): [Tensor, Tensor] {
  const op = 'soc_exp_backward';
  const [dx, dL] = runOp(op, [requireTensor(g, op, 'g'), requireTensor(x, op, 'x'), requireTensor(L, op, 'L'), requireTensor(saved, op, 'saved')],
    { terms, fast });
  return [dx, dL];
}

/**
 * `iterations` (default 1) F4 power-iteration steps (SPEC.md A.4) on the kernel L [C, C, kh, kw] from the
 * vectors uv = [u1, v1, u2, v2, u3, v3, u4, v4] (shapes [1,C,1,kw], [C,1,kh,1], [1,C,kh,1], [C,1,1,kw],
 * [1,C,kh,kw], [C,1,1,1], [C,1,kh,kw], [1,C,1,1]): per step and reshape, v ← normalize(Σ L ⊙ u) then
 * u ← normalize(Σ L ⊙ v) (normalize: x / max(‖x‖, 1e-12)). Returns the 8 new vectors and σ [4] with
 * σ_i = Σ L ⊙ u_i ⊙ v_i for the new vectors. Not differentiable. Cost: two passes over L per step.
 */
export function socF4Step(L: Tensor, uv: Tensor[], iterations = 1): { uv: Tensor[]; sigma: Tensor } {
  const op = 'soc_f4_step';
  check(Array.isArray(uv) && uv.length === 8, 'ERR_ARGUMENT', () => `${op}: 'uv' must be an array of the 8 vectors [u1, v1, …, u4, v4]`);
  check(Number.isInteger(iterations) && iterations >= 1 && iterations <= 10000, 'ERR_ARGUMENT',
    () => `${op}: 'iterations' must be an integer in 1..10000, got ${String(iterations)}`);
  const outs = runOp(op, [requireTensor(L, op, 'L'), ...uv.map((t, i) => requireTensor(t, op, `uv[${i}]`))], { iterations });
  return { uv: outs.slice(0, 8), sigma: outs[8] };
}

// ---- gradients ----
defineGradient('soc_skew', { grad: ([g], ctx) => [ctx.needsGrad[0] ? socSkew(g) : null] });

// The second output (the saved intermediates) is a stash for the backward: gradients reaching it are
// ignored. A call that saved nothing (recorded in an unusual way) recomputes the intermediates.
defineGradient('soc_exp', {
  saveOutputs: true,
  grad([g], ctx) {
    const [x, L] = ctx.inputs;
    const terms = ctx.attrs.terms as number;
    const save = ctx.attrs.save as SaveMode;
    let saved = ctx.outputs[1];
    let temp: Tensor | null = null;
    const fast = save === 'last';
    if (save === 'none') {
      const [y, s] = socExpRaw(x.detach(), L.detach(), terms, 'all');
      y.dispose();
      temp = saved = s;
    }
    const [dx, dL] = socExpBackward(g, x, L, saved, terms, fast);
    temp?.dispose();
    return [ctx.needsGrad[0] ? dx : (dx.dispose(), null), ctx.needsGrad[1] ? dL : (dL.dispose(), null)];
  },
});
defineNonDifferentiable('soc_exp_backward', 'second-order gradients of the SOC series are not implemented');
defineNonDifferentiable('soc_f4_step', 'power iteration (the F4 vectors are constants of the normalisation)');
