// power_iteration_dense / power_iteration_conv: one device-agnostic composite kernel, registered for
// every device, that runs registry ops on the device it is called on (matmul, or conv2d and
// conv2d_backward_input; mul/sum/sqrt/clamp/div for the norms). Every intermediate, sigma included,
// stays on the device; one host read of four scalars at the end validates the result.
//
// Iteration (SPEC.md A.1, the CPL power method), for A = W (dense) or the convolution u ↦ K ⋆ u with
// the call's stride and padding on u's spatial size (conv), Aᵀ its adjoint:
//     repeat iters times:   v ← N(A u);   u ← N(Aᵀ v)
//     sigma = ‖Aᵀ v‖ of the last step = ⟨A u, v⟩ for the returned u and v (CPL's estimate σ̂).
// N(x) = x / max(‖x‖, tiny), tiny = the dtype's smallest normal number: a vector of norm 0 stays 0
// (never NaN), so A u = 0 gives v = 0, u = 0 and sigma = 0, which is exact when A = 0. sigma ≤ ‖A‖₂
// always (‖Aᵀ v‖ with ‖v‖ ≤ 1): power iteration approaches the operator norm from below.
// Errors (ERR_ARGUMENT): the start vector u has norm 0 or is not finite; W / K is not finite; a norm
// overflowed the dtype during the iteration (use float64).
#include <cfloat>
#include <cmath>
#include "../core/error.h"
#include "../core/storage.h"
#include "op_util.h"
#include "ops.h"

namespace onelip {

int64_t power_iteration_iters(const OpCall& c);
void power_iteration_conv_geometry(const OpCall& c, int64_t stride[2], int64_t padding[2]);

namespace {

Attrs attrs_of(std::initializer_list<std::pair<const char*, AttrValue>> kv) {
  Attrs a;
  for (const auto& p : kv) a.set(p.first, p.second);
  return a;
}

struct Runner {
  Device dev;
  DType dtype;
  Tensor op1(const char* name, std::vector<Tensor> in, Attrs a = Attrs()) const {
    return run_op(name, dev, std::move(in), std::move(a))[0];
  }
  /// ‖x‖₂ as a 0-d tensor.
  Tensor norm(const Tensor& x) const { return op1("sqrt", {op1("sum", {op1("mul", {x, x})})}); }
  /// x / max(‖x‖, tiny); *n = ‖x‖.
  Tensor normalize(const Tensor& x, Tensor* n) const {
    *n = norm(x);
    const double tiny = dtype == DType::F32 ? static_cast<double>(FLT_MIN) : DBL_MIN;
    return op1("div", {x, op1("clamp", {*n}, attrs_of({{"min", tiny}}))});
  }
  /// 0 when every element of x is finite, NaN otherwise (0·x summed).
  Tensor finite_check(const Tensor& x) const { return op1("sum", {op1("scale", {x}, attrs_of({{"alpha", 0.0}}))}); }
};

void power_iteration(OpCall& c) {
  const bool conv = c.op == "power_iteration_conv";
  const Tensor& A = c.inputs[0];
  const Tensor& u0 = c.inputs[1];
  const int64_t iters = power_iteration_iters(c);
  const Runner R{c.device, A.dtype()};

  Attrs conv_attrs, adj_attrs, tA;
  Shape v_shape = c.outputs[2].shape();
  if (conv) {
    int64_t s[2], p[2];
    power_iteration_conv_geometry(c, s, p);
    conv_attrs.set("stride", std::vector<double>{double(s[0]), double(s[1])});
    conv_attrs.set("padding", std::vector<double>{double(p[0]), double(p[1])});
    adj_attrs = conv_attrs;
    std::vector<double> in_shape;
    for (int64_t d : u0.shape()) in_shape.push_back(double(d));
    adj_attrs.set("inputShape", in_shape);
  }
  tA.set("transA", true);
  const int64_t m = A.dim(0), n = conv ? 0 : A.dim(1);
  auto apply = [&](const Tensor& u) {
    if (conv) return R.op1("conv2d", {u, A}, conv_attrs);
    return R.op1("matmul", {A, u.view({n, 1})}).view({m});
  };
  auto adjoint = [&](const Tensor& v) {
    if (conv) return R.op1("conv2d_backward_input", {v, A}, adj_attrs);
    return R.op1("matmul", {A, v.view({m, 1})}, tA).view({n});
  };

  Tensor u0n;
  Tensor u = R.normalize(u0, &u0n);
  Tensor v, nv, nu;
  Tensor acc = R.finite_check(u0);  // NaN once any norm is not finite (overflow, NaN)
  for (int64_t it = 0; it < iters; ++it) {
    v = R.normalize(apply(u), &nv);
    u = R.normalize(adjoint(v), &nu);
    acc = R.op1("add", {acc, R.op1("add", {nv, nu})});
  }
  // One host read: [sigma, accumulated norms, finiteness of A, ‖u0‖].
  Attrs cat;
  cat.set("axis", 0.0);
  const Tensor checks = R.op1("concat", {nu.view({1}), acc.view({1}), R.finite_check(A).view({1}), u0n.view({1})}, cat)
                            .to(Device::CPU);
  double h[4];
  for (int i = 0; i < 4; ++i)
    h[i] = A.dtype() == DType::F32 ? static_cast<double>(checks.data<float>()[i]) : checks.data<double>()[i];
  const char* what = conv ? "K" : "W";
  if (!std::isfinite(h[3]))
    fail(code::kArgument, c.op, ": the start vector u contains non-finite values");
  if (h[3] == 0)
    fail(code::kArgument, c.op, ": the start vector u has norm 0; start from a non-zero vector (e.g. ol.randn)");
  if (!std::isfinite(h[2]))
    fail(code::kArgument, c.op, ": ", what, " contains non-finite values (NaN or infinity)");
  if (!std::isfinite(h[0]) || !std::isfinite(h[1]))
    fail(code::kArgument, c.op, ": a norm overflowed ", dtype_name(A.dtype()), " during the iteration (",
         what, " is too large for this dtype); use float64");
  c.outputs[0] = nu;
  c.outputs[1] = u.view(u0.shape());
  c.outputs[2] = v.view(v_shape);
}

}  // namespace

/// Registers the composite power-iteration kernels on `device`. Cost per iteration: one application
/// of A and one of Aᵀ (2·m·n flops each for a dense W; one conv2d and one conv2d_backward_input for a
/// kernel) plus O(m + n) for the norms; one device→host copy of four scalars per call.
void register_power_iteration(Registry& r, Device device) {
  r.kernel("power_iteration_dense", device, power_iteration);
  r.kernel("power_iteration_conv", device, power_iteration);
}

}  // namespace onelip
