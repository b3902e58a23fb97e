// CPU kernels of kernel_self_correlation and its gradient, on the packed GEMM of native/cpu/gemm/.
//
// K is first copied to channels-last order Kp[i, y, x, c], where a run of kernel columns with all their
// channels is one contiguous block, so every product below is a plain strided GEMM operand.
//
// Forward: for one 2-d offset s the valid positions u (u and u + s both inside the k×k kernel) form a
// rectangle of ny × nx positions, so G[:, :, s] = Σ_{rows a of it} A_{s,a}·B_{s,a}ᵀ with A_{s,a}[i, (x, c)]
// = Kp[i, a + sy, x + sx, c] and B_{s,a}[j, (x, c)] = Kp[j, a, x, c]: GEMMs of depth nx·c and no
// multiplications by padding zeros (2·m²·c·k⁴ flops in all). G[j, i, −s] = G[i, j, s], so only the
// offsets s ≥ 0 (row-major order) are computed (s = 0 is one syrk) and the others are their
// transposes: about half of those flops.
//
// Backward: gradK[a, c, v] = Σ_s Σ_j H[a, j, s]·K[j, c, v − s] with H[a, j, s] = gG[a, j, s] +
// gG[j, a, −s] (both factors of the forward); per offset and output kernel row one GEMM H_s · Kp-block.
#include <algorithm>
#include <vector>
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"
#include "gemm/driver.h"

namespace onelip {
namespace {

// Offsets whose GEMM is below this many flops run in parallel with one thread each; larger ones run
// one after the other with every thread.
constexpr double kOffsetSerialFlops = 5e6;

/// The rectangle of kernel positions u with u and u + s both inside [0, k)²: rows [y0, y0 + ny),
/// columns [x0, x0 + nx).
struct Rect {
  int64_t y0, ny, x0, nx;
};

inline Rect overlap(int64_t k, int64_t sy, int64_t sx) {
  return Rect{std::max<int64_t>(0, -sy), k - std::abs(sy), std::max<int64_t>(0, -sx), k - std::abs(sx)};
}

/// Kp[i, y, x, c] = K[i, c, y, x] (channels last: a run of kernel columns is one contiguous block).
template <class T>
void to_channels_last(const T* K, T* Kp, int64_t m, int64_t cin, int64_t k) {
  parallel_for(m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cin * k * k)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t c = 0; c < cin; ++c)
        for (int64_t p = 0; p < k * k; ++p) Kp[(i * k * k + p) * cin + c] = K[(i * cin + c) * k * k + p];
  });
}

/// dst += src for n elements.
template <class T>
inline void add_to(T* dst, const T* src, int64_t n) {
  for (int64_t e = 0; e < n; ++e) dst[e] += src[e];
}

template <class T>
void self_corr_forward(const T* K, T* G, int64_t m, int64_t cin, int64_t k) {
  const int64_t w = 2 * k - 1, S = w * w, center = (S - 1) / 2, half = S - center;
  const int64_t row = k * k * cin;  // one kernel in channels-last layout
  const int nt = num_threads();
  std::vector<T> Kp(static_cast<size_t>(m * row));
  to_channels_last(K, Kp.data(), m, cin, k);
  // prod[h] = G[:, :, center + h] as an m × m matrix.
  std::vector<T> prod(static_cast<size_t>(half * m * m));
  auto one_offset = [&](int64_t h, int threads, std::vector<T>& tmp) {
    const int64_t sidx = center + h, sy = sidx / w - (k - 1), sx = sidx % w - (k - 1);
    T* out = prod.data() + h * m * m;
    if (h == 0) {  // s = 0: K·Kᵀ over all (u, c)
      gemm::syrk<T>(m, row, Kp.data(), row, 1, out, m, threads);
      return;
    }
    // One GEMM per row a of the overlap: depth (x, c) over the overlap's columns, contiguous in Kp.
    const Rect r = overlap(k, sy, sx);
    const int64_t depth = r.nx * cin;
    tmp.resize(static_cast<size_t>(m * m));
    for (int64_t a = 0; a < r.ny; ++a) {
      const T* pa = Kp.data() + ((r.y0 + a + sy) * k + r.x0 + sx) * cin;
      const T* pb = Kp.data() + ((r.y0 + a) * k + r.x0) * cin;
      T* dst = a == 0 ? out : tmp.data();
      gemm::gemm<T>({m, m, depth, pa, row, 1, pb, 1, row, dst, m}, threads);
      if (a > 0) {
        if (threads > 1)
          parallel_for(m, 16, [&](int64_t i0, int64_t i1) { add_to(out + i0 * m, tmp.data() + i0 * m, (i1 - i0) * m); });
        else
          add_to(out, tmp.data(), m * m);
      }
    }
  };
  const double per_offset = 2.0 * m * m * cin * k * k;
  if (nt > 1 && per_offset < kOffsetSerialFlops) {
    parallel_for(half, 1, [&](int64_t h0, int64_t h1) {
      std::vector<T> tmp;
      for (int64_t h = h0; h < h1; ++h) one_offset(h, 1, tmp);
    });
  } else {
    std::vector<T> tmp;
    for (int64_t h = 0; h < half; ++h) one_offset(h, nt, tmp);
  }
  // G[i, j, sidx] from prod: sidx ≥ center reads prod[sidx − center][i, j], sidx < center the transpose
  // prod[S − 1 − sidx − center][j, i]. 16 × 16 blocks of (i, j) keep the transposed reads in cache.
  constexpr int64_t B = 16;
  const int64_t nb = (m + B - 1) / B;
  parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t bi = b0; bi < b1; ++bi)
      for (int64_t bj = 0; bj < nb; ++bj)
        for (int64_t i = bi * B; i < std::min(m, bi * B + B); ++i)
          for (int64_t j = bj * B; j < std::min(m, bj * B + B); ++j) {
            T* g = G + (i * m + j) * S;
            for (int64_t sidx = 0; sidx < center; ++sidx) g[sidx] = prod[(S - 1 - sidx - center) * m * m + j * m + i];
            for (int64_t sidx = center; sidx < S; ++sidx) g[sidx] = prod[(sidx - center) * m * m + i * m + j];
          }
  });
}

