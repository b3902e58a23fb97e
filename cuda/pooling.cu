// CUDA kernels of avg_pool2d / avg_pool2d_backward and max_min / max_min_backward. One thread per
// output element (per channel pair for max_min) in a grid-stride loop; 32-bit index arithmetic when
// every index fits, else 64-bit. The backward of the pooling gathers over the windows covering each
// input element (no atomics: deterministic). Summation orders match native/cpu/pooling.cc.
#include <algorithm>
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
// Defined in native/ops/pooling.cc.
void pool2d_window(const OpCall& c, int64_t* kh, int64_t* kw, int64_t* sh, int64_t* sw, double* divisor);

namespace {

/// Geometry of one pooling call, in the kernel's index type.
template <class I>
struct PoolGeom {
  I h, w, ho, wo, kh, kw, sh, sw;
};

/// y [P, Ho, Wo] = window sums of x [P, H, W] / divisor, the window summed row by row.
template <class T, class I>
__global__ void avg_pool2d_kernel(const T* __restrict__ x, T* __restrict__ y, I total, PoolGeom<I> g, T divisor) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const I ow = o % g.wo, t = o / g.wo;
    const I oh = t % g.ho, p = t / g.ho;
    const T* corner = x + (p * g.h + oh * g.sh) * g.w + ow * g.sw;
    T acc = T(0);
    for (I i = 0; i < g.kh; ++i)
      for (I j = 0; j < g.kw; ++j) acc += corner[i * g.w + j];
    y[o] = acc / divisor;
  }
}

/// dx [P, H, W] from grad g [P, Ho, Wo]: dx[h, w] = (sum of g over the windows covering (h, w)) / divisor,
/// summed over pooled rows, then columns, in increasing order.
template <class T, class I>
__global__ void avg_pool2d_backward_kernel(const T* __restrict__ grad, T* __restrict__ dx, I total, PoolGeom<I> g,
                                           T divisor) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const I x = o % g.w, t = o / g.w;
    const I y = t % g.h, p = t / g.h;
    // pooled index q covers input i iff q·s <= i < q·s + k
    const I oh0 = y < g.kh ? 0 : (y - g.kh) / g.sh + 1, oh1 = y / g.sh < g.ho ? y / g.sh : g.ho - 1;
    const I ow0 = x < g.kw ? 0 : (x - g.kw) / g.sw + 1, ow1 = x / g.sw < g.wo ? x / g.sw : g.wo - 1;
    const T* gp = grad + p * g.ho * g.wo;
    T acc = T(0);
    for (I oh = oh0; oh <= oh1; ++oh)
      for (I ow = ow0; ow <= ow1; ++ow) acc += gp[oh * g.wo + ow];
    dx[o] = acc / divisor;
  }
}

// MaxMin rule (also in native/cpu/pooling.cc): a pair (a, b) = (x[c], x[c + C/2]) is swapped iff b > a.
// Ties and NaN keep the order, so the output is always a permutation of the pair and the gradient
// follows that permutation.

/// y = max_min(x) for x [N, C, S] viewed as N blocks of two halves of half_plane = (C/2)·S elements.
template <class T, class I>
__global__ void max_min_kernel(const T* __restrict__ x, T* __restrict__ y, I pairs, I half_plane) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const I ia = (p / half_plane) * half_plane + p, ib = ia + half_plane;
    const T a = x[ia], b = x[ib];
    const bool swap = b > a;
    y[ia] = swap ? b : a;
    y[ib] = swap ? a : b;
  }
}

/// dx = the gradient of max_min at x for grad g: each pair's gradient routed by the forward's swap.
template <class T, class I>
__global__ void max_min_backward_kernel(const T* __restrict__ x, const T* __restrict__ g, T* __restrict__ dx, I pairs,
                                        I half_plane) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I p = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const I ia = (p / half_plane) * half_plane + p, ib = ia + half_plane;
    const bool swap = x[ib] > x[ia];
    const T gmax = g[ia], gmin = g[ib];
    dx[ia] = swap ? gmin : gmax;
    dx[ib] = swap ? gmax : gmin;
  }
}


