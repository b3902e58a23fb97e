/**
 * The fused CPL ops (convex potential layer, SPEC.md A.1; native/ops/cpl.cc): one native call forward
 * and one backward per layer, every intermediate kept on the device. float32 and float64, cpu and cuda.
 */
import { defineGradient, defineNonDifferentiable } from '../autograd/table';
import { Tensor } from '../tensor';
import { requireTensor, runOp } from './run';

/**
 * The dense CPL map y = x − h · relu(x Wᵀ + b) W, h = 2 / (sigma² + 1e-4): x [N, d], W [m, d], b [m],
 * sigma a scalar tensor ([] or [1], an estimate of ‖W‖₂, ≥ 0) → y [N, d]. Differentiable in x, W, b
 * and sigma (`cplDenseBackward`). Non-finite W, b or sigma: OnelipError ERR_ARGUMENT. Cost: 4·N·m·d
 * flops plus O(N·(m + d)), and one read of three scalars to the host.
 */
export function cplDense(x: Tensor, W: Tensor, b: Tensor, sigma: Tensor): Tensor {
  const op = 'cpl_dense';
  return keepActivation(runOp(op, [requireTensor(x, op, 'x'), requireTensor(W, op, 'W'), requireTensor(b, op, 'b'), requireTensor(sigma, op, 'sigma')]));
}

/**
 * The ops' second output, the activation a = relu(A x + b), is what their backward reads: the tape
 * keeps it (saveOutputs) when the call was recorded; otherwise it is freed at once.
 */
function keepActivation([y, a]: Tensor[]): Tensor {
  if (y.node_ === null) a.dispose();
  return y;
}

/**
 * The conv CPL map y = x − h · Kᵀ ⋆ relu(K ⋆ x + b) (stride 1, zero padding k//2 on both convolutions),
 * h = 2 / (sigma² + 1e-4): x [N, c, H, W], K [m, c, k, k] (k odd, 1..7), b [m], sigma a scalar tensor →
 * y [N, c, H, W]. Differentiable (`cplConv2dBackward`). Cost: two convolutions (4·N·m·c·k²·H·W flops).
 */
export function cplConv2d(x: Tensor, K: Tensor, b: Tensor, sigma: Tensor): Tensor {
  const op = 'cpl_conv2d';
  return keepActivation(runOp(op, [requireTensor(x, op, 'x'), requireTensor(K, op, 'K'), requireTensor(b, op, 'b'), requireTensor(sigma, op, 'sigma')]));
}

/**
 * The gradients [gx, gW, gb, gsigma] of ⟨gy, cplDense(x, W, b, sigma)⟩ given the forward's activation
 * a = relu(x Wᵀ + b) [N, m] (formulas in native/ops/cpl.cc). Cost: 6·N·m·d flops.
 */
export function cplDenseBackward(gy: Tensor, x: Tensor, W: Tensor, a: Tensor, sigma: Tensor): Tensor[] {
  const op = 'cpl_dense_backward';
  return runOp(op, [requireTensor(gy, op, 'gy'), requireTensor(x, op, 'x'), requireTensor(W, op, 'W'), requireTensor(a, op, 'a'),
    requireTensor(sigma, op, 'sigma')]);
}

/**
 * The gradients [gx, gK, gb, gsigma] of ⟨gy, cplConv2d(x, K, b, sigma)⟩ given the forward's activation
 * a = relu(K ⋆ x + b) [N, m, H, W]. Cost: four convolutions (one forward, one transposed, two weight
 * gradients).
 */
export function cplConv2dBackward(gy: Tensor, x: Tensor, K: Tensor, a: Tensor, sigma: Tensor): Tensor[] {
  const op = 'cpl_conv2d_backward';
  return runOp(op, [requireTensor(gy, op, 'gy'), requireTensor(x, op, 'x'), requireTensor(K, op, 'K'), requireTensor(a, op, 'a'),
    requireTensor(sigma, op, 'sigma')]);
}

for (const [op, back] of [['cpl_dense', cplDenseBackward], ['cpl_conv2d', cplConv2dBackward]] as const) {
  defineGradient(op, {
    saveOutputs: true,
    grad: ([gy], ctx) => {
      const [x, W, , s] = ctx.inputs;
      const grads: (Tensor | null)[] = back(gy, x, W, ctx.outputs[1], s);
      return grads.map((g, i) => {
        if (ctx.needsGrad[i]) return g;
        (g as Tensor).dispose();
        return null;
      });
    },
  });
}
defineNonDifferentiable('cpl_dense_backward', 'a gradient op (no second derivatives)');
defineNonDifferentiable('cpl_conv2d_backward', 'a gradient op (no second derivatives)');
