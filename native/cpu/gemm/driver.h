// The GEMM driver: path selection by size, the cache-blocked packed algorithm (BLIS loop order), and its
// threading over the pool. Row-major throughout: vectors run along the columns of C (n), so a micro-tile
// is MR rows (broadcast from the packed A micro-panel) × NR columns (vector loads of the packed B
// micro-panel).
//
//   for ic in m step MC             pack A block MC×KC (L3)
//     for pc in k step KC
//       for jc in n step NC           pack B block KC×NC (L2)
//         for ir step MR                A micro-panel MR×KC (L1)
//           for jr step NR                micro-kernel on the MR×NR tile (B micro-panel streams from L2)
//
// Threads: C is cut into one block of rows per thread (columns when there are too few rows), and each
// thread runs the loops above on its block with its own packing buffers, so a product costs a single
// pool dispatch and no barrier but its end (a pool wake-up costs tens of µs on a VM, as much as a
// 256³ product). The price is packing the shared operand once per thread, a few % at most.
//
// syrk uses the same loops with `lower` set: tiles entirely above the diagonal are skipped, rows are
// split between threads by the area under the diagonal, and the caller mirrors the lower triangle.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>
#include "../../core/backends.h"
#include "../../core/thread_pool.h"
#include "common.h"
#include "gemm.h"
#include "microkernel_avx2.h"
#include "microkernel_avx512.h"
#include "microkernel_portable.h"
#include "pack.h"

