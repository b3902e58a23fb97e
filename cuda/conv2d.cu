// CUDA kernels of the conv2d family: one implicit-GEMM kernel (no im2col buffer; the operand tiles are
// gathered from the tensors straight into shared memory) in three modes. With P = Ho·Wo:
//   forward          C [O, N·P]       = w [O, C·kh·kw] · im2col(x)
//   backward input   C [C, N·H·W]     = wᵀ [C, O·kh·kw] · gather(g): each input element collects the
//                                       grad_out entries whose window covers it (no atomics; also
//                                       conv_transpose2d, whose x plays grad_out)
//   backward weight  C [O, C·kh·kw]   = g [O, N·P] · im2col(x)ᵀ, K = N·P split across gridDim.z into
//                                       partial sums, added in a fixed order by a second kernel
// 64×64×16 block tiles, 256 threads as 16×16, each owning a 4×4 register tile (rows ty + 16i, columns
// tx + 16j, so stores are coalesced along tx). 32-bit indices: every tensor has < 2^31 elements.
#include <algorithm>
#include "../native/ops/ops.h"
#include "common.cuh"
#include "conv2d.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kTM = 4, kTN = 4, kThreads = 256;

enum ConvMode { kForward = 0, kBackwardInput = 1, kBackwardWeight = 2 };

/// The convolution x [n, c, h, w] ⊛ w [o, c, kh, kw] → [n, o, ho, wo] a launch computes (or computes an
/// adjoint of), the GEMM it is viewed as (m × ncols × k), and where the result goes.
template <class T>
struct ConvArgs {
  const T* a;     // forward, backward input: w; backward weight: grad_out
  const T* b;     // forward, backward weight: x; backward input: grad_out
  const T* bias;  // per row of C (forward: [o]; backward input/transpose: [c]) or nullptr
  T* out;
  int n, c, h, w, o, kh, kw, sh, sw, ph, pw, ho, wo;
  int m, ncols, k;
  int kchunk;   // blockIdx.z covers GEMM depth [z·kchunk, (z+1)·kchunk)
  int zstride;  // output offset between the partial sums of consecutive z (0: one slice)
};

/// Element (row, kk) of the GEMM's left operand.
template <class T, int MODE>
__device__ __forceinline__ T load_a(const ConvArgs<T>& p, int row, int kk) {
  if (MODE == kForward) return p.a[row * p.k + kk];
  if (MODE == kBackwardInput) {  // row = input channel, kk = (o, i, j)
    const int khw = p.kh * p.kw, o = kk / khw, r = kk - o * khw;
    return p.a[(o * p.c + row) * khw + r];
  }
  // backward weight: row = o, kk = (image, output pixel)
  const int P = p.ho * p.wo, b = kk / P, q = kk - b * P;
  return p.a[(b * p.o + row) * P + q];
}

/// x[img, ch, oh·sh − ph + i, ow·sw − pw + j], or 0 in the padding.
template <class T>
__device__ __forceinline__ T im2col_at(const ConvArgs<T>& p, const T* x, int img, int ch, int oh, int ow, int i,
                                       int j) {
  const int ih = oh * p.sh - p.ph + i, iw = ow * p.sw - p.pw + j;
  if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) return T(0);
  return x[((img * p.c + ch) * p.h + ih) * p.w + iw];
}

/// Element (kk, col) of the GEMM's right operand.
template <class T, int MODE>
__device__ __forceinline__ T load_b(const ConvArgs<T>& p, int kk, int col) {
  const int khw = p.kh * p.kw;
  if (MODE == kForward) {  // kk = (ch, i, j), col = (image, oh, ow)
    const int P = p.ho * p.wo, img = col / P, q = col - img * P, oh = q / p.wo, ow = q - oh * p.wo;
    const int ch = kk / khw, r = kk - ch * khw, i = r / p.kw, j = r - i * p.kw;
    return im2col_at(p, p.b, img, ch, oh, ow, i, j);
  }
  if (MODE == kBackwardInput) {  // kk = (o, i, j), col = (image, y, x): grad_out[o, (y + ph − i)/sh, (x + pw − j)/sw]
    const int HW = p.h * p.w, img = col / HW, q = col - img * HW, y = q / p.w, x = q - y * p.w;
    const int o = kk / khw, r = kk - o * khw, i = r / p.kw, j = r - i * p.kw;
    const int th = y + p.ph - i, tw = x + p.pw - j;
    if (th < 0 || tw < 0) return T(0);
    const int oh = th / p.sh, ow = tw / p.sw;
    if (oh * p.sh != th || ow * p.sw != tw || oh >= p.ho || ow >= p.wo) return T(0);
    return p.b[((img * p.o + o) * p.ho + oh) * p.wo + ow];
  }
  // backward weight: kk = (image, oh, ow), col = (ch, i, j)
  const int P = p.ho * p.wo, img = kk / P, q = kk - img * P, oh = q / p.wo, ow = q - oh * p.wo;
  const int ch = col / khw, r = col - ch * khw, i = r / p.kw, j = r - i * p.kw;
  return im2col_at(p, p.b, img, ch, oh, ow, i, j);
}

