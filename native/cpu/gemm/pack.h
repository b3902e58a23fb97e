// Packing of GEMM operands into the micro-panel layouts the micro-kernels read sequentially.
// op(A) element (i, p) is a[i·rs + p·cs] and op(B) element (p, j) is b[p·rs + j·cs], so transposed
// operands are just other strides; the unit-stride cases get loops that read memory contiguously.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include "common.h"

namespace onelip {
namespace gemm {

/// Packs rows [0, mc) × columns [0, kc) of op(A) into MR-row micro-panels: panel r starts at
/// dst + r·MR·kc and holds element (i, p) at p·MR + i. Rows past mc are zero.
template <class T, int MR>
void pack_a(int64_t mc, int64_t kc, const T* a, int64_t rs, int64_t cs, T* dst) {
  for (int64_t r = 0; r < mc; r += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - r);
    const T* s = a + r * rs;
    T* d = dst + r * kc;
    if (rows == MR && cs == 1) {
      // Rows are contiguous along p: read each of the MR rows one cache line (L elements) at a time and
      // write them into MR-wide slivers. Whole lines matter: rows a multiple of 4 KB apart share L1 sets.
      constexpr int L = 64 / sizeof(T);
      int64_t p = 0;
      for (; p + L <= kc; p += L)
        for (int i = 0; i < MR; ++i) {
          const T* si = s + i * rs + p;
          for (int q = 0; q < L; ++q) d[(p + q) * MR + i] = si[q];
        }
      for (; p < kc; ++p)
        for (int i = 0; i < MR; ++i) d[p * MR + i] = s[i * rs + p];
    } else if (rows == MR && rs == 1) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * MR, s + p * cs, sizeof(T) * MR);
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t i = 0; i < rows; ++i) d[p * MR + i] = s[i * rs + p * cs];
        for (int64_t i = rows; i < MR; ++i) d[p * MR + i] = T(0);
      }
    }
  }
}

/// Packs rows [0, kc) × columns [0, nc) of op(B) into NR-column micro-panels: panel q starts at
/// dst + q·NR·kc and holds element (p, j) at p·NR + j. Columns past nc are zero.
template <class T, int NR>
void pack_b(int64_t kc, int64_t nc, const T* b, int64_t rs, int64_t cs, T* dst) {
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - q);
    const T* s = b + q * cs;
    T* d = dst + q * kc;
    if (cols == NR && cs == 1) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * NR, s + p * rs, sizeof(T) * NR);
    } else if (cols == NR && rs == 1) {
      // Columns are contiguous along p (B transposed): read each column one cache line at a time.
      constexpr int L = 64 / sizeof(T);
      int64_t p = 0;
      for (; p + L <= kc; p += L)
        for (int j = 0; j < NR; ++j) {
          const T* sj = s + j * cs + p;
          for (int u = 0; u < L; ++u) d[(p + u) * NR + j] = sj[u];
        }
      for (; p < kc; ++p)
        for (int j = 0; j < NR; ++j) d[p * NR + j] = s[j * cs + p];
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        for (int64_t j = 0; j < cols; ++j) d[p * NR + j] = s[p * rs + j * cs];
        for (int64_t j = cols; j < NR; ++j) d[p * NR + j] = T(0);
      }
    }
  }
}

}  // namespace gemm
}  // namespace onelip