namespace onelip {
namespace gemm {

/// Everything the driver needs for one (ISA, dtype): tile shape, cache blocking and the kernels.
template <class T>
struct Config {
  Isa isa;
  int mr, nr;          // micro-tile: MR rows × NR columns of C
  int64_t kc, mc, nc;  // KC: depth of a packed block; MC: rows of the A panel (multiple of MR); NC: columns
                       // of a B block (multiple of NR)
  MicroKernel<T> ukr;
  void (*pack_a)(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T* dst);
  void (*pack_b)(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs, T* dst);
  RowsAxpyFn<T> rows_axpy;
  RowsDotFn<T> rows_dot;
};

// Blocking for Zen 4 (32 KB L1d, 1 MB L2 per core, 32 MB L3), chosen by measurement (docs/PERF.md):
// MR·KC·sizeof(T), the A micro-panel reused across a row of tiles, stays in L1 (18 KB for float32
// 12×384); KC·NC·sizeof(T), the B block reused by every micro-panel, in L2 (768 KB for 384×512);
// MC·KC·sizeof(T), the A block, in L3. Larger KC means fewer passes over C.
template <class T, int MR, int NR>
Config<T> config_of(Isa isa, int64_t kc, int64_t mc, int64_t nc, MicroKernel<T> ukr, RowsAxpyFn<T> axpy,
                    RowsDotFn<T> dot) {
  return {isa, MR, NR, kc, mc, nc, ukr, pack_a<T, MR>, pack_b<T, NR>, axpy, dot};
}

template <class T>
Config<T> make_config(Isa isa);

template <>
inline Config<float> make_config<float>(Isa isa) {
#if ONELIP_GEMM_X86
  if (isa == Isa::Avx512)
    return config_of<float, avx512::kMrF32, avx512::kNrF32>(isa, 384, 1536, 512, avx512::ukr_f32,
                                                            avx512::rows_axpy_f32, avx512::rows_dot_f32);
  if (isa == Isa::Avx2)
    return config_of<float, avx2::kMrF32, avx2::kNrF32>(isa, 384, 1536, 320, avx2::ukr_f32, avx2::rows_axpy_f32,
                                                        avx2::rows_dot_f32);
#endif
  return config_of<float, portable::kMrF32, portable::kNrF32>(Isa::Portable, 256, 1024, 256, portable::ukr_f32,
                                                              portable::rows_axpy_f32, portable::rows_dot_f32);
}

template <>
inline Config<double> make_config<double>(Isa isa) {
#if ONELIP_GEMM_X86
  if (isa == Isa::Avx512)
    return config_of<double, avx512::kMrF64, avx512::kNrF64>(isa, 192, 1536, 320, avx512::ukr_f64,
                                                             avx512::rows_axpy_f64, avx512::rows_dot_f64);
  if (isa == Isa::Avx2)
    return config_of<double, avx2::kMrF64, avx2::kNrF64>(isa, 256, 1536, 256, avx2::ukr_f64, avx2::rows_axpy_f64,
                                                         avx2::rows_dot_f64);
#endif
  return config_of<double, portable::kMrF64, portable::kNrF64>(Isa::Portable, 256, 1024, 128, portable::ukr_f64,
                                                               portable::rows_axpy_f64, portable::rows_dot_f64);
}

/// The ISA the GEMM uses: cpu_simd_level(), lowered (never raised) by ONELIP_GEMM_ISA=avx2|portable,
/// which exists to benchmark and test the other paths on an AVX-512 machine.
inline Isa detected_isa() {
  static const Isa isa = [] {
    const char* lvl = cpu_simd_level();
    Isa best = std::strcmp(lvl, "avx512") == 0 ? Isa::Avx512
               : std::strcmp(lvl, "avx2") == 0 ? Isa::Avx2
                                               : Isa::Portable;
    if (const char* env = std::getenv("ONELIP_GEMM_ISA")) {
      Isa want = std::strcmp(env, "avx2") == 0 ? Isa::Avx2 : std::strcmp(env, "portable") == 0 ? Isa::Portable : best;
      if (static_cast<int>(want) < static_cast<int>(best)) best = want;
    }
    return best;
  }();
  return isa;
}

template <class T>
const Config<T>& config() {
  static const Config<T> cf = [] {
    Config<T> c = make_config<T>(detected_isa());
#ifdef ONELIP_GEMM_TUNING
    // Test builds only: ONELIP_GEMM_BLOCKING="kc,mc,nc" overrides the cache blocking.
    if (const char* env = std::getenv(sizeof(T) == 4 ? "ONELIP_GEMM_BLOCKING" : "ONELIP_GEMM_BLOCKING_F64")) {
      long kc, mc, nc;
      if (std::sscanf(env, "%ld,%ld,%ld", &kc, &mc, &nc) == 3) {
        c.kc = kc;
        c.mc = (mc + c.mr - 1) / c.mr * c.mr;
        c.nc = (nc + c.nr - 1) / c.nr * c.nr;
      }
    }
#endif
    return c;
  }();
  return cf;
}

// ---- size thresholds (measured on Zen 4; docs/PERF.md) ----
constexpr double kParallelFlops = 3e6;          // below: one thread (a pool wake-up costs tens of µs)
constexpr double kFlopsPerThread = 1.5e6;        // at most one thread per this much work
constexpr int64_t kSmallVolume = 12 * 12 * 12;  // m·n·k up to this: plain loops, no packing

/// A grow-only 64-byte aligned scratch buffer, one per thread and purpose (packed A panel, packed B
/// block), reused across calls so a product never pays for fresh pages.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > cap_) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
      size_t rounded = (bytes + 4095) & ~size_t(4095);
      p_ = std::aligned_alloc(64, rounded);
      if (!p_) throw std::bad_alloc();
      cap_ = rounded;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};
inline Scratch& scratch_a() {
  thread_local Scratch s;
  return s;
}
inline Scratch& scratch_b() {
  thread_local Scratch s;
  return s;
}

/// Splits the `count` items of weight w(i) into `parts` contiguous ranges of about equal weight;
/// bounds has parts + 1 entries.
template <class W>
std::vector<int64_t> split_weighted(int64_t count, int parts, W w) {
  std::vector<double> prefix(count + 1, 0.0);
  for (int64_t i = 0; i < count; ++i) prefix[i + 1] = prefix[i] + w(i);
  std::vector<int64_t> bounds(parts + 1, count);
  bounds[0] = 0;
  int64_t i = 0;
  for (int t = 1; t < parts; ++t) {
    const double target = prefix[count] * t / parts;
    while (i < count && prefix[i + 1] <= target) ++i;
    // Take item i too when that lands closer to the target.
    if (i < count && prefix[i + 1] - target < target - prefix[i]) ++i;
    bounds[t] = std::max(bounds[t - 1], i);
  }
  return bounds;
}

/// The packed, cache-blocked product on the calling thread.
template <class T>
void gemm_packed(const Config<T>& cf, const Problem<T>& pr) {
  const int MR = cf.mr, NR = cf.nr;
  const int64_t m = pr.m, n = pr.n, k = pr.k;
  const int64_t KC = cf.kc, MC = cf.mc, NC = cf.nc;
  T* apack = static_cast<T*>(scratch_a().get(sizeof(T) * std::min(MC, (m + MR - 1) / MR * MR) * std::min(KC, k)));
  T* bpack = static_cast<T*>(scratch_b().get(sizeof(T) * std::min(KC, k) * std::min(NC, (n + NR - 1) / NR * NR)));
  alignas(64) T edge[16 * 32];  // an MR×NR tile at the matrix border

  for (int64_t ic = 0; ic < m; ic += MC) {
    const int64_t mc = std::min(MC, m - ic);
    const int64_t panels = (mc + MR - 1) / MR;
    // syrk: columns right of this block's last row are above the diagonal.
    const int64_t n_end = pr.lower ? std::min(n, pr.row0 + ic + mc) : n;
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      const bool accumulate = pc > 0 || pr.accumulate;
      if (pr.pack_a_fn) pr.pack_a_fn(pr.a_ctx, pr.a_row0 + ic, mc, pc, kc, MR, apack);
      else cf.pack_a(mc, kc, pr.a + ic * pr.ars + pc * pr.acs, pr.ars, pr.acs, apack);
      for (int64_t jc = 0; jc < n_end; jc += NC) {
        const int64_t nc = std::min(NC, n_end - jc);
        if (pr.pack_b_fn) pr.pack_b_fn(pr.b_ctx, pc, kc, pr.b_col0 + jc, nc, NR, bpack);
        else cf.pack_b(kc, nc, pr.b + pc * pr.brs + jc * pr.bcs, pr.brs, pr.bcs, bpack);
        for (int64_t ir = 0; ir < panels; ++ir) {
          const int64_t i0 = ic + ir * MR;
          const int64_t rows = std::min<int64_t>(MR, m - i0);
          const T* amp = apack + ir * MR * kc;
          // syrk: this micro-panel's rows reach columns < row0 + i0 + MR only.
          const int64_t jr_end = pr.lower ? std::min(nc, pr.row0 + i0 + MR - jc) : nc;
          for (int64_t jr = 0; jr < jr_end; jr += NR) {
            const int64_t cols = std::min<int64_t>(NR, nc - jr);
            T* ct = pr.c + i0 * pr.ldc + jc + jr;
            const T* bmp = bpack + jr * kc;
            if (rows == MR && cols == NR) {
              cf.ukr(kc, amp, bmp, ct, pr.ldc, accumulate);
            } else {
              cf.ukr(kc, amp, bmp, edge, NR, false);
              for (int64_t i = 0; i < rows; ++i)
                for (int64_t j = 0; j < cols; ++j)
                  ct[i * pr.ldc + j] = accumulate ? ct[i * pr.ldc + j] + edge[i * NR + j] : edge[i * NR + j];
            }
          }
        }
      }
    }
  }
}

