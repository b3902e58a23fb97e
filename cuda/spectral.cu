// CUDA kernels of kernel_self_correlation and kernel_self_correlation_backward: 16 × 16 output tiles,
// operands staged through shared memory in chunks, float32 and float64. The power-iteration ops are
// composites of other registry ops (native/ops/power_iteration.cc) and have no kernel here.
#include <algorithm>
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

constexpr int kTile = 16;
// Elements of one staged kernel row: chunks of whole k×k planes, k ≤ 7.
constexpr int kChunk = 98;

/// G[i, j, s] = Σ_c Σ_u K[i, c, u + s]·K[j, c, u] for one offset s = blockIdx.z per block and a
/// 16 × 16 tile of (i = row, j = column); thread (ty, tx) owns G[i0 + ty, j0 + tx, s]. The kernel rows
/// of the tile are staged cc = kChunk / k² channels at a time.
template <class T>
__global__ void __launch_bounds__(256) self_corr_kernel(const T* __restrict__ K, T* __restrict__ G, int m, int cin,
                                                        int k) {
  __shared__ T As[kTile][kChunk + 1];
  __shared__ T Bs[kTile][kChunk + 1];
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
  const int i0 = blockIdx.y * kTile, j0 = blockIdx.x * kTile;
  const int w = 2 * k - 1, kk = k * k, S = w * w;
  const int sidx = blockIdx.z, sy = sidx / w - (k - 1), sx = sidx % w - (k - 1);
  // the positions u with u and u + s inside the kernel: rows [y0, y0 + ny), columns [x0, x0 + nx)
  const int y0 = sy < 0 ? -sy : 0, x0 = sx < 0 ? -sx : 0;
  const int ny = k - (sy < 0 ? -sy : sy), nx = k - (sx < 0 ? -sx : sx);
  const int cc = kChunk / kk;
  T acc = T(0);
  for (int c0 = 0; c0 < cin; c0 += cc) {
    const int ncc = min(cc, cin - c0), len = ncc * kk;
    for (int e = threadIdx.x; e < kTile * len; e += blockDim.x) {
      const int r = e / len, q = e % len;
      const int64_t off = (static_cast<int64_t>(c0) * kk + q);
      As[r][q] = i0 + r < m ? K[static_cast<int64_t>(i0 + r) * cin * kk + off] : T(0);
      Bs[r][q] = j0 + r < m ? K[static_cast<int64_t>(j0 + r) * cin * kk + off] : T(0);
    }
    __syncthreads();
    for (int cl = 0; cl < ncc; ++cl) {
      const T* a = &As[ty][cl * kk + (y0 + sy) * k + x0 + sx];
      const T* b = &Bs[tx][cl * kk + y0 * k + x0];
      for (int p = 0; p < ny; ++p)
        for (int q = 0; q < nx; ++q) acc += a[p * k + q] * b[p * k + q];
    }
    __syncthreads();
  }
  const int i = i0 + ty, j = j0 + tx;
  if (i < m && j < m) G[(static_cast<int64_t>(i) * m + j) * S + sidx] = acc;
}

