// Channel-pair activations with a learnable angle per pair (SPEC.md B.1, B.2): lip_pool (the NeurIPS'22
// 1-Lipschitz pooling 'lip1', C → C/2 channels) and householder (HH1, shape preserving), each with a
// backward op returning the input gradient and the per-element angle gradient. float32 and float64.
#include "op_util.h"

namespace onelip {
namespace {

void require_float(const OpCall& c) {
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
}

/// x [N, C, ...] with C even and theta with C/2 elements (any shape, e.g. [C/2] or [1, C/2, 1, 1]).
void check_pairs(const OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.ndim() < 2 || x.dim(1) % 2 != 0)
    fail(code::kShape, c.op, ": input 0 (x) must be [N, C] or [N, C, ...] with an even number of channels C, got shape ",
         shape_str(x.shape()));
  if (c.inputs[1].numel() != x.dim(1) / 2)
    fail(code::kShape, c.op, ": input 1 (theta) must hold one angle per channel pair (C/2 = ", x.dim(1) / 2,
         " elements), got shape ", shape_str(c.inputs[1].shape()));
}

Shape pooled_shape(const Tensor& x) {
  Shape s = x.shape();
  s[1] /= 2;
  return s;
}

void check_grad(const OpCall& c, const Shape& expect) {
  if (c.inputs[2].shape() != expect)
    fail(code::kShape, c.op, ": input 2 (grad_out) has shape ", shape_str(c.inputs[2].shape()), " but the forward output has shape ",
         shape_str(expect));
}

}  // namespace

void define_activations_ops(Registry& r) {
  // (x [N, C, ...], theta [C/2]) → [N, C/2, ...]: the signed distance of each pair to its wedge.
  r.define({"lip_pool", 2, 2, [](const OpCall& c) {
              require_float(c);
              check_pairs(c);
              return std::vector<TensorSpec>{{pooled_shape(c.inputs[0]), c.inputs[0].dtype()}};
            }});
  // (x, theta, grad_out [N, C/2, ...]) → (grad_x [N, C, ...], grad_theta per element [N, C/2, ...]);
  // the angle gradient is the sum of the second output over all axes but 1.
  r.define({"lip_pool_backward", 3, 3, [](const OpCall& c) {
              require_float(c);
              check_pairs(c);
              const Shape p = pooled_shape(c.inputs[0]);
              check_grad(c, p);
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}, {p, c.inputs[0].dtype()}};
            }});
  // (x [N, C, ...], theta [C/2]) → same shape as x: HH1 on every pair.
  r.define({"householder", 2, 2, [](const OpCall& c) {
              require_float(c);
              check_pairs(c);
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}};
            }});
  // (x, theta, grad_out like x) → (grad_x like x, grad_theta per pair [N, C/2, ...]).
  r.define({"householder_backward", 3, 3, [](const OpCall& c) {
              require_float(c);
              check_pairs(c);
              check_grad(c, c.inputs[0].shape());
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}, {pooled_shape(c.inputs[0]), c.inputs[0].dtype()}};
            }});
}

}  // namespace onelip