template <class T>
void self_corr_backward(const T* K, const T* gG, T* gK, int64_t m, int64_t cin, int64_t k) {
  const int64_t w = 2 * k - 1, S = w * w, row = k * k * cin;
  const int nt = num_threads();
  std::vector<T> Kp(static_cast<size_t>(m * row)), gKp(static_cast<size_t>(m * row), T(0));
  to_channels_last(K, Kp.data(), m, cin, k);
  // H[s][a][j] = gG[a, j, s] + gG[j, a, S − 1 − s]: the gradient reaching G[a, j, s] through both factors.
  std::vector<T> H(static_cast<size_t>(S * m * m));
  parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, m * S)), [&](int64_t a0, int64_t a1) {
    for (int64_t a = a0; a < a1; ++a)
      for (int64_t j = 0; j < m; ++j) {
        const T* p = gG + (a * m + j) * S;
        const T* q = gG + (j * m + a) * S;
        for (int64_t s = 0; s < S; ++s) H[(s * m + a) * m + j] = p[s] + q[S - 1 - s];
      }
  });
  // Per offset s and output kernel row vy: gKp[a, vy, x0 .. x0 + nx, :] += H_s · Kp[:, vy − sy, x0 − sx .., :],
  // the valid output columns x0 .. x0 + nx (those with vx − sx inside the kernel) and all channels as one
  // contiguous block of nx·c.
  std::vector<T> tmp;
  for (int64_t sidx = 0; sidx < S; ++sidx) {
    const int64_t sy = sidx / w - (k - 1), sx = sidx % w - (k - 1);
    const Rect r = overlap(k, -sy, -sx);  // output positions v with v − s inside the kernel
    const int64_t cols = r.nx * cin;
    tmp.resize(static_cast<size_t>(m * cols));
    for (int64_t a = 0; a < r.ny; ++a) {
      const int64_t vy = r.y0 + a;
      const T* pb = Kp.data() + ((vy - sy) * k + r.x0 - sx) * cin;
      gemm::gemm<T>({m, cols, m, H.data() + sidx * m * m, m, 1, pb, row, 1, tmp.data(), cols}, nt);
      parallel_for(m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) add_to(gKp.data() + i * row + (vy * k + r.x0) * cin, tmp.data() + i * cols, cols);
      });
    }
  }
  // back to [m, c, k, k]
  parallel_for(m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t c = 0; c < cin; ++c)
        for (int64_t p = 0; p < k * k; ++p) gK[(i * cin + c) * k * k + p] = gKp[(i * k * k + p) * cin + c];
  });
}

void self_corr_op(OpCall& c) {
  const Tensor& K = c.inputs[0];
  if (c.outputs[0].numel() == 0) return;
  dispatch_float(K.dtype(), [&](auto tag) {
    using T = decltype(tag);
    self_corr_forward(K.data<T>(), c.outputs[0].data<T>(), K.dim(0), K.dim(1), K.dim(2));
  });
}

void self_corr_backward_op(OpCall& c) {
  const Tensor& K = c.inputs[0];
  if (K.numel() == 0) return;
  dispatch_float(K.dtype(), [&](auto tag) {
    using T = decltype(tag);
    self_corr_backward(K.data<T>(), c.inputs[1].data<T>(), c.outputs[0].data<T>(), K.dim(0), K.dim(1), K.dim(2));
  });
}

}  // namespace

/// Registers the CPU kernels of kernel_self_correlation (per-offset packed GEMMs over (c, u), half of
/// the offsets by symmetry; 2·m²·c·k⁴ nominal flops, about half of them computed) and
/// kernel_self_correlation_backward (one GEMM per offset, 2·m²·c·k⁴ flops). float32 and float64.
void register_cpu_spectral(Registry& r) {
  r.kernel("kernel_self_correlation", Device::CPU, self_corr_op);
  r.kernel("kernel_self_correlation_backward", Device::CPU, self_corr_backward_op);
}

}  // namespace onelip
