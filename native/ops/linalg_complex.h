// Shared by the batched complex linear-algebra op definitions and kernels (native/ops/linalg_complex.cc,
// native/cpu/linalg_complex.cc, cuda/linalg_complex.cu). Complex matrices are [..., rows, cols, 2].
#pragma once
#include <cstdint>
#include <limits>
#include "../core/registry.h"

namespace onelip {

void define_linalg_complex_ops(Registry& r);

/// Batch size and the per-matrix sizes of a validated solve_complex / inverse_complex call:
/// A [..., n, n, 2], B [..., n, k, 2] (k = n for the inverse).
struct SolveDims {
  int64_t batch = 0, n = 0, k = 0;
};
SolveDims solve_dims(const OpCall& c);

/// Validated matmul_complex: C[b] = op(A[b])·op(B[b]), op = conjugate transpose when adjA / adjB.
struct CMatmulDims {
  int64_t batch = 0, m = 0, n = 0, k = 0;
  bool adj_a = false, adj_b = false;
};
CMatmulDims cmatmul_dims(const OpCall& c);

/// The singularity rule of solve_complex / inverse_complex: the LU (partial pivoting) of A stops when a
/// pivot p has |p| ≤ n·ε·max_ij |A_ij| (ε: the dtype's machine epsilon; this includes p = 0 and A = 0).
template <class T>
inline double singular_tolerance(int64_t n, double max_abs) {
  return static_cast<double>(n) * std::numeric_limits<T>::epsilon() * max_abs;
}

/// Per-matrix outcome of a factorization, reported by the kernels.
enum LuStatus : int { kLuOk = 0, kLuSingular = 1, kLuNonFinite = 2 };
/// Throws ERR_ARGUMENT for the first (lowest batch index) failed matrix, naming the op and the index.
void report_lu_status(const OpCall& c, const int* status, int64_t batch, int64_t n);

}  // namespace onelip
