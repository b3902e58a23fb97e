// CPU kernels of the data-movement ops: permute (blocked transpose for (batched) 2-D transposes, else a
// row-wise walk of the collapsed PermutePlan), slice (walk of a collapsed slice plan, or one copy when
// the slice is a contiguous run) and concat (memcpy of contiguous runs). These kernels move bits: every
// dtype runs through the uint32_t or uint64_t instantiation of its size.
#include <algorithm>
#include <cstring>
#include <vector>
#include "../core/shape_util.h"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace cpu {
void permute(const Tensor& x, const std::vector<int>& perm, Tensor& out);
}  // namespace cpu

namespace {

constexpr int64_t kGrainBytes = int64_t(1) << 17;  // bytes per thread-pool chunk of a copy
constexpr int64_t kTile = 32;                     // transpose tiles are kTile × kTile elements


/// memcpy split over the thread pool.
void parallel_copy(void* dst, const void* src, int64_t bytes) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  parallel_for(bytes, kGrainBytes, [=](int64_t begin, int64_t end) { std::memcpy(d + begin, s + begin, end - begin); });
}

/// A strided read of a contiguous tensor, dims collapsed: output element o (row-major over `shape`)
/// reads input offset base + sum_d idx_d(o) * in_stride[d].
struct Walk {
  int ndim;
  int64_t numel;
  int64_t base;
  int64_t shape[kPlanDims];
  int64_t in_stride[kPlanDims];
};

/// y = the elements of x that `w` addresses, row by row (a row = the innermost dim). Each chunk of
/// rows computes the offset of its first row once, then advances it like an odometer.
template <class T>
void gather(const T* x, T* y, const Walk& w) {
  const int last = w.ndim - 1;
  const int64_t len = w.shape[last], step = w.in_stride[last];
  const int64_t rows = w.numel / len;
  const int64_t grain = std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(sizeof(T)) / len);
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    int64_t idx[kPlanDims] = {0};
    int64_t off = w.base;
    for (int64_t d = last - 1, rest = begin; d >= 0; --d) {
      idx[d] = rest % w.shape[d];
      rest /= w.shape[d];
      off += idx[d] * w.in_stride[d];
    }
    for (int64_t r = begin; r < end; ++r) {
      const T* src = x + off;
      T* dst = y + r * len;
      if (step == 1) std::memcpy(dst, src, len * sizeof(T));
      else for (int64_t k = 0; k < len; ++k) dst[k] = src[k * step];
      for (int d = last - 1; d >= 0; --d) {
        off += w.in_stride[d];
        if (++idx[d] < w.shape[d]) break;
        off -= w.shape[d] * w.in_stride[d];
        idx[d] = 0;
      }
    }
  });
}

/// y [batch, cols, rows] = x [batch, rows, cols] transposed, one kTile × kTile tile per task so that
/// both the reads and the writes of a tile stay in cache.
template <class T>
void transpose_blocked(const T* x, T* y, int64_t batch, int64_t rows, int64_t cols) {
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tiles = row_tiles * col_tiles;
  const int64_t grain = std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(sizeof(T)) / (kTile * kTile));
  parallel_for(batch * tiles, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / tiles, tr = (t % tiles) / col_tiles, tc = t % col_tiles;
      const T* xb = x + b * rows * cols;
      T* yb = y + b * rows * cols;
      const int64_t r0 = tr * kTile, r1 = std::min(rows, r0 + kTile);
      const int64_t c0 = tc * kTile, c1 = std::min(cols, c0 + kTile);
      for (int64_t col = c0; col < c1; ++col) {
        const T* src = xb + col;
        T* dst = yb + col * rows;
        for (int64_t r = r0; r < r1; ++r) dst[r] = src[r * cols];
      }
    }
  });
}

/// Whether the plan is a (batched) 2-D transpose: y [batch, cols, rows] from x [batch, rows, cols].
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

/// The walk of a slice [begin, end) of a contiguous tensor of `in_shape`: size-1 dims dropped, and a
/// dim merged into the previous kept one when that one steps over whole rows of it.
Walk make_slice_walk(const Shape& in_shape, const Shape& begin, const Shape& end) {
  Walk w{};
  const Shape st = contiguous_strides(in_shape);
  int m = 0;
  for (size_t d = 0; d < in_shape.size(); ++d) {
    const int64_t size = end[d] - begin[d];
    w.base += begin[d] * st[d];
    if (size == 1) continue;
    if (m > 0 && st[d] * size == w.in_stride[m - 1]) {
      w.shape[m - 1] *= size;
      w.in_stride[m - 1] = st[d];
      continue;
    }
    w.shape[m] = size;
    w.in_stride[m] = st[d];
    ++m;
  }
  if (m == 0) {
    w.shape[0] = 1;
    w.in_stride[0] = 1;
    m = 1;
  }
  w.ndim = m;
  w.numel = 1;
  for (int d = 0; d < m; ++d) w.numel *= w.shape[d];
  return w;
}

