// CPU kernels of the creation ops fill, rand and randn. rand/randn use the counter-based Philox
// generator of cuda/math.cuh with counter = element index, so every thread count and the CUDA kernels
// produce the same numbers for the same seed.
#include "../../cuda/math.cuh"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

constexpr int64_t kGrainFill = 1 << 15;  // elements per thread-pool chunk: a store each
constexpr int64_t kGrainRand = 1 << 11;  // Philox (10 rounds), plus log/sqrt/cos for randn

/// y[i] = gen(i) for i in [0, n).
template <class T, class Gen>
void generate(T* y, int64_t n, int64_t grain, Gen gen) {
  parallel_for(n, grain, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = gen(i);
  });
}

void fill_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  const double value = c.attrs.get_float("value");
  dispatch_dtype(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = static_cast<T>(value);  // int32: the definition checked that value is representable
    generate(y.data<T>(), y.numel(), kGrainFill, [v](int64_t) { return v; });
  });
}

void rand_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  const uint64_t seed = seed_attr(c);
  const double low = c.attrs.get_float("low", 0.0), high = c.attrs.get_float("high", 1.0);
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    generate(y.data<T>(), y.numel(), kGrainRand,
             [=](int64_t i) { return math::uniform_at<T>(seed, static_cast<uint64_t>(i), low, high); });
  });
}

void randn_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  const uint64_t seed = seed_attr(c);
  const double mean = c.attrs.get_float("mean", 0.0), stddev = c.attrs.get_float("std", 1.0);
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    generate(y.data<T>(), y.numel(), kGrainRand,
             [=](int64_t i) { return math::normal_at<T>(seed, static_cast<uint64_t>(i), mean, stddev); });
  });
}

}  // namespace

/// Registers the CPU kernels of fill (any dtype; value converted once), rand (uniform in [low, high))
/// and randn (normal(mean, std)), float32/float64, element i from Philox counter i (bit-identical to
/// the CUDA kernels). O(n), split over the thread pool.
void register_cpu_creation(Registry& r) {
  r.kernel("fill", Device::CPU, fill_op);
  r.kernel("rand", Device::CPU, rand_op);
  r.kernel("randn", Device::CPU, randn_op);
}

}  // namespace onelip
