// CPU kernels of the channel/space rearrangements: pixel_unshuffle, pixel_shuffle (one output row per
// task, strided reads and contiguous writes), pad_channels and first_channels (one memcpy or memset per
// output channel plane). They move bits: every dtype runs through the uint32_t or uint64_t
// instantiation of its size.
#include <algorithm>
#include <cstring>
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

constexpr int64_t kGrainBytes = int64_t(1) << 17;  // bytes per thread-pool chunk


/// Rows of `row_bytes` bytes per thread-pool chunk.
int64_t row_grain(int64_t row_bytes) { return std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(1, row_bytes)); }

/// y [N, C·r², Ho, Wo] from x [N, C, Ho·r, Wo·r]: output row (n, c·r² + i·r + j, ho) reads
/// x[n, c, ho·r + i, j + r·wo] for wo < Wo.
template <class T>
void pixel_unshuffle(const T* x, T* y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r) {
  const int64_t ho = h / r, wo = w / r, rr = r * r;
  parallel_for(n * c * rr * ho, row_grain(wo * static_cast<int64_t>(sizeof(T))), [=](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oh = row % ho, plane = row / ho;  // plane = n·C·r² + c·r² + i·r + j
      const int64_t sub = plane % rr, nc = plane / rr;
      const int64_t i = sub / r, j = sub % r;
      const T* src = x + (nc * h + oh * r + i) * w + j;
      T* dst = y + row * wo;
      for (int64_t k = 0; k < wo; ++k) dst[k] = src[k * r];
    }
  });
}

/// y [N, C, H·r, W·r] from x [N, C·r², H, W]: output row (n, c, h·r + i) interleaves the rows
/// x[n, c·r² + i·r + j, h] for j < r.
template <class T>
void pixel_shuffle(const T* x, T* y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t r) {
  const int64_t oh = h * r, ow = w * r, rr = r * r;
  parallel_for(n * c * oh, row_grain(ow * static_cast<int64_t>(sizeof(T))), [=](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t yy = row % oh, nc = row / oh;
      const int64_t i = yy % r, hin = yy / r;
      T* dst = y + row * ow;
      for (int64_t j = 0; j < r; ++j) {
        const T* src = x + ((nc * rr + i * r + j) * h + hin) * w;
        for (int64_t k = 0; k < w; ++k) dst[k * r + j] = src[k];
      }
    }
  });
}

/// y [N, Cout, S] = the first min(Cin, Cout) channels of x [N, Cin, S], then zero channels.
void copy_channels(const Tensor& x, Tensor& y) {
  if (y.numel() == 0) return;
  const int64_t n = y.dim(0), cin = x.dim(1), cout = y.dim(1);
  int64_t plane = static_cast<int64_t>(dtype_size(y.dtype()));  // bytes per channel plane
  for (int d = 2; d < y.ndim(); ++d) plane *= y.dim(d);
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw());
  parallel_for(n * cout, row_grain(plane), [=](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t b = p / cout, k = p % cout;
      if (k < cin) std::memcpy(dst + p * plane, src + (b * cin + k) * plane, plane);
      else std::memset(dst + p * plane, 0, plane);
    }
  });
}

void pixel_unshuffle_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.numel() == 0) return;
  const int64_t r = c.attrs.get_int("factor");
  dispatch_bits(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    pixel_unshuffle(x.data<T>(), c.outputs[0].data<T>(), x.dim(0), x.dim(1), x.dim(2), x.dim(3), r);
  });
}

void pixel_shuffle_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.numel() == 0) return;
  const int64_t r = c.attrs.get_int("factor");
  dispatch_bits(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    pixel_shuffle(x.data<T>(), c.outputs[0].data<T>(), x.dim(0), x.dim(1) / (r * r), x.dim(2), x.dim(3), r);
  });
}

void copy_channels_op(OpCall& c) { copy_channels(c.inputs[0], c.outputs[0]); }

}  // namespace

/// Registers the CPU kernels of pixel_unshuffle / pixel_shuffle (one output row per task) and
/// pad_channels / first_channels (one memcpy or memset per output channel plane). Any dtype; O(n)
/// bytes moved, split over the thread pool.
void register_cpu_shuffle(Registry& r) {
  r.kernel("pixel_unshuffle", Device::CPU, pixel_unshuffle_op);
  r.kernel("pixel_shuffle", Device::CPU, pixel_shuffle_op);
  r.kernel("pad_channels", Device::CPU, copy_channels_op);
  r.kernel("first_channels", Device::CPU, copy_channels_op);
}

}  // namespace onelip
