// CUDA kernels of the data-movement ops: permute (general plan walk, or a 32×33 shared-memory tiled
// transpose when the collapsed permutation is a (batched) 2-D transpose), slice and concat. The kernels
// move bits: every dtype runs through the uint32_t or uint64_t instantiation of its size.
#include <cstring>
#include "../native/core/shape_util.h"
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"
#include "layout.cuh"

namespace onelip {
namespace {

/// Slice of a contiguous tensor with dims collapsed: output element o (row-major over `shape`) reads
/// input offset base + sum_d ((o / out_stride[d]) % shape[d]) * in_stride[d].
struct SlicePlan {
  int ndim;
  int64_t numel;
  int64_t base;
  int64_t shape[kPlanDims];
  int64_t in_stride[kPlanDims];
};

constexpr int kTile = 32;
constexpr int kTileRows = 8;  // a 32×8 block moves a 32×32 tile, 4 elements per thread

/// General permute: one thread per output element, input offset from the collapsed plan.
template <class T>
__global__ void permute_kernel(const T* __restrict__ x, T* __restrict__ y, PermutePlan plan) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < plan.numel; o += stride) {
    int64_t rest = o, off = 0;
    for (int d = plan.ndim - 1; d >= 0; --d) {
      off += (rest % plan.shape[d]) * plan.in_stride[d];
      rest /= plan.shape[d];
    }
    y[o] = x[off];
  }
}

/// Batched transpose x [batch, rows, cols] → y [batch, cols, rows] through a 32×33 shared tile (the
/// padding column keeps the column reads of the tile free of bank conflicts). Block 32×8; grid x over
/// column tiles, y over row tiles, z over the batch, each with a stride loop. Both the global reads and
/// the global writes are coalesced along threadIdx.x.
template <class T>
__global__ void transpose_tiled_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t batch, int64_t rows,
                                       int64_t cols) {
  __shared__ T tile[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const T* xb = x + b * rows * cols;
    T* yb = y + b * rows * cols;
    for (int64_t tr = blockIdx.y; tr < row_tiles; tr += gridDim.y) {
      for (int64_t tc = blockIdx.x; tc < col_tiles; tc += gridDim.x) {
        const int64_t r0 = tr * kTile, c0 = tc * kTile;
        // tile[j][i] = x[r0 + j][c0 + i]
        for (int j = ty; j < kTile; j += kTileRows) {
          const int64_t r = r0 + j, col = c0 + tx;
          if (r < rows && col < cols) tile[j][tx] = xb[r * cols + col];
        }
        __syncthreads();
        // y[c0 + j][r0 + i] = x[r0 + i][c0 + j] = tile[i][j]
        for (int j = ty; j < kTile; j += kTileRows) {
          const int64_t col = c0 + j, r = r0 + tx;
          if (col < cols && r < rows) yb[col * rows + r] = tile[tx][j];
        }
        __syncthreads();
      }
    }
  }
}

/// Slice: one thread per output element, input offset from the collapsed slice plan.
template <class T>
__global__ void slice_kernel(const T* __restrict__ x, T* __restrict__ y, SlicePlan plan) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < plan.numel; o += stride) {
    int64_t rest = o, off = plan.base;
    for (int d = plan.ndim - 1; d >= 0; --d) {
      off += (rest % plan.shape[d]) * plan.in_stride[d];
      rest /= plan.shape[d];
    }
    y[o] = x[off];
  }
}

/// Copies one concat input, viewed as [rows, in_cols], into columns [col_off, col_off + in_cols) of
/// the output viewed as [rows, out_cols] (cols = size along the axis × product of the later dims).
template <class T>
__global__ void concat_copy_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t in_cols,
                                   int64_t out_cols, int64_t col_off) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t r = e / in_cols, col = e - r * in_cols;
    y[r * out_cols + col_off + col] = x[e];
  }
}


