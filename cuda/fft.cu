// CUDA kernels of rfft2 / irfft2 and their adjoints: mixed-radix (4, 2, 3) Stockham FFTs in shared
// memory, G planes per block (G·H·W ≈ 1024 values, so small planes share a block). Complex data lives
// in planar (re, im) shared buffers laid out as "sequences of vectors": element e of a length-N
// transform is a run of v contiguous numbers (all the independent transforms of the pass side by side),
// so the thread index maps to consecutive addresses in every stage (no bank conflicts for unit-stride
// warps) and one stage of all transforms of the pass is one loop with one barrier.
//   forward (rfft2, irfft2_backward): real rows packed in pairs z = x₂ⱼ + i·x₂ⱼ₊₁ in a [W][vp] layout
//     (vp = G·⌈H/2⌉ rounded up to odd: the transposed load and the split read stride vp, conflict-free),
//     one FFT along W, split by conjugate symmetry into the half spectrum [H][G·Wh], one FFT along H,
//     store;
//   inverse (irfft2, rfft2_backward): load [H][G·Wh], inverse FFT along H, build the Hermitian rows of
//     each pair packed as F₂ⱼ + i·F₂ⱼ₊₁ in [W][vp], inverse FFT along W, real/imaginary parts → rows.
// Twiddles ω₁₉₂^t (192 = lcm of every supported length) come from a table in global memory computed once
// per dtype in double precision; length L uses ω_L^t = ω₁₉₂^{t·192/L}.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>
#include "../native/ops/fft.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kFftThreads = 256;
constexpr int kTwiddleN = 192;            // every supported length divides it
constexpr int kPlaneValuesPerBlock = 1024;  // G = max(1, this / (H·W)) planes per block
constexpr size_t kDefaultSmem = 48 * 1024;

/// One pass of FFTs of length n over vectors of v numbers, ping-ponging between (sr, si) and (dr, di);
/// on return (sr, si) hold the result. Every thread of the block must call it (it synchronizes).
/// Stage (radix R, sub-transform length len, m = len/R, run = stride·v): item o < m·run with
/// p = o / run reads inputs o + j·m·run (j < R), and writes output u, times ω_len^{∓p·u}, to
/// R·p·run + (o − p·run) + u·run.
template <class T, bool inverse>
__device__ void fft_pass(T*& sr, T*& si, T*& dr, T*& di, int n, int v, const T* __restrict__ tw) {
  const T h3 = static_cast<T>(inverse ? 0.86602540378443864676 : -0.86602540378443864676);  // ∓√3/2
  int len = n, stride = 1;
  while (len > 1) {
    const int R = (len & 3) == 0 ? 4 : (len & 1) == 0 ? 2 : 3;
    const int m = len / R, run = stride * v, is = m * run, step = kTwiddleN / len;
    for (int o = threadIdx.x; o < is; o += blockDim.x) {
      const int p = o / run;
      const int out = o + (R - 1) * p * run;  // R·p·run + c
      T yr[4], yi[4];
      if (R == 4) {
        const T x0r = sr[o], x0i = si[o], x1r = sr[o + is], x1i = si[o + is];
        const T x2r = sr[o + 2 * is], x2i = si[o + 2 * is], x3r = sr[o + 3 * is], x3i = si[o + 3 * is];
        const T t0r = x0r + x2r, t0i = x0i + x2i, t1r = x0r - x2r, t1i = x0i - x2i;
        const T t2r = x1r + x3r, t2i = x1i + x3i, er = x1r - x3r, ei = x1i - x3i;
        const T t3r = inverse ? -ei : ei, t3i = inverse ? er : -er;  // ∓i·(x1 − x3)
        yr[0] = t0r + t2r;
        yi[0] = t0i + t2i;
        yr[1] = t1r + t3r;
        yi[1] = t1i + t3i;
        yr[2] = t0r - t2r;
        yi[2] = t0i - t2i;
        yr[3] = t1r - t3r;
        yi[3] = t1i - t3i;
      } else if (R == 2) {
        const T ar = sr[o], ai = si[o], br = sr[o + is], bi = si[o + is];
        yr[0] = ar + br;
        yi[0] = ai + bi;
        yr[1] = ar - br;
        yi[1] = ai - bi;
      } else {
        const T a0r = sr[o], a0i = si[o], a1r = sr[o + is], a1i = si[o + is], a2r = sr[o + 2 * is],
                a2i = si[o + 2 * is];
        const T sumr = a1r + a2r, sumi = a1i + a2i, difr = a1r - a2r, difi = a1i - a2i;
        const T mr = a0r - T(0.5) * sumr, mi = a0i - T(0.5) * sumi;
        const T rr = -h3 * difi, ri = h3 * difr;  // ∓i·(√3/2)·(a1 − a2)
        yr[0] = a0r + sumr;
        yi[0] = a0i + sumi;
        yr[1] = mr + rr;
        yi[1] = mi + ri;
        yr[2] = mr - rr;
        yi[2] = mi - ri;
      }
      dr[out] = yr[0];
      di[out] = yi[0];
#pragma unroll
      for (int u = 1; u < 4; ++u) {
        if (u >= R) break;
        const int t = p * u * step;  // < 192: p·u < len
        const T wr = tw[2 * t], wi = inverse ? -tw[2 * t + 1] : tw[2 * t + 1];
        dr[out + u * run] = yr[u] * wr - yi[u] * wi;
        di[out + u * run] = yr[u] * wi + yi[u] * wr;
      }
    }
    __syncthreads();
    T* t0 = sr;
    sr = dr;
    dr = t0;
    t0 = si;
    si = di;
    di = t0;
    len = m;
    stride *= R;
  }
}

