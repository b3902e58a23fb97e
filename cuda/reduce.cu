// CUDA kernels of the reductions sum, mean and max over any set of axes.
//
// A reduction over consecutive axes is a [outer, reduce, inner] view of the contiguous input reduced to
// [outer, inner]; other axis sets are first permuted (kept dims, then reduced dims) into a temporary,
// which makes them [outer, reduce, 1]. Two kernels:
//   * rows (inner == 1): a block per row (or per chunk of a row), threads stride over the row, then a
//     warp-shuffle + shared-memory block reduction;
//   * columns (inner > 1, or short rows): a thread per output element loops over `reduce`; neighbouring
//     threads read neighbouring inner elements, so the loads are coalesced.
// When there are few outputs and long reductions, both run in two passes: pass 1 writes one partial
// result per chunk of the reduced range into a temporary (in the accumulator type), pass 2 reduces the
// partials. No atomics: the summation order depends only on the shape, so results are reproducible.
#include <algorithm>
#include "../native/core/shape_util.h"
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"
#include "layout.cuh"
#include "reduction_utils.cuh"

namespace onelip {
namespace {

/// Stores an accumulator unchanged (pass 1 of a two-pass reduction).
template <class Acc>
struct StoreAcc {
  OL_HD Acc operator()(Acc a) const { return a; }
};
/// sum, max: the accumulator converted to the output type (int64 sums of int32 wrap).
template <class Acc, class T>
struct StoreCast {
  OL_HD T operator()(Acc a) const { return static_cast<T>(a); }
};
/// mean: the sum divided by the number of reduced elements.
template <class T>
struct StoreMean {
  T count;
  OL_HD T operator()(T a) const { return a / count; }
};

/// Columns kernel: output o = (r, c, i) of [outer, chunks, inner] reduces x[r, k, i] (x viewed as
/// [outer, reduce, inner]) over k in chunk c = [c * chunk_len, min(reduce, (c + 1) * chunk_len)).
/// Single pass: chunks = 1, chunk_len = reduce.
template <class Tin, class Acc, class Tout, class Op, class Fin>
__global__ void reduce_cols_kernel(const Tin* __restrict__ x, Tout* __restrict__ y, int64_t outer, int64_t reduce,
                                   int64_t inner, int64_t chunks, int64_t chunk_len, Op op, Acc identity, Fin fin) {
  const int64_t n = outer * chunks * inner;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += stride) {
    const int64_t i = o % inner, rc = o / inner;
    const int64_t c = rc % chunks, r = rc / chunks;
    const int64_t k0 = c * chunk_len, k1 = k0 + chunk_len < reduce ? k0 + chunk_len : reduce;
    const Tin* p = x + (r * reduce + k0) * inner + i;
    Acc acc = identity;
    for (int64_t k = k0; k < k1; ++k, p += inner) acc = op(acc, static_cast<Acc>(*p));
    y[o] = fin(acc);
  }
}

/// Rows kernel: block (c, r) reduces chunk c = [c * chunk_len, min(reduce, (c + 1) * chunk_len)) of
/// row r of x viewed as [outer, reduce] into y[r * chunks + c]. Threads stride over the chunk, then
/// block_reduce combines them. Grid x over chunks, y over rows, each with a stride loop (uniform
/// per block, so every thread reaches the barriers).
template <class Tin, class Acc, class Tout, class Op, class Fin>
__global__ void reduce_rows_kernel(const Tin* __restrict__ x, Tout* __restrict__ y, int64_t outer, int64_t reduce,
                                   int64_t chunks, int64_t chunk_len, Op op, Acc identity, Fin fin) {
  __shared__ Acc warp_buf[32];
  for (int64_t r = blockIdx.y; r < outer; r += gridDim.y) {
    const Tin* row = x + r * reduce;
    for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
      const int64_t k0 = c * chunk_len, k1 = k0 + chunk_len < reduce ? k0 + chunk_len : reduce;
      Acc acc = identity;
      for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) acc = op(acc, static_cast<Acc>(row[k]));
      acc = cuda::block_reduce(acc, op, identity, warp_buf);
      if (threadIdx.x == 0) y[r * chunks + c] = fin(acc);
    }
  }
}

