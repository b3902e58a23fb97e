// CUDA kernels of the channel/space rearrangements: pixel_unshuffle, pixel_shuffle, pad_channels and
// first_channels. One thread per output element in a grid-stride loop (coalesced writes); 32-bit index
// arithmetic when every index fits, else 64-bit. They move bits: every dtype runs through the uint32_t
// or uint64_t instantiation of its size.
#include <algorithm>
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

/// y [N, C·r², Ho, Wo] from x [N, C, Ho·r, Wo·r]: y[n, c·r² + i·r + j, oh, ow] = x[n, c, oh·r + i, ow·r + j].
template <class T, class I>
__global__ void pixel_unshuffle_kernel(const T* __restrict__ x, T* __restrict__ y, I total, I ho, I wo, I r) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  const I rr = r * r, w = wo * r;
  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const I ow = o % wo;
    I t = o / wo;
    const I oh = t % ho;
    t /= ho;  // t = n·C·r² + c·r² + i·r + j
    const I sub = t % rr, nc = t / rr;
    const I i = sub / r, j = sub % r;
    y[o] = x[((nc * ho + oh) * r + i) * w + ow * r + j];
  }
}

/// y [N, C, H·r, W·r] from x [N, C·r², H, W]: y[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w].
template <class T, class I>
__global__ void pixel_shuffle_kernel(const T* __restrict__ x, T* __restrict__ y, I total, I h, I w, I r) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  const I ho = h * r, wo = w * r;
  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const I ow = o % wo;
    const I t = o / wo;
    const I oh = t % ho, nc = t / ho;
    const I i = oh % r, j = ow % r;
    y[o] = x[(((nc * r + i) * r + j) * h + oh / r) * w + ow / r];
  }
}

/// y [N, Cout, S] = the first min(Cin, Cout) channels of x [N, Cin, S], the remaining channels zero.
template <class T, class I>
__global__ void copy_channels_kernel(const T* __restrict__ x, T* __restrict__ y, I total, I cin, I cout, I s) {
  const I stride = static_cast<I>(blockDim.x) * gridDim.x;
  for (I o = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const I e = o % s, t = o / s;
    const I k = t % cout, n = t / cout;
    y[o] = k < cin ? x[(n * cin + k) * s + e] : T(0);
  }
}



/// pixel_unshuffle (Unshuffle = true) and pixel_shuffle: the kernels index by the spatial size of the
/// low-resolution side (the output of unshuffle, the input of shuffle).
template <bool Unshuffle>
void pixel_shuffle_family_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  const int64_t r = c.attrs.get_int("factor");
  const Tensor& low = Unshuffle ? y : x;
  dispatch_bits(x.dtype(), [&](auto bits) {
    using T = decltype(bits);
    cuda::dispatch_index(n, [&](auto idx) {
      using I = decltype(idx);
      auto k = Unshuffle ? pixel_unshuffle_kernel<T, I> : pixel_shuffle_kernel<T, I>;
      KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, x.data<T>(), y.data<T>(), I(n), I(low.dim(2)), I(low.dim(3)), I(r));
      cuda::check_launch(Unshuffle ? "pixel_unshuffle_kernel" : "pixel_shuffle_kernel");
    });
  });
}

void copy_channels_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  int64_t s = 1;
  for (int d = 2; d < y.ndim(); ++d) s *= y.dim(d);
  dispatch_bits(x.dtype(), [&](auto bits) {
    using T = decltype(bits);
    cuda::dispatch_index(std::max(n, x.numel()), [&](auto idx) {
      using I = decltype(idx);
      auto k = copy_channels_kernel<T, I>;
      KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, x.data<T>(), y.data<T>(), I(n), I(x.dim(1)), I(y.dim(1)), I(s));
      cuda::check_launch("copy_channels_kernel");
    });
  });
}

}  // namespace

/// Registers the CUDA kernels of pixel_unshuffle / pixel_shuffle (one thread per output element, the
/// source index decomposed from the output index) and pad_channels / first_channels (one kernel: copy
/// the first min(Cin, Cout) channels, zero the rest). Any dtype.
void register_cuda_shuffle(Registry& r) {
  r.kernel("pixel_unshuffle", Device::CUDA, pixel_shuffle_family_op<true>);
  r.kernel("pixel_shuffle", Device::CUDA, pixel_shuffle_family_op<false>);
  r.kernel("pad_channels", Device::CUDA, copy_channels_op);
  r.kernel("first_channels", Device::CUDA, copy_channels_op);
}

}  // namespace onelip
