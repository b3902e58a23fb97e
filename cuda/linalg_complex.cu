// CUDA kernels of solve_complex, inverse_complex and matmul_complex.
// LU with partial pivoting (whole rows swapped, as LAPACK's getrf):
//   * small n (the matrix fits in 45 KB of shared memory: n ≤ 75 float32, n ≤ 53 float64): one block per
//     matrix on a copy in shared memory, per column a block-wide pivot search, the swap, the scaling and
//     the rank-1 update of the trailing matrix;
//   * larger n: blocked right-looking LU in global memory, panels of kNb columns (narrower when the
//     panel's rows would not fit in shared memory). Per panel: the panel factorization (one block per
//     matrix, the panel in shared memory, warp-shuffle pivot search, row swaps), the triangular solve of the
//     U block row to its right (one thread per column, the diagonal block in shared memory), and the
//     trailing update A22 −= L21·U12 as a tiled complex GEMM over a grid of (batch × 64×64 tiles), which
//     is where the flops are and what spreads a small batch over the whole GPU.
// The solves X = U⁻¹L⁻¹P·B (B = I for the inverse) are blocked the same way for every n: per block row
// of kNb rows a triangular solve with the diagonal block (one thread per right-hand side) and a GEMM
// update of the remaining rows. matmul_complex: the same tiled complex GEMM (adjoint operands loaded
// transposed and conjugated).
#include <algorithm>
#include <vector>
#include "../native/ops/linalg_complex.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kLuThreads = 256;  // a multiple of 32 (warp-shuffle reductions)
// Dynamic shared memory for a matrix factored in shared memory: the default per-block limit (48 KB)
// less a margin for the kernel's static shared memory.
constexpr size_t kLuSmemBytes = 45 * 1024;
constexpr int kNb = 32;            // panel width of the blocked LU and row-block height of the solves
constexpr int kTile = 64;          // C tile of the complex GEMM (per block of 256 threads)
constexpr int kKc = 16;            // K chunk of the complex GEMM staged in shared memory
constexpr int kTrsmThreads = 128;  // right-hand-side columns per block of the triangular solves
constexpr int kPrepChunk = 4096;   // values per block of the copy / scan kernels
// Dynamic shared memory of the panel kernel (within the opt-in limit of sm_80 and sm_90): the panel
// holds (n − j0) rows × up to kNb columns, narrower when the rows would not fit (float64 n = 512: 11).
constexpr size_t kPanelSmemBytes = 96 * 1024;

/// Block-wide argmax of (v, i) (ties: the smaller index) by warp shuffles and one pass over the per-warp
/// winners in shared memory (2 barriers); every thread gets the result. blockDim.x: a multiple of 32.
__device__ void block_argmax_warp(double* wv, int* wi, double v, int i, double* best, int* where) {
  for (int off = 16; off > 0; off >>= 1) {
    const double ov = __shfl_down_sync(0xffffffffu, v, off);
    const int oi = __shfl_down_sync(0xffffffffu, i, off);
    if (ov > v || (ov == v && oi < i)) {
      v = ov;
      i = oi;
    }
  }
  if ((threadIdx.x & 31) == 0) {
    wv[threadIdx.x >> 5] = v;
    wi[threadIdx.x >> 5] = i;
  }
  __syncthreads();
  v = wv[0];
  i = wi[0];
  for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w)
    if (wv[w] > v || (wv[w] == v && wi[w] < i)) {
      v = wv[w];
      i = wi[w];
    }
  *best = v;
  *where = i;
  __syncthreads();
}

/// LU of A[b] (n×n interleaved) into lu[b] with swaps perm[b·n + j]; status[b] = LuStatus. The
/// factorization runs on a copy in dynamic shared memory (n·n·2 values, n ≤ 75 for float32, ≤ 53 for
/// float64 within kLuSmemBytes) that is written to lu[b] at the end.
template <class T>
__global__ void lu_kernel(const T* __restrict__ a, T* __restrict__ lu, int* __restrict__ perm, int* __restrict__ status,
                          int n, T eps) {
  extern __shared__ unsigned char smem_raw[];
  __shared__ double red[kLuThreads / 32];
  __shared__ int idx[kLuThreads / 32];
  const size_t b = blockIdx.x;
  const size_t nn = static_cast<size_t>(n) * n;
  const T* src = a + b * nn * 2;
  T* out = lu + b * nn * 2;
  T* m = reinterpret_cast<T*>(smem_raw);
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
  block_argmax_warp(red, idx, mx, 0, &amax, &unused);
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
    block_argmax_warp(red, idx, v, vi, &best, &piv);
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
  for (size_t e = t; e < 2 * nn; e += blockDim.x) out[e] = m[e];
  if (t == 0) status[b] = kLuOk;
}

