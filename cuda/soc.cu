// CUDA kernels of soc_skew, soc_exp and soc_exp_backward: the series (native/ops/soc_series.h) on the
// implicit-GEMM convolution entry points (cuda/conv2d.cuh) plus a grid-stride a·x + b·y kernel and a
// one-thread-per-element skew kernel. 32-bit indices (every tensor < 2^31 elements, checked).
#include <algorithm>
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

/// The 8 F4 vectors (u1, v1, …, u4, v4) and the kernel's geometry.
template <class T>
struct F4Args {
  const T* L;
  T* vec[8];
  int C, kh, kw;
};

/// Sizes of the F4 vectors: u1 C·kw, v1 C·kh, u2 C·kh, v2 C·kw, u3 C·kh·kw, v3 C, u4 C·kh·kw, v4 C.
__host__ __device__ inline int f4_size(int i, int C, int kh, int kw) {
  switch (i) {
    case 0: return C * kw;
    case 1: return C * kh;
    case 2: return C * kh;
    case 3: return C * kw;
    case 4: return C * kh * kw;
    case 5: return C;
    case 6: return C * kh * kw;
    default: return C;
  }
}

/// Unnormalised F4 sums into acc (double): pass 0 the v's from the u's (acc segments 1, 3, 5, 7), pass 1
/// the u's from the v's (segments 0, 2, 4, 6). One thread per output element, looping over the
/// contracted indices (o, c, h, w of L).
template <class T>
__global__ void f4_contract_kernel(F4Args<T> a, double* __restrict__ acc, int pass) {
  const int C = a.C, kh = a.kh, kw = a.kw;
  int sizes[4], offs[4], total = 0;
  for (int r = 0; r < 4; ++r) {
    sizes[r] = f4_size(2 * r + 1 - pass, C, kh, kw);
    offs[r] = total;
    total += sizes[r];
  }
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += blockDim.x * gridDim.x) {
    int r = 0;
    while (r < 3 && e >= offs[r + 1]) ++r;
    const int q = e - offs[r];
    double s = 0;
    const T* L = a.L;
    if (pass == 0) {  // v_r from u_r
      if (r == 0) {  // v1[o, h] = Σ_{c,w} L[o, c, h, w] u1[c, w]
        const int o = q / kh, h = q % kh;
        for (int c = 0; c < C; ++c)
          for (int w = 0; w < kw; ++w) s += double(L[((o * C + c) * kh + h) * kw + w]) * double(a.vec[0][c * kw + w]);
      } else if (r == 1) {  // v2[o, w] = Σ_{c,h} L u2[c, h]
        const int o = q / kw, w = q % kw;
        for (int c = 0; c < C; ++c)
          for (int h = 0; h < kh; ++h) s += double(L[((o * C + c) * kh + h) * kw + w]) * double(a.vec[2][c * kh + h]);
      } else if (r == 2) {  // v3[o] = Σ_{c,h,w} L u3[c, h, w]
        const int o = q, khw = kh * kw;
        for (int j = 0; j < C * khw; ++j) s += double(L[o * C * khw + j]) * double(a.vec[4][j]);
      } else {  // v4[c] = Σ_{o,h,w} L u4[o, h, w]
        const int c = q, khw = kh * kw;
        for (int o = 0; o < C; ++o)
          for (int j = 0; j < khw; ++j) s += double(L[(o * C + c) * khw + j]) * double(a.vec[6][o * khw + j]);
      }
      acc[offs[r] + q] = s;
    } else {  // u_r from v_r
      if (r == 0) {  // u1[c, w] = Σ_{o,h} L v1[o, h]
        const int c = q / kw, w = q % kw;
        for (int o = 0; o < C; ++o)
          for (int h = 0; h < kh; ++h) s += double(L[((o * C + c) * kh + h) * kw + w]) * double(a.vec[1][o * kh + h]);
      } else if (r == 1) {  // u2[c, h] = Σ_{o,w} L v2[o, w]
        const int c = q / kh, h = q % kh;
        for (int o = 0; o < C; ++o)
          for (int w = 0; w < kw; ++w) s += double(L[((o * C + c) * kh + h) * kw + w]) * double(a.vec[3][o * kw + w]);
      } else if (r == 2) {  // u3[c, h, w] = Σ_o L v3[o]
        const int khw = kh * kw;
        for (int o = 0; o < C; ++o) s += double(L[o * C * khw + q]) * double(a.vec[5][o]);
      } else {  // u4[o, h, w] = Σ_c L v4[c]
        const int khw = kh * kw, o = q / khw, j = q % khw;
        for (int c = 0; c < C; ++c) s += double(L[(o * C + c) * khw + j]) * double(a.vec[7][c]);
      }
      acc[offs[r] + q] = s;
    }
  }
}

