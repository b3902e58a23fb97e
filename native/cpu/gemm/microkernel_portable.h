// Portable micro-kernels (float32 4×8, float64 4×4) in plain C++, for CPUs without AVX2+FMA and for
// non-x86 builds. The accumulator array is indexed only by compile-time constants, so the compiler
// keeps it in registers and vectorises the j loop with the baseline ISA (SSE2 on x86-64: 8 xmm
// accumulators either way).
#pragma once
#include "common.h"
#include "loops.h"

namespace onelip {
namespace gemm {
namespace portable {

constexpr int kMrF32 = 4, kNrF32 = 8;
constexpr int kMrF64 = 4, kNrF64 = 4;

template <class T, int MR, int NR>
inline void ukr(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, bool accumulate) {
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = 0;
  for (int64_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; ++i) {
    T* cr = c + i * ldc;
    if (accumulate)
      for (int j = 0; j < NR; ++j) cr[j] += acc[i][j];
    else
      for (int j = 0; j < NR; ++j) cr[j] = acc[i][j];
  }
}

inline void ukr_f32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool accumulate) {
  ukr<float, kMrF32, kNrF32>(kc, a, b, c, ldc, accumulate);
}
inline void ukr_f64(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, bool accumulate) {
  ukr<double, kMrF64, kNrF64>(kc, a, b, c, ldc, accumulate);
}

inline void rows_axpy_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t ars, int64_t acs, const float* b,
                          int64_t brs, float* c, int64_t ldc) {
  rows_axpy_impl<float, false>(m, n, k, a, ars, acs, b, brs, c, ldc);
}
inline void rows_dot_f32(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                         float* c, int64_t ldc) {
  rows_dot_impl<float, false, 16>(m, n, k, a, lda, b, ldb, c, ldc);
}
inline void rows_axpy_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t ars, int64_t acs, const double* b,
                          int64_t brs, double* c, int64_t ldc) {
  rows_axpy_impl<double, false>(m, n, k, a, ars, acs, b, brs, c, ldc);
}
inline void rows_dot_f64(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b, int64_t ldb,
                         double* c, int64_t ldc) {
  rows_dot_impl<double, false, 8>(m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace portable
}  // namespace gemm
}  // namespace onelip