/// Blocked path, step 0: copies A[b] into lu[b] and writes, per chunk of kPrepChunk values, max |A_ij|
/// (or −1 when a value is not finite) to partial[b·chunks + chunk]. Grid (batch, chunks).
template <class T>
__global__ void lu_prepare_kernel(const T* __restrict__ a, T* __restrict__ lu, double* __restrict__ partial, int n,
                                  int chunks) {
  __shared__ double red[kLuThreads / 32];
  __shared__ int idx[kLuThreads / 32];
  const size_t b = blockIdx.x;
  const size_t nn = static_cast<size_t>(n) * n;
  const T* src = a + b * nn * 2;
  T* dst = lu + b * nn * 2;
  for (int c = blockIdx.y; c < chunks; c += gridDim.y) {
    const size_t e0 = static_cast<size_t>(c) * kPrepChunk;
    const size_t e1 = e0 + kPrepChunk < nn ? e0 + kPrepChunk : nn;
    double mx = 0;
    int bad = 0;
    for (size_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
      const T re = src[2 * e], im = src[2 * e + 1];
      bad |= !(isfinite(re) && isfinite(im));
      dst[2 * e] = re;
      dst[2 * e + 1] = im;
      mx = fmax(mx, sqrt(static_cast<double>(re) * re + static_cast<double>(im) * im));
    }
    bad = __syncthreads_or(bad);
    double best;
    int unused;
    block_argmax_warp(red, idx, mx, 0, &best, &unused);
    if (threadIdx.x == 0) partial[b * chunks + c] = bad ? -1.0 : best;
  }
}

