// CUDA kernels of solve_complex, inverse_complex and matmul_complex. The LU (partial pivoting, whole
// rows swapped) runs one block per matrix, on a copy in shared memory when it fits (n ≤ 75 float32,
// n ≤ 53 float64), else in global memory (cached in L1/L2): per column a block-wide pivot search, the
// row swap, the column scaling and the rank-1 update of the trailing matrix by all threads. The
// triangular solves then give one thread per right-hand-side column. matmul_complex: one thread per
// output element.
#include <vector>
#include "../native/ops/linalg_complex.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kLuThreads = 256;  // a power of two (tree reductions)
// Dynamic shared memory for a matrix factored in shared memory: the default per-block limit (48 KB)
// less the kernel's 3 KB of static reduction buffers.
constexpr size_t kLuSmemBytes = 45 * 1024;

/// Block-wide argmax of (v, i) over the threads (ties: the smaller index); every thread gets the result.
__device__ void block_argmax(double* red, int* idx, double v, int i, double* best, int* where) {
  const int t = threadIdx.x;
  red[t] = v;
  idx[t] = i;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) {
      const double o = red[t + s];
      const int oi = idx[t + s];
      if (o > red[t] || (o == red[t] && oi < idx[t])) {
        red[t] = o;
        idx[t] = oi;
      }
    }
    __syncthreads();
  }
  *best = red[0];
  *where = idx[0];
  __syncthreads();
}

/// LU of A[b] (n×n interleaved) into lu[b] with swaps perm[b·n + j]; status[b] = LuStatus. With
/// `in_smem` the factorization runs on a copy in dynamic shared memory (n·n·2 values, n ≤ 75 for float32,
/// ≤ 53 for float64 within kLuSmemBytes) that is written to lu[b] at the end; otherwise in place in
/// lu[b] (global memory, cached in L1/L2).
template <class T>
__global__ void lu_kernel(const T* __restrict__ a, T* __restrict__ lu, int* __restrict__ perm, int* __restrict__ status,
                          int n, T eps, bool in_smem) {
  extern __shared__ unsigned char smem_raw[];
  __shared__ double red[kLuThreads];
  __shared__ int idx[kLuThreads];
  const size_t b = blockIdx.x;
  const size_t nn = static_cast<size_t>(n) * n;
  const T* src = a + b * nn * 2;
  T* out = lu + b * nn * 2;
  T* m = in_smem ? reinterpret_cast<T*>(smem_raw) : out;
  int* pv = perm + b * n;
  const int t = threadIdx.x;
  double mx = 0;
  int bad = 0;
  for (size_t e = t; e < nn; e += blockDim.x) {
    const T re = src[2 * e], im = src[2 * e + 1];
    bad |= !(isfinite(re) && isfinite(im));
    m[2 * e] = re;
    m[2 * e + 1] = im;
    mx = fmax(mx, sqrt(static_cast<double>(re) * re + static_cast<double>(im) * im));
  }
  if (__syncthreads_or(bad)) {
    if (t == 0) status[b] = kLuNonFinite;
    return;
  }
  double amax;
  int unused;
  block_argmax(red, idx, mx, 0, &amax, &unused);
  const double tol = static_cast<double>(n) * static_cast<double>(eps) * amax;
  for (int j = 0; j < n; ++j) {
    double v = -1;
    int vi = j;
    for (int i = j + t; i < n; i += blockDim.x) {
      const double re = m[2 * (static_cast<size_t>(i) * n + j)], im = m[2 * (static_cast<size_t>(i) * n + j) + 1];
      const double m2 = re * re + im * im;
      if (m2 > v) {
        v = m2;
        vi = i;
      }
    }
    double best;
    int piv;
    block_argmax(red, idx, v, vi, &best, &piv);
    if (!(best > tol * tol)) {
      if (t == 0) status[b] = kLuSingular;
      return;
    }
    if (t == 0) pv[j] = piv;
    if (piv != j)
      for (int q = t; q < n; q += blockDim.x) {
        T* x = m + 2 * (static_cast<size_t>(j) * n + q);
        T* y = m + 2 * (static_cast<size_t>(piv) * n + q);
        const T xr = x[0], xi = x[1];
        x[0] = y[0];
        x[1] = y[1];
        y[0] = xr;
        y[1] = xi;
      }
    __syncthreads();
    const T dr = m[2 * (static_cast<size_t>(j) * n + j)], di = m[2 * (static_cast<size_t>(j) * n + j) + 1];
    const T d2 = dr * dr + di * di, ir = dr / d2, ii = -di / d2;
    for (int i = j + 1 + t; i < n; i += blockDim.x) {
      T* l = m + 2 * (static_cast<size_t>(i) * n + j);
      const T xr = l[0], xi = l[1];
      l[0] = xr * ir - xi * ii;
      l[1] = xr * ii + xi * ir;
    }
    __syncthreads();
    // trailing update: A[i, q] −= L[i, j]·U[j, q] for i, q > j
    const int rest = n - j - 1;
    for (int e = t; e < rest * rest; e += blockDim.x) {
      const int i = j + 1 + e / rest, q = j + 1 + e % rest;
      const T* l = m + 2 * (static_cast<size_t>(i) * n + j);
      const T* u = m + 2 * (static_cast<size_t>(j) * n + q);
      T* x = m + 2 * (static_cast<size_t>(i) * n + q);
      x[0] -= l[0] * u[0] - l[1] * u[1];
      x[1] -= l[0] * u[1] + l[1] * u[0];
    }
    __syncthreads();
  }
  if (in_smem)
    for (size_t e = t; e < 2 * nn; e += blockDim.x) out[e] = m[e];
  if (t == 0) status[b] = kLuOk;
}