/// Stores C(row, col) = v (+ bias[row]) where the op's output keeps it.
template <class T, int MODE>
__device__ __forceinline__ void store_c(const ConvArgs<T>& p, int row, int col, T v) {
  if (p.bias) v += p.bias[row];
  if (MODE == kForward) {
    const int P = p.ho * p.wo, img = col / P, q = col - img * P;
    p.out[(img * p.o + row) * P + q] = v;
  } else if (MODE == kBackwardInput) {
    const int HW = p.h * p.w, img = col / HW, q = col - img * HW;
    p.out[(img * p.c + row) * HW + q] = v;
  } else {
    p.out[blockIdx.z * p.zstride + row * p.ncols + col] = v;
  }
}

// Which index of a tile runs fastest across the threads while loading, so that neighbouring threads
// read neighbouring addresses: the left operand is contiguous along the GEMM depth in every mode; the
// right one along the columns (pixels), except in backward weight where the depth is the pixels.
template <int MODE>
struct LoadOrder {
  static constexpr bool b_depth_fastest = MODE == kBackwardWeight;
};

template <class T, int MODE>
__global__ void __launch_bounds__(kThreads) conv2d_igemm_kernel(ConvArgs<T> p) {
  __shared__ T As[kBK][kBM + 1];
  __shared__ T Bs[kBK][kBN + 1];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int row0 = blockIdx.y * kBM, col0 = blockIdx.x * kBN;
  const int kbeg = blockIdx.z * p.kchunk, kend = min(p.k, kbeg + p.kchunk);

  T acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = T(0);

  for (int k0 = kbeg; k0 < kend; k0 += kBK) {
#pragma unroll
    for (int e = tid; e < kBK * kBM; e += kThreads) {
      const int kk = e % kBK, r = e / kBK;
      const int gr = row0 + r, gk = k0 + kk;
      As[kk][r] = (gr < p.m && gk < kend) ? load_a<T, MODE>(p, gr, gk) : T(0);
    }
#pragma unroll
    for (int e = tid; e < kBK * kBN; e += kThreads) {
      int kk, cc;
      if (LoadOrder<MODE>::b_depth_fastest) {
        kk = e % kBK;
        cc = e / kBK;
      } else {
        cc = e % kBN;
        kk = e / kBN;
      }
      const int gc = col0 + cc, gk = k0 + kk;
      Bs[kk][cc] = (gc < p.ncols && gk < kend) ? load_b<T, MODE>(p, gk, gc) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T a[kTM], b[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int r = row0 + ty + 16 * i;
    if (r >= p.m) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int c = col0 + tx + 16 * j;
      if (c < p.ncols) store_c<T, MODE>(p, r, c, acc[i][j]);
    }
  }
}

/// out[e] = Σ_z partial[z·count + e] for z = 0..slices−1 in order (deterministic split-K sum).
template <class T>
__global__ void sum_slices_kernel(const T* __restrict__ partial, T* __restrict__ out, int count, int slices) {
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < count; e += blockDim.x * gridDim.x) {
    T s = T(0);
    for (int z = 0; z < slices; ++z) s += partial[z * count + e];
    out[e] = s;
  }
}

void require_int_sized(const OpCall& c) {
  constexpr int64_t kMax = (int64_t(1) << 31) - 1;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].numel() > kMax)
      fail(code::kUnsupported, c.op, ": input ", i, " has ", c.inputs[i].numel(),
           " elements; the cuda kernels support fewer than 2^31 per tensor");
  for (const Tensor& t : c.outputs)
    if (t.numel() > kMax)
      fail(code::kUnsupported, c.op, ": the output has ", t.numel(), " elements; the cuda kernels support fewer than 2^31");
}

/// Streaming multiprocessors of the current device (queried once; 132, an H100 SXM, if that fails).
int sm_count() {
  static const int sms = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        n <= 0) {
      cudaGetLastError();
      return 132;
    }
    return n;
  }();
  return sms;
}

template <class T>
ConvArgs<T> args_of(const ConvGeom& g) {
  ConvArgs<T> p{};
  p.n = int(g.n); p.c = int(g.c); p.h = int(g.h); p.w = int(g.w); p.o = int(g.o);
  p.kh = int(g.kh); p.kw = int(g.kw); p.sh = int(g.sh); p.sw = int(g.sw); p.ph = int(g.ph); p.pw = int(g.pw);
  p.ho = int(g.ho); p.wo = int(g.wo);
  return p;
}

template <class T, int MODE>
void launch(const ConvArgs<T>& p, int slices) {
  const dim3 grid(static_cast<unsigned>((p.ncols + kBN - 1) / kBN), static_cast<unsigned>((p.m + kBM - 1) / kBM),
                  static_cast<unsigned>(slices));
  auto k = conv2d_igemm_kernel<T, MODE>;
  KLAUNCH(k, grid, kThreads, 0, 0, p);
  cuda::check_launch("conv2d_igemm_kernel");
}

