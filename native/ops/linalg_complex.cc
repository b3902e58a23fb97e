// Batched complex linear algebra for many small matrices (one per frequency in the Cayley layers):
// solve_complex (A X = B by LU with partial pivoting), inverse_complex (A⁻¹) and matmul_complex
// (op(A)·op(B), op = identity or conjugate transpose). float32 and float64; complex = trailing dim 2.
#include "linalg_complex.h"
#include "op_util.h"

namespace onelip {
namespace {

/// Checks that input i is a batch of complex matrices [..., r, c, 2] and returns its batch shape.
Shape complex_matrix(const OpCall& c, int i, const char* name) {
  const Tensor& t = c.inputs[i];
  if (t.ndim() < 3 || t.dim(t.ndim() - 1) != 2)
    fail(code::kShape, c.op, ": input ", i, " (", name, ") must be complex matrices [..., rows, cols, 2], got shape ",
         shape_str(t.shape()));
  return Shape(t.shape().begin(), t.shape().end() - 3);
}

void require_float(const OpCall& c) {
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
}

}  // namespace

SolveDims solve_dims(const OpCall& c) {
  const Tensor& a = c.inputs[0];
  const Shape batch = complex_matrix(c, 0, "A");
  const int nd = a.ndim();
  if (a.dim(nd - 3) != a.dim(nd - 2))
    fail(code::kShape, c.op, ": input 0 (A) must be square complex matrices [..., n, n, 2], got shape ",
         shape_str(a.shape()));
  SolveDims d;
  d.n = a.dim(nd - 2);
  d.k = d.n;
  d.batch = shape_numel(batch);
  if (c.inputs.size() > 1) {
    const Tensor& b = c.inputs[1];
    const Shape bb = complex_matrix(c, 1, "B");
    if (bb != batch || b.dim(b.ndim() - 3) != d.n)
      fail(code::kShape, c.op, ": input 1 (B) must be [..., n, k, 2] with A's batch dims and n = ", d.n,
           " (A has shape ", shape_str(a.shape()), "), got shape ", shape_str(b.shape()));
    d.k = b.dim(b.ndim() - 2);
  }
  return d;
}

CMatmulDims cmatmul_dims(const OpCall& c) {
  const Tensor& a = c.inputs[0];
  const Tensor& b = c.inputs[1];
  const Shape ba = complex_matrix(c, 0, "A");
  const Shape bb = complex_matrix(c, 1, "B");
  if (ba != bb)
    fail(code::kShape, c.op, ": inputs A ", shape_str(a.shape()), " and B ", shape_str(b.shape()),
         " must have the same batch dims (no broadcasting)");
  CMatmulDims d;
  d.adj_a = c.attrs.get_bool("adjA", false);
  d.adj_b = c.attrs.get_bool("adjB", false);
  const int na = a.ndim(), nb = b.ndim();
  const int64_t ar = a.dim(na - 3), ac = a.dim(na - 2), br = b.dim(nb - 3), bc = b.dim(nb - 2);
  d.m = d.adj_a ? ac : ar;
  d.k = d.adj_a ? ar : ac;
  const int64_t kb = d.adj_b ? bc : br;
  d.n = d.adj_b ? br : bc;
  if (kb != d.k)
    fail(code::kShape, c.op, ": inner sizes differ: op(A) is ", d.m, "×", d.k, " (A ", shape_str(a.shape()),
         d.adj_a ? ", adjA" : "", ") but op(B) is ", kb, "×", d.n, " (B ", shape_str(b.shape()), d.adj_b ? ", adjB" : "",
         ")");
  d.batch = shape_numel(ba);
  return d;
}

void report_lu_status(const OpCall& c, const int* status, int64_t batch, int64_t n) {
  for (int64_t i = 0; i < batch; ++i) {
    if (status[i] == kLuNonFinite)
      fail(code::kArgument, c.op, ": input A (or B) of batch index ", i, " holds a non-finite value (NaN or Inf)");
    if (status[i] == kLuSingular)
      fail(code::kArgument, c.op, ": the matrix A of batch index ", i, " (", n, "×", n,
           ") is singular to working precision: an LU pivot |p| ≤ n·eps·max|A_ij| (partial pivoting, eps of ",
           dtype_name(c.inputs[0].dtype()), ")");
  }
}

void define_linalg_complex_ops(Registry& r) {
  // A [..., n, n, 2], B [..., n, k, 2] (same batch dims) → X [..., n, k, 2] with A·X = B.
  r.define({"solve_complex", 2, 2, [](const OpCall& c) {
              require_float(c);
              solve_dims(c);
              return std::vector<TensorSpec>{{c.inputs[1].shape(), c.inputs[0].dtype()}};
            }});
  // A [..., n, n, 2] → A⁻¹ [..., n, n, 2].
  r.define({"inverse_complex", 1, 1, [](const OpCall& c) {
              require_float(c);
              solve_dims(c);
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}};
            }});
  // A [..., m, k, 2] (or [..., k, m, 2] with adjA), B [..., k, n, 2] (or [..., n, k, 2] with adjB) →
  // C [..., m, n, 2] = op(A)·op(B).
  r.define({"matmul_complex", 2, 2, [](const OpCall& c) {
              require_float(c);
              const CMatmulDims d = cmatmul_dims(c);
              Shape out(c.inputs[0].shape().begin(), c.inputs[0].shape().end() - 3);
              out.push_back(d.m);
              out.push_back(d.n);
              out.push_back(2);
              return std::vector<TensorSpec>{{out, c.inputs[0].dtype()}};
            }});
}

}  // namespace onelip