/// The packed product on `nthreads` pool threads: C cut into one block of rows per thread (balanced by
/// work; under syrk by the columns each row needs) or, when that balances worse, one block of columns.
template <class T>
void gemm_packed_parallel(const Config<T>& cf, const Problem<T>& pr, int nthreads) {
  const int64_t panels = (pr.m + cf.mr - 1) / cf.mr, tiles = (pr.n + cf.nr - 1) / cf.nr;
  // Share of the threads' time doing useful work when the units are dealt out evenly.
  auto balance = [&](int64_t units) {
    const int64_t per = (units + nthreads - 1) / nthreads;
    return static_cast<double>(units) / static_cast<double>(per * nthreads);
  };
  if (pr.lower || balance(panels) >= balance(tiles)) {
    const std::vector<int64_t> bounds = split_weighted(panels, nthreads, [&](int64_t r) -> double {
      return pr.lower ? static_cast<double>(std::min(pr.n, pr.row0 + (r + 1) * cf.mr)) : 1.0;
    });
    parallel_for(nthreads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t r0 = bounds[t] * cf.mr, r1 = std::min(pr.m, bounds[t + 1] * cf.mr);
        if (r0 >= r1) continue;
        Problem<T> sub = pr;
        sub.m = r1 - r0;
        sub.a = pr.a + r0 * pr.ars;
        sub.a_row0 = pr.a_row0 + r0;
        sub.c = pr.c + r0 * pr.ldc;
        sub.row0 = pr.row0 + r0;
        if (pr.lower) sub.n = std::min(pr.n, sub.row0 + sub.m);
        gemm_packed(cf, sub);
      }
    });
  } else {
    const std::vector<int64_t> bounds = split_weighted(tiles, nthreads, [](int64_t) { return 1.0; });
    parallel_for(nthreads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t j0 = bounds[t] * cf.nr, j1 = std::min(pr.n, bounds[t + 1] * cf.nr);
        if (j0 >= j1) continue;
        Problem<T> sub = pr;
        sub.n = j1 - j0;
        sub.b = pr.b + j0 * pr.bcs;
        sub.b_col0 = pr.b_col0 + j0;
        sub.c = pr.c + j0;
        gemm_packed(cf, sub);
      }
    });
  }
}