/// Four planar buffers of `cap` numbers each, carved from dynamic shared memory.
template <class T>
struct Buffers {
  T *ar, *ai, *br, *bi;
  __device__ Buffers(unsigned char* smem, int cap) {
    ar = reinterpret_cast<T*>(smem);
    ai = ar + cap;
    br = ai + cap;
    bi = br + cap;
  }
};

/// Forward modes: real x [planes, H, W] → half spectrum out [planes, H, Wh, 2], planes g0 .. g0+G−1 of
/// this block. Mode kIrfft2Adjoint multiplies column q by c_q/(HW).
template <class T>
__global__ void rfft2_kernel(const T* __restrict__ x, T* __restrict__ out, const T* __restrict__ tw, long long planes,
                             int h, int w, int G, int cap, int mode) {
  extern __shared__ unsigned char smem_raw[];
  Buffers<T> s(smem_raw, cap);
  const long long g0 = static_cast<long long>(blockIdx.x) * G;
  const int gc = planes - g0 < G ? static_cast<int>(planes - g0) : G;
  const int np = (h + 1) / 2, wh = w / 2 + 1, hw = h * w;
  const int vp = (gc * np) | 1;  // odd: the strided accesses below hit distinct banks
  const int v2 = gc * wh;
  const T* xp = x + g0 * hw;
  // pack rows 2j, 2j+1 of plane g as z = x₂ⱼ + i·x₂ⱼ₊₁ at [w][g·np + j]
  for (int o = threadIdx.x; o < gc * hw; o += blockDim.x) {
    const int g = o / hw, rem = o - g * hw, r = rem / w, c = rem - r * w;
    const int e = c * vp + g * np + (r >> 1);
    const T val = xp[o];
    if (r & 1) {
      s.ai[e] = val;
    } else {
      s.ar[e] = val;
      if (r == h - 1) s.ai[e] = T(0);  // odd H: the last row has no partner
    }
  }
  __syncthreads();
  T *sr = s.ar, *si = s.ai, *dr = s.br, *di = s.bi;
  fft_pass<T, false>(sr, si, dr, di, w, vp, tw);
  // split: X₂ⱼ[q] = (Z[q] + conj Z[−q])/2, X₂ⱼ₊₁[q] = (Z[q] − conj Z[−q])/(2i), into [h][g·wh + q]
  for (int o = threadIdx.x; o < gc * np * wh; o += blockDim.x) {
    const int q = o % wh, t = o / wh, j = t % np, g = t / np;
    const int mq = q == 0 ? 0 : w - q;
    const int col = g * np + j;
    const T ar = sr[q * vp + col], ai = si[q * vp + col], br = sr[mq * vp + col], bi = -si[mq * vp + col];
    const int e = 2 * j * v2 + g * wh + q;
    dr[e] = T(0.5) * (ar + br);
    di[e] = T(0.5) * (ai + bi);
    if (2 * j + 1 < h) {
      dr[e + v2] = T(0.5) * (ai - bi);
      di[e + v2] = T(-0.5) * (ar - br);
    }
  }
  __syncthreads();
  fft_pass<T, false>(dr, di, sr, si, h, v2, tw);
  const T inv = T(1) / static_cast<T>(hw);
  T* op = out + g0 * h * wh * 2;
  for (int o = threadIdx.x; o < gc * h * wh; o += blockDim.x) {
    const int g = o / (h * wh), rem = o - g * h * wh, p = rem / wh, q = rem - p * wh;
    const int e = p * v2 + g * wh + q;
    T f = T(1);
    if (mode == kIrfft2Adjoint) f = (q == 0 || 2 * q == w) ? inv : T(2) * inv;
    op[2 * o] = dr[e] * f;
    op[2 * o + 1] = di[e] * f;
  }
}

