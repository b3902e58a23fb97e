// AVX-512 micro-kernels (float32 12×32, float64 12×16) and the AVX-512 builds of the simple loops.
// Compiled with a target attribute only: callers check cpu_simd_level() first.
//
// Layout: C is row-major, so a tile row is a contiguous run of NR elements = 2 zmm vectors. Per k step
// the kernel loads one row of the B micro-panel (2 zmm), broadcasts the MR values of the A micro-panel
// one at a time and does 2·MR FMAs into MR×2 zmm accumulators (24 of the 32 registers; 2 more hold B
// and 1 the broadcast). Zen 4 issues one 512-bit FMA per cycle with 4 cycles of latency, so 24
// independent chains keep the FMA pipes busy, and each k step needs 2 vector loads + 12 broadcasts
// for 24 FMAs. In column-major terms this is the 32×12 shape: 16 rows would need 32 accumulators,
// 14 would leave the compiler no spare register, and NR = 32 (a multiple of 16) leaves power-of-two n
// without edge tiles. Single-core it runs at OpenBLAS's rate (docs/PERF.md).
#pragma once
#include "common.h"
#include "loops.h"

#if ONELIP_GEMM_X86
namespace onelip {
namespace gemm {
namespace avx512 {

constexpr int kMrF32 = 12, kNrF32 = 32;
constexpr int kMrF64 = 12, kNrF64 = 16;

ONELIP_TARGET_AVX512 inline void ukr_f32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                         bool accumulate) {
  constexpr int MR = kMrF32;
  // Start fetching the C tile (2 cache lines per row) now: it is needed only after the k loop, and when
  // C is larger than the caches each of its rows is a DRAM miss.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + 16, 1);
  }
  __m512 c0[MR], c1[MR];  // c0[i]: C[i][0..15], c1[i]: C[i][16..31]
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += 32;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(cr));
      c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(cr + 16));
    }
    _mm512_storeu_ps(cr, c0[i]);
    _mm512_storeu_ps(cr + 16, c1[i]);
  }
}

ONELIP_TARGET_AVX512 inline void ukr_f64(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                                         bool accumulate) {
  constexpr int MR = kMrF64;
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + 8, 1);
  }
  __m512d c0[MR], c1[MR];  // c0[i]: C[i][0..7], c1[i]: C[i][8..15]
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_pd();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m512d b0 = _mm512_load_pd(b), b1 = _mm512_load_pd(b + 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512d ai = _mm512_set1_pd(a[i]);
      c0[i] = _mm512_fmadd_pd(ai, b0, c0[i]);
      c1[i] = _mm512_fmadd_pd(ai, b1, c1[i]);
    }
    a += MR;
    b += 16;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    double* cr = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm512_add_pd(c0[i], _mm512_loadu_pd(cr));
      c1[i] = _mm512_add_pd(c1[i], _mm512_loadu_pd(cr + 8));
    }
    _mm512_storeu_pd(cr, c0[i]);
    _mm512_storeu_pd(cr + 8, c1[i]);
  }
}

ONELIP_TARGET_AVX512 inline void rows_axpy_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars,
                                               int64_t acs, const float* b, int64_t brs, float* c, int64_t ldc) {
  rows_axpy_impl<float, true>(m, n, k, a, ars, acs, b, brs, c, ldc);
}
ONELIP_TARGET_AVX512 inline void rows_dot_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                              const float* b, int64_t ldb, float* c, int64_t ldc) {
  rows_dot_impl<float, true, 32>(m, n, k, a, lda, b, ldb, c, ldc);
}
ONELIP_TARGET_AVX512 inline void rows_axpy_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t ars,
                                               int64_t acs, const double* b, int64_t brs, double* c, int64_t ldc) {
  rows_axpy_impl<double, true>(m, n, k, a, ars, acs, b, brs, c, ldc);
}
ONELIP_TARGET_AVX512 inline void rows_dot_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
                                              const double* b, int64_t ldb, double* c, int64_t ldc) {
  rows_dot_impl<double, true, 16>(m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace avx512
}  // namespace gemm
}  // namespace onelip
#endif