void permute_op(OpCall& c) { cpu::permute(c.inputs[0], permute_perm(c), c.outputs[0]); }

void slice_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  Shape begin, end;
  slice_bounds(c, &begin, &end);
  const Walk w = make_slice_walk(x.shape(), begin, end);
  const int64_t esize = static_cast<int64_t>(dtype_size(x.dtype()));
  if (w.ndim == 1 && w.in_stride[0] == 1) {  // one contiguous run
    parallel_copy(y.raw(), static_cast<const char*>(x.raw()) + w.base * esize, static_cast<int64_t>(y.nbytes()));
    return;
  }
  dispatch_bits(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    gather(x.data<T>(), y.data<T>(), w);
  });
}

/// The output viewed as [rows, out_cols] (cols = size along the axis × product of the later dims);
/// input k fills columns [off_k, off_k + cols_k) of every row with its own rows, one memcpy each.
void concat_op(OpCall& c) {
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  const int axis = concat_axis(c);
  const int64_t esize = static_cast<int64_t>(dtype_size(y.dtype()));
  int64_t rows = 1, inner = 1;
  for (int d = 0; d < axis; ++d) rows *= y.dim(d);
  for (int d = axis + 1; d < y.ndim(); ++d) inner *= y.dim(d);
  const int64_t out_row = y.dim(axis) * inner * esize;  // bytes

  struct Part {
    const char* src;
    int64_t row_bytes, offset;
  };
  std::vector<Part> parts;
  int64_t offset = 0;
  for (const Tensor& x : c.inputs) {
    const int64_t row_bytes = x.dim(axis) * inner * esize;
    if (row_bytes > 0) parts.push_back({static_cast<const char*>(x.raw()), row_bytes, offset});
    offset += row_bytes;
  }
  char* dst = static_cast<char*>(y.raw());
  if (rows < 64) {  // few long runs: split each run over the pool instead
    for (int64_t r = 0; r < rows; ++r)
      for (const Part& p : parts) parallel_copy(dst + r * out_row + p.offset, p.src + r * p.row_bytes, p.row_bytes);
    return;
  }
  parallel_for(rows, std::max<int64_t>(1, kGrainBytes / out_row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (const Part& p : parts) std::memcpy(dst + r * out_row + p.offset, p.src + r * p.row_bytes, p.row_bytes);
  });
}

}  // namespace

namespace cpu {

/// out = x permuted by `perm` (perm[i] = input dim of output dim i); `out` is a contiguous CPU tensor of
/// the permuted shape and x's dtype, already allocated. Also used by the reductions (reduce.cc).
void permute(const Tensor& x, const std::vector<int>& perm, Tensor& out) {
  if (out.numel() == 0) return;
  const PermutePlan plan = make_permute_plan(x.shape(), perm);
  if (plan.ndim == 1) {  // only size-1 dims move: a plain copy
    parallel_copy(out.raw(), x.raw(), static_cast<int64_t>(out.nbytes()));
    return;
  }
  dispatch_bits(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    int64_t batch, rows, cols;
    if (as_transpose(plan, &batch, &rows, &cols)) {
      transpose_blocked(x.data<T>(), out.data<T>(), batch, rows, cols);
      return;
    }
    Walk w{};
    w.ndim = plan.ndim;
    w.numel = plan.numel;
    std::copy(plan.shape, plan.shape + plan.ndim, w.shape);
    std::copy(plan.in_stride, plan.in_stride + plan.ndim, w.in_stride);
    gather(x.data<T>(), out.data<T>(), w);
  });
}

}  // namespace cpu

/// Registers the CPU kernels of permute (blocked tiles for (batched) 2-D transposes, else a row-wise
/// walk of the collapsed PermutePlan with memcpy rows when the innermost dim stays in place), slice (one
/// copy for a contiguous run, else the same walk) and concat (one memcpy per input and output row).
/// Any dtype; O(n) bytes moved, split over the thread pool.
void register_cpu_layout(Registry& r) {
  r.kernel("permute", Device::CPU, permute_op);
  r.kernel("slice", Device::CPU, slice_op);
  r.kernel("concat", Device::CPU, concat_op);
}

}  // namespace onelip