/// Blocked path: factors the panel of columns j0 .. j0+jb−1 (rows j0 .. n−1) of lu[b], one block per
/// matrix, on a copy in dynamic shared memory (planar re/im, odd leading dimension ld: the column reads
/// of the pivot search hit distinct banks): per column a warp-shuffle pivot search, the swap of the two
/// panel rows, the scaling of the column below the pivot and the rank-1 update of the rest of the panel.
/// Then the panel goes back to global memory and the panel's row swaps are applied to the columns left
/// and right of it (as LAPACK's laswp). The first panel (j0 = 0) also sets status[b] and the singularity
/// tolerance tolv[b] from the partial maxima of lu_prepare_kernel. Matrices whose status is not kLuOk
/// are skipped.
template <class T>
__global__ void lu_panel_kernel(T* __restrict__ lu, int* __restrict__ perm, int* __restrict__ status,
                                double* __restrict__ tolv, const double* __restrict__ partial, int chunks, int n, int j0,
                                int jb, int ld, T eps) {
  extern __shared__ unsigned char smem_raw[];
  __shared__ double wv[kLuThreads / 32];
  __shared__ int wi[kLuThreads / 32];
  __shared__ int pivs[kNb];
  __shared__ int skip;
  const size_t b = blockIdx.x;
  const int t = threadIdx.x;
  if (t == 0) {
    if (j0 == 0) {
      double mx = 0;
      bool bad = false;
      for (int c = 0; c < chunks; ++c) {
        const double p = partial[b * chunks + c];
        if (p < 0) bad = true;
        else mx = fmax(mx, p);
      }
      status[b] = bad ? kLuNonFinite : kLuOk;
      tolv[b] = static_cast<double>(n) * static_cast<double>(eps) * mx;
    }
    skip = status[b] != kLuOk;
  }
  __syncthreads();
  if (skip) return;
  const double tol = tolv[b];
  const int rows = n - j0;
  T* pr = reinterpret_cast<T*>(smem_raw);  // panel row r (matrix row j0 + r), column c: pr/pi[r·ld + c]
  T* pi = pr + static_cast<size_t>(rows) * ld;
  T* m = lu + b * static_cast<size_t>(n) * n * 2;
  for (int e = t; e < rows * jb; e += blockDim.x) {
    const int r = e / jb, c = e % jb;
    const size_t g = 2 * (static_cast<size_t>(j0 + r) * n + j0 + c);
    pr[r * ld + c] = m[g];
    pi[r * ld + c] = m[g + 1];
  }
  __syncthreads();
  for (int jj = 0; jj < jb; ++jj) {
    double v = -1;
    int vi = jj;
    for (int r = jj + t; r < rows; r += blockDim.x) {
      const double re = pr[r * ld + jj], im = pi[r * ld + jj];
      const double m2 = re * re + im * im;
      if (m2 > v) {
        v = m2;
        vi = r;
      }
    }
    double best;
    int piv;
    block_argmax_warp(wv, wi, v, vi, &best, &piv);
    if (!(best > tol * tol)) {
      if (t == 0) status[b] = kLuSingular;
      return;
    }
    if (t == 0) {
      perm[b * n + j0 + jj] = j0 + piv;
      pivs[jj] = j0 + piv;
    }
    if (piv != jj)
      for (int c = t; c < jb; c += blockDim.x) {
        const T xr = pr[jj * ld + c], xi = pi[jj * ld + c];
        pr[jj * ld + c] = pr[piv * ld + c];
        pi[jj * ld + c] = pi[piv * ld + c];
        pr[piv * ld + c] = xr;
        pi[piv * ld + c] = xi;
      }
    __syncthreads();
    const T dr = pr[jj * ld + jj], di = pi[jj * ld + jj];
    const T d2 = dr * dr + di * di, ir = dr / d2, ii = -di / d2;
    for (int r = jj + 1 + t; r < rows; r += blockDim.x) {
      const T xr = pr[r * ld + jj], xi = pi[r * ld + jj];
      pr[r * ld + jj] = xr * ir - xi * ii;
      pi[r * ld + jj] = xr * ii + xi * ir;
    }
    __syncthreads();
    // the rest of the panel: P[r, c] −= L[r, jj]·U[jj, c] for r > jj, jj < c < jb
    const int pc = jb - jj - 1;
    if (pc > 0) {
      for (int e = t; e < (rows - jj - 1) * pc; e += blockDim.x) {
        const int r = jj + 1 + e / pc, c = jj + 1 + e % pc;
        const T lr = pr[r * ld + jj], li = pi[r * ld + jj], ur = pr[jj * ld + c], ui = pi[jj * ld + c];
        pr[r * ld + c] -= lr * ur - li * ui;
        pi[r * ld + c] -= lr * ui + li * ur;
      }
      __syncthreads();
    }
  }
  for (int e = t; e < rows * jb; e += blockDim.x) {
    const int r = e / jb, c = e % jb;
    const size_t g = 2 * (static_cast<size_t>(j0 + r) * n + j0 + c);
    m[g] = pr[r * ld + c];
    m[g + 1] = pi[r * ld + c];
  }
  // the panel's swaps, in order, on every column outside the panel (one thread per column)
  for (int q = t; q < n - jb; q += blockDim.x) {
    const int col = q < j0 ? q : q + jb;
    for (int jj = 0; jj < jb; ++jj) {
      const int p = pivs[jj];
      if (p == j0 + jj) continue;
      T* x = m + 2 * (static_cast<size_t>(j0 + jj) * n + col);
      T* y = m + 2 * (static_cast<size_t>(p) * n + col);
      const T xr = x[0], xi = x[1];
      x[0] = y[0];
      x[1] = y[1];
      y[0] = xr;
      y[1] = xi;
    }
  }
}