/// Inverse modes: half spectrum in [planes, H, Wh, 2] → real y [planes, H, W]
///   y[r, c] = scale·Σ_q c_q·Re(Z[r, q]·e^{+2πi·qc/W}),  Z[r, q] = Σ_p in'[p, q]·e^{+2πi·pr/H},
/// in' = in (kIrfft2, scale 1/HW) or in/c_q (kRfft2Adjoint, scale 1); Im of self-conjugate bins ignored.
template <class T>
__global__ void irfft2_kernel(const T* __restrict__ in, T* __restrict__ y, const T* __restrict__ tw, long long planes,
                              int h, int w, int G, int cap, int mode) {
  extern __shared__ unsigned char smem_raw[];
  Buffers<T> s(smem_raw, cap);
  const long long g0 = static_cast<long long>(blockIdx.x) * G;
  const int gc = planes - g0 < G ? static_cast<int>(planes - g0) : G;
  const int np = (h + 1) / 2, wh = w / 2 + 1, hw = h * w;
  const int vp = (gc * np) | 1;
  const int v2 = gc * wh;
  const T* ip = in + g0 * h * wh * 2;
  for (int o = threadIdx.x; o < gc * h * wh; o += blockDim.x) {
    const int g = o / (h * wh), rem = o - g * h * wh, p = rem / wh, q = rem - p * wh;
    const T f = (mode == kRfft2Adjoint && q != 0 && 2 * q != w) ? T(0.5) : T(1);
    const int e = p * v2 + g * wh + q;
    s.ar[e] = ip[2 * o] * f;
    s.ai[e] = ip[2 * o + 1] * f;
  }
  __syncthreads();
  T *sr = s.ar, *si = s.ai, *dr = s.br, *di = s.bi;
  fft_pass<T, true>(sr, si, dr, di, h, v2, tw);
  // the Hermitian rows F₂ⱼ, F₂ⱼ₊₁ packed as F₂ⱼ + i·F₂ⱼ₊₁ at [q][g·np + j]: F[q] = Z[q] for q ≤ W/2
  // (imaginary part of self-conjugate bins dropped), conj Z[W − q] above
  for (int o = threadIdx.x; o < gc * np * w; o += blockDim.x) {
    const int q = o % w, t = o / w, j = t % np, g = t / np;
    const bool low = q < wh;
    const int src = low ? q : w - q;
    const bool selfc = low && (2 * q) % w == 0;
    const T sign = low ? T(1) : T(-1);
    const int r1 = 2 * j * v2 + g * wh + src;
    const bool pair = 2 * j + 1 < h;
    const T ar = sr[r1], ai = selfc ? T(0) : sign * si[r1];
    const T br = pair ? sr[r1 + v2] : T(0), bi = pair && !selfc ? sign * si[r1 + v2] : T(0);
    const int e = q * vp + g * np + j;
    dr[e] = ar - bi;
    di[e] = ai + br;
  }
  __syncthreads();
  fft_pass<T, true>(dr, di, sr, si, w, vp, tw);
  const T scale = mode == kIrfft2 ? T(1) / static_cast<T>(hw) : T(1);
  T* yp = y + g0 * hw;
  for (int o = threadIdx.x; o < gc * hw; o += blockDim.x) {
    const int g = o / hw, rem = o - g * hw, r = rem / w, c = rem - r * w;
    const int e = c * vp + g * np + (r >> 1);
    yp[o] = ((r & 1) ? di[e] : dr[e]) * scale;
  }
}