void copy_device(void* dst, const void* src, size_t bytes) {
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

/// The plan is a (batched) 2-D transpose: y [batch, cols, rows] from x [batch, rows, cols].
bool as_transpose(const PermutePlan& p, int64_t* batch, int64_t* rows, int64_t* cols) {
  if (p.ndim != 2 && p.ndim != 3) return false;
  const int k = p.ndim - 2;
  if (p.in_stride[k] != 1 || p.in_stride[k + 1] != p.shape[k]) return false;
  if (p.ndim == 3 && p.in_stride[0] != p.shape[1] * p.shape[2]) return false;
  *batch = p.ndim == 3 ? p.shape[0] : 1;
  *rows = p.shape[k + 1];
  *cols = p.shape[k];
  return true;
}

template <class T>
void launch_permute(const Tensor& x, Tensor& y, const PermutePlan& plan) {
  int64_t batch, rows, cols;
  if (as_transpose(plan, &batch, &rows, &cols)) {
    auto cap = [](int64_t v) { return static_cast<unsigned>(v < 65535 ? v : 65535); };
    dim3 grid(cap((cols + kTile - 1) / kTile), cap((rows + kTile - 1) / kTile), cap(batch));
    auto k = transpose_tiled_kernel<T>;
    KLAUNCH(k, grid, dim3(kTile, kTileRows), 0, 0, x.data<T>(), y.data<T>(), batch, rows, cols);
    cuda::check_launch("transpose_tiled_kernel");
    return;
  }
  auto k = permute_kernel<T>;
  KLAUNCH(k, cuda::grid_for(plan.numel), cuda::kBlock, 0, 0, x.data<T>(), y.data<T>(), plan);
  cuda::check_launch("permute_kernel");
}

void permute_op(OpCall& c) { cuda::permute(c.inputs[0], permute_perm(c), c.outputs[0]); }

SlicePlan make_slice_plan(const Shape& in_shape, const Shape& begin, const Shape& end) {
  SlicePlan p{};
  const Shape st = contiguous_strides(in_shape);
  int m = 0;
  for (size_t d = 0; d < in_shape.size(); ++d) {
    const int64_t size = end[d] - begin[d];
    p.base += begin[d] * st[d];
    if (size == 1) continue;
    if (m > 0 && st[d] * size == p.in_stride[m - 1]) {  // the previous dim steps over whole rows of this one
      p.shape[m - 1] *= size;
      p.in_stride[m - 1] = st[d];
      continue;
    }
    p.shape[m] = size;
    p.in_stride[m] = st[d];
    ++m;
  }
  if (m == 0) {
    p.shape[0] = 1;
    p.in_stride[0] = 1;
    m = 1;
  }
  p.ndim = m;
  p.numel = 1;
  for (int d = 0; d < m; ++d) p.numel *= p.shape[d];
  return p;
}

void slice_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  Shape begin, end;
  slice_bounds(c, &begin, &end);
  const SlicePlan plan = make_slice_plan(x.shape(), begin, end);
  const size_t esize = dtype_size(x.dtype());
  if (plan.ndim == 1 && plan.in_stride[0] == 1) {  // one contiguous run
    copy_device(y.raw(), static_cast<const char*>(x.raw()) + plan.base * esize, y.nbytes());
    return;
  }
  dispatch_bits(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto k = slice_kernel<T>;
    KLAUNCH(k, cuda::grid_for(plan.numel), cuda::kBlock, 0, 0, x.data<T>(), y.data<T>(), plan);
    cuda::check_launch("slice_kernel");
  });
}

void concat_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  const int axis = concat_axis(c);
  int64_t rows = 1, inner = 1;
  for (int d = 0; d < axis; ++d) rows *= y.dim(d);
  for (int d = axis + 1; d < y.ndim(); ++d) inner *= y.dim(d);
  const int64_t out_cols = y.dim(axis) * inner;
  int64_t col_off = 0;
  for (const Tensor& x : c.inputs) {
    const int64_t n = x.numel(), in_cols = x.dim(axis) * inner;
    if (n > 0) {
      dispatch_bits(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        auto k = concat_copy_kernel<T>;
        KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, x.data<T>(), y.data<T>(), n, in_cols, out_cols, col_off);
        cuda::check_launch("concat_copy_kernel");
      });
    }
    col_off += in_cols;
  }
}

}  // namespace

namespace cuda {

void permute(const Tensor& x, const std::vector<int>& perm, Tensor& out) {
  if (out.numel() == 0) return;
  const PermutePlan plan = make_permute_plan(x.shape(), perm);
  if (plan.ndim == 1) {  // the permutation only moves size-1 dims: a plain copy
    copy_device(out.raw(), x.raw(), out.nbytes());
    return;
  }
  dispatch_bits(x.dtype(), [&](auto tag) { launch_permute<decltype(tag)>(x, out, plan); });
}

}  // namespace cuda

/// Registers the CUDA kernels of permute (tiled transpose for (batched) 2-D transposes, else a walk of
/// the collapsed PermutePlan), slice (walk of a collapsed slice plan; a device copy when the slice is
/// one contiguous run) and concat (one coalesced copy kernel per non-empty input).
void register_cuda_layout(Registry& r) {
  r.kernel("permute", Device::CUDA, permute_op);
  r.kernel("slice", Device::CUDA, slice_op);
  r.kernel("concat", Device::CUDA, concat_op);
}

}  // namespace onelip
