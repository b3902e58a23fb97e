// CPU kernels of the reductions sum, mean and max over any set of axes.
//
// A reduction over consecutive axes is a [outer, reduce, inner] view of the contiguous input reduced to
// [outer, inner]; other axis sets are first permuted (kept dims, then reduced dims) into a temporary,
// which makes them [outer, reduce, 1]. The reduced range is combined pairwise (a balanced tree over
// short sequential leaves), so float32 sums of millions of elements stay accurate:
//   * rows (inner == 1): each leaf runs kLanes interleaved accumulators over contiguous memory;
//   * columns (inner > 1): a task owns a tile of up to kTileW neighbouring outputs and adds whole rows of
//     the tile at a time (a unit-stride loop over the tile), leaves of kColLeaf rows.
// Long reductions with few outputs run in two passes: pass 1 reduces fixed-size chunks of the reduced
// range into partial results (in the accumulator type), pass 2 reduces the partials. Whether and how a
// reduction is split depends only on the shape, never on the thread count, so results are reproducible.
#include <algorithm>
#include <cstring>
#include <vector>
#include "../../cuda/math.cuh"
#include "../core/shape_util.h"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace cpu {
void permute(const Tensor& x, const std::vector<int>& perm, Tensor& out);  // layout.cc
}  // namespace cpu

namespace {

constexpr int64_t kGrain = 1 << 15;        // input elements per thread-pool chunk
constexpr int64_t kRowLeaf = 256;          // rows: leaf length of the pairwise tree
constexpr int64_t kLanes = 16;             // rows: accumulators of a leaf (a power of 2)
constexpr int64_t kColLeaf = 16;           // columns: rows per leaf of the pairwise tree
constexpr int64_t kTileW = 256;            // columns: outputs per task
constexpr int64_t kChunk = int64_t(1) << 16;  // two-pass: input elements per pass-1 chunk
constexpr int64_t kFewTasks = 64;          // two-pass only when pass 2 alone would have fewer tasks

/// op-reduction of p[0, n) (identity `id` when n == 0), pairwise above kRowLeaf elements. A leaf runs
/// kLanes independent accumulators (lane j takes elements j, j + kLanes, ...): the loop vectorizes and
/// the dependency chains are short enough to hide the latency of math::Max's compare-and-select.
template <class Acc, class T, class Op>
Acc reduce_row(const T* p, int64_t n, Op op, Acc id) {
  if (n > kRowLeaf) {
    const int64_t half = (n / 2) & ~(kLanes - 1);
    return op(reduce_row(p, half, op, id), reduce_row(p + half, n - half, op, id));
  }
  Acc lane[kLanes];
  for (int64_t j = 0; j < kLanes; ++j) lane[j] = id;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) lane[j] = op(lane[j], static_cast<Acc>(p[i + j]));
  for (int64_t width = kLanes / 2; width > 0; width /= 2)  // combine the lanes pairwise
    for (int64_t j = 0; j < width; ++j) lane[j] = op(lane[j], lane[j + width]);
  Acc acc = lane[0];
  for (; i < n; ++i) acc = op(acc, static_cast<Acc>(p[i]));
  return acc;
}

/// out[i] = op-reduction over k < n of x[k * stride + i], for i < w; pairwise above kColLeaf rows.
/// `scratch` holds w accumulators per level of the tree below this one.
template <class Acc, class T, class Op>
void reduce_cols(const T* x, int64_t n, int64_t stride, int64_t w, Acc* out, Acc* scratch, Op op, Acc id) {
  if (n > kColLeaf) {
    const int64_t half = n / 2;
    reduce_cols(x, half, stride, w, out, scratch + w, op, id);
    reduce_cols(x + half * stride, n - half, stride, w, scratch, scratch + w, op, id);
    for (int64_t i = 0; i < w; ++i) out[i] = op(out[i], scratch[i]);
    return;
  }
  for (int64_t i = 0; i < w; ++i) out[i] = id;
  for (int64_t k = 0; k < n; ++k) {
    const T* row = x + k * stride;
    for (int64_t i = 0; i < w; ++i) out[i] = op(out[i], static_cast<Acc>(row[i]));
  }
}

/// Levels of reduce_cols' tree for n rows (the scratch it needs is levels × w accumulators).
int64_t col_levels(int64_t n) {
  int64_t levels = 1;
  for (; n > kColLeaf; n -= n / 2) ++levels;
  return levels;
}

