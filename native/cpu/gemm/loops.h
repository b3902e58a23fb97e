// The simple-loop paths of the GEMM, for products where packing for the micro-kernel would waste most
// of its work: a few rows (m = 1, vector·matrix, m < MR/2), a few columns (handled as the transposed
// product) and tiny matrices. Written once as always-inline templates; each ISA header instantiates them
// inside a function that carries its target attribute, so the compiler vectorises the same loops for
// AVX-512, AVX2+FMA or the baseline (SSE2). Lane-array accumulators keep the dot products vectorisable
// without -ffast-math.
#pragma once
#include <algorithm>
#include <cstdint>
#include "common.h"

namespace onelip {
namespace gemm {

/// c + a·b, fused when the ISA has FMA (kFma), else an ordinary multiply-add.
template <bool kFma>
ONELIP_ALWAYS_INLINE float madd(float a, float b, float c) {
  if constexpr (kFma) return __builtin_fmaf(a, b, c);
  else return c + a * b;
}
template <bool kFma>
ONELIP_ALWAYS_INLINE double madd(double a, double b, double c) {
  if constexpr (kFma) return __builtin_fma(a, b, c);
  else return c + a * b;
}

/// Σ_p a[p]·x[p] with L independent lanes (vectorised), lanes summed pairwise at the end.
template <class T, bool kFma, int L>
ONELIP_ALWAYS_INLINE T dot_lanes(const T* a, const T* x, int64_t k) {
  T acc[L];
  for (int l = 0; l < L; ++l) acc[l] = 0;
  int64_t p = 0;
  for (; p + L <= k; p += L)
    for (int l = 0; l < L; ++l) acc[l] = madd<kFma>(a[p + l], x[p + l], acc[l]);
  for (int w = L / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  T s = acc[0];
  for (; p < k; ++p) s = madd<kFma>(a[p], x[p], s);
  return s;
}

/// C[i][j] = Σ_p A(i, p)·B[p][j] for i < m, j < n: A(i, p) = a[i·ars + p·acs], B row-contiguous (row
/// stride brs). Columns go in chunks small enough that the m chunks of C rows stay in L1 while each chunk
/// of a B row is read once for all m rows (m is small here, or the whole product is tiny).
template <class T, bool kFma>
ONELIP_ALWAYS_INLINE void rows_axpy_impl(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs,
                                         const T* b, int64_t brs, T* c, int64_t ldc) {
  const int64_t chunk = std::max<int64_t>(64, (16384 / static_cast<int64_t>(sizeof(T))) / std::max<int64_t>(m, 1));
  for (int64_t j0 = 0; j0 < n; j0 += chunk) {
    const int64_t j1 = std::min(n, j0 + chunk);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = j0; j < j1; ++j) c[i * ldc + j] = 0;
    for (int64_t p = 0; p < k; ++p) {
      const T* br = b + p * brs;
      for (int64_t i = 0; i < m; ++i) {
        const T aip = a[i * ars + p * acs];
        T* cr = c + i * ldc;
        for (int64_t j = j0; j < j1; ++j) cr[j] = madd<kFma>(aip, br[j], cr[j]);
      }
    }
  }
}

/// C[i][j] = dot(row i of A, column j of B) for i < m, j < n, both contiguous along k: A row i at
/// a + i·lda, B column j at b + j·ldb. The B column is reused from L1 for all m rows.
template <class T, bool kFma, int L>
ONELIP_ALWAYS_INLINE void rows_dot_impl(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                                        int64_t ldb, T* c, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) c[i * ldc + j] = dot_lanes<T, kFma, L>(a + i * lda, b + j * ldb, k);
}

}  // namespace gemm
}  // namespace onelip