/// Block r normalises segment r of acc into vector 2r + 1 − pass: v ← s / max(‖s‖, 1e-12); on pass 1
/// also σ_r = ‖s‖² / max(‖s‖, 1e-12) (= Σ L ⊙ u_r ⊙ v_r for the new vectors).
template <class T>
__global__ void f4_normalize_kernel(F4Args<T> a, const double* __restrict__ acc, int pass, T* sigma) {
  __shared__ double part[256];
  const int r = blockIdx.x, idx = 2 * r + 1 - pass;
  int off = 0;
  for (int j = 0; j < r; ++j) off += f4_size(2 * j + 1 - pass, a.C, a.kh, a.kw);
  const int n = f4_size(idx, a.C, a.kh, a.kw);
  double s = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += acc[off + i] * acc[off + i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  const double d = fmax(sqrt(part[0]), 1e-12);
  for (int i = threadIdx.x; i < n; i += blockDim.x) a.vec[idx][i] = T(acc[off + i] / d);
  if (pass == 1 && sigma && threadIdx.x == 0) sigma[r] = T(part[0] / d);
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

void soc_f4_step_op(OpCall& c) {
  const Tensor& L = c.inputs[0];
  require_int_sized(c);
  const int64_t iters = soc_f4_iterations(c);
  dispatch_float(L.dtype(), [&](auto tag) {
    using T = decltype(tag);
    F4Args<T> a{};
    a.L = L.data<T>();
    a.C = int(L.dim(0));
    a.kh = int(L.dim(2));
    a.kw = int(L.dim(3));
    int total = 0;
    for (int i = 0; i < 8; ++i) {
      a.vec[i] = c.outputs[i].data<T>();
      if (c.outputs[i].numel())
        CUDA_CHECK(cudaMemcpy(a.vec[i], c.inputs[i + 1].data<T>(), sizeof(T) * c.outputs[i].numel(), cudaMemcpyDeviceToDevice));
      total = std::max(total, int(c.outputs[i].numel()));
    }
    if (a.C == 0) {
      CUDA_CHECK(cudaMemset(c.outputs[8].data<T>(), 0, 4 * sizeof(T)));
      return;
    }
    Tensor acc = Tensor::empty({4 * int64_t(total)}, DType::F64, Device::CUDA);
    for (int64_t it = 0; it < iters; ++it)
      for (int pass = 0; pass < 2; ++pass) {
        auto k1 = f4_contract_kernel<T>;
        KLAUNCH(k1, cuda::grid_for(4 * int64_t(total)), cuda::kBlock, 0, 0, a, acc.data<double>(), pass);
        cuda::check_launch("f4_contract_kernel");
        auto k2 = f4_normalize_kernel<T>;
        KLAUNCH(k2, 4, 256, 0, 0, a, static_cast<const double*>(acc.data<double>()), pass,
                it == iters - 1 ? c.outputs[8].data<T>() : static_cast<T*>(nullptr));
        cuda::check_launch("f4_normalize_kernel");
      }
  });
}

}  // namespace

/// Registers the CUDA kernels of soc_skew, soc_exp (n = terms − 1 implicit-GEMM convolutions plus n
/// a·x + b·y passes) and soc_exp_backward (exact: n backward-input and n weight-gradient convolutions;
/// fast: n backward-input and one weight-gradient convolution) and soc_f4_step (per iteration two
/// contraction kernels, one thread per vector element, and two 4-block normalisations).
void register_cuda_soc(Registry& r) {
  r.kernel("soc_skew", Device::CUDA, soc_skew_op);
  r.kernel("soc_exp", Device::CUDA, soc_exp_op);
  r.kernel("soc_exp_backward", Device::CUDA, soc_exp_backward_op);
  r.kernel("soc_f4_step", Device::CUDA, soc_f4_step_op);
}

}  // namespace onelip
