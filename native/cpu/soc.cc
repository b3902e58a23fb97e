// CPU kernels of soc_skew, soc_exp and soc_exp_backward: the series (native/ops/soc_series.h) on the
// CPU convolution entry points (native/cpu/conv2d.h) and a threaded a·x + b·y pass.
#include <algorithm>
#include <cmath>
#include <vector>
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "../ops/soc_series.h"
#include "conv2d.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

constexpr int64_t kGrainElems = int64_t(1) << 15;

struct CpuBackend {
  static constexpr Device kDevice = Device::CPU;
  template <class T>
  static void conv(const T* in, const T* L, T* out, const ConvGeom& g) { cpu::conv_forward<T>(in, L, nullptr, out, g); }
  template <class T>
  static void conv_adj(const T* in, const T* L, T* out, const ConvGeom& g) { cpu::conv_backward_input<T>(in, L, out, g); }
  template <class T>
  static void wgrad(const T* x, const T* go, T* dL, const ConvGeom& g) { cpu::conv_backward_weight<T>(x, go, dL, g); }
  template <class T>
  static void lin(T* out, T a, const T* x, T b, const T* y, int64_t n) {
    parallel_for(n, kGrainElems, [&](int64_t i0, int64_t i1) {
      if (x) {
        for (int64_t i = i0; i < i1; ++i) out[i] = a * x[i] + b * y[i];
      } else {
        for (int64_t i = i0; i < i1; ++i) out[i] = b * y[i];
      }
    });
  }
};

void soc_skew_op(OpCall& c) {
  const Tensor& M = c.inputs[0];
  const int64_t C = M.dim(0), kh = M.dim(2), kw = M.dim(3);
  dispatch_float(M.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* m = M.data<T>();
    T* l = c.outputs[0].data<T>();
    parallel_for(C, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, C * kh * kw)), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t ci = 0; ci < C; ++ci)
          for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j)
              l[((o * C + ci) * kh + i) * kw + j] =
                  T(0.5) * (m[((o * C + ci) * kh + i) * kw + j] - m[((ci * C + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]);
    });
  });
}

void soc_exp_op(OpCall& c) {
  const SocGeom s = soc_geom(c);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    soc_series_forward<T, CpuBackend>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>(),
                                      c.outputs[1].data<T>(), s);
  });
}

void soc_exp_backward_op(OpCall& c) {
  const SocGeom s = soc_geom(c);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    soc_series_backward<T, CpuBackend>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(),
                                       c.inputs[3].data<T>(), c.outputs[0].data<T>(), c.outputs[1].data<T>(), s);
  });
}

/// One normalisation v ← s / max(‖s‖, 1e-12) (double sums, stored as T); returns ‖s‖² / max(‖s‖, 1e-12).
template <class T>
double normalize_into(const std::vector<double>& s, T* out) {
  double n2 = 0;
  for (double v : s) n2 += v * v;
  const double d = std::max(std::sqrt(n2), 1e-12);
  for (size_t i = 0; i < s.size(); ++i) out[i] = static_cast<T>(s[i] / d);
  return n2 / d;
}

void soc_f4_step_op(OpCall& c) {
  const Tensor& Lt = c.inputs[0];
  const int64_t C = Lt.dim(0), kh = Lt.dim(2), kw = Lt.dim(3), iters = soc_f4_iterations(c);
  dispatch_float(Lt.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* L = Lt.data<T>();
    T* vec[8];
    for (int i = 0; i < 8; ++i) {
      vec[i] = c.outputs[i].data<T>();
      std::copy(c.inputs[i + 1].data<T>(), c.inputs[i + 1].data<T>() + c.outputs[i].numel(), vec[i]);
    }
    T *u1 = vec[0], *v1 = vec[1], *u2 = vec[2], *v2 = vec[3], *u3 = vec[4], *v3 = vec[5], *u4 = vec[6], *v4 = vec[7];
    std::vector<double> s[8];
    for (int i = 0; i < 8; ++i) s[i].resize(static_cast<size_t>(c.outputs[i].numel()));
    double sigma[4] = {0, 0, 0, 0};
    for (int64_t it = 0; it < iters; ++it) {
      for (int i = 1; i < 8; i += 2) std::fill(s[i].begin(), s[i].end(), 0.0);
      for (int64_t o = 0; o < C; ++o)
        for (int64_t ci = 0; ci < C; ++ci)
          for (int64_t h = 0; h < kh; ++h)
            for (int64_t w = 0; w < kw; ++w) {
              const double l = L[((o * C + ci) * kh + h) * kw + w];
              s[1][o * kh + h] += l * u1[ci * kw + w];
              s[3][o * kw + w] += l * u2[ci * kh + h];
              s[5][o] += l * u3[(ci * kh + h) * kw + w];
              s[7][ci] += l * u4[(o * kh + h) * kw + w];
            }
      for (int i = 1; i < 8; i += 2) normalize_into(s[i], vec[i]);
      for (int i = 0; i < 8; i += 2) std::fill(s[i].begin(), s[i].end(), 0.0);
      for (int64_t o = 0; o < C; ++o)
        for (int64_t ci = 0; ci < C; ++ci)
          for (int64_t h = 0; h < kh; ++h)
            for (int64_t w = 0; w < kw; ++w) {
              const double l = L[((o * C + ci) * kh + h) * kw + w];
              s[0][ci * kw + w] += l * v1[o * kh + h];
              s[2][ci * kh + h] += l * v2[o * kw + w];
              s[4][(ci * kh + h) * kw + w] += l * v3[o];
              s[6][(o * kh + h) * kw + w] += l * v4[ci];
            }
      for (int i = 0; i < 8; i += 2) sigma[i / 2] = normalize_into(s[i], vec[i]);
    }
    T* sg = c.outputs[8].data<T>();
    for (int i = 0; i < 4; ++i) sg[i] = static_cast<T>(sigma[i]);
  });
}

}  // namespace

/// Registers the CPU kernels of soc_skew (one pass over the kernel), soc_exp (n = terms − 1 convolutions
/// plus n a·x + b·y passes) and soc_exp_backward (exact: n backward-input and n weight-gradient
/// convolutions; fast: n backward-input and one weight-gradient convolution) and soc_f4_step (two
/// passes over the kernel per iteration, one thread, double sums).
void register_cpu_soc(Registry& r) {
  r.kernel("soc_skew", Device::CPU, soc_skew_op);
  r.kernel("soc_exp", Device::CPU, soc_exp_op);
  r.kernel("soc_exp_backward", Device::CPU, soc_exp_backward_op);
  r.kernel("soc_f4_step", Device::CPU, soc_f4_step_op);
}

}  // namespace onelip
