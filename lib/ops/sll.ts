/**
 * Fused SLL and AOL layer ops (SPEC.md A.2, A.3): one native call forward and one backward per layer,
 * float32 and float64, cpu and cuda. The Gram (syrk / kernel self-correlation) is computed once per
 * forward and handed to the backward op as a saved output.
 */
import { adoptOrDispose, isGradEnabled } from '../autograd/tape';
import { defineGradient, defineNonDifferentiable } from '../autograd/table';
import { OnelipError } from '../errors';
import { Tensor } from '../tensor';
import { requireTensor, runOp } from './run';

/** Registry names of the four layer ops. */
export type LipschitzLayerOp = 'sll_dense' | 'sll_conv2d' | 'aol_dense' | 'aol_conv2d';

const ARG_NAMES: Record<LipschitzLayerOp, string[]> = {
  sll_dense: ['x', 'W', 'b', 'q'],
  sll_conv2d: ['x', 'K', 'b', 'q'],
  aol_dense: ['x', 'P', 'b', 'q'],
  aol_conv2d: ['x', 'K', 'b', 'q'],
};

/** The output of a layer op and its rescaling vector (T for SLL, D for AOL), owned by the caller. */
export interface LayerResult {
  y: Tensor;
  scale: Tensor;
}

/**
 * Runs one of the layer ops; `scale` (a cached T or D from an earlier call with the same parameters)
 * skips the Gram and is only valid where no gradient is recorded. Returns y and a detached copy of the
 * rescaling vector; the other saved outputs stay with the tape (or are freed).
 * @internal The modules' entry point; the public wrappers are below.
 */
export function runLayerOp(op: LipschitzLayerOp, x: Tensor, weight: Tensor, b: Tensor, q: Tensor, scale?: Tensor): LayerResult {
  const names = ARG_NAMES[op];
  const inputs = [x, weight, b, q].map((t, i) => requireTensor(t, op, names[i]));
  if (scale !== undefined) inputs.push(requireTensor(scale, op, op.startsWith('sll') ? 'T' : 'D'));
  const outs = runOp(op, inputs);
  const [y, ...saved] = outs;
  const sc = op.startsWith('sll') ? saved[1] : saved[0];
  const scaleCopy = sc.detach();
  adoptOrDispose(y, saved);
  return { y, scale: scaleCopy };
}

function layer(op: LipschitzLayerOp, x: Tensor, w: Tensor, b: Tensor, q: Tensor): Tensor {
  const r = runLayerOp(op, x, w, b, q);
  r.scale.dispose();
  return r.y;
}

/**
 * Dense SLL layer: x [N, F], W [m, F], b [m], q [m] → y = x − 2·(T ⊙ relu(x Wᵀ + b)) W [N, F] with
 * T_i = 1/Σ_j |W Wᵀ|_ij·exp(q_j − q_i) (0 where the sum is 0). 1-Lipschitz in x for any W, b, q.
 * Cost: m²F (syrk) + 4NmF flops forward, 8NmF + 2m²F backward. Non-finite W, b or q → ERR_ARGUMENT.
 */
export function sllDense(x: Tensor, W: Tensor, b: Tensor, q: Tensor): Tensor {
  return layer('sll_dense', x, W, b, q);
}

/**
 * Conv SLL layer: x [N, C, H, W], K [m, C, k, k] (k odd, 1..7), b [m], q [m] → y = x − 2·Kᵀ ⋆ (T ⊙
 * relu(K ⋆ x + b)) with padding k//2 and t_i = Σ_j Σ_s |G[i, j, s]|·exp(q_j − q_i), G the kernel
 * self-correlation [m, m, 2k−1, 2k−1]. Cost: the self-correlation (2m²Ck⁴) plus two convolutions forward,
 * five conv-sized products and the self-correlation gradient backward.
 */
export function sllConv2d(x: Tensor, K: Tensor, b: Tensor, q: Tensor): Tensor {
  return layer('sll_conv2d', x, K, b, q);
}

/**
 * Dense AOL layer: x [N, d], P [n, d], b [n], q [d] → y = (x ⊙ D) Pᵀ + b [N, n], D_j = (Σ_i |PᵀP|_ji ·
 * exp(q_i − q_j))^{−1/2} (0 where the sum is 0). ‖P diag(D)‖₂ ≤ 1. Cost: d²n (syrk) + 2Nnd forward.
 */
export function aolDense(x: Tensor, P: Tensor, b: Tensor, q: Tensor): Tensor {
  return layer('aol_dense', x, P, b, q);
}

/**
 * Conv AOL layer: x [N, C, H, W], K [O, C, k, k] (k odd 1..7), b [O], q [C] → y = (K·D) ⋆ x + b,
 * padding k//2, input channel j of K scaled by D_j = (Σ_{i,s} |V[j, i, s]|·exp(q_i − q_j) + 1e-6)^{−1/2},
 * V the self-correlation of K with its first two axes swapped (the kernel of JᵀJ).
 */
export function aolConv2d(x: Tensor, K: Tensor, b: Tensor, q: Tensor): Tensor {
  return layer('aol_conv2d', x, K, b, q);
}

for (const op of ['sll_dense', 'sll_conv2d'] as const) {
  defineGradient(op, {
    saveOutputs: true,
    grad: ([gy], ctx) => {
      const [x, W, , q] = ctx.inputs;
      const [, z, T, G] = ctx.outputs;
      if (ctx.inputs.length === 5 || G.size === 0)
        throw new OnelipError('ERR_UNSUPPORTED', `${op}: no gradient through a call with a cached T (input 4); call it without T to differentiate`);
      const g = runOp(`${op}_backward`, [gy, x, W, q, z, T, G]);
      return g.map((t, i) => (ctx.needsGrad[i] ? t : (t.dispose(), null)));
    },
  });
}

for (const op of ['aol_dense', 'aol_conv2d'] as const) {
  defineGradient(op, {
    saveOutputs: true,
    grad: ([gy], ctx) => {
      const [x, P, , q] = ctx.inputs;
      const [, D, M] = ctx.outputs;
      if (ctx.inputs.length === 5 || M.size === 0)
        throw new OnelipError('ERR_UNSUPPORTED', `${op}: no gradient through a call with a cached D (input 4); call it without D to differentiate`);
      const g = runOp(`${op}_backward`, [gy, x, P, q, D, M]);
      return g.map((t, i) => (ctx.needsGrad[i] ? t : (t.dispose(), null)));
    },
  });
}

/** Whether a layer call would be recorded (then the eval cache must not be used). */
export function layerRecords(inputs: Tensor[]): boolean {
  return isGradEnabled() && inputs.some((t) => t.requiresGrad);
}

for (const op of ['sll_dense_backward', 'sll_conv2d_backward', 'aol_dense_backward', 'aol_conv2d_backward'])
  defineNonDifferentiable(op, 'a gradient op (no second derivatives)');
