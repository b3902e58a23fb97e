// CUDA kernels of the matrix products: matmul (batched, numpy-broadcast batch dims, optional
// transposes) and syrk (a·aᵀ or aᵀ·a, one triangle computed and mirrored).
//
// Both ops are C = op(A) · op(B) over a batch, with every operand described as a "panel": an R × K
// matrix whose element (r, kk) is stored at p[r * ld + kk] (k-contiguous) or p[kk * ld + r]
// (r-contiguous). op(A) is the m × k panel of A, op(B)ᵀ the n × k panel of B:
//   A [m, k]: k-contiguous, ld = k      A [k, m] (transA): r-contiguous, ld = m
//   B [k, n]: r-contiguous, ld = n      B [n, k] (transB): k-contiguous, ld = k
// Shared memory holds both panels k-major (S[kk][r]), so the inner product loop reads A and B alike.
//
// Two kernels:
//   * sgemm_kernel<TM, TN, SYRK> (float32, m and n ≥ 64): 256 threads with a TM × TN register tile
//     each, (16·TM) × (16·TN) × 8 block tiles: 128×128 (8×8 per thread), 128×64 (8×4) or 64×64
//     (4×4), whichever leaves the least work on the busiest SM (choose_sgemm_tile). float4 global
//     loads where the panel is aligned (scalar twin at ragged edges and unaligned leading dims),
//     double-buffered shared memory with one barrier per k-step, float4 shared loads in the inner loop.
//   * gemm_tiled_kernel<T, TM, TN> (float64, and float32 with m or n < 64): 256 threads as 16 × 16,
//     a TM × TN register tile per thread (strided by 16), (16·TM) × (16·TN) × 16 block tiles, scalar
//     loads, single-buffered.
// syrk launches only the tiles on and below the diagonal (a triangular 1-D grid; diagonal tiles store
// row ≥ col only), then syrk_mirror_kernel copies the strict lower triangle onto the upper one through
// a shared 32 × 32 tile, so the output is exactly symmetric.
// Batches run over gridDim.z (≤ 65535, looping beyond); tiles over gridDim.x.
#include <algorithm>
#include <cstdint>
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kMaxBatchDims = kMaxDims - 2;

/// Batch index → element offsets of A and B: the collapsed broadcast batch dims, stride 0 along
/// dims where the operand is broadcast.
struct BatchMap {
  int nd;
  int64_t shape[kMaxBatchDims];
  int64_t sa[kMaxBatchDims], sb[kMaxBatchDims];
};

/// Everything a GEMM launch needs (passed by value; lives in the constant parameter bank).
template <class T>
struct GemmParams {
  const T* a;
  const T* b;
  T* c;
  int m, n, k;
  int64_t lda, ldb;             // leading dimension of the stored A / B
  bool a_kcontig, b_kcontig;    // panel layouts, see the top of the file
  bool vec_a, vec_b, vec_c;     // float4 access legal: 16-byte aligned base, leading dim % 4 == 0
  bool syrk;                    // lower-triangle tiles only (triangular grid), row ≥ col stored
  int tiles_n;                  // column tiles of the rectangular grid (matmul)
  int64_t batch;                // number of matrices
  int64_t c_stride;             // m * n
  BatchMap bmap;
};

/// Element offsets of matrix z of A and B.
__device__ __forceinline__ void batch_offsets(const BatchMap& bm, int64_t z, int64_t* oa, int64_t* ob) {
  int64_t a = 0, b = 0;
  // Fully unrolled with constant indices, so the parameter arrays are never copied to local memory.
#pragma unroll
  for (int d = kMaxBatchDims - 1; d >= 0; --d) {
    if (d < bm.nd) {
      const int64_t i = z % bm.shape[d];
      z /= bm.shape[d];
      a += i * bm.sa[d];
      b += i * bm.sb[d];
    }
  }
  *oa = a;
  *ob = b;
}

/// Position (i, j), j ≤ i, of the l-th element of a lower triangle enumerated row by row:
/// l = i (i + 1) / 2 + j.
__device__ __forceinline__ void tri_coords(int64_t l, int* i_out, int* j_out) {
  int64_t i = static_cast<int64_t>((sqrt(8.0 * static_cast<double>(l) + 1.0) - 1.0) * 0.5);
  while (i * (i + 1) / 2 > l) --i;  // correct the rounding of sqrt
  while ((i + 1) * (i + 2) / 2 <= l) ++i;
  *i_out = static_cast<int>(i);
  *j_out = static_cast<int>(l - i * (i + 1) / 2);
}