/// X[b] = U⁻¹L⁻¹P·B[b] (B[b] = I when rhs is null), one thread per right-hand-side column. Raises
/// status[b] to kLuNonFinite for a non-finite B and to kLuSingular for a non-finite X (overflow).
template <class T>
__global__ void lu_solve_kernel(const T* __restrict__ lu, const int* __restrict__ perm, int* __restrict__ status,
                                const T* __restrict__ rhs, T* __restrict__ x, int n, int k) {
  const size_t b = blockIdx.x;
  const size_t nn = static_cast<size_t>(n) * n, nk = static_cast<size_t>(n) * k;
  const T* m = lu + b * nn * 2;
  const int* pv = perm + b * n;
  T* xb = x + b * nk * 2;
  const bool ok = status[b] == kLuOk;
  for (int q = threadIdx.x; q < k; q += blockDim.x) {
    bool finite = true;
    for (int i = 0; i < n; ++i) {
      const size_t e = static_cast<size_t>(i) * k + q;
      xb[2 * e] = !ok ? T(0) : rhs ? rhs[b * nk * 2 + 2 * e] : T(i == q ? 1 : 0);
      xb[2 * e + 1] = !ok || !rhs ? T(0) : rhs[b * nk * 2 + 2 * e + 1];
      finite = finite && isfinite(xb[2 * e]) && isfinite(xb[2 * e + 1]);
    }
    if (!finite) atomicMax(status + b, static_cast<int>(kLuNonFinite));
    if (!ok || !finite) continue;
    for (int j = 0; j < n; ++j) {
      const int p = pv[j];
      if (p != j) {
        T* u = xb + 2 * (static_cast<size_t>(j) * k + q);
        T* v = xb + 2 * (static_cast<size_t>(p) * k + q);
        const T ur = u[0], ui = u[1];
        u[0] = v[0];
        u[1] = v[1];
        v[0] = ur;
        v[1] = ui;
      }
    }
    for (int i = 1; i < n; ++i) {  // unit lower
      T sr = xb[2 * (static_cast<size_t>(i) * k + q)], si = xb[2 * (static_cast<size_t>(i) * k + q) + 1];
      for (int j = 0; j < i; ++j) {
        const T lr = m[2 * (static_cast<size_t>(i) * n + j)], li = m[2 * (static_cast<size_t>(i) * n + j) + 1];
        const T yr = xb[2 * (static_cast<size_t>(j) * k + q)], yi = xb[2 * (static_cast<size_t>(j) * k + q) + 1];
        sr -= lr * yr - li * yi;
        si -= lr * yi + li * yr;
      }
      xb[2 * (static_cast<size_t>(i) * k + q)] = sr;
      xb[2 * (static_cast<size_t>(i) * k + q) + 1] = si;
    }
    for (int i = n - 1; i >= 0; --i) {  // upper
      T sr = xb[2 * (static_cast<size_t>(i) * k + q)], si = xb[2 * (static_cast<size_t>(i) * k + q) + 1];
      for (int j = i + 1; j < n; ++j) {
        const T ur = m[2 * (static_cast<size_t>(i) * n + j)], ui = m[2 * (static_cast<size_t>(i) * n + j) + 1];
        const T yr = xb[2 * (static_cast<size_t>(j) * k + q)], yi = xb[2 * (static_cast<size_t>(j) * k + q) + 1];
        sr -= ur * yr - ui * yi;
        si -= ur * yi + ui * yr;
      }
      const T dr = m[2 * (static_cast<size_t>(i) * n + i)], di = m[2 * (static_cast<size_t>(i) * n + i) + 1];
      const T d2 = dr * dr + di * di;
      xb[2 * (static_cast<size_t>(i) * k + q)] = (sr * dr + si * di) / d2;
      xb[2 * (static_cast<size_t>(i) * k + q) + 1] = (si * dr - sr * di) / d2;
      finite = finite && isfinite(xb[2 * (static_cast<size_t>(i) * k + q)]) &&
               isfinite(xb[2 * (static_cast<size_t>(i) * k + q) + 1]);
    }
    if (!finite) atomicMax(status + b, static_cast<int>(kLuSingular));  // overflow: numerically singular
  }
}