/// Runs part(j0, j1) over [0, n) split across `nthreads` pool threads (1: inline).
template <class F>
void split_columns(int64_t n, int nthreads, F part) {
  if (nthreads > 1) parallel_for(n, std::max<int64_t>(16, n / nthreads), part);
  else part(0, n);
}

/// Few rows (m < MR/2, or a tiny product): plain loops that read B once, no packing; the columns are
/// split across threads. B row-contiguous: C rows accumulate A(i, p)·(row p of B); B column-contiguous:
/// dot products of A rows (copied contiguous if they are not) with B columns.
template <class T>
void gemm_few_rows(const Config<T>& cf, const Problem<T>& pr, int nthreads) {
  const int64_t m = pr.m, k = pr.k;
  if (pr.bcs == 1) {
    split_columns(pr.n, nthreads, [&](int64_t j0, int64_t j1) {
      cf.rows_axpy(m, j1 - j0, k, pr.a, pr.ars, pr.acs, pr.b + j0, pr.brs, pr.c + j0, pr.ldc);
    });
  } else if (pr.brs == 1) {
    const T* a = pr.a;
    int64_t lda = pr.ars;
    if (pr.acs != 1 && k > 1) {
      T* buf = static_cast<T*>(scratch_a().get(sizeof(T) * m * k));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t p = 0; p < k; ++p) buf[i * k + p] = pr.a[i * pr.ars + p * pr.acs];
      a = buf;
      lda = k;
    }
    split_columns(pr.n, nthreads, [&](int64_t j0, int64_t j1) {
      cf.rows_dot(m, j1 - j0, k, a, lda, pr.b + j0 * pr.bcs, pr.bcs, pr.c + j0, pr.ldc);
    });
  } else {
    T* bt = static_cast<T*>(scratch_b().get(sizeof(T) * k * pr.n));
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < pr.n; ++j) bt[p * pr.n + j] = pr.b[p * pr.brs + j * pr.bcs];
    split_columns(pr.n, nthreads, [&](int64_t j0, int64_t j1) {
      cf.rows_axpy(m, j1 - j0, k, pr.a, pr.ars, pr.acs, bt + j0, pr.n, pr.c + j0, pr.ldc);
    });
  }
}

/// Few columns (n ≤ NR/4): the transposed product Cᵀ = op(B)ᵀ·op(A)ᵀ has few rows; it goes through
/// gemm_few_rows into a buffer, then into C.
template <class T>
void gemm_few_cols(const Config<T>& cf, const Problem<T>& pr, int nthreads) {
  std::vector<T> ct(static_cast<size_t>(pr.n * pr.m));
  const Problem<T> t{pr.n, pr.m, pr.k, pr.b, pr.bcs, pr.brs, pr.a, pr.acs, pr.ars, ct.data(), pr.m};
  gemm_few_rows(cf, t, nthreads);
  for (int64_t i = 0; i < pr.m; ++i)
    for (int64_t j = 0; j < pr.n; ++j) pr.c[i * pr.ldc + j] = ct[j * pr.m + i];
}

/// Threads worth using for `flops` of work when `nthreads` are allowed.
inline int threads_for(double flops, int nthreads) {
  if (nthreads <= 1 || flops < kParallelFlops) return 1;
  return static_cast<int>(std::max(1.0, std::min<double>(nthreads, flops / kFlopsPerThread)));
}

