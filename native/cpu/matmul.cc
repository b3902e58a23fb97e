// CPU kernels of the matrix products matmul and syrk (float32, the fast path, and float64). The GEMM
// itself is native/cpu/gemm/: packed, cache-blocked, with register-blocked micro-kernels for AVX-512,
// AVX2+FMA and portable C++, chosen at run time. This file maps the batched, broadcast tensor ops onto
// it and decides how the pool's threads are shared between the batch and each product.
#include <algorithm>
#include <vector>
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"
#include "gemm/driver.h"

namespace onelip {
namespace {

// A batch entry smaller than this many flops runs on one thread, and the batch is split across the
// pool instead (no barriers, no shared packing); larger entries use every thread each, in turn.
constexpr double kBatchSerialFlops = 2e7;
// Batch entries per pool chunk: at least this much work each.
constexpr double kBatchChunkFlops = 4e5;

/// Offset (elements) of each batch entry of an operand whose batch dims, left-padded with 1s to the
/// output's, are `full`: broadcast dims (size 1) do not advance.
std::vector<int64_t> batch_offsets(const Shape& out_batch, const Shape& full, int64_t matrix_size) {
  const int64_t batch = shape_numel(out_batch);
  std::vector<int64_t> off(static_cast<size_t>(batch), 0);
  const int nd = static_cast<int>(out_batch.size());
  std::vector<int64_t> stride(nd, 0);
  int64_t acc = matrix_size;
  for (int d = nd - 1; d >= 0; --d) {
    stride[d] = full[d] == 1 ? 0 : acc;
    acc *= full[d];
  }
  std::vector<int64_t> idx(nd, 0);
  int64_t o = 0;
  for (int64_t b = 0; b < batch; ++b) {
    off[static_cast<size_t>(b)] = o;
    for (int d = nd - 1; d >= 0; --d) {
      o += stride[d];
      if (++idx[d] < out_batch[d]) break;
      o -= stride[d] * out_batch[d];
      idx[d] = 0;
    }
  }
  return off;
}

/// Runs fn(b, threads) for every batch entry b: in parallel over the batch (one thread each) when the
/// entries are small or many, else one after the other with all threads each.
template <class F>
void for_each_entry(int64_t batch, double entry_flops, F fn) {
  const int nt = num_threads();
  if (batch == 1) {
    fn(0, nt);
  } else if (nt > 1 && (entry_flops < kBatchSerialFlops || batch >= 4 * nt)) {
    const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kBatchChunkFlops / std::max(entry_flops, 1.0)));
    parallel_for(batch, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) fn(b, 1);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) fn(b, nt);
  }
}

template <class T>
void matmul_typed(OpCall& c) {
  const MatmulDims d = matmul_dims(c);
  const T* a = c.inputs[0].data<T>();
  const T* b = c.inputs[1].data<T>();
  T* out = c.outputs[0].data<T>();
  const int64_t m = d.m, n = d.n, k = d.k;
  if (d.batch == 0 || m == 0 || n == 0) return;
  // op(A)(i, p) and op(B)(p, j) as strides into the row-major stored matrices.
  const int64_t ars = d.trans_a ? 1 : k, acs = d.trans_a ? m : 1;
  const int64_t brs = d.trans_b ? 1 : n, bcs = d.trans_b ? k : 1;

  // One B for the whole batch and untransposed A: the batch is just more rows of one product.
  if (shape_numel(d.b_full_batch) == 1 && !d.trans_a && !d.a_bcast) {
    gemm::gemm<T>({d.batch * m, n, k, a, ars, acs, b, brs, bcs, out, n}, num_threads());
    return;
  }
  const std::vector<int64_t> oa = batch_offsets(d.batch_shape, d.a_full_batch, m * k);
  const std::vector<int64_t> ob = batch_offsets(d.batch_shape, d.b_full_batch, k * n);
  for_each_entry(d.batch, 2.0 * m * n * k, [&](int64_t e, int threads) {
    const size_t i = static_cast<size_t>(e);
    gemm::gemm<T>({m, n, k, a + oa[i], ars, acs, b + ob[i], brs, bcs, out + e * m * n, n}, threads);
  });
}

template <class T>
void syrk_typed(OpCall& c) {
  const Tensor& x = c.inputs[0];
  const bool trans = c.attrs.get_bool("trans", false);
  const int64_t rows = x.dim(x.ndim() - 2), cols = x.dim(x.ndim() - 1);
  const int64_t n = trans ? cols : rows, k = trans ? rows : cols;
  const int64_t batch = shape_numel(Shape(x.shape().begin(), x.shape().end() - 2));
  if (batch == 0 || n == 0) return;
  // op(A) is n×k: A itself (a·aᵀ) or its transpose (aᵀ·a).
  const int64_t ars = trans ? 1 : cols, acs = trans ? cols : 1;
  const T* a = x.data<T>();
  T* out = c.outputs[0].data<T>();
  for_each_entry(batch, 1.0 * n * n * k, [&](int64_t e, int threads) {
    gemm::syrk<T>(n, k, a + e * rows * cols, ars, acs, out + e * n * n, n, threads);
  });
}

}  // namespace

// The GEMM's instantiations that other kernel files call through gemm/gemm.h.
template void gemm::gemm<float>(const gemm::Problem<float>&, int);
template void gemm::gemm<double>(const gemm::Problem<double>&, int);

/// Registers the CPU kernels of matmul (batched, broadcast batch dims, transA/transB) and syrk
/// (a·aᵀ or, with trans, aᵀ·a; lower triangle computed and mirrored), float32 and float64.
/// Cost: 2·m·n·k flops for matmul, n·n·k for syrk, on the packed GEMM of native/cpu/gemm/ for all but
/// tiny or vector-shaped products.
void register_cpu_matmul(Registry& r) {
  r.kernel("matmul", Device::CPU, [](OpCall& c) {
    dispatch_float(c.inputs[0].dtype(), [&](auto tag) { matmul_typed<decltype(tag)>(c); });
  });
  r.kernel("syrk", Device::CPU, [](OpCall& c) {
    dispatch_float(c.inputs[0].dtype(), [&](auto tag) { syrk_typed<decltype(tag)>(c); });
  });
}

}  // namespace onelip