/// C[b] = op(A[b])·op(B[b]); op(A)(i, p) = A[i, p] or conj A[p, i]; one thread per output element.
template <class T>
__global__ void matmul_complex_kernel(const T* __restrict__ a, const T* __restrict__ bm, T* __restrict__ c,
                                      size_t total, int m, int n, int k, bool adj_a, bool adj_b) {
  const size_t stride = static_cast<size_t>(blockDim.x) * gridDim.x;
  for (size_t o = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const size_t b = o / (static_cast<size_t>(m) * n);
    const int i = static_cast<int>(o / n % m), j = static_cast<int>(o % n);
    const T* ab = a + b * m * k * 2;
    const T* bb = bm + b * k * n * 2;
    T re = 0, im = 0;
    for (int p = 0; p < k; ++p) {
      const size_t ai = adj_a ? static_cast<size_t>(p) * m + i : static_cast<size_t>(i) * k + p;
      const size_t bi = adj_b ? static_cast<size_t>(j) * k + p : static_cast<size_t>(p) * n + j;
      const T xr = ab[2 * ai], xi = adj_a ? -ab[2 * ai + 1] : ab[2 * ai + 1];
      const T yr = bb[2 * bi], yi = adj_b ? -bb[2 * bi + 1] : bb[2 * bi + 1];
      re += xr * yr - xi * yi;
      im += xr * yi + xi * yr;
    }
    c[2 * o] = re;
    c[2 * o + 1] = im;
  }
}

void solve_op(OpCall& c, bool inverse) {
  const SolveDims d = solve_dims(c);
  if (d.batch == 0 || d.n == 0 || d.k == 0) return;
  if (d.batch > 2147483647 || d.n > 2147483647 || d.k > 2147483647)
    fail(code::kUnsupported, c.op, ": batch and matrix sizes must be below 2^31 on cuda");
  const Tensor& a = c.inputs[0];
  Tensor lu = Tensor::empty(a.shape(), a.dtype(), Device::CUDA);
  Tensor perm = Tensor::empty({d.batch, d.n}, DType::I32, Device::CUDA);
  Tensor status = Tensor::empty({d.batch}, DType::I32, Device::CUDA);
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k1 = lu_kernel<T>;
    const size_t bytes = static_cast<size_t>(2 * d.n * d.n) * sizeof(T);
    const bool in_smem = bytes <= kLuSmemBytes;
    KLAUNCH(k1, static_cast<unsigned>(d.batch), kLuThreads, in_smem ? bytes : 0, 0, a.data<T>(), lu.data<T>(),
            perm.data<int>(), status.data<int>(), static_cast<int>(d.n), std::numeric_limits<T>::epsilon(), in_smem);
    cuda::check_launch("lu_kernel");
    const T* rhs = inverse ? nullptr : c.inputs[1].data<T>();
    auto k2 = lu_solve_kernel<T>;
    const int threads = d.k >= 128 ? 128 : 32;
    KLAUNCH(k2, static_cast<unsigned>(d.batch), threads, 0, 0, lu.data<T>(), perm.data<int>(), status.data<int>(), rhs,
            c.outputs[0].data<T>(), static_cast<int>(d.n), static_cast<int>(d.k));
    cuda::check_launch("lu_solve_kernel");
  });
  std::vector<int> host(static_cast<size_t>(d.batch));
  CUDA_CHECK(cudaMemcpy(host.data(), status.data<int>(), host.size() * sizeof(int), cudaMemcpyDeviceToHost));
  report_lu_status(c, host.data(), d.batch, d.n);
}

void matmul_complex_op(OpCall& c) {
  const CMatmulDims d = cmatmul_dims(c);
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  if (d.m > 2147483647 || d.n > 2147483647 || d.k > 2147483647)
    fail(code::kUnsupported, c.op, ": matrix sizes must be below 2^31 on cuda");
  const size_t total = static_cast<size_t>(d.batch * d.m * d.n);
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k = matmul_complex_kernel<T>;
    KLAUNCH(k, cuda::grid_for(static_cast<int64_t>(total)), cuda::kBlock, 0, 0, c.inputs[0].data<T>(),
            c.inputs[1].data<T>(), out.data<T>(), total, static_cast<int>(d.m), static_cast<int>(d.n),
            static_cast<int>(d.k), d.adj_a, d.adj_b);
    cuda::check_launch("matmul_complex_kernel");
  });
}

}  // namespace

/// Registers the CUDA kernels of solve_complex / inverse_complex (one block per matrix: LU with partial
/// pivoting, then one thread per right-hand side) and matmul_complex (one thread per output element).
void register_cuda_linalg_complex(Registry& r) {
  r.kernel("solve_complex", Device::CUDA, [](OpCall& c) { solve_op(c, false); });
  r.kernel("inverse_complex", Device::CUDA, [](OpCall& c) { solve_op(c, true); });
  r.kernel("matmul_complex", Device::CUDA, matmul_complex_op);
}

}  // namespace onelip
