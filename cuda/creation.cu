// CUDA kernels of the creation ops fill, rand and randn. rand/randn use the counter-based Philox
// generator of math.cuh with counter = element index, so every device and launch shape produces the
// same numbers as the CPU kernels for the same seed.
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

/// y[i] = value.
template <class T>
__global__ void fill_kernel(T* __restrict__ y, int64_t n, T value) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = value;
}

/// y[i] = uniform_at(seed, i, low, high): uniform in [low, high).
template <class T>
__global__ void rand_kernel(T* __restrict__ y, int64_t n, uint64_t seed, double low, double high) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = math::uniform_at<T>(seed, static_cast<uint64_t>(i), low, high);
}

/// y[i] = normal_at(seed, i, mean, std): Box–Muller on the Philox output of counter i.
template <class T>
__global__ void randn_kernel(T* __restrict__ y, int64_t n, uint64_t seed, double mean, double stddev) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = math::normal_at<T>(seed, static_cast<uint64_t>(i), mean, stddev);
}

void fill_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const double value = c.attrs.get_float("value");
  dispatch_dtype(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k = fill_kernel<T>;
    KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, y.data<T>(), n, static_cast<T>(value));
    cuda::check_launch("fill_kernel");
  });
}

void rand_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const uint64_t seed = seed_attr(c);
  const double low = c.attrs.get_float("low", 0.0), high = c.attrs.get_float("high", 1.0);
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k = rand_kernel<T>;
    KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, y.data<T>(), n, seed, low, high);
    cuda::check_launch("rand_kernel");
  });
}

void randn_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const uint64_t seed = seed_attr(c);
  const double mean = c.attrs.get_float("mean", 0.0), stddev = c.attrs.get_float("std", 1.0);
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k = randn_kernel<T>;
    KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, y.data<T>(), n, seed, mean, stddev);
    cuda::check_launch("randn_kernel");
  });
}

}  // namespace

/// Registers the CUDA kernels of fill (any dtype), rand and randn (float32/float64; element i from
/// Philox counter i, bit-identical to the CPU formula): one thread per element, grid-stride.
void register_cuda_creation(Registry& r) {
  r.kernel("fill", Device::CUDA, fill_op);
  r.kernel("rand", Device::CUDA, rand_op);
  r.kernel("randn", Device::CUDA, randn_op);
}

}  // namespace onelip
