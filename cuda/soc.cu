// CUDA kernels of soc_skew, soc_exp and soc_exp_backward: the series (native/ops/soc_series.h) on the
// implicit-GEMM convolution entry points (cuda/conv2d.cuh) plus a grid-stride a·x + b·y kernel and a
// one-thread-per-element skew kernel. 32-bit indices (every tensor < 2^31 elements, checked).
#include "../native/ops/ops.h"
#include "../native/ops/soc_series.h"
#include "common.cuh"
#include "conv2d.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

/// out[i] = a·x[i] + b·y[i] (x null: b·y[i]).
template <class T>
__global__ void lin_kernel(T* out, T a, const T* x, T b, const T* __restrict__ y, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    out[i] = x ? a * x[i] + b * y[i] : b * y[i];
}

/// L[o, c, i, j] = ½(M[o, c, i, j] − M[c, o, kh−1−i, kw−1−j]).
template <class T>
__global__ void skew_kernel(const T* __restrict__ M, T* __restrict__ L, int C, int kh, int kw) {
  const int total = C * C * kh * kw;
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += blockDim.x * gridDim.x) {
    const int j = e % kw, t1 = e / kw, i = t1 % kh, t2 = t1 / kh, c = t2 % C, o = t2 / C;
    L[e] = T(0.5) * (M[e] - M[((c * C + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]);
  }
}

struct CudaBackend {
  static constexpr Device kDevice = Device::CUDA;
  template <class T>
  static void conv(const T* in, const T* L, T* out, const ConvGeom& g) { cuda_conv::forward<T>(in, L, nullptr, out, g); }
  template <class T>
  static void conv_adj(const T* in, const T* L, T* out, const ConvGeom& g) { cuda_conv::backward_input<T>(in, L, out, g); }
  template <class T>
  static void wgrad(const T* x, const T* go, T* dL, const ConvGeom& g) { cuda_conv::backward_weight<T>(x, go, dL, g); }
  template <class T>
  static void lin(T* out, T a, const T* x, T b, const T* y, int64_t n) {
    if (n == 0) return;
    auto k = lin_kernel<T>;
    KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, out, a, x, b, y, static_cast<int>(n));
    cuda::check_launch("lin_kernel");
  }
};

void require_int_sized(const OpCall& c) {
  constexpr int64_t kMax = (int64_t(1) << 31) - 1;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].numel() > kMax)
      fail(code::kUnsupported, c.op, ": input ", i, " has ", c.inputs[i].numel(),
           " elements; the cuda kernels support fewer than 2^31 per tensor");
  for (const Tensor& t : c.outputs)
    if (t.numel() > kMax)
      fail(code::kUnsupported, c.op, ": an output has ", t.numel(), " elements; the cuda kernels support fewer than 2^31");
}

void soc_skew_op(OpCall& c) {
  const Tensor& M = c.inputs[0];
  if (M.numel() == 0) return;
  require_int_sized(c);
  dispatch_float(M.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k = skew_kernel<T>;
    KLAUNCH(k, cuda::grid_for(M.numel()), cuda::kBlock, 0, 0, M.data<T>(), c.outputs[0].data<T>(), int(M.dim(0)),
            int(M.dim(2)), int(M.dim(3)));
    cuda::check_launch("skew_kernel");
  });
}

void soc_exp_op(OpCall& c) {
  const SocGeom s = soc_geom(c);
  if (c.outputs[0].numel() == 0) return;
  require_int_sized(c);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    soc_series_forward<T, CudaBackend>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>(),
                                       c.outputs[1].data<T>(), s);
  });
}

void soc_exp_backward_op(OpCall& c) {
  const SocGeom s = soc_geom(c);
  require_int_sized(c);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (c.outputs[0].numel() == 0) {  // no images: dL = 0
      if (c.outputs[1].numel()) CUDA_CHECK(cudaMemset(c.outputs[1].data<T>(), 0, sizeof(T) * c.outputs[1].numel()));
      return;
    }
    soc_series_backward<T, CudaBackend>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), c.inputs[2].data<T>(),
                                        c.inputs[3].data<T>(), c.outputs[0].data<T>(), c.outputs[1].data<T>(), s);
  });
}

}  // namespace

/// Registers the CUDA kernels of soc_skew, soc_exp (n = terms − 1 implicit-GEMM convolutions plus n
/// a·x + b·y passes) and soc_exp_backward (exact: n backward-input and n weight-gradient convolutions;
/// fast: n backward-input and one weight-gradient convolution).
void register_cuda_soc(Registry& r) {
  r.kernel("soc_skew", Device::CUDA, soc_skew_op);
  r.kernel("soc_exp", Device::CUDA, soc_exp_op);
  r.kernel("soc_exp_backward", Device::CUDA, soc_exp_backward_op);
}

}  // namespace onelip