/// The table ω₁₉₂^t = e^{−2πi·t/192}, t < 192, interleaved (re, im), in device memory: computed in double
/// precision once per dtype and kept for the life of the process.
template <class T>
const T* twiddle_table() {
  static std::mutex mu;
  static T* table = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!table) {
    std::vector<T> host(2 * kTwiddleN);
    for (int t = 0; t < kTwiddleN; ++t) {
      const double a = -2.0 * 3.14159265358979323846 * t / kTwiddleN;
      host[2 * t] = static_cast<T>(std::cos(a));
      host[2 * t + 1] = static_cast<T>(std::sin(a));
    }
    T* d = nullptr;
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d), host.size() * sizeof(T)));
    const cudaError_t err = cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
    if (err != cudaSuccess) cudaFree(d);
    CUDA_CHECK(err);
    table = d;
  }
  return table;
}

void fft_op(OpCall& c, int mode) {
  const bool fwd = mode == kRfft2 || mode == kIrfft2Adjoint;
  const Tensor& real = fwd ? c.inputs[0] : c.outputs[0];
  int64_t planes, H, W;
  fft2_dims(real, &planes, &H, &W);
  if (planes == 0) return;
  const int64_t G = std::max<int64_t>(1, std::min<int64_t>(planes, kPlaneValuesPerBlock / (H * W)));
  const int64_t blocks = (planes + G - 1) / G;
  if (blocks > 2147483647) fail(code::kUnsupported, c.op, ": at most 2^31 − 1 blocks of planes on cuda, got ", blocks);
  const int64_t vp = (G * ((H + 1) / 2)) | 1;
  const int64_t cap = std::max(W * vp, H * G * (W / 2 + 1));
  dispatch_float(real.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const size_t smem = 4 * sizeof(T) * static_cast<size_t>(cap);  // 64×64 float64: 67.6 KB
    const T* tw = twiddle_table<T>();
    auto k = fwd ? rfft2_kernel<T> : irfft2_kernel<T>;
    const char* name = fwd ? "rfft2_kernel" : "irfft2_kernel";
    if (smem > kDefaultSmem)
      cuda::check(cudaFuncSetAttribute(reinterpret_cast<const void*>(k), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem)),
                  name);
    KLAUNCH(k, static_cast<unsigned>(blocks), kFftThreads, smem, 0, c.inputs[0].data<T>(), c.outputs[0].data<T>(), tw,
            static_cast<long long>(planes), static_cast<int>(H), static_cast<int>(W), static_cast<int>(G),
            static_cast<int>(cap), mode);
    cuda::check_launch(name);
  });
}

}  // namespace

/// Registers the CUDA kernels of rfft2, irfft2, rfft2_backward and irfft2_backward: one block per
/// ⌈1024/(H·W)⌉ planes, mixed-radix Stockham FFTs in shared memory; per plane O(HW·log HW) flops,
/// each input and output value crosses DRAM once.
void register_cuda_fft(Registry& r) {
  r.kernel("rfft2", Device::CUDA, [](OpCall& c) { fft_op(c, kRfft2); });
  r.kernel("irfft2", Device::CUDA, [](OpCall& c) { fft_op(c, kIrfft2); });
  r.kernel("rfft2_backward", Device::CUDA, [](OpCall& c) { fft_op(c, kRfft2Adjoint); });
  r.kernel("irfft2_backward", Device::CUDA, [](OpCall& c) { fft_op(c, kIrfft2Adjoint); });
}

}  // namespace onelip
