// CUDA kernels of rfft2 / irfft2 and their adjoints: one block per 2-d plane (H, W ≤ 64). Each pass is
// a direct DFT against a table of e^{−2πi·t/N} in shared memory (index t = (p·h) mod N), with the
// intermediate half spectrum [H, W/2+1] in shared memory: forward = rows (global → shared) then columns
// (shared → global); inverse = columns (global → shared) then rows with the Hermitian weights (shared →
// global). O(HW(H+W)/2) complex multiply-adds per plane, at most 2(H+W) + 2H(W/2+1) values of shared
// memory (35 KB for float64 64×64).
#include <algorithm>
#include "../native/ops/fft.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kFftThreads = 256;

/// Fills cos/sin tables of 2π·t/N for t < N (double-precision angles), for N = h and w.
template <class T>
__device__ void fill_tables(T* ch, T* sh, int h, T* cw, T* sw, int w) {
  for (int t = threadIdx.x; t < h + w; t += blockDim.x) {
    const bool row = t < h;
    const int i = row ? t : t - h, n = row ? h : w;
    const double a = 2.0 * 3.14159265358979323846 * static_cast<double>(i) / static_cast<double>(n);
    (row ? ch : cw)[i] = static_cast<T>(cos(a));
    (row ? sh : sw)[i] = static_cast<T>(sin(a));
  }
}

/// Forward modes: real x [planes, H, W] → half spectrum out [planes, H, Wh, 2]. mode kIrfft2Adjoint
/// multiplies column q by c_q/(HW).
template <class T>
__global__ void rfft2_kernel(const T* __restrict__ x, T* __restrict__ out, int h, int w, int mode) {
  extern __shared__ unsigned char smem_raw[];
  T* ch = reinterpret_cast<T*>(smem_raw);
  T* sh = ch + h;
  T* cw = sh + h;
  T* sw = cw + w;
  T* z = sw + w;  // [h, wh, 2]
  const int wh = w / 2 + 1;
  const size_t plane = blockIdx.x;
  const T* xp = x + plane * h * w;
  fill_tables(ch, sh, h, cw, sw, w);
  __syncthreads();
  // rows: z[r, q] = Σ_c x[r, c]·e^{−2πi·qc/W}
  for (int o = threadIdx.x; o < h * wh; o += blockDim.x) {
    const int r = o / wh, q = o % wh;
    T re = 0, im = 0;
    int t = 0;
    for (int c = 0; c < w; ++c) {
      const T v = xp[r * w + c];
      re += v * cw[t];
      im -= v * sw[t];
      t += q;
      if (t >= w) t -= w;
    }
    z[2 * o] = re;
    z[2 * o + 1] = im;
  }
  __syncthreads();
  // columns: out[p, q] = Σ_r z[r, q]·e^{−2πi·pr/H}
  const T inv = T(1) / static_cast<T>(h * w);
  T* op = out + plane * h * wh * 2;
  for (int o = threadIdx.x; o < h * wh; o += blockDim.x) {
    const int p = o / wh, q = o % wh;
    T re = 0, im = 0;
    int t = 0;
    for (int r = 0; r < h; ++r) {
      const T zr = z[2 * (r * wh + q)], zi = z[2 * (r * wh + q) + 1];
      const T c = ch[t], s = sh[t];
      re += zr * c + zi * s;
      im += zi * c - zr * s;
      t += p;
      if (t >= h) t -= h;
    }
    if (mode == kIrfft2Adjoint) {
      const T f = inv * static_cast<T>((q == 0 || 2 * q == w) ? 1 : 2);
      re *= f;
      im *= f;
    }
    op[2 * o] = re;
    op[2 * o + 1] = im;
  }
}