// Shape heuristics (elements): rows at most kShortRow long use the columns kernel; a reduction goes
// two-pass when it would otherwise give too few threads (columns) or blocks (rows) for its length.
constexpr int64_t kShortRow = 16;
constexpr int64_t kRowChunk = 4096;       // elements per block in pass 1 of a rows reduction
constexpr int64_t kTargetBlocks = 1024;   // rows: aim for this many blocks in pass 1
constexpr int64_t kColChunk = 64;         // reduced elements per thread in pass 1 of a columns reduction
constexpr int64_t kTargetThreads = 65536; // columns: aim for this many threads in pass 1

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
unsigned cap_grid(int64_t v) { return static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(v, 1), 65535)); }

/// Threads per block of the rows kernel for rows of `len` elements: about 8 elements per thread,
/// between one warp and 256 threads.
int rows_block(int64_t len) {
  int b = 32;
  while (b < 256 && b * 8 < len) b *= 2;
  return b;
}

/// A temporary device buffer of n accumulators (a tensor of a dtype of the same size holds the bytes).
template <class Acc>
Tensor scratch(int64_t n) {
  return Tensor::empty({n}, sizeof(Acc) == 8 ? DType::F64 : DType::F32, Device::CUDA);
}

template <class Tin, class Acc, class Tout, class Op, class Fin>
void launch_rows(const Tin* x, Tout* y, int64_t outer, int64_t reduce, int64_t chunks, int64_t chunk_len, Op op,
                 Acc identity, Fin fin) {
  auto k = reduce_rows_kernel<Tin, Acc, Tout, Op, Fin>;
  KLAUNCH(k, dim3(cap_grid(chunks), cap_grid(outer)), rows_block(chunk_len), 0, 0, x, y, outer, reduce, chunks,
          chunk_len, op, identity, fin);
  cuda::check_launch("reduce_rows_kernel");
}

template <class Tin, class Acc, class Tout, class Op, class Fin>
void launch_cols(const Tin* x, Tout* y, int64_t outer, int64_t reduce, int64_t inner, int64_t chunks,
                 int64_t chunk_len, Op op, Acc identity, Fin fin) {
  auto k = reduce_cols_kernel<Tin, Acc, Tout, Op, Fin>;
  KLAUNCH(k, cuda::grid_for(outer * chunks * inner), cuda::kBlock, 0, 0, x, y, outer, reduce, inner, chunks,
          chunk_len, op, identity, fin);
  cuda::check_launch("reduce_cols_kernel");
}