/// Triangular solve with the diagonal block D = lu[b](i0 .. i0+jb−1, same columns) for columns
/// col0 .. col0+ncols−1 of rows i0 .. i0+jb−1 of x[b] (leading dimension ldx, batch stride sx values):
/// X ← D_L⁻¹·X (unit lower, `upper` false) or X ← D_U⁻¹·X (upper). D is staged in shared memory, each
/// thread owns one column. The upper solve raises status[b] to kLuSingular for a non-finite result
/// (overflow). Grid (batch, column chunks), kTrsmThreads threads.
template <class T>
__global__ void trsm_kernel(const T* lu, int n, T* x, int ldx, long long sx, int i0, int jb, int col0, int ncols,
                            bool upper, int* __restrict__ status) {
  __shared__ T dre[kNb][kNb + 1];
  __shared__ T dim[kNb][kNb + 1];
  __shared__ int skip;
  const size_t b = blockIdx.x;
  if (threadIdx.x == 0) skip = status[b] != kLuOk;
  const T* d = lu + b * static_cast<size_t>(n) * n * 2 + 2 * (static_cast<size_t>(i0) * n + i0);
  for (int e = threadIdx.x; e < jb * jb; e += blockDim.x) {
    const int r = e / jb, c = e % jb;
    dre[r][c] = d[2 * (static_cast<size_t>(r) * n + c)];
    dim[r][c] = d[2 * (static_cast<size_t>(r) * n + c) + 1];
  }
  __syncthreads();
  if (skip) return;
  T* xb = x + b * sx + 2 * static_cast<size_t>(i0) * ldx;
  bool finite = true;
  for (int q = col0 + blockIdx.y * blockDim.x + threadIdx.x; q < col0 + ncols; q += gridDim.y * blockDim.x) {
    T* xc = xb + 2 * q;
    if (!upper) {
      for (int i = 1; i < jb; ++i) {
        T sr = xc[2 * static_cast<size_t>(i) * ldx], si = xc[2 * static_cast<size_t>(i) * ldx + 1];
        for (int j = 0; j < i; ++j) {
          const T lr = dre[i][j], li = dim[i][j];
          const T yr = xc[2 * static_cast<size_t>(j) * ldx], yi = xc[2 * static_cast<size_t>(j) * ldx + 1];
          sr -= lr * yr - li * yi;
          si -= lr * yi + li * yr;
        }
        xc[2 * static_cast<size_t>(i) * ldx] = sr;
        xc[2 * static_cast<size_t>(i) * ldx + 1] = si;
      }
    } else {
      for (int i = jb - 1; i >= 0; --i) {
        T sr = xc[2 * static_cast<size_t>(i) * ldx], si = xc[2 * static_cast<size_t>(i) * ldx + 1];
        for (int j = i + 1; j < jb; ++j) {
          const T ur = dre[i][j], ui = dim[i][j];
          const T yr = xc[2 * static_cast<size_t>(j) * ldx], yi = xc[2 * static_cast<size_t>(j) * ldx + 1];
          sr -= ur * yr - ui * yi;
          si -= ur * yi + ui * yr;
        }
        const T dr = dre[i][i], di = dim[i][i], d2 = dr * dr + di * di;
        const T zr = (sr * dr + si * di) / d2, zi = (si * dr - sr * di) / d2;
        xc[2 * static_cast<size_t>(i) * ldx] = zr;
        xc[2 * static_cast<size_t>(i) * ldx + 1] = zi;
        finite = finite && isfinite(zr) && isfinite(zi);
      }
    }
  }
  if (!finite) atomicMax(status + b, static_cast<int>(kLuSingular));  // overflow: numerically singular
}