/// C = op(A)·op(B) for one problem, choosing the path by size: zero fill (k = 0), plain loops (tiny
/// products, few rows such as m = 1, few columns such as n = 1), k split across threads (too few tiles
/// for the threads), or the packed GEMM. `nthreads`: how many pool threads it may use (1 inside a
/// batch-parallel loop); fewer are used when the product is small.
template <class T>
void gemm(const Problem<T>& pr, int nthreads) {
  const Config<T>& cf = config<T>();
  const int64_t m = pr.m, n = pr.n, k = pr.k;
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!pr.accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(pr.c + i * pr.ldc, pr.c + i * pr.ldc + n, T(0));
    return;
  }
  const double flops = 2.0 * m * n * k * (pr.lower ? 0.5 : 1.0);
  const int nt = threads_for(flops, nthreads);
  if (pr.accumulate || pr.pack_b_fn || pr.pack_a_fn) {  // the packed path only (the others overwrite C or read a, b)
    if (nt > 1) gemm_packed_parallel(cf, pr, nt);
    else gemm_packed(cf, pr);
    return;
  }
  if (m * n * k <= kSmallVolume) return gemm_few_rows(cf, pr, 1);
  if (2 * m < cf.mr) return gemm_few_rows(cf, pr, nt);
  if (4 * n <= cf.nr) return gemm_few_cols(cf, pr, nt);

  // Too few micro-tiles to share among the threads, but a long k: each thread takes a slice of k into
  // its own C buffer, and the slices are summed.
  const int64_t tiles = ((m + cf.mr - 1) / cf.mr) * ((n + cf.nr - 1) / cf.nr) / (pr.lower ? 2 : 1);
  if (nt > 1 && tiles < 3 * nt && k >= 256 * nt) {
    std::vector<std::vector<T>> part(nt - 1);
    parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t k0 = k * t / nt, k1 = k * (t + 1) / nt;
        Problem<T> sub = pr;
        sub.k = k1 - k0;
        sub.a = pr.a + k0 * pr.acs;
        sub.b = pr.b + k0 * pr.brs;
        if (t > 0) {
          part[t - 1].assign(static_cast<size_t>(m * n), T(0));
          sub.c = part[t - 1].data();
          sub.ldc = n;
        }
        gemm_packed(cf, sub);
      }
    });
    for (int t = 1; t < nt; ++t)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) pr.c[i * pr.ldc + j] += part[t - 1][i * n + j];
    return;
  }
  if (nt > 1) gemm_packed_parallel(cf, pr, nt);
  else gemm_packed(cf, pr);
}

/// C(i, j) = C(j, i) for i < j: copies the lower triangle of the n×n matrix onto the upper one, one
/// 32×32 block at a time through a local buffer, so that C is only ever read and written along rows
/// (a column walk of C with a 4 KB row stride would thrash L1).
template <class T>
void mirror_lower(int64_t n, T* c, int64_t ldc, int nthreads) {
  constexpr int64_t B = 32;
  const int64_t blocks = (n + B - 1) / B;
  auto block_rows = [&](int64_t b0, int64_t b1) {
    alignas(64) T tmp[B * B];
    for (int64_t bi = b0; bi < b1; ++bi)
      for (int64_t bj = 0; bj <= bi; ++bj) {
        const int64_t i0 = bi * B, i1 = std::min(n, i0 + B), j0 = bj * B, j1 = std::min(n, j0 + B);
        // tmp = the block transposed (strided stores land in the 4 KB buffer), then whole rows out.
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) tmp[(j - j0) * B + (i - i0)] = c[i * ldc + j];
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t from = std::max(i0, j + 1);
          if (from < i1)
            std::memcpy(c + j * ldc + from, tmp + (j - j0) * B + (from - i0), sizeof(T) * (i1 - from));
        }
      }
  };
  if (nthreads <= 1) return block_rows(0, blocks);
  const std::vector<int64_t> bounds = split_weighted(blocks, nthreads, [](int64_t b) { return b + 1.0; });
  parallel_for(nthreads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) block_rows(bounds[t], bounds[t + 1]);
  });
}

/// C = op(A)·op(A)ᵀ (n×n), op(A)(i, p) = a[i·ars + p·acs]: the lower triangle computed, then mirrored,
/// so C is exactly symmetric.
template <class T>
void syrk(int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs, T* c, int64_t ldc, int nthreads) {
  Problem<T> pr{n, n, k, a, ars, acs, a, acs, ars, c, ldc, true};
  gemm(pr, nthreads);
  mirror_lower(n, c, ldc, threads_for(1.0 * n * n * 16, nthreads));
}

}  // namespace gemm
}  // namespace onelip
