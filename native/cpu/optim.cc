// CPU kernels of the in-place optimizer updates sgd_step and adam_step: one pass over the parameter,
// split over the thread pool, each element updated by the single-source math of cuda/math.cuh
// (SgdStep / AdamStep). The structural choices are compile-time flags and the arrays are restrict-
// qualified, so each inner loop is branch-free over contiguous memory and the compiler vectorises it
// (the Adam loop's sqrt needs -fno-math-errno, set for the whole addon in CMakeLists.txt / binding.gyp).
#include "../../cuda/math.cuh"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

constexpr int64_t kGrain = int64_t(1) << 15;  // elements per thread-pool chunk (a few flops each)

template <class T, bool kBuf, bool kInit, bool kNesterov>
void sgd_loop(T* p, const T* g, T* b, int64_t n, math::SgdStep<T> f) {
  parallel_for(n, kGrain, [=](int64_t begin, int64_t end) {
    T* __restrict__ pp = p + begin;
    const T* __restrict__ gg = g + begin;
    T* __restrict__ bb = kBuf ? b + begin : nullptr;
    const int64_t len = end - begin;
    const math::SgdStep<T> ff = f;  // a local copy: its scalars stay in registers across the stores
    for (int64_t i = 0; i < len; ++i) ff.template apply<kBuf, kInit, kNesterov>(pp + i, gg[i], kBuf ? bb + i : nullptr);
  });
}

template <class T, bool kMax, bool kLow>
void adam_loop(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, math::AdamStep<T> f) {
  parallel_for(n, kGrain, [=](int64_t begin, int64_t end) {
    T* __restrict__ pp = p + begin;
    const T* __restrict__ gg = g + begin;
    T* __restrict__ mm = m + begin;
    T* __restrict__ vv = v + begin;
    T* __restrict__ xx = kMax ? vmax + begin : nullptr;
    const int64_t len = end - begin;
    const math::AdamStep<T> ff = f;  // a local copy: its scalars stay in registers across the stores
    for (int64_t i = 0; i < len; ++i) ff.template apply<kMax, kLow>(pp + i, gg[i], mm + i, vv + i, kMax ? xx + i : nullptr);
  });
}

void sgd_step_op(OpCall& c) {
  const SgdConfig s = sgd_config(c);
  const Tensor& p = c.inputs[0];
  if (p.numel() == 0) return;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const math::SgdStep<T> f{T(s.lr), T(s.weight_decay), T(s.momentum), T(1 - s.dampening)};
    T* pd = p.data<T>();
    const T* gd = c.inputs[1].data<T>();
    if (!s.momentum_buffer) return sgd_loop<T, false, false, false>(pd, gd, nullptr, p.numel(), f);
    T* bd = c.inputs[2].data<T>();
    with_flag(s.init_buffer, [&](auto init) {
      with_flag(s.nesterov, [&](auto nest) { sgd_loop<T, true, decltype(init)::value, decltype(nest)::value>(pd, gd, bd, p.numel(), f); });
    });
  });
}

void adam_step_op(OpCall& c) {
  const AdamConfig a = adam_config(c);
  const Tensor& p = c.inputs[0];
  if (p.numel() == 0) return;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const math::AdamStep<T> f{T(a.beta1), T(a.beta2), T(a.eps), T(a.l2), T(a.decay_factor), T(a.step_size), T(a.bias_correction2_sqrt)};
    T* vmax = a.amsgrad ? c.inputs[4].data<T>() : nullptr;
    with_flag(a.amsgrad, [&](auto amsgrad) {
      with_flag(T(1) - T(a.beta1) < T(0.5), [&](auto low) {
        adam_loop<T, decltype(amsgrad)::value, decltype(low)::value>(p.data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(),
                                                                     c.inputs[3].data<T>(), vmax, p.numel(), f);
      });
    });
  });
}

}  // namespace

/// Registers the CPU kernels of sgd_step and adam_step (in place; O(n), one pass, threaded).
void register_cpu_optim(Registry& r) {
  r.kernel("sgd_step", Device::CPU, sgd_step_op);
  r.kernel("adam_step", Device::CPU, adam_step_op);
}

}  // namespace onelip
