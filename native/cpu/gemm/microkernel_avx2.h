// AVX2+FMA micro-kernels (float32 6×16, float64 6×8) and the AVX2 builds of the simple loops.
// Compiled with a target attribute only: callers check cpu_simd_level() first.
//
// Layout: a C tile row (NR elements) is 2 ymm vectors. Per k step: 2 vector loads of B, then for each of
// the 6 rows one broadcast of A and 2 FMAs: 12 ymm accumulators + 2 for B + 1 broadcast = 15 of the
// 16 registers (the classic Haswell-era 6×16 shape, row-major).
#pragma once
#include "common.h"
#include "loops.h"

#if ONELIP_GEMM_X86
namespace onelip {
namespace gemm {
namespace avx2 {

constexpr int kMrF32 = 6, kNrF32 = 16;
constexpr int kMrF64 = 6, kNrF64 = 8;

ONELIP_TARGET_AVX2 inline void ukr_f32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                                       bool accumulate) {
  constexpr int MR = kMrF32;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) __builtin_prefetch(c + i * ldc, 1);  // the C tile: one line per row
  __m256 c0[MR], c1[MR];  // c0[i]: C[i][0..7], c1[i]: C[i][8..15]
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
    }
    a += MR;
    b += 16;
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(cr));
      c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(cr + 8));
    }
    _mm256_storeu_ps(cr, c0[i]);
    _mm256_storeu_ps(cr + 8, c1[i]);
  }
}

ONELIP_TARGET_AVX2 inline void ukr_f64(int64_t kc, const double* a, const double* b, double* c, int64_t ldc,
                                       bool accumulate) {
  constexpr int MR = kMrF64;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) __builtin_prefetch(c + i * ldc, 1);  // the C tile: one line per row
  __m256d c0[MR], c1[MR];  // c0[i]: C[i][0..3], c1[i]: C[i][4..7]
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_pd();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m256d ai = _mm256_broadcast_sd(a + i);
      c0[i] = _mm256_fmadd_pd(ai, b0, c0[i]);
      c1[i] = _mm256_fmadd_pd(ai, b1, c1[i]);
    }
    a += MR;
    b += 8;
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    double* cr = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm256_add_pd(c0[i], _mm256_loadu_pd(cr));
      c1[i] = _mm256_add_pd(c1[i], _mm256_loadu_pd(cr + 4));
    }
    _mm256_storeu_pd(cr, c0[i]);
    _mm256_storeu_pd(cr + 4, c1[i]);
  }
}

ONELIP_TARGET_AVX2 inline void rows_axpy_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs,
                                             const float* b, int64_t brs, float* c, int64_t ldc) {
  rows_axpy_impl<float, true>(m, n, k, a, ars, acs, b, brs, c, ldc);
}
ONELIP_TARGET_AVX2 inline void rows_dot_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                            const float* b, int64_t ldb, float* c, int64_t ldc) {
  rows_dot_impl<float, true, 32>(m, n, k, a, lda, b, ldb, c, ldc);
}
ONELIP_TARGET_AVX2 inline void rows_axpy_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t ars, int64_t acs,
                                             const double* b, int64_t brs, double* c, int64_t ldc) {
  rows_axpy_impl<double, true>(m, n, k, a, ars, acs, b, brs, c, ldc);
}
ONELIP_TARGET_AVX2 inline void rows_dot_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
                                            const double* b, int64_t ldb, double* c, int64_t ldc) {
  rows_dot_impl<double, true, 16>(m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace avx2
}  // namespace gemm
}  // namespace onelip
#endif
