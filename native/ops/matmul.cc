// Matrix products: matmul (batched, optional transposes) and syrk (A·Aᵀ or Aᵀ·A, one triangle computed).
#include "../core/shape_util.h"
#include "op_util.h"
#include "ops.h"

namespace onelip {

MatmulDims matmul_dims(const OpCall& c) {
  const Tensor& a = c.inputs[0];
  const Tensor& b = c.inputs[1];
  if (a.ndim() < 2 || b.ndim() < 2)
    fail(code::kShape, c.op, ": both inputs need at least 2 dimensions, got ", shape_str(a.shape()), " and ",
         shape_str(b.shape()));
  MatmulDims d;
  d.trans_a = c.attrs.get_bool("transA", false);
  d.trans_b = c.attrs.get_bool("transB", false);
  int64_t ar = a.dim(a.ndim() - 2), ac = a.dim(a.ndim() - 1);
  int64_t br = b.dim(b.ndim() - 2), bc = b.dim(b.ndim() - 1);
  d.m = d.trans_a ? ac : ar;
  d.k = d.trans_a ? ar : ac;
  int64_t kb = d.trans_b ? bc : br;
  d.n = d.trans_b ? br : bc;
  if (d.k != kb)
    fail(code::kShape, c.op, ": inner dimensions differ: a ", shape_str(a.shape()), d.trans_a ? " (transposed)" : "",
         " has k = ", d.k, ", b ", shape_str(b.shape()), d.trans_b ? " (transposed)" : "", " has k = ", kb);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  d.batch_shape = broadcast_shapes(c.op, ba, bb);
  d.batch = shape_numel(d.batch_shape);
  // Batch strides in elements (0 where the operand is broadcast).
  Shape full_a(d.batch_shape.size() - ba.size(), 1), full_b(d.batch_shape.size() - bb.size(), 1);
  full_a.insert(full_a.end(), ba.begin(), ba.end());
  full_b.insert(full_b.end(), bb.begin(), bb.end());
  d.a_bcast = (full_a != d.batch_shape);
  d.b_bcast = (full_b != d.batch_shape);
  d.a_full_batch = full_a;
  d.b_full_batch = full_b;
  return d;
}

void define_matmul_ops(Registry& r) {
  // matmul(a, b, { transA, transB }): a [..., m, k] (or [..., k, m]), b [..., k, n] (or [..., n, k]),
  // batch dims broadcast; out [..., m, n]. float32 (fast path) and float64.
  r.define({"matmul", 2, 2, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              require_same_dtype(c);
              MatmulDims d = matmul_dims(c);
              Shape out = d.batch_shape;
              out.push_back(d.m);
              out.push_back(d.n);
              return std::vector<TensorSpec>{{out, c.inputs[0].dtype()}};
            }});
  // syrk(a, { trans }): a [..., n, k] → a·aᵀ [..., n, n]; trans: aᵀ·a [..., k, k]. Computes one triangle
  // and mirrors it, so the output is exactly symmetric.
  r.define({"syrk", 1, 1, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              const Tensor& a = c.inputs[0];
              if (a.ndim() < 2) fail(code::kShape, c.op, ": input needs at least 2 dimensions, got ", shape_str(a.shape()));
              bool trans = c.attrs.get_bool("trans", false);
              int64_t n = trans ? a.dim(a.ndim() - 1) : a.dim(a.ndim() - 2);
              Shape out(a.shape().begin(), a.shape().end() - 2);
              out.push_back(n);
              out.push_back(n);
              return std::vector<TensorSpec>{{out, a.dtype()}};
            }});
}

}  // namespace onelip