/// gradK[a, c, v] = Σ_s Σ_j H[a, j, s]·K[j, c, v − s], H[a, j, s] = gG[a, j, s] + gG[j, a, −s], for a
/// 16 × 16 tile of (a = row, (c, v) flattened = column); thread (ty, tx) owns one gradK element. For
/// each offset s and 16 values of j, H's tile and the kernel planes of the tile's channels are staged.
// (256, 2): with the plain (256) bound ptxas aimed at 8 blocks per SM (32 registers) and spilled the
// float64 instance; 2 blocks per SM leave it ~58 registers and no spills (docs/cuda-resources.txt).
template <class T>
__global__ void __launch_bounds__(256, 2) self_corr_backward_kernel(const T* __restrict__ K, const T* __restrict__ gG,
                                                                 T* __restrict__ gK, int m, int cin, int k) {
  __shared__ T Hs[kTile][kTile + 1];
  __shared__ T Ks[kTile][kChunk + 1];
  const int tx = threadIdx.x % kTile, ty = threadIdx.x / kTile;
  const int a0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
  const int w = 2 * k - 1, kk = k * k, S = w * w, cols = cin * kk;
  // the tile's columns cover channels [c_lo, c_lo + nch): at most 16 / k² + 2 planes (≤ kChunk elements)
  const int c_lo = col0 / kk, nch = min(cin - 1, (col0 + kTile - 1) / kk) - c_lo + 1, len = nch * kk;
  const int a = a0 + ty, col = col0 + tx;
  const int c = col / kk, vy = (col % kk) / k, vx = col % k;
  T acc = T(0);
  for (int sidx = 0; sidx < S; ++sidx) {
    const int sy = sidx / w - (k - 1), sx = sidx % w - (k - 1);
    const int py = vy - sy, px = vx - sx;
    const bool valid = col < cols && py >= 0 && py < k && px >= 0 && px < k;
    for (int j0 = 0; j0 < m; j0 += kTile) {
      {
        const int r = threadIdx.x / kTile, q = threadIdx.x % kTile;  // Hs[r][q] = H[a0 + r, j0 + q, s]
        T h = T(0);
        if (a0 + r < m && j0 + q < m)
          h = gG[(static_cast<int64_t>(a0 + r) * m + j0 + q) * S + sidx] +
              gG[(static_cast<int64_t>(j0 + q) * m + a0 + r) * S + (S - 1 - sidx)];
        Hs[r][q] = h;
      }
      for (int e = threadIdx.x; e < kTile * len; e += blockDim.x) {
        const int r = e / len, q = e % len;
        Ks[r][q] = j0 + r < m ? K[(static_cast<int64_t>(j0 + r) * cin + c_lo) * kk + q] : T(0);
      }
      __syncthreads();
      if (valid) {
        const int q = (c - c_lo) * kk + py * k + px;
        for (int jj = 0; jj < kTile; ++jj) acc += Hs[ty][jj] * Ks[jj][q];
      }
      __syncthreads();
    }
  }
  if (a < m && col < cols) gK[static_cast<int64_t>(a) * cols + col] = acc;
}

void check_dims(const char* op, int64_t m, int64_t cin, int64_t k) {
  // 32-bit tile indices; every global offset is computed in 64 bits.
  if (m > int64_t(65535) * kTile || cin * k * k > (int64_t(1) << 30))
    fail(code::kUnsupported, op, ": the cuda kernel supports m ≤ 65535·16 and c·k² ≤ 2^30, got m = ", m, ", c = ", cin);
}

void self_corr_op(OpCall& c) {
  const Tensor& K = c.inputs[0];
  Tensor& G = c.outputs[0];
  if (G.numel() == 0) return;
  const int64_t m = K.dim(0), cin = K.dim(1), k = K.dim(2), w = 2 * k - 1;
  check_dims(c.op.c_str(), m, cin, k);
  const unsigned tiles = static_cast<unsigned>((m + kTile - 1) / kTile);
  dispatch_float(K.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto kern = self_corr_kernel<T>;
    KLAUNCH(kern, dim3(tiles, tiles, static_cast<unsigned>(w * w)), kTile * kTile, 0, 0, K.data<T>(), G.data<T>(),
            static_cast<int>(m), static_cast<int>(cin), static_cast<int>(k));
    cuda::check_launch("self_corr_kernel");
  });
}

void self_corr_backward_op(OpCall& c) {
  const Tensor& K = c.inputs[0];
  Tensor& gK = c.outputs[0];
  if (gK.numel() == 0) return;
  const int64_t m = K.dim(0), cin = K.dim(1), k = K.dim(2);
  check_dims(c.op.c_str(), m, cin, k);
  const unsigned rows = static_cast<unsigned>((m + kTile - 1) / kTile);
  const unsigned cols = static_cast<unsigned>((cin * k * k + kTile - 1) / kTile);
  dispatch_float(K.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto kern = self_corr_backward_kernel<T>;
    KLAUNCH(kern, dim3(cols, rows, 1), kTile * kTile, 0, 0, K.data<T>(), c.inputs[1].data<T>(), gK.data<T>(),
            static_cast<int>(m), static_cast<int>(cin), static_cast<int>(k));
    cuda::check_launch("self_corr_backward_kernel");
  });
}

}  // namespace

/// Registers the CUDA kernels of kernel_self_correlation (one block per 16 × 16 tile of (i, j) and
/// offset s; 2·m²·c·k⁴ flops) and kernel_self_correlation_backward (one block per 16 × 16 tile of
/// (a, (c, v)), looping over offsets and 16-wide chunks of j). float32 and float64.
void register_cuda_spectral(Registry& r) {
  r.kernel("kernel_self_correlation", Device::CUDA, self_corr_op);
  r.kernel("kernel_self_correlation_backward", Device::CUDA, self_corr_backward_op);
}

}  // namespace onelip
