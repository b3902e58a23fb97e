// CPU kernels of soc_skew, soc_exp and soc_exp_backward: the series (native/ops/soc_series.h) on the
// CPU convolution entry points (native/cpu/conv2d.h) and a threaded a·x + b·y pass.
#include <algorithm>
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
    for (int64_t o = 0; o < C; ++o)
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j)
            l[((o * C + ci) * kh + i) * kw + j] =
                T(0.5) * (m[((o * C + ci) * kh + i) * kw + j] - m[((ci * C + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]);
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

}  // namespace

/// Registers the CPU kernels of soc_skew (one pass over the kernel), soc_exp (n = terms − 1 convolutions
/// plus n a·x + b·y passes) and soc_exp_backward (exact: n backward-input and n weight-gradient
/// convolutions; fast: n backward-input and one weight-gradient convolution).
void register_cpu_soc(Registry& r) {
  r.kernel("soc_skew", Device::CPU, soc_skew_op);
  r.kernel("soc_exp", Device::CPU, soc_exp_op);
  r.kernel("soc_exp_backward", Device::CPU, soc_exp_backward_op);
}

}  // namespace onelip
