/**
 * Channel-pair activations with a learnable angle per pair (SPEC.md B.1, B.2): `lipPool` (the NeurIPS'22
 * 1-Lipschitz pooling, ChannelPool 'lip1') and `householder` (HH1). A pair is (x, y) = (z[:, c], z[:, c + C/2]);
 * θ holds one angle per pair (C/2 elements, any shape, e.g. [C/2] or [1, C/2, 1, 1]). float32 and float64,
 * cpu and cuda; differentiable in z and θ.
 */
import { defineGradient, defineNonDifferentiable } from '../autograd/table';
import { Tensor } from '../tensor';
import { sum } from './reduce';
import { requireTensor, run1, runOp } from './run';

/**
 * Signed distance of each pair (x, y) to the boundary of the wedge {|angle| ≤ θ/2} around the +x axis
 * (positive outside, negative inside): z [N, C, ...] (C even), θ [C/2] → [N, C/2, ...]. With
 * φ = atan2(y, x) mod 2π: φ < (θ+π)/2 → −x·sin(θ/2) + y·cos(θ/2); φ < (3π−θ)/2 → √(x²+y²); otherwise
 * −x·sin(θ/2) − y·cos(θ/2). 1-Lipschitz in z for θ ∈ [0, π] (the module clamps θ). Cost: one pass.
 */
export function lipPool(z: Tensor, theta: Tensor): Tensor {
  return run1('lip_pool', [requireTensor(z, 'lip_pool', 'z'), requireTensor(theta, 'lip_pool', 'theta')]);
}

/**
 * HH1: each pair (x, y) with x·sin(θ/2) − y·cos(θ/2) > 0 is reflected to (x cosθ + y sinθ, x sinθ − y cosθ),
 * the others are kept: z [N, C, ...] (C even), θ [C/2] → same shape as z. Orthogonal per pair (piecewise),
 * hence 1-Lipschitz and gradient-norm preserving; θ = π/2 is MaxMin up to order. Cost: one pass.
 */
export function householder(z: Tensor, theta: Tensor): Tensor {
  return run1('householder', [requireTensor(z, 'householder', 'z'), requireTensor(theta, 'householder', 'theta')]);
}

/** Angle gradient [N, C/2, ...] per element → θ's shape (summed over all axes but 1). */
function reduceTheta(perElement: Tensor, theta: Tensor): Tensor {
  const axes = [...Array(perElement.ndim).keys()].filter((a) => a !== 1);
  const s = sum(perElement, axes);
  perElement.dispose();
  const r = s.reshape(theta.shape);
  s.dispose();
  return r;
}

defineGradient('lip_pool', {
  grad: ([g], { inputs: [z, theta], needsGrad }) => {
    const [dz, dth] = runOp('lip_pool_backward', [z, theta, g]);
    return [dz, needsGrad[1] ? reduceTheta(dth, theta) : (dth.dispose(), null)];
  },
});
defineGradient('householder', {
  grad: ([g], { inputs: [z, theta], needsGrad }) => {
    const [dz, dth] = runOp('householder_backward', [z, theta, g]);
    return [dz, needsGrad[1] ? reduceTheta(dth, theta) : (dth.dispose(), null)];
  },
});
defineNonDifferentiable('lip_pool_backward', 'gradient op of lip_pool; second derivatives are not supported');
defineNonDifferentiable('householder_backward', 'gradient op of householder; second derivatives are not supported');
