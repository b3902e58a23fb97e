// CPU kernels of the channel-pair activations lip_pool / householder and their backward ops: one pass
// over the N·(C/2)·S pairs, the math in cuda/activations.cuh (shared with cuda/activations.cu).
#include "../../cuda/activations.cuh"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

constexpr int64_t kGrainPairs = int64_t(1) << 12;

/// Pair geometry of x [N, C, S...]: hp = (C/2)·S pairs per sample, s = S.
struct Pairs {
  int64_t n, hp, s;
};

Pairs pairs_of(const Tensor& x) {
  int64_t s = 1;
  for (int d = 2; d < x.ndim(); ++d) s *= x.dim(d);
  return {x.dim(0), x.dim(1) / 2 * s, s};
}

/// Calls f(p, ia, ib, ch) for every pair p (= its index in an [N, C/2, S] tensor): ia and ib are the
/// offsets of x[n, c, s] and x[n, c + C/2, s], ch = c.
template <class F>
void for_pairs(const Pairs& g, F f) {
  parallel_for(g.n * g.hp, kGrainPairs, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t b = p / g.hp, r = p % g.hp;
      const int64_t ia = b * 2 * g.hp + r;
      f(p, ia, ia + g.hp, r / g.s);
    }
  });
}

void lip_pool_op(OpCall& c) {
  const Pairs g = pairs_of(c.inputs[0]);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = c.inputs[0].data<T>();
    const T* th = c.inputs[1].data<T>();
    T* y = c.outputs[0].data<T>();
    for_pairs(g, [=](int64_t p, int64_t ia, int64_t ib, int64_t ch) { y[p] = math::lip_pool(x[ia], x[ib], th[ch]); });
  });
}

void lip_pool_backward_op(OpCall& c) {
  const Pairs g = pairs_of(c.inputs[0]);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = c.inputs[0].data<T>();
    const T* th = c.inputs[1].data<T>();
    const T* go = c.inputs[2].data<T>();
    T* dx = c.outputs[0].data<T>();
    T* dth = c.outputs[1].data<T>();
    for_pairs(g, [=](int64_t p, int64_t ia, int64_t ib, int64_t ch) {
      math::lip_pool_backward(x[ia], x[ib], th[ch], go[p], &dx[ia], &dx[ib], &dth[p]);
    });
  });
}

void householder_op(OpCall& c) {
  const Pairs g = pairs_of(c.inputs[0]);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = c.inputs[0].data<T>();
    const T* th = c.inputs[1].data<T>();
    T* y = c.outputs[0].data<T>();
    for_pairs(g, [=](int64_t, int64_t ia, int64_t ib, int64_t ch) { math::householder(x[ia], x[ib], th[ch], &y[ia], &y[ib]); });
  });
}

void householder_backward_op(OpCall& c) {
  const Pairs g = pairs_of(c.inputs[0]);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = c.inputs[0].data<T>();
    const T* th = c.inputs[1].data<T>();
    const T* go = c.inputs[2].data<T>();
    T* dx = c.outputs[0].data<T>();
    T* dth = c.outputs[1].data<T>();
    for_pairs(g, [=](int64_t p, int64_t ia, int64_t ib, int64_t ch) {
      math::householder_backward(x[ia], x[ib], th[ch], go[ia], go[ib], &dx[ia], &dx[ib], &dth[p]);
    });
  });
}

}  // namespace

/// Registers the CPU kernels of lip_pool, householder and their backward ops (pairs of channels c and
/// c + C/2, one angle per pair). float32 and float64.
void register_cpu_activations(Registry& r) {
  r.kernel("lip_pool", Device::CPU, lip_pool_op);
  r.kernel("lip_pool_backward", Device::CPU, lip_pool_backward_op);
  r.kernel("householder", Device::CPU, householder_op);
  r.kernel("householder_backward", Device::CPU, householder_backward_op);
}

}  // namespace onelip
