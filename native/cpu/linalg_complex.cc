// CPU kernels of solve_complex, inverse_complex and matmul_complex. Matrices are worked on as split
// real/imaginary planes. The LU (partial pivoting, rows swapped across the whole matrix as in LAPACK's
// getrf) is right-looking and blocked: an unblocked panel of kNb columns, the triangular solve for the
// block row to its right, then the trailing update as one real GEMM (native/cpu/gemm) of the complex
// product written as [[Lr, −Li], [Li, Lr]]·[Ur; Ui]. The triangular solves with the right-hand sides
// are blocked the same way. Batches run one matrix per pool task when there are enough of them, else
// one matrix at a time with the GEMM threaded.
#include <algorithm>
#include <cmath>
#include <vector>
#include "../core/thread_pool.h"
#include "../ops/linalg_complex.h"
#include "cpu_ops.h"
#include "gemm/driver.h"

namespace onelip {
namespace {

constexpr int64_t kNb = 16;  // panel width of the blocked LU and triangular solves (best of 8..48 measured, docs/PERF.md)

/// A split complex matrix view: element (i, j) = re[i·ld + j] + i·im[i·ld + j].
template <class T>
struct CMat {
  T* re;
  T* im;
  int64_t ld;
  T& r(int64_t i, int64_t j) const { return re[i * ld + j]; }
  T& i(int64_t i, int64_t j) const { return im[i * ld + j]; }
  CMat at(int64_t i, int64_t j) const { return {re + i * ld + j, im + i * ld + j, ld}; }
};

template <class T>
struct Work {
  std::vector<T> aug_a, aug_b, prod;
};
template <class T>
Work<T>& work() {
  thread_local Work<T> w;
  return w;
}

/// P = [[Ar, −Ai], [Ai, Ar]]·[Br; Bi] for the m×k matrix A and the k×n matrix B: P's first m rows are
/// Re(A·B), the next m rows Im(A·B) (row-major, ld n). Returns P.
template <class T>
const T* complex_product(int64_t m, int64_t n, int64_t k, const CMat<T>& a, const CMat<T>& b, int threads) {
  Work<T>& w = work<T>();
  w.aug_a.resize(static_cast<size_t>(4 * m * k));
  w.aug_b.resize(static_cast<size_t>(2 * k * n));
  w.prod.resize(static_cast<size_t>(2 * m * n));
  T* A = w.aug_a.data();
  T* B = w.aug_b.data();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) {
      const T re = a.r(i, p), im = a.i(i, p);
      A[i * 2 * k + p] = re;
      A[i * 2 * k + k + p] = -im;
      A[(m + i) * 2 * k + p] = im;
      A[(m + i) * 2 * k + k + p] = re;
    }
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) {
      B[p * n + j] = b.r(p, j);
      B[(k + p) * n + j] = b.i(p, j);
    }
  gemm::gemm<T>({2 * m, n, 2 * k, A, 2 * k, 1, B, n, 1, w.prod.data(), n}, threads);
  return w.prod.data();
}

/// C −= A·B (A m×k, B k×n, C m×n).
template <class T>
void sub_product(int64_t m, int64_t n, int64_t k, const CMat<T>& a, const CMat<T>& b, const CMat<T>& c, int threads) {
  if (m == 0 || n == 0 || k == 0) return;
  const T* p = complex_product(m, n, k, a, b, threads);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      c.r(i, j) -= p[i * n + j];
      c.i(i, j) -= p[(m + i) * n + j];
    }
}

/// In-place blocked LU with partial pivoting of the n×n matrix a; perm[j] = the row swapped with row j.
/// Returns false when a pivot |p| ≤ tol.
template <class T>
bool lu(const CMat<T>& a, int64_t n, int64_t* perm, double tol, int threads) {
  const T tol2 = static_cast<T>(tol * tol);
  for (int64_t j0 = 0; j0 < n; j0 += kNb) {
    const int64_t jb = std::min(kNb, n - j0), j1 = j0 + jb;
    for (int64_t j = j0; j < j1; ++j) {
      int64_t piv = j;
      T best = -1;
      for (int64_t i = j; i < n; ++i) {
        const T m2 = a.r(i, j) * a.r(i, j) + a.i(i, j) * a.i(i, j);
        if (m2 > best) {
          best = m2;
          piv = i;
        }
      }
      if (!(best > tol2)) return false;
      perm[j] = piv;
      if (piv != j)
        for (int64_t q = 0; q < n; ++q) {
          std::swap(a.r(j, q), a.r(piv, q));
          std::swap(a.i(j, q), a.i(piv, q));
        }
      const T dr = a.r(j, j), di = a.i(j, j), d2 = dr * dr + di * di;
      const T ir = dr / d2, ii = -di / d2;  // 1 / pivot
      for (int64_t i = j + 1; i < n; ++i) {
        const T xr = a.r(i, j), xi = a.i(i, j);
        const T lr = xr * ir - xi * ii, li = xr * ii + xi * ir;
        a.r(i, j) = lr;
        a.i(i, j) = li;
        T* rr = &a.r(i, 0);
        T* ri = &a.i(i, 0);
        const T* ur = &a.r(j, 0);
        const T* ui = &a.i(j, 0);
        for (int64_t q = j + 1; q < j1; ++q) {  // the rest of the panel
          rr[q] -= lr * ur[q] - li * ui[q];
          ri[q] -= lr * ui[q] + li * ur[q];
        }
      }
    }
    if (j1 == n) break;
    // block row to the right: U12 = L11⁻¹·A12 (unit lower L11)
    for (int64_t j = j0; j < j1; ++j)
      for (int64_t i = j + 1; i < j1; ++i) {
        const T lr = a.r(i, j), li = a.i(i, j);
        T* rr = &a.r(i, 0);
        T* ri = &a.i(i, 0);
        const T* ur = &a.r(j, 0);
        const T* ui = &a.i(j, 0);
        for (int64_t q = j1; q < n; ++q) {
          rr[q] -= lr * ur[q] - li * ui[q];
          ri[q] -= lr * ui[q] + li * ur[q];
        }
      }
    // trailing update A22 −= L21·U12
    sub_product(n - j1, n - j1, jb, a.at(j1, j0), a.at(j0, j1), a.at(j1, j1), threads);
  }
  return true;
}

