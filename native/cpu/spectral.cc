// CPU kernels of kernel_self_correlation and its gradient, on the packed GEMM of native/cpu/gemm/.
//
// Forward: for one 2-d offset s the valid positions u (u and u + s both inside the k×k kernel) form a
// rectangle of n_s = (k − |sy|)(k − |sx|) positions, so G[:, :, s] = A_s·B_sᵀ with A_s[i, (c, u)] =
// K[i, c, u + s] and B_s[j, (c, u)] = K[j, c, u], both packed to m × c·n_s: one GEMM of depth c·n_s per
// offset and no multiplications by padding zeros (2·m²·c·k⁴ flops in all). G[j, i, −s] = G[i, j, s], so
// only the offsets s ≥ 0 (row-major order) are computed (s = 0 is a syrk of K itself) and the others
// are their transposes: about half of those flops.
//
// Backward: gradK[a, c, v] = Σ_s Σ_j H[a, j, s]·K[j, c, v − s] with H[a, j, s] = gG[a, j, s] +
// gG[j, a, −s] (both factors of the forward); per offset one GEMM H_s · B'_s with B'_s[j, (c, v)] =
// K[j, c, v − s] over the n_s valid v, scattered into gradK.
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
constexpr double kOffsetSerialFlops = 2e7;

/// The rectangle of kernel positions u with u and u + s both inside [0, k)²: rows [y0, y0 + ny),
/// columns [x0, x0 + nx).
struct Rect {
  int64_t y0, ny, x0, nx;
};

inline Rect overlap(int64_t k, int64_t sy, int64_t sx) {
  return Rect{std::max<int64_t>(0, -sy), k - std::abs(sy), std::max<int64_t>(0, -sx), k - std::abs(sx)};
}

/// dst[i, (c, a, b)] = K[i, c, r.y0 + a + dy, r.x0 + b + dx] for i in [i0, i1): rows of c·ny·nx.
template <class T>
void pack_shifted(const T* K, int64_t cin, int64_t k, const Rect& r, int64_t dy, int64_t dx, int64_t i0, int64_t i1,
                  T* dst) {
  const int64_t ns = r.ny * r.nx;
  for (int64_t i = i0; i < i1; ++i)
    for (int64_t c = 0; c < cin; ++c) {
      const T* src = K + (i * cin + c) * k * k + (r.y0 + dy) * k + r.x0 + dx;
      T* d = dst + (i * cin + c) * ns;
      for (int64_t a = 0; a < r.ny; ++a)
        for (int64_t b = 0; b < r.nx; ++b) d[a * r.nx + b] = src[a * k + b];
    }
}

template <class T>
void self_corr_forward(const T* K, T* G, int64_t m, int64_t cin, int64_t k) {
  const int64_t w = 2 * k - 1, S = w * w, center = (S - 1) / 2, half = S - center;
  const int nt = num_threads();
  // prod[h] = G[:, :, center + h] as an m × m matrix.
  std::vector<T> prod(static_cast<size_t>(half * m * m));
  auto one_offset = [&](int64_t h, int threads) {
    const int64_t sidx = center + h, sy = sidx / w - (k - 1), sx = sidx % w - (k - 1);
    T* out = prod.data() + h * m * m;
    if (h == 0) {  // s = 0: K·Kᵀ over all (c, u)
      gemm::syrk<T>(m, cin * k * k, K, cin * k * k, 1, out, m, threads);
      return;
    }
    const Rect r = overlap(k, sy, sx);
    const int64_t depth = cin * r.ny * r.nx;
    std::vector<T> a(static_cast<size_t>(m * depth)), b(static_cast<size_t>(m * depth));
    auto pack = [&](int64_t i0, int64_t i1) {
      pack_shifted(K, cin, k, r, sy, sx, i0, i1, a.data());
      pack_shifted(K, cin, k, r, 0, 0, i0, i1, b.data());
    };
    if (threads > 1) parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, depth)), pack);
    else pack(0, m);
    gemm::gemm<T>({m, m, depth, a.data(), depth, 1, b.data(), 1, depth, out, m}, threads);
  };
  const double per_offset = 2.0 * m * m * cin * k * k;
  if (nt > 1 && per_offset < kOffsetSerialFlops) {
    parallel_for(half, 1, [&](int64_t h0, int64_t h1) {
      for (int64_t h = h0; h < h1; ++h) one_offset(h, 1);
    });
  } else {
    for (int64_t h = 0; h < half; ++h) one_offset(h, nt);
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
  const int64_t w = 2 * k - 1, S = w * w;
  const int nt = num_threads();
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
  std::fill(gK, gK + m * cin * k * k, T(0));
  std::vector<T> b, prod;
  for (int64_t sidx = 0; sidx < S; ++sidx) {
    const int64_t sy = sidx / w - (k - 1), sx = sidx % w - (k - 1);
    // Valid v: v − s inside the kernel, i.e. the overlap rectangle of −s.
    const Rect r = overlap(k, -sy, -sx);
    const int64_t ns = r.ny * r.nx, depth = cin * ns;
    b.resize(static_cast<size_t>(m * depth));
    prod.resize(static_cast<size_t>(m * depth));
    parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, depth)),
                 [&](int64_t i0, int64_t i1) { pack_shifted(K, cin, k, r, -sy, -sx, i0, i1, b.data()); });
    // prod[a, (c, v)] = Σ_j H_s[a, j]·K[j, c, v − s]
    gemm::gemm<T>({m, depth, m, H.data() + sidx * m * m, m, 1, b.data(), depth, 1, prod.data(), depth}, nt);
    parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, depth)), [&](int64_t a0, int64_t a1) {
      for (int64_t a = a0; a < a1; ++a)
        for (int64_t c = 0; c < cin; ++c) {
          T* dst = gK + (a * cin + c) * k * k + r.y0 * k + r.x0;
          const T* src = prod.data() + (a * cin + c) * ns;
          for (int64_t y = 0; y < r.ny; ++y)
            for (int64_t x = 0; x < r.nx; ++x) dst[y * k + x] += src[y * r.nx + x];
        }
    });
  }
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
