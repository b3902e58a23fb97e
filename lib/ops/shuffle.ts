/**
 * Channel/space rearrangements: pixel unshuffle / shuffle (space-to-depth and back, PyTorch's channel
 * order) and zero channel padding / truncation. All four are linear and move elements only (any
 * dtype); each pair is mutually inverse (up to the dropped channels) and each op is the other's gradient.
 */
import { defineGradient } from '../autograd/table';
import { Tensor } from '../tensor';
import { requireTensor, run1 } from './run';

/**
 * Space-to-depth: x [N, C, H, W] → [N, C·r², H/r, W/r] with r = `factor`; output channel
 * c·r² + i·r + j holds x[:, c, h·r + i, w·r + j] (PyTorch's `pixel_unshuffle`). H and W must be
 * divisible by r. An orthogonal permutation (norm preserving); its gradient is `pixelShuffle`. O(n).
 */
export function pixelUnshuffle(x: Tensor, factor = 2): Tensor {
  return run1('pixel_unshuffle', [requireTensor(x, 'pixel_unshuffle', 'x')], { factor });
}

/**
 * Depth-to-space, the inverse of `pixelUnshuffle`: x [N, C·r², H, W] → [N, C, H·r, W·r] with
 * r = `factor`; the channel count must be divisible by r². Its gradient is `pixelUnshuffle`. O(n).
 */
export function pixelShuffle(x: Tensor, factor = 2): Tensor {
  return run1('pixel_shuffle', [requireTensor(x, 'pixel_shuffle', 'x')], { factor });
}

/**
 * Zero channel padding (CPL/SLL `PaddingChannels`): x [N, C, ...] → [N, channels, ...] with
 * channels ≥ C, the new channels zero. An isometry; its gradient is `firstChannels(g, C)`. O(n).
 */
export function padChannels(x: Tensor, channels: number): Tensor {
  return run1('pad_channels', [requireTensor(x, 'pad_channels', 'x')], { channels });
}

/**
 * The first `channels` channels (Prach et al.'s "First Channels"): x [N, C, ...] → [N, channels, ...]
 * with channels ≤ C. 1-Lipschitz; its gradient is `padChannels(g, C)`. O(n).
 */
export function firstChannels(x: Tensor, channels: number): Tensor {
  return run1('first_channels', [requireTensor(x, 'first_channels', 'x')], { channels });
}

// ---- gradients: each op's adjoint is its partner ----
defineGradient('pixel_unshuffle', { grad: ([g], { attrs }) => [pixelShuffle(g, attrs.factor as number)] });
defineGradient('pixel_shuffle', { grad: ([g], { attrs }) => [pixelUnshuffle(g, attrs.factor as number)] });
defineGradient('pad_channels', { grad: ([g], { inputs: [x] }) => [firstChannels(g, x.shape[1])] });
defineGradient('first_channels', { grad: ([g], { inputs: [x] }) => [padChannels(g, x.shape[1])] });