/// b (n×k) ← U⁻¹·L⁻¹·P·b with the factors and swaps from lu().
template <class T>
void lu_solve(const CMat<T>& a, int64_t n, const int64_t* perm, const CMat<T>& b, int64_t k, int threads) {
  for (int64_t j = 0; j < n; ++j)
    if (perm[j] != j)
      for (int64_t q = 0; q < k; ++q) {
        std::swap(b.r(j, q), b.r(perm[j], q));
        std::swap(b.i(j, q), b.i(perm[j], q));
      }
  auto axpy_row = [&](int64_t dst, int64_t src, T lr, T li) {  // b[dst] −= l·b[src]
    T* rr = &b.r(dst, 0);
    T* ri = &b.i(dst, 0);
    const T* sr = &b.r(src, 0);
    const T* si = &b.i(src, 0);
    for (int64_t q = 0; q < k; ++q) {
      rr[q] -= lr * sr[q] - li * si[q];
      ri[q] -= lr * si[q] + li * sr[q];
    }
  };
  // L y = P b, blocks top-down
  for (int64_t i0 = 0; i0 < n; i0 += kNb) {
    const int64_t i1 = std::min(n, i0 + kNb);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = i0; j < i; ++j) axpy_row(i, j, a.r(i, j), a.i(i, j));
    sub_product(n - i1, k, i1 - i0, a.at(i1, i0), b.at(i0, 0), b.at(i1, 0), threads);
  }
  // U x = y, blocks bottom-up
  for (int64_t i1 = n; i1 > 0;) {
    const int64_t i0 = std::max<int64_t>(0, i1 - kNb);
    for (int64_t i = i1 - 1; i >= i0; --i) {
      for (int64_t j = i + 1; j < i1; ++j) axpy_row(i, j, a.r(i, j), a.i(i, j));
      const T dr = a.r(i, i), di = a.i(i, i), d2 = dr * dr + di * di;
      const T ir = dr / d2, ii = -di / d2;
      T* rr = &b.r(i, 0);
      T* ri = &b.i(i, 0);
      for (int64_t q = 0; q < k; ++q) {
        const T xr = rr[q], xi = ri[q];
        rr[q] = xr * ir - xi * ii;
        ri[q] = xr * ii + xi * ir;
      }
    }
    sub_product(i0, k, i1 - i0, a.at(0, i0), b.at(i0, 0), b.at(0, 0), threads);
    i1 = i0;
  }
}

/// Splits the interleaved rows×cols complex matrix src into planes (re, im with ld cols); returns
/// false when a value is not finite. *max_abs = max |src_ij|.
template <class T>
bool split(const T* src, int64_t rows, int64_t cols, T* re, T* im, double* max_abs) {
  double mx2 = 0;
  for (int64_t e = 0; e < rows * cols; ++e) {
    const T r = src[2 * e], i = src[2 * e + 1];
    re[e] = r;
    im[e] = i;
    mx2 = std::max(mx2, static_cast<double>(r) * r + static_cast<double>(i) * i);  // NaN: ignored by max
  }
  *max_abs = std::sqrt(mx2);
  T probe = 0;  // stays 0 unless some value is NaN or ±Inf (x·0 is NaN for those)
  for (int64_t e = 0; e < rows * cols; ++e) probe += re[e] * T(0) + im[e] * T(0);
  return probe == T(0);
}