/// One pass: x viewed as [outer, reduce, inner], the reduced range cut into `chunks` pieces of
/// `chunk_len` (the last one shorter); y[(r * chunks + c) * inner + i] = fin(reduction of piece c of
/// column (r, i)). Single pass: chunks = 1, chunk_len = reduce.
template <class Tin, class Acc, class Tout, class Op, class Fin>
void reduce_pass(const Tin* x, Tout* y, int64_t outer, int64_t reduce, int64_t inner, int64_t chunks,
                 int64_t chunk_len, Op op, Acc id, Fin fin) {
  auto piece = [=](int64_t c, int64_t* k0) {
    *k0 = c * chunk_len;
    return std::min(reduce, *k0 + chunk_len) - *k0;
  };
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(chunk_len, 1));
    parallel_for(outer * chunks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        int64_t k0;
        const int64_t len = piece(t % chunks, &k0);
        y[t] = fin(reduce_row(x + (t / chunks) * reduce + k0, len, op, id));
      }
    });
    return;
  }
  const int64_t tiles = (inner + kTileW - 1) / kTileW;
  const int64_t width = std::min(inner, kTileW);
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(chunk_len * width, 1));
  parallel_for(outer * chunks * tiles, grain, [&](int64_t begin, int64_t end) {
    std::vector<Acc> buf(static_cast<size_t>((col_levels(chunk_len) + 1) * width));
    for (int64_t t = begin; t < end; ++t) {
      const int64_t rc = t / tiles, i0 = (t % tiles) * kTileW;
      const int64_t r = rc / chunks, w = std::min(kTileW, inner - i0);
      int64_t k0;
      const int64_t len = piece(rc % chunks, &k0);
      reduce_cols(x + (r * reduce + k0) * inner + i0, len, inner, w, buf.data(), buf.data() + w, op, id);
      Tout* dst = y + rc * inner + i0;
      for (int64_t i = 0; i < w; ++i) dst[i] = fin(buf[i]);
    }
  });
}

/// y[outer, inner] = fin(op-reduction of x[outer, reduce, inner] over the middle axis), one or two passes.
template <class T, class Acc, class Op, class Fin>
void run_reduce(const T* x, T* y, const ReducePlan& p, Op op, Acc id, Fin fin) {
  const int64_t chunk_len = std::max(kColLeaf, kChunk / p.inner);
  const int64_t tasks = p.outer * ((p.inner + kTileW - 1) / kTileW);
  if (p.reduce < 2 * chunk_len || tasks >= kFewTasks) {
    reduce_pass(x, y, p.outer, p.reduce, p.inner, 1, p.reduce, op, id, fin);
    return;
  }
  const int64_t chunks = (p.reduce + chunk_len - 1) / chunk_len;
  std::vector<Acc> partial(static_cast<size_t>(p.outer * chunks * p.inner));
  reduce_pass(x, partial.data(), p.outer, p.reduce, p.inner, chunks, chunk_len, op, id, [](Acc a) { return a; });
  reduce_pass(partial.data(), y, p.outer, chunks, p.inner, 1, chunks, op, id, fin);
}

enum class Kind { Sum, Mean, Max };

template <class T>
void reduce_typed(Kind kind, const T* x, T* y, const ReducePlan& p) {
  if (kind == Kind::Max) {
    run_reduce(x, y, p, math::Max{}, math::max_identity<T>(), [](T a) { return a; });
    return;
  }
  using Acc = typename math::Acc<T>::type;
  if (kind == Kind::Mean) {  // floats only (the definition rejects int32)
    const Acc count = static_cast<Acc>(p.reduce);
    run_reduce(x, y, p, math::Add{}, Acc(0), [count](Acc a) { return static_cast<T>(a / count); });
    return;
  }
  // int32 sums accumulate in int64 and wrap when stored.
  run_reduce(x, y, p, math::Add{}, Acc(0), [](Acc a) { return static_cast<T>(a); });
}

/// Reduces c.inputs[0] over reduce_axes(c) into c.outputs[0] (keepDims only changes the output's shape).
void reduce_op(OpCall& c, Kind kind) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  const std::vector<int> axes = reduce_axes(c);
  if (axes.empty()) {  // nothing reduced: sum, mean and max are all the identity
    std::memcpy(y.raw(), x.raw(), y.nbytes());
    return;
  }
  if (x.numel() == 0) {  // a sum over an empty axis (mean and max reject it): zeros
    std::memset(y.raw(), 0, y.nbytes());
    return;
  }
  Tensor src = x;
  ReducePlan plan;
  if (axes_contiguous(axes)) {
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
    src = Tensor::empty(shape, x.dtype(), Device::CPU);
    cpu::permute(x, perm, src);
  }
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    reduce_typed<T>(kind, src.data<T>(), y.data<T>(), plan);
  });
}

}  // namespace

/// Registers the CPU kernels of sum (any dtype; int32 accumulates in int64 and wraps when stored), mean
/// (float; sum / count in the accumulator precision) and max (any dtype, NaN-propagating math::Max).
/// Pairwise summation over the reduced range, threads over outputs (and over chunks of long
/// reductions with few outputs); O(n), plus a permuted copy when the reduced axes are not consecutive.
void register_cpu_reduce(Registry& r) {
  r.kernel("sum", Device::CPU, [](OpCall& c) { reduce_op(c, Kind::Sum); });
  r.kernel("mean", Device::CPU, [](OpCall& c) { reduce_op(c, Kind::Mean); });
  r.kernel("max", Device::CPU, [](OpCall& c) { reduce_op(c, Kind::Max); });
}

}  // namespace onelip