/// Forward (x, w, bias) → y, or backward input (g, w, bias of conv_transpose2d) → dx.
template <class T>
void run_forward_or_input(const T* in, const T* w, const T* bias, T* out, const ConvGeom& g, bool forward) {
  ConvArgs<T> p = args_of<T>(g);
  p.a = w;
  p.b = in;
  p.bias = bias;
  p.out = out;
  if (forward) {
    p.m = p.o; p.ncols = p.n * p.ho * p.wo; p.k = p.c * p.kh * p.kw;
  } else {
    p.m = p.c; p.ncols = p.n * p.h * p.w; p.k = p.o * p.kh * p.kw;
  }
  p.kchunk = std::max(p.k, 1);
  p.zstride = 0;
  if (forward) launch<T, kForward>(p, 1);
  else launch<T, kBackwardInput>(p, 1);
}

template <class T>
void run_backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g) {
  ConvArgs<T> p = args_of<T>(g);
  p.a = go;
  p.b = x;
  p.bias = nullptr;
  p.m = p.o; p.ncols = p.c * p.kh * p.kw; p.k = p.n * p.ho * p.wo;
  const int count = p.m * p.ncols;
  // Split the depth N·Ho·Wo so that at most two blocks land on each SM (a third on a few SMs would
  // make them the critical path), each slice at least 256 deep.
  const int tiles = ((p.m + kBM - 1) / kBM) * ((p.ncols + kBN - 1) / kBN);
  int slices = std::max(1, std::min(2 * sm_count() / tiles, p.k / 256));
  p.kchunk = ((p.k + slices - 1) / slices + kBK - 1) / kBK * kBK;
  slices = std::max(1, (p.k + p.kchunk - 1) / p.kchunk);
  if (slices == 1) {
    p.out = dw;
    p.zstride = 0;
    launch<T, kBackwardWeight>(p, 1);
    return;
  }
  Tensor partial = Tensor::empty({int64_t(slices) * count}, dtype_of<T>::value, Device::CUDA);
  p.out = partial.data<T>();
  p.zstride = count;
  launch<T, kBackwardWeight>(p, slices);
  auto k = sum_slices_kernel<T>;
  KLAUNCH(k, cuda::grid_for(count), cuda::kBlock, 0, 0, partial.data<T>(), dw, count, slices);
  cuda::check_launch("sum_slices_kernel");
}

void conv_op(OpCall& c) {
  const ConvGeom g = conv2d_geom(c);
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  require_int_sized(c);
  const bool empty_depth = g.kind == ConvKind::BackwardWeight ? g.n * g.ho * g.wo == 0
                           : g.kind == ConvKind::Forward    ? g.c == 0
                                                            : g.o == 0;
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (empty_depth && !g.has_bias) {
      CUDA_CHECK(cudaMemset(out.data<T>(), 0, sizeof(T) * static_cast<size_t>(out.numel())));
      return;
    }
    if (g.kind == ConvKind::BackwardWeight) {
      run_backward_weight<T>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), out.data<T>(), g);
    } else {
      run_forward_or_input<T>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), g.has_bias ? c.inputs[2].data<T>() : nullptr,
                              out.data<T>(), g, g.kind == ConvKind::Forward);
    }
  });
}

}  // namespace

namespace cuda_conv {
template <class T>
void forward(const T* x, const T* w, const T* bias, T* y, const ConvGeom& g) {
  run_forward_or_input<T>(x, w, bias, y, g, true);
}
template <class T>
void backward_input(const T* go, const T* w, T* dx, const ConvGeom& g) {
  run_forward_or_input<T>(go, w, nullptr, dx, g, false);
}
template <class T>
void backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g) {
  run_backward_weight<T>(x, go, dw, g);
}
template void forward<float>(const float*, const float*, const float*, float*, const ConvGeom&);
template void forward<double>(const double*, const double*, const double*, double*, const ConvGeom&);
template void backward_input<float>(const float*, const float*, float*, const ConvGeom&);
template void backward_input<double>(const double*, const double*, double*, const ConvGeom&);
template void backward_weight<float>(const float*, const float*, float*, const ConvGeom&);
template void backward_weight<double>(const double*, const double*, double*, const ConvGeom&);
}  // namespace cuda_conv

/// Registers the CUDA kernels of conv2d, conv2d_backward_input, conv2d_backward_weight and
/// conv_transpose2d (float32 and float64): one implicit-GEMM kernel, 2·N·O·C·kh·kw·Ho·Wo flops per op
/// (backward weight plus a split-K sum of slices·O·C·kh·kw elements). Roofline: docs/PERF.md.
void register_cuda_conv2d(Registry& r) {
  r.kernel("conv2d", Device::CUDA, conv_op);
  r.kernel("conv2d_backward_input", Device::CUDA, conv_op);
  r.kernel("conv2d_backward_weight", Device::CUDA, conv_op);
  r.kernel("conv_transpose2d", Device::CUDA, conv_op);
}

}  // namespace onelip