/// Solves (or inverts, when b == nullptr) one system; writes x interleaved. Returns a LuStatus.
template <class T>
int solve_one(const T* a_src, const T* b_src, T* x, int64_t n, int64_t k, int threads) {
  std::vector<T> buf(static_cast<size_t>(2 * n * n + 2 * n * k));
  std::vector<int64_t> perm(static_cast<size_t>(n));
  const CMat<T> a{buf.data(), buf.data() + n * n, n};
  const CMat<T> b{buf.data() + 2 * n * n, buf.data() + 2 * n * n + n * k, k};
  double amax, bmax;
  if (!split(a_src, n, n, a.re, a.im, &amax)) return kLuNonFinite;
  if (b_src) {
    if (!split(b_src, n, k, b.re, b.im, &bmax)) return kLuNonFinite;
  } else {
    std::fill(b.re, b.re + n * k, T(0));
    std::fill(b.im, b.im + n * k, T(0));
    for (int64_t i = 0; i < n; ++i) b.r(i, i) = T(1);
  }
  if (!lu(a, n, perm.data(), singular_tolerance<T>(n, amax), threads)) return kLuSingular;
  lu_solve(a, n, perm.data(), b, k, threads);
  for (int64_t e = 0; e < n * k; ++e) {
    if (!std::isfinite(b.re[e]) || !std::isfinite(b.im[e])) return kLuSingular;  // overflow: numerically singular
    x[2 * e] = b.re[e];
    x[2 * e + 1] = b.im[e];
  }
  return kLuOk;
}

/// Runs f(b, threads) for every batch index: one per pool task when there are at least as many
/// matrices as threads (each then single-threaded), else one after the other with all threads.
template <class F>
void over_batch(int64_t batch, F f) {
  const int nt = num_threads();
  if (batch >= nt) {
    parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) f(b, 1);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) f(b, nt);
  }
}

void solve_op(OpCall& c, bool inverse) {
  const SolveDims d = solve_dims(c);
  if (d.batch == 0 || d.n == 0 || d.k == 0) return;
  std::vector<int> status(static_cast<size_t>(d.batch), kLuOk);
  dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = c.inputs[0].data<T>();
    const T* b = inverse ? nullptr : c.inputs[1].data<T>();
    T* x = c.outputs[0].data<T>();
    over_batch(d.batch, [&](int64_t e, int threads) {
      status[e] = solve_one<T>(a + e * 2 * d.n * d.n, b ? b + e * 2 * d.n * d.k : nullptr, x + e * 2 * d.n * d.k, d.n,
                               d.k, threads);
    });
  });
  report_lu_status(c, status.data(), d.batch, d.n);
}

/// Copies op(src) (src rows×cols interleaved; op = conjugate transpose when adj) into split planes.
template <class T>
void load_op(const T* src, int64_t rows, int64_t cols, bool adj, T* re, T* im) {
  if (!adj) {
    for (int64_t e = 0; e < rows * cols; ++e) {
      re[e] = src[2 * e];
      im[e] = src[2 * e + 1];
    }
    return;
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      re[j * rows + i] = src[2 * (i * cols + j)];
      im[j * rows + i] = -src[2 * (i * cols + j) + 1];
    }
}

void matmul_complex_op(OpCall& c) {
  const CMatmulDims d = cmatmul_dims(c);
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* a = c.inputs[0].data<T>();
    const T* b = c.inputs[1].data<T>();
    T* y = out.data<T>();
    if (d.k == 0) {
      std::fill(y, y + out.numel(), T(0));
      return;
    }
    over_batch(d.batch, [&](int64_t e, int threads) {
      std::vector<T> buf(static_cast<size_t>(2 * d.m * d.k + 2 * d.k * d.n));
      const CMat<T> A{buf.data(), buf.data() + d.m * d.k, d.k};
      const CMat<T> B{buf.data() + 2 * d.m * d.k, buf.data() + 2 * d.m * d.k + d.k * d.n, d.n};
      load_op(a + e * 2 * d.m * d.k, d.adj_a ? d.k : d.m, d.adj_a ? d.m : d.k, d.adj_a, A.re, A.im);
      load_op(b + e * 2 * d.k * d.n, d.adj_b ? d.n : d.k, d.adj_b ? d.k : d.n, d.adj_b, B.re, B.im);
      const T* p = complex_product(d.m, d.n, d.k, A, B, threads);
      T* dst = y + e * 2 * d.m * d.n;
      for (int64_t i = 0; i < d.m * d.n; ++i) {
        dst[2 * i] = p[i];
        dst[2 * i + 1] = p[d.m * d.n + i];
      }
    });
  });
}

}  // namespace

/// Registers the CPU kernels of solve_complex / inverse_complex (blocked LU with partial pivoting, 8/3·n³
/// real flops, then the blocked triangular solves, 8·n²·k) and matmul_complex (one real GEMM of twice the
/// size per matrix: 8·m·n·k flops).
void register_cpu_linalg_complex(Registry& r) {
  r.kernel("solve_complex", Device::CPU, [](OpCall& c) { solve_op(c, false); });
  r.kernel("inverse_complex", Device::CPU, [](OpCall& c) { solve_op(c, true); });
  r.kernel("matmul_complex", Device::CPU, matmul_complex_op);
}

}  // namespace onelip
