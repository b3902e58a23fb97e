// CUDA kernels of the channel-pair activations lip_pool / householder and their backward ops: one
// thread per channel pair in a grid-stride loop, 32-bit indices when every index fits. The math is in
// cuda/activations.cuh (shared with native/cpu/activations.cc).
#include "../native/ops/ops.h"
#include "activations.cuh"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

// Pair p (its index in an [N, C/2, S] tensor) reads x[n, c, s] at ia and x[n, c + C/2, s] at
// ia + half_plane; its angle is theta[(p mod half_plane) / s].

template <class T, class I>
__global__ void lip_pool_kernel(const T* __restrict__ x, const T* __restrict__ th, T* __restrict__ y, I pairs, I hp, I s) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const I ia = (p / hp) * hp + p;
    y[p] = math::lip_pool(x[ia], x[ia + hp], th[(p % hp) / s]);
  }
}

template <class T, class I>
__global__ void lip_pool_backward_kernel(const T* __restrict__ x, const T* __restrict__ th, const T* __restrict__ g,
                                         T* __restrict__ dx, T* __restrict__ dth, I pairs, I hp, I s) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const I ia = (p / hp) * hp + p;
    T da, db, dt;
    math::lip_pool_backward(x[ia], x[ia + hp], th[(p % hp) / s], g[p], &da, &db, &dt);
    dx[ia] = da;
    dx[ia + hp] = db;
    dth[p] = dt;
  }
}

template <class T, class I>
__global__ void householder_kernel(const T* __restrict__ x, const T* __restrict__ th, T* __restrict__ y, I pairs, I hp, I s) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const I ia = (p / hp) * hp + p;
    T a, b;
    math::householder(x[ia], x[ia + hp], th[(p % hp) / s], &a, &b);
    y[ia] = a;
    y[ia + hp] = b;
  }
}

template <class T, class I>
__global__ void householder_backward_kernel(const T* __restrict__ x, const T* __restrict__ th, const T* __restrict__ g,
                                            T* __restrict__ dx, T* __restrict__ dth, I pairs, I hp, I s) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const I ia = (p / hp) * hp + p;
    T da, db, dt;
    math::householder_backward(x[ia], x[ia + hp], th[(p % hp) / s], g[ia], g[ia + hp], &da, &db, &dt);
    dx[ia] = da;
    dx[ia + hp] = db;
    dth[p] = dt;
  }
}

/// Pairs, (C/2)·S and S of an [N, C, S...] tensor.
void pair_dims(const Tensor& x, int64_t* pairs, int64_t* hp, int64_t* s) {
  *s = 1;
  for (int d = 2; d < x.ndim(); ++d) *s *= x.dim(d);
  *hp = x.dim(1) / 2 * *s;
  *pairs = x.dim(0) * *hp;
}

/// Launches KERNEL<T, I> over the pairs of input 0 with (inputs..., outputs..., pairs, hp, s).
#define OL_PAIR_LAUNCH(KERNEL, ...)                                                               \
  do {                                                                                           \
    int64_t pairs, hp, s;                                                                        \
    pair_dims(c.inputs[0], &pairs, &hp, &s);                                                     \
    if (pairs == 0) return;                                                                      \
    dispatch_float(c.inputs[0].dtype(), [&](auto tag) {                                          \
      using T = decltype(tag);                                                                   \
      cuda::dispatch_index(c.inputs[0].numel(), [&](auto idx) {                                  \
        using I = decltype(idx);                                                                 \
        auto k = KERNEL<T, I>;                                                                   \
        KLAUNCH(k, cuda::grid_for(pairs), cuda::kBlock, 0, 0, __VA_ARGS__, I(pairs), I(hp), I(s)); \
        cuda::check_launch(#KERNEL);                                                             \
      });                                                                                        \
    });                                                                                          \
  } while (0)

void lip_pool_op(OpCall& c) {
  OL_PAIR_LAUNCH(lip_pool_kernel, c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>());
}

void lip_pool_backward_op(OpCall& c) {
  OL_PAIR_LAUNCH(lip_pool_backward_kernel, c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(),
                 c.outputs[0].data<T>(), c.outputs[1].data<T>());
}

void householder_op(OpCall& c) {
  OL_PAIR_LAUNCH(householder_kernel, c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>());
}

void householder_backward_op(OpCall& c) {
  OL_PAIR_LAUNCH(householder_backward_kernel, c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(),
                 c.outputs[0].data<T>(), c.outputs[1].data<T>());
}

#undef OL_PAIR_LAUNCH

}  // namespace

/// Registers the CUDA kernels of lip_pool, householder and their backward ops (one thread per channel
/// pair c, c + C/2). float32 and float64.
void register_cuda_activations(Registry& r) {
  r.kernel("lip_pool", Device::CUDA, lip_pool_op);
  r.kernel("lip_pool_backward", Device::CUDA, lip_pool_backward_op);
  r.kernel("householder", Device::CUDA, householder_op);
  r.kernel("householder_backward", Device::CUDA, householder_backward_op);
}

}  // namespace onelip