/// C[b] −= op(A[b])·op(B[b]) (`sub`) or C[b] = op(A[b])·op(B[b]) for complex M×K op(A), K×N op(B)
/// and M×N C (interleaved, leading dimensions in complex elements, batch strides in values); op(A) =
/// A (M×K, ld lda) or, with adj_a, the conjugate transpose of the K×M A (ld lda); likewise B. 64×64 tile
/// of C per block of 256 threads (4×4 per thread, rows ty + 16·i, columns tx + 16·j), K in chunks of kKc
/// staged in shared memory as planar re/im [k][row] and [k][col] (padded to 65: the transposing stores
/// hit distinct banks; global loads run along the stored rows, whichever operand layout), 4 real products
/// per complex multiply-add. Grid (batch, ⌈N/64⌉, ⌈M/64⌉). With a status array, matrices whose status
/// is not kLuOk are skipped.
template <class T>
__global__ void cgemm_kernel(const T* a, int lda, long long sa, const T* bm, int ldb, long long sb, T* c, int ldc,
                             long long sc, int M, int N, int K, bool adj_a, bool adj_b, bool sub,
                             const int* __restrict__ status) {
  __shared__ T asr[kKc][kTile + 1];
  __shared__ T asi[kKc][kTile + 1];
  __shared__ T bsr[kKc][kTile + 1];
  __shared__ T bsi[kKc][kTile + 1];
  const size_t b = blockIdx.x;
  if (status && status[b] != kLuOk) return;  // uniform: status does not change during this kernel
  const int row0 = blockIdx.z * kTile, col0 = blockIdx.y * kTile;
  const T* ab = a + b * sa;
  const T* bb = bm + b * sb;
  T* cb = c + b * sc;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  T accr[4][4], acci[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) accr[i][j] = acci[i][j] = T(0);
  for (int k0 = 0; k0 < K; k0 += kKc) {
    for (int e = threadIdx.x; e < kTile * kKc; e += blockDim.x) {
      // A: kKc consecutive values of one stored row (op = identity) or kTile of one stored row (adjoint)
      const int r = adj_a ? e % kTile : e / kKc, ka = adj_a ? e / kTile : e % kKc;
      const int gr = row0 + r, gka = k0 + ka;
      T vr = 0, vi = 0;
      if (gr < M && gka < K) {
        const size_t o = adj_a ? 2 * (static_cast<size_t>(gka) * lda + gr) : 2 * (static_cast<size_t>(gr) * lda + gka);
        vr = ab[o];
        vi = adj_a ? -ab[o + 1] : ab[o + 1];
      }
      asr[ka][r] = vr;
      asi[ka][r] = vi;
      const int cc = adj_b ? e / kKc : e % kTile, kb = adj_b ? e % kKc : e / kTile;
      const int gkb = k0 + kb, gc = col0 + cc;
      T wr = 0, wi = 0;
      if (gkb < K && gc < N) {
        const size_t o = adj_b ? 2 * (static_cast<size_t>(gc) * ldb + gkb) : 2 * (static_cast<size_t>(gkb) * ldb + gc);
        wr = bb[o];
        wi = adj_b ? -bb[o + 1] : bb[o + 1];
      }
      bsr[kb][cc] = wr;
      bsi[kb][cc] = wi;
    }
    __syncthreads();
#pragma unroll 4
    for (int kk = 0; kk < kKc; ++kk) {
      T ar[4], ai[4], br[4], bi[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        ar[i] = asr[kk][ty + 16 * i];
        ai[i] = asi[kk][ty + 16 * i];
        br[i] = bsr[kk][tx + 16 * i];
        bi[i] = bsi[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          accr[i][j] += ar[i] * br[j] - ai[i] * bi[j];
          acci[i][j] += ar[i] * bi[j] + ai[i] * br[j];
        }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int gr = row0 + ty + 16 * i;
    if (gr >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int gc = col0 + tx + 16 * j;
      if (gc >= N) continue;
      const size_t o = 2 * (static_cast<size_t>(gr) * ldc + gc);
      if (sub) {
        cb[o] -= accr[i][j];
        cb[o + 1] -= acci[i][j];
      } else {
        cb[o] = accr[i][j];
        cb[o + 1] = acci[i][j];
      }
    }
  }
}

/// rows[b·n + i] = the row of B that the swaps perm[b] bring to position i. One thread per matrix.
__global__ void perm_rows_kernel(const int* __restrict__ perm, int* __restrict__ rows, const int* __restrict__ status,
                                 long long batch, int n) {
  const long long stride = static_cast<long long>(blockDim.x) * gridDim.x;
  for (long long b = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; b < batch; b += stride) {
    if (status[b] != kLuOk) continue;
    int* r = rows + b * n;
    const int* p = perm + b * n;
    for (int i = 0; i < n; ++i) r[i] = i;
    for (int j = 0; j < n; ++j) {
      const int s = p[j], tmp = r[j];
      r[j] = r[s];
      r[s] = tmp;
    }
  }
}

/// X[b] = P·B[b] (or P·I when rhs is null) for the triangular solves; raises status[b] to kLuNonFinite
/// for a non-finite B. Grid (batch, chunks of kPrepChunk values).
template <class T>
__global__ void solve_init_kernel(const T* __restrict__ rhs, T* __restrict__ x, const int* __restrict__ rows,
                                  int* __restrict__ status, int n, int k, int chunks) {
  __shared__ int ok;
  const size_t b = blockIdx.x;
  if (threadIdx.x == 0) ok = status[b] == kLuOk;
  __syncthreads();
  const size_t nk = static_cast<size_t>(n) * k;
  const T* rb = rhs ? rhs + b * nk * 2 : nullptr;
  T* xb = x + b * nk * 2;
  const int* rw = rows + b * n;
  bool finite = true;
  for (int c = blockIdx.y; c < chunks; c += gridDim.y) {
    const size_t e0 = static_cast<size_t>(c) * kPrepChunk;
    const size_t e1 = e0 + kPrepChunk < nk ? e0 + kPrepChunk : nk;
    for (size_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
      if (rb) finite = finite && isfinite(rb[2 * e]) && isfinite(rb[2 * e + 1]);
      if (!ok) continue;
      const int i = static_cast<int>(e / k), q = static_cast<int>(e % k);
      const int src = rw[i];
      if (rb) {
        xb[2 * e] = rb[2 * (static_cast<size_t>(src) * k + q)];
        xb[2 * e + 1] = rb[2 * (static_cast<size_t>(src) * k + q) + 1];
      } else {
        xb[2 * e] = T(src == q ? 1 : 0);
        xb[2 * e + 1] = T(0);
      }
    }
  }
  if (!finite) atomicMax(status + b, static_cast<int>(kLuNonFinite));
}

/// C[b] = op(A[b])·op(B[b]); op(A)(i, p) = A[i, p] or conj A[p, i]; one thread per output element (the
/// fallback of matmul_complex for grids beyond cgemm_kernel's limits).
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

/// Blocks for the second grid dimension (≤ 65535; kernels loop over the rest).
unsigned grid_y(int64_t chunks) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(chunks, 1), 65535)); }

