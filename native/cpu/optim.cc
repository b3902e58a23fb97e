// CPU kernels of the in-place optimizer updates sgd_step and adam_step: one pass over the parameter,
// split over the thread pool, each element updated by the single-source math of cuda/math.cuh
// (SgdStep / AdamStep). The optional state (momentum buffer, amsgrad maximum) is a compile-time flag,
// so each inner loop is branch-free over contiguous arrays and the compiler can vectorise it.
#include "../../cuda/math.cuh"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

constexpr int64_t kGrain = int64_t(1) << 15;  // elements per thread-pool chunk (a few flops each)

template <class T, bool kBuf>
void sgd_loop(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ b, int64_t n, const math::SgdStep<T>& f) {
  parallel_for(n, kGrain, [=, &f](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(p + i, g[i], kBuf ? b + i : nullptr);
  });
}

template <class T, bool kMax>
void adam_loop(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, T* __restrict__ vmax,
               int64_t n, const math::AdamStep<T>& f) {
  parallel_for(n, kGrain, [=, &f](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) f(p + i, g[i], m + i, v + i, kMax ? vmax + i : nullptr);
  });
}

void sgd_step_op(OpCall& c) {
  const SgdConfig s = sgd_config(c);
  const Tensor& p = c.inputs[0];
  if (p.numel() == 0) return;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const math::SgdStep<T> f{T(s.lr), T(s.weight_decay), T(s.momentum), T(1 - s.dampening), s.nesterov, s.init_buffer};
    if (s.momentum_buffer) sgd_loop<T, true>(p.data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(), p.numel(), f);
    else sgd_loop<T, false>(p.data<T>(), c.inputs[1].data<T>(), nullptr, p.numel(), f);
  });
}

void adam_step_op(OpCall& c) {
  const AdamConfig a = adam_config(c);
  const Tensor& p = c.inputs[0];
  if (p.numel() == 0) return;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const math::AdamStep<T> f{T(a.beta1),        T(a.beta2),     T(a.eps), T(a.weight_decay),
                              T(a.decay_factor), T(a.step_size), T(a.bias_correction2_sqrt), a.decoupled};
    T* m = c.inputs[2].data<T>();
    T* v = c.inputs[3].data<T>();
    if (a.amsgrad) adam_loop<T, true>(p.data<T>(), c.inputs[1].data<T>(), m, v, c.inputs[4].data<T>(), p.numel(), f);
    else adam_loop<T, false>(p.data<T>(), c.inputs[1].data<T>(), m, v, nullptr, p.numel(), f);
  });
}

}  // namespace

/// Registers the CPU kernels of sgd_step and adam_step (in place; O(n), one pass, threaded).
void register_cpu_optim(Registry& r) {
  r.kernel("sgd_step", Device::CPU, sgd_step_op);
  r.kernel("adam_step", Device::CPU, adam_step_op);
}

}  // namespace onelip
