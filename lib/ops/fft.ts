/**
 * 2-d real FFTs over the last two axes, for the Cayley orthogonal convolution (SPEC.md A.5). Complex
 * values are interleaved: a trailing dimension of size 2 holds (re, im). Transform sizes: 1, 2, 3, 4,
 * 6, 8, 12, 16, 24, 32, 48, 64 on each axis (2^k and 3·2^k up to 64). float32 and float64, cpu and cuda.
 */
import { check } from '../errors';
import { defineGradient } from '../autograd/table';
import { Tensor } from '../tensor';
import { describe, requireTensor, run1 } from './run';

/** Sizes accepted on each axis. */
export const FFT_SIZES: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

export interface Irfft2Options {
  /**
   * [H, W] of the real output. Default: [H, 2·(W/2+1 − 1)] from the spectrum's shape (an even W, as
   * PyTorch's irfft2 without `s`); give it for an odd W.
   */
  size?: [number, number];
}

/**
 * Real-to-complex 2-d DFT, unnormalized (PyTorch's `torch.fft.rfft2` default):
 * x [..., H, W] → X [..., H, W/2+1, 2], X[p, q] = Σ_{h,w} x[h, w]·e^{−2πi(ph/H + qw/W)}, only the
 * non-redundant half q ≤ W/2 of the last axis. Cost: O(HW·log(HW)) per plane (CPU FFT; the CUDA kernel
 * does direct DFTs per axis in shared memory, one block per plane). Gradient: `rfft2Backward`.
 */
export function rfft2(x: Tensor): Tensor {
  return run1('rfft2', [requireTensor(x, 'rfft2', 'x')]);
}

/** [H, W] for irfft2 / rfft2Backward from options or the spectrum's shape. */
function sizeOf(X: Tensor, options: unknown, op: string): [number, number] {
  check(options === undefined || (typeof options === 'object' && options !== null && !Array.isArray(options)), 'ERR_ARGUMENT',
    () => `${op}: options must be an object { size?: [H, W] }, got ${describe(options)}`);
  const o = (options ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(o))
    check(key === 'size', 'ERR_ARGUMENT', () => `${op}: unknown option '${key}' (supported: size)`);
  if (o.size !== undefined) {
    const s = o.size;
    check(Array.isArray(s) && s.length === 2 && s.every((v) => Number.isInteger(v) && v >= 1), 'ERR_ARGUMENT',
      () => `${op}: option 'size' must be [H, W] with positive integers, got ${Array.isArray(s) ? JSON.stringify(s) : describe(s)}`);
    return [s[0] as number, s[1] as number];
  }
  const sh = X.shape;
  check(sh.length >= 3 && sh[sh.length - 1] === 2, 'ERR_SHAPE',
    () => `${op}: X must be a half spectrum [..., H, W/2+1, 2], got shape [${sh.join(', ')}]`);
  return [sh[sh.length - 3], 2 * (sh[sh.length - 2] - 1)];
}

/**
 * Inverse of `rfft2`: X [..., H, W/2+1, 2] → x [..., H, W] real, scaled by 1/(H·W), reading only the
 * half spectrum (the missing half is its Hermitian mirror; the imaginary parts of the self-conjugate
 * bins q = 0 and q = W/2 are ignored, as in PyTorch and numpy). Cost as rfft2. Gradient:
 * `irfft2Backward`.
 */
export function irfft2(X: Tensor, options?: Irfft2Options): Tensor {
  requireTensor(X, 'irfft2', 'X');
  return run1('irfft2', [X], { size: sizeOf(X, options, 'irfft2') });
}

/**
 * The adjoint of `rfft2` (its vector–Jacobian product): G [..., H, W/2+1, 2], size [H, W] →
 * [..., H, W], Re Σ_{p, q ≤ W/2} G[p, q]·e^{+2πi(ph/H + qw/W)}. Not the same as irfft2: each half-spectrum
 * bin counts once here.
 */
export function rfft2Backward(G: Tensor, size: [number, number]): Tensor {
  requireTensor(G, 'rfft2_backward', 'G');
  return run1('rfft2_backward', [G], { size: sizeOf(G, { size }, 'rfft2_backward') });
}

/**
 * The adjoint of `irfft2` (its vector–Jacobian product): g [..., H, W] → [..., H, W/2+1, 2] =
 * (c_q/(H·W))·rfft2(g)[p, q], c_q = 1 for q = 0 and q = W/2, else 2.
 */
export function irfft2Backward(g: Tensor): Tensor {
  return run1('irfft2_backward', [requireTensor(g, 'irfft2_backward', 'g')]);
}

defineGradient('rfft2', {
  grad: ([g], ctx) => {
    const x = ctx.inputs[0];
    const s = x.shape;
    return [ctx.needsGrad[0] ? rfft2Backward(g, [s[s.length - 2], s[s.length - 1]]) : null];
  },
});

defineGradient('irfft2', {
  grad: ([g], ctx) => [ctx.needsGrad[0] ? irfft2Backward(g) : null],
});

// The gradient ops are linear, so their own gradients are the adjoints they were built from.
defineGradient('rfft2_backward', {
  grad: ([g], ctx) => [ctx.needsGrad[0] ? rfft2(g) : null],
});

defineGradient('irfft2_backward', {
  grad: ([g], ctx) => {
    const s = ctx.inputs[0].shape;
    return [ctx.needsGrad[0] ? irfft2(g, { size: [s[s.length - 2], s[s.length - 1]] }) : null];
  },
});