void solve_op(OpCall& c, bool inverse) {
  const SolveDims d = solve_dims(c);
  if (d.batch == 0 || d.n == 0 || d.k == 0) return;
  const int64_t max_n = static_cast<int64_t>(kPanelSmemBytes / (2 * dtype_size(c.inputs[0].dtype())));
  if (d.batch > 2147483647 || d.n > max_n || d.k > 65535LL * kTile)
    fail(code::kUnsupported, c.op, ": on cuda the batch must be below 2^31, n at most ", max_n, " (", dtype_name(c.inputs[0].dtype()),
         ") and k at most ", 65535LL * kTile, "; got batch ", d.batch, ", n ", d.n, ", k ", d.k);
  const Tensor& a = c.inputs[0];
  const int n = static_cast<int>(d.n), k = static_cast<int>(d.k);
  const unsigned batch = static_cast<unsigned>(d.batch);
  Tensor lu = Tensor::empty(a.shape(), a.dtype(), Device::CUDA);
  Tensor perm = Tensor::empty({d.batch, d.n}, DType::I32, Device::CUDA);
  Tensor rows = Tensor::empty({d.batch, d.n}, DType::I32, Device::CUDA);
  Tensor status = Tensor::empty({d.batch}, DType::I32, Device::CUDA);
  int* st = status.data<int>();
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* m = lu.data<T>();
    const long long mstride = 2LL * n * n;
    const size_t bytes = static_cast<size_t>(2 * d.n * d.n) * sizeof(T);
    if (bytes <= kLuSmemBytes) {
      auto k1 = lu_kernel<T>;
      KLAUNCH(k1, batch, kLuThreads, bytes, 0, a.data<T>(), m, perm.data<int>(), st, n,
              std::numeric_limits<T>::epsilon());
      cuda::check_launch("lu_kernel");
    } else {
      const int chunks = static_cast<int>((d.n * d.n + kPrepChunk - 1) / kPrepChunk);
      Tensor partial = Tensor::empty({d.batch, chunks}, DType::F64, Device::CUDA);
      Tensor tolv = Tensor::empty({d.batch}, DType::F64, Device::CUDA);
      auto kp = lu_prepare_kernel<T>;
      KLAUNCH(kp, dim3(batch, grid_y(chunks)), kLuThreads, 0, 0, a.data<T>(), m, partial.data<double>(), n, chunks);
      cuda::check_launch("lu_prepare_kernel");
      auto kq = lu_panel_kernel<T>;
      CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(kq), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(kPanelSmemBytes)));
      for (int j0 = 0; j0 < n;) {
        // panel width: kNb columns, fewer when the rows below j0 would not fit in kPanelSmemBytes
        const int rows = n - j0;
        int jb = std::min(kNb, rows);
        while (jb > 1 && static_cast<size_t>(rows) * (jb | 1) * 2 * sizeof(T) > kPanelSmemBytes) --jb;
        const int ld = jb | 1, j1 = j0 + jb, rest = n - j1;
        KLAUNCH(kq, batch, kLuThreads, static_cast<size_t>(rows) * ld * 2 * sizeof(T), 0, m, perm.data<int>(), st,
                tolv.data<double>(), partial.data<double>(), chunks, n, j0, jb, ld, std::numeric_limits<T>::epsilon());
        cuda::check_launch("lu_panel_kernel");
        if (rest == 0) break;
        auto kt = trsm_kernel<T>;  // U12 = L11⁻¹·A12
        KLAUNCH(kt, dim3(batch, grid_y((rest + kTrsmThreads - 1) / kTrsmThreads)), kTrsmThreads, 0, 0, m, n, m, n,
                mstride, j0, jb, j1, rest, false, st);
        cuda::check_launch("trsm_kernel");
        auto kg = cgemm_kernel<T>;  // A22 −= L21·U12
        const unsigned tiles = static_cast<unsigned>((rest + kTile - 1) / kTile);
        KLAUNCH(kg, dim3(batch, tiles, tiles), 256, 0, 0, m + 2 * (static_cast<size_t>(j1) * n + j0), n, mstride,
                m + 2 * (static_cast<size_t>(j0) * n + j1), n, mstride, m + 2 * (static_cast<size_t>(j1) * n + j1), n,
                mstride, rest, rest, jb, false, false, true, st);
        cuda::check_launch("cgemm_kernel");
        j0 = j1;
      }
    }
    KLAUNCH(perm_rows_kernel, cuda::grid_for(d.batch), cuda::kBlock, 0, 0, perm.data<int>(), rows.data<int>(), st,
            static_cast<long long>(d.batch), n);
    cuda::check_launch("perm_rows_kernel");
    T* x = c.outputs[0].data<T>();
    const long long xstride = 2LL * n * k;
    const int chunks = static_cast<int>((d.n * d.k + kPrepChunk - 1) / kPrepChunk);
    auto ki = solve_init_kernel<T>;
    KLAUNCH(ki, dim3(batch, grid_y(chunks)), kLuThreads, 0, 0, inverse ? nullptr : c.inputs[1].data<T>(), x,
            rows.data<int>(), st, n, k, chunks);
    cuda::check_launch("solve_init_kernel");
    const dim3 tgrid(batch, grid_y((k + kTrsmThreads - 1) / kTrsmThreads));
    const unsigned ktiles = static_cast<unsigned>((k + kTile - 1) / kTile);
    auto kt = trsm_kernel<T>;
    auto kg = cgemm_kernel<T>;
    // L·Y = P·B, block rows top-down: Y_i = L_ii⁻¹·Y_i, then Y_below −= L_below,i·Y_i
    for (int i0 = 0; i0 < n; i0 += kNb) {
      const int jb = std::min(kNb, n - i0), i1 = i0 + jb;
      KLAUNCH(kt, tgrid, kTrsmThreads, 0, 0, m, n, x, k, xstride, i0, jb, 0, k, false, st);
      cuda::check_launch("trsm_kernel");
      if (i1 < n) {
        KLAUNCH(kg, dim3(batch, ktiles, static_cast<unsigned>((n - i1 + kTile - 1) / kTile)), 256, 0, 0,
                m + 2 * (static_cast<size_t>(i1) * n + i0), n, mstride, x + 2 * static_cast<size_t>(i0) * k, k, xstride,
                x + 2 * static_cast<size_t>(i1) * k, k, xstride, n - i1, k, jb, false, false, true, st);
        cuda::check_launch("cgemm_kernel");
      }
    }
    // U·X = Y, block rows bottom-up: X_i = U_ii⁻¹·X_i, then X_above −= U_above,i·X_i
    for (int i0 = (n - 1) / kNb * kNb; i0 >= 0; i0 -= kNb) {
      const int jb = std::min(kNb, n - i0);
      KLAUNCH(kt, tgrid, kTrsmThreads, 0, 0, m, n, x, k, xstride, i0, jb, 0, k, true, st);
      cuda::check_launch("trsm_kernel");
      if (i0 > 0) {
        KLAUNCH(kg, dim3(batch, ktiles, static_cast<unsigned>((i0 + kTile - 1) / kTile)), 256, 0, 0,
                m + 2 * static_cast<size_t>(i0), n, mstride, x + 2 * static_cast<size_t>(i0) * k, k, xstride, x, k,
                xstride, i0, k, jb, false, false, true, st);
        cuda::check_launch("cgemm_kernel");
      }
    }
  });
  std::vector<int> host(static_cast<size_t>(d.batch));
  CUDA_CHECK(cudaMemcpy(host.data(), st, host.size() * sizeof(int), cudaMemcpyDeviceToHost));
  report_lu_status(c, host.data(), d.batch, d.n);
}