template <class I>
PoolGeom<I> pool_geom(const OpCall& c, const Shape& in, const Shape& out, double* divisor) {
  int64_t kh, kw, sh, sw;
  pool2d_window(c, &kh, &kw, &sh, &sw, divisor);
  return PoolGeom<I>{I(in[2]), I(in[3]), I(out[2]), I(out[3]), I(kh), I(kw), I(sh), I(sw)};
}

void avg_pool2d_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::dispatch_index(x.numel(), [&](auto idx) {
      using I = decltype(idx);
      double divisor;
      const PoolGeom<I> g = pool_geom<I>(c, x.shape(), y.shape(), &divisor);
      auto k = avg_pool2d_kernel<T, I>;
      KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, x.data<T>(), y.data<T>(), I(n), g, T(divisor));
      cuda::check_launch("avg_pool2d_kernel");
    });
  });
}

void avg_pool2d_backward_op(OpCall& c) {
  const Tensor& grad = c.inputs[0];
  Tensor& dx = c.outputs[0];
  const int64_t n = dx.numel();
  if (n == 0) return;
  dispatch_float(grad.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::dispatch_index(n, [&](auto idx) {
      using I = decltype(idx);
      double divisor;
      const PoolGeom<I> g = pool_geom<I>(c, dx.shape(), grad.shape(), &divisor);
      auto k = avg_pool2d_backward_kernel<T, I>;
      KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, grad.data<T>(), dx.data<T>(), I(n), g, T(divisor));
      cuda::check_launch("avg_pool2d_backward_kernel");
    });
  });
}

/// Pairs and (C/2)·S of an [N, C, ...] tensor.
void pair_dims(const Tensor& x, int64_t* pairs, int64_t* half_plane) {
  int64_t s = 1;
  for (int d = 2; d < x.ndim(); ++d) s *= x.dim(d);
  *half_plane = x.dim(1) / 2 * s;
  *pairs = x.dim(0) * *half_plane;
}

void max_min_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.numel() == 0) return;
  int64_t pairs, hp;
  pair_dims(x, &pairs, &hp);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::dispatch_index(x.numel(), [&](auto idx) {
      using I = decltype(idx);
      auto k = max_min_kernel<T, I>;
      KLAUNCH(k, cuda::grid_for(pairs), cuda::kBlock, 0, 0, x.data<T>(), c.outputs[0].data<T>(), I(pairs), I(hp));
      cuda::check_launch("max_min_kernel");
    });
  });
}

void max_min_backward_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.numel() == 0) return;
  int64_t pairs, hp;
  pair_dims(x, &pairs, &hp);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cuda::dispatch_index(x.numel(), [&](auto idx) {
      using I = decltype(idx);
      auto k = max_min_backward_kernel<T, I>;
      KLAUNCH(k, cuda::grid_for(pairs), cuda::kBlock, 0, 0, x.data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>(),
              I(pairs), I(hp));
      cuda::check_launch("max_min_backward_kernel");
    });
  });
}

}  // namespace

/// Registers the CUDA kernels of avg_pool2d (one thread per output, window summed row by row),
/// avg_pool2d_backward (one thread per input element, gathering from the covering windows) and
/// max_min / max_min_backward (one thread per channel pair c, c + C/2). float32 and float64.
void register_cuda_pooling(Registry& r) {
  r.kernel("avg_pool2d", Device::CUDA, avg_pool2d_op);
  r.kernel("avg_pool2d_backward", Device::CUDA, avg_pool2d_backward_op);
  r.kernel("max_min", Device::CUDA, max_min_op);
  r.kernel("max_min_backward", Device::CUDA, max_min_backward_op);
}

}  // namespace onelip