/// Output tile (tm, tn) of this block: row-major over the rectangular grid for matmul; for syrk,
/// the lower triangle tn ≤ tm enumerated by tri_coords.
template <class T>
__device__ __forceinline__ void tile_coords(const GemmParams<T>& p, int* tm, int* tn) {
  const int64_t l = blockIdx.x;
  if (p.syrk) {
    tri_coords(l, tm, tn);
  } else {
    *tm = static_cast<int>(l / p.tiles_n);
    *tn = static_cast<int>(l % p.tiles_n);
  }
}

// ---------------------------------------------------------------------------------------------------
// SGEMM: BM × BN × 8 block tiles, TM × TN per thread, 256 threads.

constexpr int kSgemmBK = 8;
constexpr int kSgemmThreads = 256;

/// Loads R × 8 slices [row0, row0 + R) × [k0, k0 + 8) of one float panel into registers, four
/// consecutive elements (along the panel's contiguous dimension) per float4, and stores them k-major
/// into shared memory S[8][R + 4]. Elements outside rows × K read as 0, so ragged edges add nothing.
/// Float4 number e = tid + l · THREADS of a slice covers, k-contiguous: panel row e / 2, k offsets
/// (e % 2) · 4 .. + 3; r-contiguous: k offset e / (R / 4), panel rows (e % (R / 4)) · 4 .. + 3. So the
/// l-th float4 of a thread is its first one moved by l · THREADS / 2 rows, or l · THREADS · 4 / R k.
/// A slice of fewer than THREADS float4s (R = 64) is loaded by the first R · 2 threads.
template <int R, int THREADS>
struct PanelLoader {
  static constexpr int kVecs = R * kSgemmBK / 4;  // float4s per slice
  static constexpr int kLoads = kVecs >= THREADS ? kVecs / THREADS : 1;  // float4s per thread
  static_assert(kVecs % THREADS == 0 || THREADS % kVecs == 0, "slice must split evenly over the threads");
  static constexpr int kRowStep = THREADS / 2, kKStep = THREADS * 4 / R;
  const float* q;  // element (gr, gk) of the panel: first element of this thread's float4 0
  int64_t ld;
  int gr, gk, rows, kdim;
  bool kcontig, vec, active;
  float4 v[kLoads];

  __device__ __forceinline__ PanelLoader(const float* p, int64_t ld_, bool kcontig_, bool vec_, int row0, int rows_,
                                         int kdim_)
      : ld(ld_), rows(rows_), kdim(kdim_), kcontig(kcontig_), vec(vec_) {
    const int tid = threadIdx.x;
    active = kVecs >= THREADS || tid < kVecs;
    if (kcontig) {
      gr = row0 + tid / 2;
      gk = (tid % 2) * 4;
      q = p + static_cast<int64_t>(gr) * ld + gk;
    } else {
      gk = tid / (R / 4);
      gr = row0 + (tid % (R / 4)) * 4;
      q = p + static_cast<int64_t>(gk) * ld + gr;
    }
  }

