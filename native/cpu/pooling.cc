// CPU kernels of avg_pool2d / avg_pool2d_backward (one row per task; the backward gathers from the
// windows that cover each input element, so there are no scattered writes) and max_min /
// max_min_backward (one pass over the channel-half pairs). The summation orders match cuda/pooling.cu.
#include <algorithm>
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
// Defined in native/ops/pooling.cc.
void pool2d_window(const OpCall& c, int64_t* kh, int64_t* kw, int64_t* sh, int64_t* sw, double* divisor);

namespace {

constexpr int64_t kGrainElems = int64_t(1) << 14;  // elements per thread-pool chunk

struct Window {
  int64_t kh, kw, sh, sw;
  double divisor;
};

Window window_of(const OpCall& c) {
  Window w;
  pool2d_window(c, &w.kh, &w.kw, &w.sh, &w.sw, &w.divisor);
  return w;
}

/// y [P, Ho, Wo] = window sums of x [P, H, W] / divisor, the window summed row by row.
template <class T>
void avg_pool(const T* x, T* y, int64_t planes, int64_t h, int64_t w, int64_t ho, int64_t wo, const Window& win) {
  const T div = static_cast<T>(win.divisor);
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, wo * win.kh * win.kw));
  parallel_for(planes * ho, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oh = row % ho, p = row / ho;
      const T* top = x + (p * h + oh * win.sh) * w;
      T* dst = y + row * wo;
      for (int64_t ow = 0; ow < wo; ++ow) {
        const T* corner = top + ow * win.sw;
        T acc = T(0);
        for (int64_t i = 0; i < win.kh; ++i)
          for (int64_t j = 0; j < win.kw; ++j) acc += corner[i * w + j];
        dst[ow] = acc / div;
      }
    }
  });
}

/// First and last pooled index whose window covers input index `i` (first > last: none).
inline void covering(int64_t i, int64_t k, int64_t s, int64_t pooled, int64_t* first, int64_t* last) {
  *first = i < k ? 0 : (i - k) / s + 1;
  *last = std::min(i / s, pooled - 1);
}

/// dx [P, H, W] from g [P, Ho, Wo]: dx[h, w] = (sum of g over the windows covering (h, w)) / divisor,
/// summed over pooled rows, then columns, in increasing order.
template <class T>
void avg_pool_backward(const T* g, T* dx, int64_t planes, int64_t h, int64_t w, int64_t ho, int64_t wo,
                       const Window& win) {
  const T div = static_cast<T>(win.divisor);
  const int64_t per_elem = std::max<int64_t>(1, ((win.kh + win.sh - 1) / win.sh) * ((win.kw + win.sw - 1) / win.sw));
  const int64_t grain = std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, w * per_elem));
  parallel_for(planes * h, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t y = row % h, p = row / h;
      int64_t oh0, oh1;
      covering(y, win.kh, win.sh, ho, &oh0, &oh1);
      const T* gp = g + p * ho * wo;
      T* dst = dx + row * w;
      for (int64_t x = 0; x < w; ++x) {
        int64_t ow0, ow1;
        covering(x, win.kw, win.sw, wo, &ow0, &ow1);
        T acc = T(0);
        for (int64_t oh = oh0; oh <= oh1; ++oh)
          for (int64_t ow = ow0; ow <= ow1; ++ow) acc += gp[oh * wo + ow];
        dst[x] = acc / div;
      }
    }
  });
}

/// Calls f(a, b, k) for every pair: a and b are offsets of channel c and c + C/2 in [N, C, S] layout,
/// walking N·(C/2)·S pairs in chunks of contiguous runs.
template <class F>
void for_pairs(int64_t n, int64_t half_plane, F f) {
  parallel_for(n * half_plane, kGrainElems, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end;) {
      const int64_t b = p / half_plane, r0 = p % half_plane;
      const int64_t r1 = std::min(half_plane, r0 + (end - p));
      const int64_t base = b * 2 * half_plane;
      for (int64_t r = r0; r < r1; ++r) f(base + r, base + half_plane + r);
      p += r1 - r0;
    }
  });
}

// MaxMin rule (also in cuda/pooling.cu): a pair (a, b) is swapped iff b > a. Ties and NaN keep the
// order, so the output is always a permutation of the pair and the gradient follows that permutation.
template <class T>
void max_min(const T* x, T* y, int64_t n, int64_t half_plane) {
  for_pairs(n, half_plane, [=](int64_t ia, int64_t ib) {
    const T a = x[ia], b = x[ib];
    const bool swap = b > a;
    y[ia] = swap ? b : a;
    y[ib] = swap ? a : b;
  });
}

template <class T>
void max_min_backward(const T* x, const T* g, T* dx, int64_t n, int64_t half_plane) {
  for_pairs(n, half_plane, [=](int64_t ia, int64_t ib) {
    const bool swap = x[ib] > x[ia];
    const T gmax = g[ia], gmin = g[ib];
    dx[ia] = swap ? gmin : gmax;
    dx[ib] = swap ? gmax : gmin;
  });
}

/// N and (C/2)·S of an [N, C, ...] tensor.
void pair_dims(const Tensor& x, int64_t* n, int64_t* half_plane) {
  int64_t s = 1;
  for (int d = 2; d < x.ndim(); ++d) s *= x.dim(d);
  *n = x.dim(0);
  *half_plane = x.dim(1) / 2 * s;
}

void avg_pool2d_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  const Window win = window_of(c);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool(x.data<T>(), y.data<T>(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3), y.dim(2), y.dim(3), win);
  });
}

void avg_pool2d_backward_op(OpCall& c) {
  const Tensor& g = c.inputs[0];
  Tensor& dx = c.outputs[0];
  if (dx.numel() == 0) return;
  const Window win = window_of(c);
  dispatch_float(g.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool_backward(g.data<T>(), dx.data<T>(), dx.dim(0) * dx.dim(1), dx.dim(2), dx.dim(3), g.dim(2), g.dim(3), win);
  });
}

void max_min_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.numel() == 0) return;
  int64_t n, hp;
  pair_dims(x, &n, &hp);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_min(x.data<T>(), c.outputs[0].data<T>(), n, hp);
  });
}

void max_min_backward_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.numel() == 0) return;
  int64_t n, hp;
  pair_dims(x, &n, &hp);
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_min_backward(x.data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>(), n, hp);
  });
}

}  // namespace

/// Registers the CPU kernels of avg_pool2d (window sums row by row / divisor), avg_pool2d_backward
/// (a gather over the covering windows: deterministic, no atomics) and max_min / max_min_backward
/// (pairs of channels c and c + C/2; swapped iff the second is greater). float32 and float64.
void register_cpu_pooling(Registry& r) {
  r.kernel("avg_pool2d", Device::CPU, avg_pool2d_op);
  r.kernel("avg_pool2d_backward", Device::CPU, avg_pool2d_backward_op);
  r.kernel("max_min", Device::CPU, max_min_op);
  r.kernel("max_min_backward", Device::CPU, max_min_backward_op);
}

}  // namespace onelip