void matmul_complex_op(OpCall& c) {
  const CMatmulDims d = cmatmul_dims(c);
  Tensor& out = c.outputs[0];
  if (out.numel() == 0) return;
  if (d.m > 2147483647 || d.n > 2147483647 || d.k > 2147483647)
    fail(code::kUnsupported, c.op, ": matrix sizes must be below 2^31 on cuda");
  const int64_t tm = (d.m + kTile - 1) / kTile, tn = (d.n + kTile - 1) / kTile;
  const bool tiled = d.batch <= 2147483647 && tm <= 65535 && tn <= 65535;
  const size_t total = static_cast<size_t>(d.batch * d.m * d.n);
  dispatch_float(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (tiled) {
      // stored A: m×k, or k×m with adjA; stored B: k×n, or n×k with adjB
      auto k = cgemm_kernel<T>;
      KLAUNCH(k, dim3(static_cast<unsigned>(d.batch), static_cast<unsigned>(tn), static_cast<unsigned>(tm)), 256, 0, 0,
              c.inputs[0].data<T>(), static_cast<int>(d.adj_a ? d.m : d.k), 2LL * d.m * d.k, c.inputs[1].data<T>(),
              static_cast<int>(d.adj_b ? d.k : d.n), 2LL * d.k * d.n, out.data<T>(), static_cast<int>(d.n),
              2LL * d.m * d.n, static_cast<int>(d.m), static_cast<int>(d.n), static_cast<int>(d.k), d.adj_a, d.adj_b,
              false, static_cast<const int*>(nullptr));
      cuda::check_launch("cgemm_kernel");
    } else {
      auto k = matmul_complex_kernel<T>;
      KLAUNCH(k, cuda::grid_for(static_cast<int64_t>(total)), cuda::kBlock, 0, 0, c.inputs[0].data<T>(),
              c.inputs[1].data<T>(), out.data<T>(), total, static_cast<int>(d.m), static_cast<int>(d.n),
              static_cast<int>(d.k), d.adj_a, d.adj_b);
      cuda::check_launch("matmul_complex_kernel");
    }
  });
}

}  // namespace

/// Registers the CUDA kernels of solve_complex / inverse_complex (LU with partial pivoting: in shared
/// memory per matrix for small n, blocked with GEMM trailing updates above; 8/3·n³ real flops; then the
/// blocked triangular solves, 8·n²·k) and matmul_complex (the tiled complex GEMM, 8·m·n·k flops).
void register_cuda_linalg_complex(Registry& r) {
  r.kernel("solve_complex", Device::CUDA, [](OpCall& c) { solve_op(c, false); });
  r.kernel("inverse_complex", Device::CUDA, [](OpCall& c) { solve_op(c, true); });
  r.kernel("matmul_complex", Device::CUDA, matmul_complex_op);
}

}  // namespace onelip
