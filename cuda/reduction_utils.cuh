// Warp and block reductions shared by the CUDA kernels (device code only). Every thread of the warp /
// block must call them (the emulator requires full-warp participation in shuffles), and block sizes
// must be multiples of 32.
#pragma once
#include "common.cuh"

namespace onelip {
namespace cuda {

constexpr unsigned kFullMask = 0xffffffffu;

/// Reduces v over the 32 lanes of a warp with `op` (a tree of __shfl_down_sync steps: lane 0 ends with
/// op over lanes 0..31, in a fixed order, so the result is deterministic). Other lanes hold partials.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_down_sync(kFullMask, v, offset));
  return v;
}

/// Reduces v over the whole block with `op`; the result is valid in thread 0. `warp_buf` is a
/// __shared__ array of 32 elements owned by the caller. Ends with a barrier, so the caller may call it
/// again (e.g. once per row in a loop) without a race on `warp_buf`.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T identity, T* warp_buf) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  if (lane == 0) warp_buf[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < nwarps ? warp_buf[lane] : identity;
    v = warp_reduce(v, op);
  }
  __syncthreads();
  return v;
}

}  // namespace cuda
}  // namespace onelip