/// y[outer, inner] = fin(op-reduction of x[outer, reduce, inner] over the middle axis).
template <class T, class Acc, class Op, class Fin>
void run_reduce(const T* x, T* y, const ReducePlan& p, Op op, Acc identity, Fin fin) {
  if (p.outer * p.inner == 0) return;
  if (p.inner == 1 && p.reduce > kShortRow) {
    int64_t chunks = 1;
    if (p.outer < kTargetBlocks && p.reduce >= 4 * kRowChunk)
      chunks = std::min(ceil_div(p.reduce, kRowChunk), ceil_div(kTargetBlocks, p.outer));
    if (chunks < 2) {
      launch_rows(x, y, p.outer, p.reduce, int64_t(1), p.reduce, op, identity, fin);
      return;
    }
    const int64_t len = ceil_div(p.reduce, chunks);
    chunks = ceil_div(p.reduce, len);
    Tensor partial = scratch<Acc>(p.outer * chunks);
    Acc* part = partial.data<Acc>();
    launch_rows(x, part, p.outer, p.reduce, chunks, len, op, identity, StoreAcc<Acc>{});
    launch_rows(static_cast<const Acc*>(part), y, p.outer, chunks, int64_t(1), chunks, op, identity, fin);
    return;
  }
  const int64_t cols = p.outer * p.inner;
  int64_t chunks = 1;
  if (cols < kTargetThreads / 8 && p.reduce >= 4 * kColChunk)
    chunks = std::min(ceil_div(p.reduce, kColChunk), ceil_div(kTargetThreads, cols));
  if (chunks < 2) {
    launch_cols(x, y, p.outer, p.reduce, p.inner, int64_t(1), p.reduce, op, identity, fin);
    return;
  }
  const int64_t len = ceil_div(p.reduce, chunks);
  chunks = ceil_div(p.reduce, len);
  Tensor partial = scratch<Acc>(p.outer * chunks * p.inner);
  Acc* part = partial.data<Acc>();
  launch_cols(x, part, p.outer, p.reduce, p.inner, chunks, len, op, identity, StoreAcc<Acc>{});
  launch_cols(static_cast<const Acc*>(part), y, p.outer, chunks, p.inner, int64_t(1), chunks, op, identity, fin);
}

enum class Kind { Sum, Mean, Max };

template <class T>
void reduce_typed(Kind kind, const T* x, T* y, const ReducePlan& p, int64_t count) {
  if (kind == Kind::Max) {
    run_reduce(x, y, p, math::Max{}, math::max_identity<T>(), StoreCast<T, T>{});
    return;
  }
  using Acc = typename math::Acc<T>::type;
  if constexpr (std::is_floating_point<T>::value) {
    if (kind == Kind::Mean) {
      run_reduce(x, y, p, math::Add{}, Acc(0), StoreMean<T>{static_cast<T>(count)});
      return;
    }
  }
  run_reduce(x, y, p, math::Add{}, Acc(0), StoreCast<Acc, T>{});
}

/// Reduces c.inputs[0] over reduce_axes(c) into c.outputs[0] (keepDims only changes the output's shape).
void reduce_op(OpCall& c, Kind kind) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  const std::vector<int> axes = reduce_axes(c);
  Tensor src = x;
  ReducePlan plan;
  if (x.numel() == 0) {
    plan = ReducePlan{y.numel(), 0, 1};  // sum over an empty axis: zeros
  } else if (axes_contiguous(axes)) {
    plan = make_reduce_plan(x.shape(), axes);
  } else {
    // Move the reduced dims last: [kept..., reduced...] = [outer, reduce, 1].
    std::vector<int> perm;
    Shape shape;
    plan = ReducePlan{1, 1, 1};
    for (int d = 0; d < x.ndim(); ++d)
      if (!std::binary_search(axes.begin(), axes.end(), d)) {
        perm.push_back(d);
        plan.outer *= x.dim(d);
      }
    for (int a : axes) {
      perm.push_back(a);
      plan.reduce *= x.dim(a);
    }
    for (int d : perm) shape.push_back(x.dim(d));
    src = Tensor::empty(shape, x.dtype(), Device::CUDA);
    cuda::permute(x, perm, src);
  }
  const int64_t count = plan.reduce;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    reduce_typed<T>(kind, src.data<T>(), y.data<T>(), plan, count);
  });
}

}  // namespace

/// Registers the CUDA kernels of sum (any dtype; int32 accumulates in int64), mean (float) and max (any
/// dtype, NaN-propagating): rows or columns kernel, one or two passes, see the top of this file.
void register_cuda_reduce(Registry& r) {
  r.kernel("sum", Device::CUDA, [](OpCall& c) { reduce_op(c, Kind::Sum); });
  r.kernel("mean", Device::CUDA, [](OpCall& c) { reduce_op(c, Kind::Mean); });
  r.kernel("max", Device::CUDA, [](OpCall& c) { reduce_op(c, Kind::Max); });
}

}  // namespace onelip
