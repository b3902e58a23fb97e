// Shared by every CUDA kernel file: the launch macro (real or emulated), error checks, grid sizing,
// warp/block reductions.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>
#include "../native/core/error.h"
#include "math.cuh"

#if defined(__CUDACC__)
#define KLAUNCH(k, grid, block, smem, stream, ...) k<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#else  // emulator: the stream is evaluated and ignored, the launch is synchronous
#define KLAUNCH(k, grid, block, smem, stream, ...) \
  ((void)(stream), ::cuda_emu::launch((k), dim3(grid), dim3(block), (size_t)(smem), ##__VA_ARGS__))
#endif

namespace onelip {
namespace cuda {

/// Throws onelip::Error(ERR_CUDA) naming `what` when `err` is not cudaSuccess.
inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error state of the runtime where possible
    fail(code::kCuda, what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  }
}

/// Checks the last launch (configuration errors and, for synchronous runtimes, execution errors).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

constexpr int kBlock = 256;

/// Blocks for a grid-stride loop over n items (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > 65535) g = 65535;
  return static_cast<unsigned>(g);
}

/// Calls f(I{}) with a 32-bit index type when all indices below n fit (grid-stride sums included),
/// else 64-bit: 32-bit index arithmetic is markedly cheaper on the GPU.
template <class F>
void dispatch_index(int64_t n, F&& f) {
  if (n < (int64_t(1) << 31)) f(uint32_t{});
  else f(uint64_t{});
}

}  // namespace cuda
}  // namespace onelip

#define CUDA_CHECK(expr) ::onelip::cuda::check((expr), #expr)
