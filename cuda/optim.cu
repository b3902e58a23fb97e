// CUDA kernels of the in-place optimizer updates sgd_step and adam_step: one thread per element in a
// grid-stride loop, each element updated by the single-source math of math.cuh (SgdStep / AdamStep,
// structural choices as template flags), the same expressions as native/cpu/optim.cc. 32-bit indices
// when they fit, else 64-bit.
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

template <class T, class I, bool kBuf, bool kInit, bool kNesterov>
__global__ void sgd_step_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ b, I n,
                                math::SgdStep<T> f) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    f.template apply<kBuf, kInit, kNesterov>(p + i, g[i], kBuf ? b + i : nullptr);
}

template <class T, class I, bool kMax, bool kLow>
__global__ void adam_step_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                                 T* __restrict__ vmax, I n, math::AdamStep<T> f) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    f.template apply<kMax, kLow>(p + i, g[i], m + i, v + i, kMax ? vmax + i : nullptr);
}

template <class T, class I, bool kBuf, bool kInit, bool kNesterov>
void launch_sgd(T* p, const T* g, T* b, int64_t n, const math::SgdStep<T>& f) {
  auto k = sgd_step_kernel<T, I, kBuf, kInit, kNesterov>;
  KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, p, g, b, I(n), f);
  cuda::check_launch("sgd_step_kernel");
}

void sgd_step_op(OpCall& c) {
  const SgdConfig s = sgd_config(c);
  const Tensor& p = c.inputs[0];
  const int64_t n = p.numel();
  if (n == 0) return;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const math::SgdStep<T> f{T(s.lr), T(s.weight_decay), T(s.momentum), T(1 - s.dampening)};
    T* pd = p.data<T>();
    const T* gd = c.inputs[1].data<T>();
    cuda::dispatch_index(n, [&](auto idx) {
      using I = decltype(idx);
      if (!s.momentum_buffer) return launch_sgd<T, I, false, false, false>(pd, gd, nullptr, n, f);
      T* bd = c.inputs[2].data<T>();
      with_flag(s.init_buffer, [&](auto init) {
        with_flag(s.nesterov, [&](auto nest) {
          launch_sgd<T, I, true, decltype(init)::value, decltype(nest)::value>(pd, gd, bd, n, f);
        });
      });
    });
  });
}

void adam_step_op(OpCall& c) {
  const AdamConfig a = adam_config(c);
  const Tensor& p = c.inputs[0];
  const int64_t n = p.numel();
  if (n == 0) return;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const math::AdamStep<T> f{T(a.beta1), T(a.beta2), T(a.eps), T(a.l2), T(a.decay_factor), T(a.step_size), T(a.bias_correction2_sqrt)};
    T* vmax = a.amsgrad ? c.inputs[4].data<T>() : nullptr;
    cuda::dispatch_index(n, [&](auto idx) {
      using I = decltype(idx);
      with_flag(a.amsgrad, [&](auto amsgrad) {
        with_flag(T(1) - T(a.beta1) < T(0.5), [&](auto low) {
          auto k = adam_step_kernel<T, I, decltype(amsgrad)::value, decltype(low)::value>;
          KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, p.data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(),
                  c.inputs[3].data<T>(), vmax, I(n), f);
          cuda::check_launch("adam_step_kernel");
        });
      });
    });
  });
}

}  // namespace

/// Registers the CUDA kernels of sgd_step and adam_step (in place; O(n), one pass).
void register_cuda_optim(Registry& r) {
  r.kernel("sgd_step", Device::CUDA, sgd_step_op);
  r.kernel("adam_step", Device::CUDA, adam_step_op);
}

}  // namespace onelip
