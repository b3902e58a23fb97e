// The CPU GEMM's entry point for kernels outside native/cpu/matmul.cc (conv2d, ...): the problem
// description and declarations of gemm<float> / gemm<double>, explicitly instantiated in matmul.cc, so
// the packed GEMM and its micro-kernels are compiled once (driver.h is the implementation).
#pragma once
#include <cstdint>

namespace onelip {
namespace gemm {

/// One product C = op(A)·op(B): op(A)(i, p) = a[i·ars + p·acs], op(B)(p, j) = b[p·brs + j·bcs],
/// C(i, j) = c[i·ldc + j]. `lower`: only C(i, j) with row0 + i ≥ j is needed (syrk; row0 is the first
/// row's index in the whole matrix when this is a block of rows of it); the driver may still write some
/// entries above the diagonal near it.
template <class T>
struct Problem {
  int64_t m, n, k;
  const T* a;
  int64_t ars, acs;
  const T* b;
  int64_t brs, bcs;
  T* c;
  int64_t ldc;
  bool lower = false;
  int64_t row0 = 0;
  /// C += op(A)·op(B) instead of C = op(A)·op(B) (always takes the packed path).
  bool accumulate = false;
  /// Optional producer of op(B) (e.g. a convolution's im2col, generated while packing): packs rows
  /// [p0, p0 + kc) × columns [j0, j0 + nc) of op(B) into nr-column micro-panels in pack.h's pack_b layout
  /// (panel q at dst + q·kc, element (p, j) at p·nr + j, columns past nc zero); b/brs/bcs are then
  /// unused. Always takes the packed path. b_ctx is passed through; b_col0 is the first column of this
  /// (sub-)problem in the producer's numbering.
  void (*pack_b_fn)(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) = nullptr;
  const void* b_ctx = nullptr;
  int64_t b_col0 = 0;
  /// Optional producer of op(A), like pack_b_fn: packs rows [i0, i0 + mc) × columns [p0, p0 + kc) of op(A)
  /// into mr-row micro-panels in pack.h's pack_a layout (panel r at dst + r·kc, element (i, p) at
  /// p·mr + i, rows past mc zero); a/ars/acs are then unused. a_row0: this (sub-)problem's first row.
  void (*pack_a_fn)(const void* ctx, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) = nullptr;
  const void* a_ctx = nullptr;
  int64_t a_row0 = 0;
};

/// C = op(A)·op(B) on up to `nthreads` pool threads (1 inside a loop that is already parallel); the path
/// (packed, few rows/columns, k split) is chosen by size. Defined in driver.h, instantiated for float
/// and double in native/cpu/matmul.cc.
template <class T>
void gemm(const Problem<T>& pr, int nthreads);

}  // namespace gemm
}  // namespace onelip