  /// Fetches the current slice into v.
  __device__ __forceinline__ void load() {
    if (!active) return;
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      if (kcontig) {
        const int r = gr + l * kRowStep;
        const float* s = q + static_cast<int64_t>(l * kRowStep) * ld;
        if (vec && r < rows && gk + 3 < kdim) {
          v[l] = *reinterpret_cast<const float4*>(s);
        } else {
          const bool r_ok = r < rows;
          v[l].x = r_ok && gk < kdim ? s[0] : 0.f;
          v[l].y = r_ok && gk + 1 < kdim ? s[1] : 0.f;
          v[l].z = r_ok && gk + 2 < kdim ? s[2] : 0.f;
          v[l].w = r_ok && gk + 3 < kdim ? s[3] : 0.f;
        }
      } else {
        const int kk = gk + l * kKStep;
        const float* s = q + static_cast<int64_t>(l * kKStep) * ld;
        if (vec && kk < kdim && gr + 3 < rows) {
          v[l] = *reinterpret_cast<const float4*>(s);
        } else {
          const bool k_ok = kk < kdim;
          v[l].x = k_ok && gr < rows ? s[0] : 0.f;
          v[l].y = k_ok && gr + 1 < rows ? s[1] : 0.f;
          v[l].z = k_ok && gr + 2 < rows ? s[2] : 0.f;
          v[l].w = k_ok && gr + 3 < rows ? s[3] : 0.f;
        }
      }
    }
  }

  /// Moves to the next k-slice.
  __device__ __forceinline__ void advance() {
    gk += kSgemmBK;
    q += kcontig ? static_cast<int64_t>(kSgemmBK) : kSgemmBK * ld;
  }

  // The +4 padding of S's rows makes the k-contiguous scatter conflict-free: the two float4s of a row
  // land 16 banks apart.
  __device__ __forceinline__ void store(float (*S)[R + 4]) const {
    if (!active) return;
    const int tid = threadIdx.x;
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      if (kcontig) {
        const int r = tid / 2 + l * kRowStep, kq = (tid % 2) * 4;
        S[kq + 0][r] = v[l].x;
        S[kq + 1][r] = v[l].y;
        S[kq + 2][r] = v[l].z;
        S[kq + 3][r] = v[l].w;
      } else {
        *reinterpret_cast<float4*>(&S[tid / (R / 4) + l * kKStep][(tid % (R / 4)) * 4]) = v[l];
      }
    }
  }
};