/// Inverse modes: half spectrum in [planes, H, Wh, 2] → real y [planes, H, W]
///   y[r, c] = scale·Σ_q c_q·Re(Z[r, q]·e^{+2πi·qc/W}),  Z[r, q] = Σ_p in'[p, q]·e^{+2πi·pr/H},
/// in' = in (kIrfft2, scale 1/HW) or in/c_q (kRfft2Adjoint, scale 1).
template <class T>
__global__ void irfft2_kernel(const T* __restrict__ in, T* __restrict__ y, int h, int w, int mode) {
  extern __shared__ unsigned char smem_raw[];
  T* ch = reinterpret_cast<T*>(smem_raw);
  T* sh = ch + h;
  T* cw = sh + h;
  T* sw = cw + w;
  T* z = sw + w;  // [h, wh, 2]
  const int wh = w / 2 + 1;
  const size_t plane = blockIdx.x;
  const T* ip = in + plane * h * wh * 2;
  fill_tables(ch, sh, h, cw, sw, w);
  __syncthreads();
  for (int o = threadIdx.x; o < h * wh; o += blockDim.x) {
    const int r = o / wh, q = o % wh;
    T re = 0, im = 0;
    int t = 0;
    for (int p = 0; p < h; ++p) {
      const T vr = ip[2 * (p * wh + q)], vi = ip[2 * (p * wh + q) + 1];
      const T c = ch[t], s = sh[t];
      re += vr * c - vi * s;
      im += vr * s + vi * c;
      t += r;
      if (t >= h) t -= h;
    }
    z[2 * o] = re;
    z[2 * o + 1] = im;
  }
  __syncthreads();
  const bool adjoint = mode == kRfft2Adjoint;
  const T scale = adjoint ? T(1) : T(1) / static_cast<T>(h * w);
  T* yp = y + plane * h * w;
  for (int o = threadIdx.x; o < h * w; o += blockDim.x) {
    const int r = o / w, c = o % w;
    T acc = 0;
    int t = 0;
    for (int q = 0; q < wh; ++q) {
      const T term = z[2 * (r * wh + q)] * cw[t] - z[2 * (r * wh + q) + 1] * sw[t];
      acc += (adjoint || q == 0 || 2 * q == w) ? term : T(2) * term;
      t += c;
      if (t >= w) t -= w;
    }
    yp[o] = acc * scale;
  }
}

void fft_op(OpCall& c, int mode) {
  const bool fwd = mode == kRfft2 || mode == kIrfft2Adjoint;
  const Tensor& real = fwd ? c.inputs[0] : c.outputs[0];
  int64_t planes, H, W;
  fft2_dims(real, &planes, &H, &W);
  if (planes == 0) return;
  if (planes > 2147483647) fail(code::kUnsupported, c.op, ": at most 2^31 − 1 planes on cuda, got ", planes);
  dispatch_float(real.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const size_t smem = sizeof(T) * static_cast<size_t>(2 * (H + W) + 2 * H * (W / 2 + 1));
    if (fwd) {
      auto k = rfft2_kernel<T>;
      KLAUNCH(k, static_cast<unsigned>(planes), kFftThreads, smem, 0, c.inputs[0].data<T>(), c.outputs[0].data<T>(),
              static_cast<int>(H), static_cast<int>(W), mode);
      cuda::check_launch("rfft2_kernel");
    } else {
      auto k = irfft2_kernel<T>;
      KLAUNCH(k, static_cast<unsigned>(planes), kFftThreads, smem, 0, c.inputs[0].data<T>(), c.outputs[0].data<T>(),
              static_cast<int>(H), static_cast<int>(W), mode);
      cuda::check_launch("irfft2_kernel");
    }
  });
}

}  // namespace

/// Registers the CUDA kernels of rfft2, irfft2, rfft2_backward and irfft2_backward (one block per plane,
/// direct DFTs through shared memory).
void register_cuda_fft(Registry& r) {
  r.kernel("rfft2", Device::CUDA, [](OpCall& c) { fft_op(c, kRfft2); });
  r.kernel("irfft2", Device::CUDA, [](OpCall& c) { fft_op(c, kIrfft2); });
  r.kernel("rfft2_backward", Device::CUDA, [](OpCall& c) { fft_op(c, kRfft2Adjoint); });
  r.kernel("irfft2_backward", Device::CUDA, [](OpCall& c) { fft_op(c, kIrfft2Adjoint); });
}

}  // namespace onelip
