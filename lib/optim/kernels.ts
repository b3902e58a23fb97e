/**
 * Typed wrappers of the fused, IN-PLACE optimizer ops `sgd_step` and `adam_step` (native/ops/optim.cc):
 * one pass over a parameter that rewrites the parameter and its state tensors in their storage (the
 * module keeps holding the same Tensor objects). The gradient is only read. All tensors: float32 or
 * float64, one dtype, one shape, one device, no two sharing storage. Not differentiable (no tape).
 * Cost: O(n) elementwise, a few flops per element, one read of every input and one write of every
 * updated tensor.
 */
import { defineNonDifferentiable } from '../autograd/table';
import { check } from '../errors';
import { Tensor } from '../tensor';
import { native } from '../native';
import { requireTensor } from '../ops/run';

export interface SgdStepOptions {
  lr: number;
  /** Momentum factor ≥ 0 (default 0: no buffer). */
  momentum?: number;
  /** Dampening of the momentum in [0, 1] (default 0). */
  dampening?: number;
  /** L2 penalty ≥ 0 added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** The buffer's first step: buffer ← d instead of momentum·buffer + (1 − dampening)·d (PyTorch). */
  initBuffer?: boolean;
}

/**
 * One SGD step in place (torch.optim.SGD): d = grad + wd·param; with `momentumBuffer` (required iff
 * momentum > 0): buf ← d (first step) or momentum·buf + (1 − dampening)·d, d ← d + momentum·buf
 * (nesterov) or buf; param ← param − lr·d.
 */
export function sgdStep(param: Tensor, grad: Tensor, momentumBuffer: Tensor | null, options: SgdStepOptions): void {
  const op = 'sgd_step';
  const inputs = [requireTensor(param, op, 'param'), requireTensor(grad, op, 'grad')];
  if (momentumBuffer !== null && momentumBuffer !== undefined) inputs.push(requireTensor(momentumBuffer, op, 'momentumBuffer'));
  check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', `${op}: options must be an object { lr, ... }`);
  runInPlace(op, inputs, defined(options as unknown as Record<string, unknown>));
}

export interface AdamStepOptions {
  lr: number;
  /** The step count t ≥ 1 of this update (bias corrections 1 − β^t). */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** AdamW: p ← p·(1 − lr·wd) instead of adding wd·p to the gradient. */
  decoupled?: boolean;
}

/**
 * One Adam / AdamW step in place (torch.optim.Adam / AdamW): updates param, expAvg, expAvgSq and, with
 * amsgrad, maxExpAvgSq (pass null otherwise). See math.cuh `AdamStep` for the formulas.
 */
export function adamStep(
  param: Tensor,
  grad: Tensor,
  expAvg: Tensor,
  expAvgSq: Tensor,
  maxExpAvgSq: Tensor | null,
  options: AdamStepOptions,
): void {
  const op = 'adam_step';
  const inputs = [
    requireTensor(param, op, 'param'),
    requireTensor(grad, op, 'grad'),
    requireTensor(expAvg, op, 'expAvg'),
    requireTensor(expAvgSq, op, 'expAvgSq'),
  ];
  if (maxExpAvgSq !== null && maxExpAvgSq !== undefined) inputs.push(requireTensor(maxExpAvgSq, op, 'maxExpAvgSq'));
  check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', `${op}: options must be an object { lr, step, ... }`);
  runInPlace(op, inputs, defined(options as unknown as Record<string, unknown>));
}

/**
 * Runs an in-place op straight on the registry, outside any gradient tape (an optimizer step is not
 * differentiated, like PyTorch's steps under no_grad). Call it after backward: a tape that saved the
 * parameter would see the new values.
 */
function runInPlace(op: string, inputs: Tensor[], attrs: Record<string, unknown>): void {
  native().run(op, inputs[0].device, inputs.map((t) => t.handle), attrs);
  // Every input but the gradient (index 1) is rewritten in place: parameter and optimizer state.
  inputs.forEach((t, i) => {
    if (i !== 1) t.markChanged();
  });
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

defineNonDifferentiable('sgd_step', 'an in-place optimizer update (runs outside the tape)');
defineNonDifferentiable('adam_step', 'an in-place optimizer update (runs outside the tape)');