/// C[z] = op(A[z]) · op(B[z]) for float32 with BM × BN × 8 block tiles, 256 threads and a TM × TN
/// register tile per thread (TM, TN ∈ {4, 8}; BM = 16 TM, BN = 16 TN). Thread (tx, ty) of the 16 × 16
/// grid owns TM / 4 groups of four consecutive rows, ty·4 + g·BM/(TM/4) + 0..3, and likewise TN / 4
/// groups of columns, so each of its shared-memory operands is a float4 load: (TM + TN) / 4 per k for
/// TM·TN FMAs. The next k-slice is fetched into registers while the current one is multiplied, then
/// stored into the other shared buffer: one barrier per k-step. Two blocks per SM (≤ 128 registers).
/// SYRK: the block's tile is in the lower triangle (tile_coords); diagonal tiles store row ≥ col only.
template <int TM, int TN, bool SYRK>
__global__ void __launch_bounds__(kSgemmThreads, 2) sgemm_kernel(GemmParams<float> p) {
  constexpr int BK = kSgemmBK, THREADS = kSgemmThreads, BM = 16 * TM, BN = 16 * TN;
  constexpr int GM = TM / 4, GN = TN / 4;                  // float4 groups per thread
  constexpr int SM_ = BM / GM, SN = BN / GN;               // row / column distance between groups
  // Unrolling of the k-loop over one shared slice: 2 keeps the 8 × 8 tile (64 accumulators) within the
  // 128-register budget without spills; smaller tiles afford the full 8.
  [[maybe_unused]] constexpr int KK_UNROLL = TM * TN >= 64 ? 2 : BK;
  static_assert((TM == 4 || TM == 8) && (TN == 4 || TN == 8), "register tile 4 or 8 wide");
  static_assert(!SYRK || BM == BN, "syrk needs square tiles");
  // float4 element type for 16-byte alignment; viewed as float[2][BK][R + 4].
  __shared__ float4 smem_a[2 * BK * (BM + 4) / 4];
  __shared__ float4 smem_b[2 * BK * (BN + 4) / 4];
  auto As = reinterpret_cast<float(*)[BK][BM + 4]>(smem_a);
  auto Bs = reinterpret_cast<float(*)[BK][BN + 4]>(smem_b);

  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int tm, tn;
  tile_coords(p, &tm, &tn);
  const int row0 = tm * BM, col0 = tn * BN;
  const int ktiles = (p.k + BK - 1) / BK;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t oa, ob;
    batch_offsets(p.bmap, z, &oa, &ob);
    PanelLoader<BM, THREADS> la(p.a + oa, p.lda, p.a_kcontig, p.vec_a, row0, p.m, p.k);
    PanelLoader<BN, THREADS> lb(p.b + ob, p.ldb, p.b_kcontig, p.vec_b, col0, p.n, p.k);

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    if (ktiles > 0) {
      la.load();
      lb.load();
      la.store(As[0]);
      lb.store(Bs[0]);
    }
    __syncthreads();
    for (int t = 0; t < ktiles; ++t) {
      const int cur = t & 1;
      if (t + 1 < ktiles) {
        la.advance();
        lb.advance();
        la.load();
        lb.load();
      }
#pragma unroll KK_UNROLL
      for (int kk = 0; kk < BK; ++kk) {
        float a[TM], b[TN];
#pragma unroll
        for (int g = 0; g < GM; ++g) {
          const float4 v = *reinterpret_cast<const float4*>(&As[cur][kk][g * SM_ + ty * 4]);
          a[4 * g] = v.x, a[4 * g + 1] = v.y, a[4 * g + 2] = v.z, a[4 * g + 3] = v.w;
        }
#pragma unroll
        for (int g = 0; g < GN; ++g) {
          const float4 v = *reinterpret_cast<const float4*>(&Bs[cur][kk][g * SN + tx * 4]);
          b[4 * g] = v.x, b[4 * g + 1] = v.y, b[4 * g + 2] = v.z, b[4 * g + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
      }
      if (t + 1 < ktiles) {
        la.store(As[cur ^ 1]);
        lb.store(Bs[cur ^ 1]);
      }
      __syncthreads();
    }

    // Register tile element (i, j) is C[row0 + ri(i)][col0 + cj(j)] with ri(i) = (i / 4)·SM_ + ty·4 +
    // i % 4 and cj(j) = (j / 4)·SN + tx·4 + j % 4.
    float* C = p.c + z * p.c_stride;
    const int64_t ldc = p.n;
    const bool inside = p.vec_c && row0 + BM <= p.m && col0 + BN <= p.n;
    if (inside && (!SYRK || tm > tn)) {
      float* q = C + static_cast<int64_t>(row0 + ty * 4) * ldc + col0 + tx * 4;
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int g = 0; g < GN; ++g)
          *reinterpret_cast<float4*>(q + ((i / 4) * SM_ + i % 4) * ldc + g * SN) =
              make_float4(acc[i][g * 4], acc[i][g * 4 + 1], acc[i][g * 4 + 2], acc[i][g * 4 + 3]);
    } else {
      // Edge, unaligned or diagonal tile: element by element with bounds (and triangle) checks.
#pragma unroll
      for (int i = 0; i < TM; ++i) {
        const int r = row0 + (i / 4) * SM_ + ty * 4 + i % 4;
        if (r >= p.m) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
          const int c = col0 + (j / 4) * SN + tx * 4 + j % 4;
          if (c < p.n && (!SYRK || c <= r)) C[r * ldc + c] = acc[i][j];
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Simple tiled GEMM: float64, and float32 matrices too thin for the SGEMM tiles.

constexpr int kTiledBK = 16;

/// Copies the R × 16 slice [row0, row0 + R) × [k0, k0 + 16) of a panel into S[16][R + 1] (zeros
/// outside rows × K). Consecutive threads walk the panel's contiguous dimension (coalesced loads).
template <class T, int R>
__device__ __forceinline__ void load_panel_tile(T (*S)[R + 1], const T* p, int64_t ld, bool kcontig, int row0,
                                                int rows, int k0, int kdim) {
  static_assert(R * kTiledBK % 256 == 0, "tile must split evenly over the threads");
#pragma unroll
  for (int l = 0; l < R * kTiledBK / 256; ++l) {
    const int e = threadIdx.x + 256 * l;
    int r, kk;
    if (kcontig) {
      r = e / kTiledBK;
      kk = e % kTiledBK;
    } else {
      kk = e / R;
      r = e % R;
    }
    const int gr = row0 + r, gk = k0 + kk;
    T v = T(0);
    if (gr < rows && gk < kdim)
      v = kcontig ? p[static_cast<int64_t>(gr) * ld + gk] : p[static_cast<int64_t>(gk) * ld + gr];
    S[kk][r] = v;
  }
}

/// C[z] = op(A[z]) · op(B[z]) with (16·TM) × (16·TN) × 16 block tiles; 256 threads as 16 × 16, thread
/// (tx, ty) owning rows ty + 16 i and columns tx + 16 j, so stores are coalesced along tx.
template <class T, int TM, int TN>
__global__ void __launch_bounds__(256, 2) gemm_tiled_kernel(GemmParams<T> p) {
  constexpr int BM = 16 * TM, BN = 16 * TN, BK = kTiledBK;
  __shared__ T As[BK][BM + 1];
  __shared__ T Bs[BK][BN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int tm, tn;
  tile_coords(p, &tm, &tn);
  const int row0 = tm * BM, col0 = tn * BN;

  for (int64_t z = blockIdx.z; z < p.batch; z += gridDim.z) {
    int64_t oa, ob;
    batch_offsets(p.bmap, z, &oa, &ob);
    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    for (int k0 = 0; k0 < p.k; k0 += BK) {
      load_panel_tile<T, BM>(As, p.a + oa, p.lda, p.a_kcontig, row0, p.m, k0, p.k);
      load_panel_tile<T, BN>(Bs, p.b + ob, p.ldb, p.b_kcontig, col0, p.n, k0, p.k);
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        T a[TM], b[TN];
#pragma unroll
        for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
      }
      __syncthreads();
    }

    T* C = p.c + z * p.c_stride;
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const int r = row0 + ty + 16 * i;
      if (r >= p.m) continue;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const int c = col0 + tx + 16 * j;
        if (c >= p.n) continue;
        if (!p.syrk || c <= r) C[static_cast<int64_t>(r) * p.n + c] = acc[i][j];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// syrk mirror.

constexpr int kMirrorTile = 32;

/// Copies the strict lower triangle of each n × n matrix c[z] onto its upper triangle (c[j][i] =
/// c[i][j], i > j). Block l handles the 32 × 32 source tile tri_coords(l) = (ti, tj), tj ≤ ti, through
/// a shared tile so that both the reads and the transposed writes are coalesced; 32 × 8 threads.
template <class T>
__global__ void __launch_bounds__(256) syrk_mirror_kernel(T* __restrict__ c, int n, int64_t batch) {
  constexpr int TS = kMirrorTile;
  __shared__ T tile[TS][TS + 1];
  int ti, tj;
  tri_coords(blockIdx.x, &ti, &tj);
  const int tx = threadIdx.x % TS, ty = threadIdx.x / TS;
  const int64_t nn = static_cast<int64_t>(n) * n;
  for (int64_t z = blockIdx.z; z < batch; z += gridDim.z) {
    T* C = c + z * nn;
#pragma unroll
    for (int l = 0; l < TS * TS / 256; ++l) {
      const int r = ty + l * (256 / TS), gr = ti * TS + r, gc = tj * TS + tx;
      if (gr < n && gc < gr) tile[r][tx] = C[static_cast<int64_t>(gr) * n + gc];
    }
    __syncthreads();
#pragma unroll
    for (int l = 0; l < TS * TS / 256; ++l) {
      const int r = ty + l * (256 / TS);
      const int src_col = tj * TS + r, src_row = ti * TS + tx;  // destination row, destination column
      if (src_row < n && src_col < src_row) C[static_cast<int64_t>(src_col) * n + src_row] = tile[tx][r];
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------------------------------------------------
// Host side.

// SM count assumed when the device cannot be queried (H100 SXM).
constexpr int kDefaultSms = 132;
// Test hook (set by a driver compiled in this translation unit): the SM count the tile choice assumes.
int g_sm_count_override = 0;
constexpr int64_t kMaxGridX = 2147483647;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

/// Collapsed batch map of a matmul: per batch dim (of d.batch_shape), the element strides of a and b
/// (0 where broadcast); size-1 dims dropped, mergeable neighbours merged.
BatchMap make_batch_map(const MatmulDims& d) {
  const int nb = static_cast<int>(d.batch_shape.size());
  int64_t shape[kMaxDims], sa[kMaxDims], sb[kMaxDims];
  int64_t run_a = d.m * d.k, run_b = d.k * d.n;
  for (int i = nb - 1; i >= 0; --i) {
    shape[i] = d.batch_shape[i];
    sa[i] = d.a_full_batch[i] == 1 ? 0 : run_a;
    sb[i] = d.b_full_batch[i] == 1 ? 0 : run_b;
    run_a *= d.a_full_batch[i];
    run_b *= d.b_full_batch[i];
  }
  BatchMap bm{};
  for (int i = 0; i < nb; ++i) {
    if (shape[i] == 1) continue;
    if (bm.nd > 0) {
      const int prev = bm.nd - 1;
      if (bm.sa[prev] == sa[i] * shape[i] && bm.sb[prev] == sb[i] * shape[i]) {
        bm.shape[prev] *= shape[i];
        bm.sa[prev] = sa[i];
        bm.sb[prev] = sb[i];
        continue;
      }
    }
    bm.shape[bm.nd] = shape[i];
    bm.sa[bm.nd] = sa[i];
    bm.sb[bm.nd] = sb[i];
    ++bm.nd;
  }
  return bm;
}

/// Launches `kernel` over the tiles of p (rectangular or triangular) and the batch.
template <class T>
void launch_tiles(void (*kernel)(GemmParams<T>), GemmParams<T> p, int bm, int bn, int threads, const char* name) {
  const int64_t tm = ceil_div(p.m, bm), tn = ceil_div(p.n, bn);
  const int64_t tiles = p.syrk ? tm * (tm + 1) / 2 : tm * tn;
  if (tiles > kMaxGridX)
    fail(code::kShape, p.syrk ? "syrk" : "matmul", ": output of ", p.m, " x ", p.n, " needs ", tiles,
         " tiles; at most ", kMaxGridX, " supported");
  p.tiles_n = static_cast<int>(tn);
  const unsigned gz = static_cast<unsigned>(std::min<int64_t>(p.batch, 65535));
  KLAUNCH(kernel, dim3(static_cast<unsigned>(tiles), 1, gz), threads, 0, 0, p);
  cuda::check_launch(name);
}

/// Streaming multiprocessors of the current device (queried once; kDefaultSms if the query fails).
int sm_count() {
  if (g_sm_count_override > 0) return g_sm_count_override;
  static const int sms = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) !=
                                                  cudaSuccess || n <= 0) {
      cudaGetLastError();
      return kDefaultSms;
    }
    return n;
  }();
  return sms;
}

enum class SgemmTile { k128x128, k128x64, k64x64 };

/// The SGEMM tile for an m × n output (lower triangle for syrk) in `batch` matrices on `sms` SMs:
/// the one with the least work on the busiest SM, ⌈blocks / sms⌉ · BM · BN (every tile costs the
/// same k), weighted by the smaller tiles' extra load and shared-memory traffic per FMA (8×4: +10 %,
/// 4×4: +25 %). syrk needs square tiles.
SgemmTile choose_sgemm_tile(int64_t m, int64_t n, int64_t batch, bool syrk, int sms) {
  struct Cand {
    SgemmTile tile;
    int bm, bn;
    double weight;
  };
  const Cand cands[] = {{SgemmTile::k128x128, 128, 128, 1.0},
                        {SgemmTile::k128x64, 128, 64, 1.1},
                        {SgemmTile::k64x64, 64, 64, 1.25}};
  SgemmTile best = SgemmTile::k128x128;
  double best_cost = -1;
  for (const Cand& c : cands) {
    if (syrk && c.bm != c.bn) continue;
    const int64_t tm = ceil_div(m, c.bm), tn = ceil_div(n, c.bn);
    const int64_t blocks = (syrk ? tm * (tm + 1) / 2 : tm * tn) * batch;
    const double cost = static_cast<double>(ceil_div(blocks, sms)) * c.bm * c.bn * c.weight;
    if (best_cost < 0 || cost < best_cost) {
      best = c.tile;
      best_cost = cost;
    }
  }
  return best;
}

/// Picks the kernel and tile for p and launches it.
template <class T>
void pick_and_launch(const GemmParams<T>& p) {
  const bool big = p.m >= 64 && p.n >= 64;
  if constexpr (std::is_same<T, float>::value) {
    if (big) {
      switch (choose_sgemm_tile(p.m, p.n, p.batch, p.syrk, sm_count())) {
        case SgemmTile::k128x128:
          launch_tiles<float>(p.syrk ? sgemm_kernel<8, 8, true> : sgemm_kernel<8, 8, false>, p, 128, 128,
                              kSgemmThreads, "sgemm_kernel<8,8>");
          break;
        case SgemmTile::k128x64:
          launch_tiles<float>(sgemm_kernel<8, 4, false>, p, 128, 64, kSgemmThreads, "sgemm_kernel<8,4>");
          break;
        case SgemmTile::k64x64:
          launch_tiles<float>(p.syrk ? sgemm_kernel<4, 4, true> : sgemm_kernel<4, 4, false>, p, 64, 64,
                              kSgemmThreads, "sgemm_kernel<4,4>");
          break;
      }
      return;
    }
  }
  if constexpr (std::is_same<T, double>::value) {
    if (big) {
      launch_tiles<T>(gemm_tiled_kernel<T, 4, 4>, p, 64, 64, 256, "gemm_tiled_kernel<4,4>");
      return;
    }
  }
  launch_tiles<T>(gemm_tiled_kernel<T, 2, 2>, p, 32, 32, 256, "gemm_tiled_kernel<2,2>");
}

/// Launches the product of p and, for syrk, the mirror of its lower triangle.
template <class T>
void run_gemm(GemmParams<T> p) {
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  pick_and_launch(p);
  if (p.syrk) {
    const int64_t t = ceil_div(p.n, kMirrorTile);
    const unsigned gz = static_cast<unsigned>(std::min<int64_t>(p.batch, 65535));
    auto k = syrk_mirror_kernel<T>;
    KLAUNCH(k, dim3(static_cast<unsigned>(t * (t + 1) / 2), 1, gz), 256, 0, 0, p.c, p.n, p.batch);
    cuda::check_launch("syrk_mirror_kernel");
  }
}

/// A matrix dimension as the kernels' int, with headroom for a tile's reach past the edge.
int checked_dim(const char* op, int64_t v) {
  constexpr int64_t kMaxDim = 2147483647 - 65536;
  if (v > kMaxDim) fail(code::kShape, op, ": matrix dimension ", v, " exceeds the CUDA kernels' limit of ", kMaxDim);
  return static_cast<int>(v);
}

void matmul_op(OpCall& c) {
  const MatmulDims d = matmul_dims(c);
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    GemmParams<T> p{};
    p.a = c.inputs[0].data<T>();
    p.b = c.inputs[1].data<T>();
    p.c = y.data<T>();
    p.m = checked_dim("matmul", d.m);
    p.n = checked_dim("matmul", d.n);
    p.k = checked_dim("matmul", d.k);
    p.lda = d.trans_a ? d.m : d.k;
    p.ldb = d.trans_b ? d.k : d.n;
    p.a_kcontig = !d.trans_a;
    p.b_kcontig = d.trans_b;
    const bool f32 = std::is_same<T, float>::value;
    p.vec_a = f32 && aligned16(p.a) && p.lda % 4 == 0;
    p.vec_b = f32 && aligned16(p.b) && p.ldb % 4 == 0;
    p.vec_c = f32 && aligned16(p.c) && d.n % 4 == 0;
    p.syrk = false;
    p.batch = d.batch;
    p.c_stride = d.m * d.n;
    p.bmap = make_batch_map(d);
    run_gemm(p);
  });
}

void syrk_op(OpCall& c) {
  const Tensor& a = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  const bool trans = c.attrs.get_bool("trans", false);
  const int64_t rows = a.dim(a.ndim() - 2), cols = a.dim(a.ndim() - 1);
  const int64_t n = trans ? cols : rows, k = trans ? rows : cols;
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    GemmParams<T> p{};
    p.a = p.b = a.data<T>();
    p.c = y.data<T>();
    p.m = p.n = checked_dim("syrk", n);
    p.k = checked_dim("syrk", k);
    p.lda = p.ldb = cols;
    p.a_kcontig = p.b_kcontig = !trans;  // a·aᵀ: both panels are rows of a; aᵀ·a: both are columns
    const bool f32 = std::is_same<T, float>::value;
    p.vec_a = p.vec_b = f32 && aligned16(p.a) && cols % 4 == 0;
    p.vec_c = f32 && aligned16(p.c) && n % 4 == 0;
    p.syrk = true;
    p.batch = y.numel() / (n * n);
    p.c_stride = n * n;
    p.bmap = BatchMap{};
    if (p.batch > 1) {
      p.bmap.nd = 1;
      p.bmap.shape[0] = p.batch;
      p.bmap.sa[0] = p.bmap.sb[0] = rows * cols;
    }
    run_gemm(p);
  });
}

}  // namespace

/// Registers the CUDA kernels of matmul and syrk (float32: register-blocked SGEMM, or the simple tiled
/// kernel for thin shapes; float64: the simple tiled kernel). Cost: 2·m·n·k FLOPs per matrix (syrk
/// about half); see docs/PERF.md for the roofline of each tiling.
void register_cuda_matmul(Registry& r) {
  r.kernel("matmul", Device::CUDA, matmul_op);
  r.kernel("syrk", Device::CUDA, syrk_op);
}

}  // namespace onelip
