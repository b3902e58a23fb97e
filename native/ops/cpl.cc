// CPL, the convex potential layer (SPEC.md A.1), as one fused native call forward and one backward:
//
//   cpl_dense            x [N, d], W [m, d], b [m], sigma [] → y [N, d], a [N, m]
//                        y = x − h · relu(x Wᵀ + b) W,                 h = 2 / (sigma² + 1e-4)
//   cpl_conv2d           x [N, c, H, W], K [m, c, k, k] (k odd, 1..7), b [m], sigma [] → y [N, c, H, W],
//                        a [N, m, H, W]
//                        y = x − h · Kᵀ ⋆ relu(K ⋆ x + b)              (stride 1, padding k//2 both ways)
//   cpl_dense_backward   gy, x, W, a, sigma → gx, gW, gb, gsigma      (the same for cpl_conv2d_backward)
// The second forward output a = relu(Wx + b) is the activation the backward op takes (saved by the
// gradient entry, so the backward does not recompute the product Wx).
//
// With z = Wx + b, a = relu(z), D = 1[z > 0] and r = W gy (per sample), the gradients are
//   gx = gy − h·Wᵀ(D ⊙ r)
//   gW = −h·(a gyᵀ + (D ⊙ r) xᵀ)    summed over the batch (conv: the two conv weight gradients)
//   gb = −h·Σ (D ⊙ r)
//   gsigma = −Σ⟨a, r⟩ · dh/dsigma = Σ⟨a, r⟩ · 4·sigma / (sigma² + 1e-4)²
// sigma is an input: the layer computes it (power iteration) and differentiates it with respect to W
// by its own formula (lib/nn/cpl.ts), so the gradient through sigma reaches W there.
//
// The kernels are device-agnostic composites registered on every device: they run the registry's
// GEMM / conv / elementwise kernels on the device they are called on (the packed CPU GEMM and conv,
// the CUDA matmul and conv launchers), and every intermediate stays on the device. The forward pass
// reads three scalars back to the host to refuse non-finite W, b or sigma (a clear error rather than a
// NaN propagated into a certificate); the backward pass has no host read.
#include <cmath>
#include "../core/error.h"
#include "op_util.h"
#include "ops.h"

namespace onelip {
namespace {

constexpr double kEps = 1e-4;  // SPEC.md A.1: h = 2 / (sigma² + ε)

bool is_conv(const std::string& op) { return op.rfind("cpl_conv2d", 0) == 0; }

/// Validates (x, W, b, sigma) at `first` (0: the forward op) or (x, W, a, sigma) (1: the backward op,
/// after gy; a is checked by the caller).
void check_inputs(const OpCall& c, int first) {
  const bool conv = is_conv(c.op);
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
  const Tensor& x = c.inputs[first];
  const Tensor& W = c.inputs[first + 1];
  const Tensor& b = c.inputs[first + 2];
  const Tensor& s = c.inputs[first + 3];
  const char* wn = conv ? "K" : "W";
  if (conv) {
    if (x.ndim() != 4 || x.numel() == 0)
      fail(code::kShape, c.op, ": input ", first, " (x) must be a non-empty [N, c, H, W] tensor, got shape ", shape_str(x.shape()));
    if (W.ndim() != 4 || W.numel() == 0)
      fail(code::kShape, c.op, ": input ", first + 1, " (K) must be a non-empty kernel [m, c, k, k], got shape ", shape_str(W.shape()));
    if (W.dim(2) != W.dim(3) || W.dim(2) % 2 == 0 || W.dim(2) > 7)
      fail(code::kUnsupported, c.op, ": the kernel of input ", first + 1, " (K) is ", W.dim(2), "×", W.dim(3),
           "; supported: square odd kernel sizes 1, 3, 5, 7 (padding k//2)");
    if (W.dim(1) != x.dim(1))
      fail(code::kShape, c.op, ": K [m, c, k, k] has c = ", W.dim(1), " input channels but x has ", x.dim(1),
           " channels (x shape ", shape_str(x.shape()), ", K shape ", shape_str(W.shape()), ")");
  } else {
    if (x.ndim() != 2 || x.numel() == 0)
      fail(code::kShape, c.op, ": input ", first, " (x) must be a non-empty [N, d] matrix, got shape ", shape_str(x.shape()));
    if (W.ndim() != 2 || W.numel() == 0)
      fail(code::kShape, c.op, ": input ", first + 1, " (W) must be a non-empty [m, d] matrix, got shape ", shape_str(W.shape()));
    if (W.dim(1) != x.dim(1))
      fail(code::kShape, c.op, ": W [m, d] has d = ", W.dim(1), " but x has ", x.dim(1), " features (x shape ",
           shape_str(x.shape()), ", W shape ", shape_str(W.shape()), ")");
  }
  if (first == 0 && (b.ndim() != 1 || b.dim(0) != W.dim(0)))
    fail(code::kShape, c.op, ": input ", first + 2, " (b) must be [", W.dim(0), "] (one bias per row of ", wn,
         "), got shape ", shape_str(b.shape()));
  if (s.numel() != 1 || s.ndim() > 1)
    fail(code::kShape, c.op, ": input ", first + 3, " (sigma) must be a scalar ([] or [1]), got shape ", shape_str(s.shape()));
}

/// The activation's shape: [N, m] (dense) or [N, m, H, W] (conv), for (x, W) at `first`.
Shape activation_shape(const OpCall& c, int first) {
  const Tensor &x = c.inputs[first], &W = c.inputs[first + 1];
  if (is_conv(c.op)) return {x.dim(0), W.dim(0), x.dim(2), x.dim(3)};
  return {x.dim(0), W.dim(0)};
}

Attrs one_attr(const char* name, AttrValue v) {
  Attrs a;
  a.set(name, std::move(v));
  return a;
}

std::vector<double> dims_of(const Shape& s) {
  std::vector<double> out;
  for (int64_t d : s) out.push_back(double(d));
  return out;
}

struct Runner {
  Device dev;
  Tensor op(const char* name, std::vector<Tensor> in, Attrs a = Attrs()) const {
    return run_op(name, dev, std::move(in), std::move(a))[0];
  }
  Tensor scale(const Tensor& x, double alpha, double beta = 0) const {
    Attrs a;
    a.set("alpha", alpha);
    a.set("beta", beta);
    return op("scale", {x}, a);
  }
  /// The layer's operator A (x ↦ Wx per row, or x ↦ K ⋆ x) with the bias added when given.
  Tensor apply(bool conv, const Tensor& x, const Tensor& W, const Tensor* b) const {
    if (conv) {
      if (b) return op("conv2d", {x, W, *b});
      return op("conv2d", {x, W});
    }
    Tensor z = op("matmul", {x, W}, one_attr("transB", true));
    return b ? op("add", {z, *b}) : z;
  }
  /// Its adjoint Aᵀ applied to y (per row y W, or Kᵀ ⋆ y on x's shape).
  Tensor adjoint(bool conv, const Tensor& y, const Tensor& W, const Shape& x_shape) const {
    if (conv) return op("conv2d_backward_input", {y, W}, one_attr("inputShape", dims_of(x_shape)));
    return op("matmul", {y, W});
  }
  /// The gradient of ⟨A x, y⟩ with respect to W (per batch: yᵀ x, or the conv weight gradient).
  Tensor weight_grad(bool conv, const Tensor& x, const Tensor& y, const Tensor& W) const {
    if (conv) return op("conv2d_backward_weight", {x, y}, one_attr("kernelSize", std::vector<double>{double(W.dim(2)), double(W.dim(3))}));
    return op("matmul", {y, x}, one_attr("transA", true));
  }
  /// h = 2 / (sigma² + ε) as a 0-d device tensor.
  Tensor step(const Tensor& sigma) const {
    Tensor s = sigma.view({});
    Tensor den = scale(op("mul", {s, s}), 1.0, kEps);
    return op("div", {scale(den, 0.0, 2.0), den});
  }
};

void cpl_forward(OpCall& c) {
  const bool conv = is_conv(c.op);
  const Tensor &x = c.inputs[0], &W = c.inputs[1], &b = c.inputs[2], &sigma = c.inputs[3];
  const Runner R{c.device};
  // One host read: finiteness of W and b (0·x summed is NaN iff some element is not finite) and sigma.
  Attrs cat = one_attr("axis", 0.0);
  const Tensor checks = R.op("concat", {R.op("sum", {R.scale(W, 0.0)}).view({1}), R.op("sum", {R.scale(b, 0.0)}).view({1}),
                                        sigma.view({1})}, cat)
                            .to(Device::CPU);
  double h[3];
  for (int i = 0; i < 3; ++i)
    h[i] = W.dtype() == DType::F32 ? static_cast<double>(checks.data<float>()[i]) : checks.data<double>()[i];
  const char* wn = conv ? "K" : "W";
  if (!std::isfinite(h[0])) fail(code::kArgument, c.op, ": the weight ", wn, " contains non-finite values (NaN or infinity)");
  if (!std::isfinite(h[1])) fail(code::kArgument, c.op, ": the bias b contains non-finite values (NaN or infinity)");
  if (!std::isfinite(h[2]) || h[2] < 0)
    fail(code::kArgument, c.op, ": sigma must be finite and ≥ 0 (an estimate of ‖", wn, "‖₂), got ", h[2]);
  Tensor a = R.op("relu", {R.apply(conv, x, W, &b)});
  Tensor t = R.adjoint(conv, a, W, x.shape());
  c.outputs[0] = R.op("sub", {x, R.op("mul", {t, R.step(sigma)})});
  c.outputs[1] = a;
}

void cpl_backward(OpCall& c) {
  const bool conv = is_conv(c.op);
  const Tensor &gy = c.inputs[0], &x = c.inputs[1], &W = c.inputs[2], &a = c.inputs[3], &sigma = c.inputs[4];
  const Runner R{c.device};
  const Tensor h = R.step(sigma);
  const Tensor neg_h = R.scale(h, -1.0);
  // Intermediates of the batch's size are released as soon as possible (peak: s and two more).
  Tensor s;
  {
    Tensor r = R.apply(conv, gy, W, nullptr);  // W gy per sample
    s = R.op("mul", {r, R.op("sign", {a})});   // D ⊙ r  (sign(a) = 1[z > 0])
  }
  // gsigma = Σ⟨a, r⟩ · 4 sigma / (sigma² + ε)² = Σ⟨a, s⟩ · sigma · h²  (a = 0 where D = 0).
  Tensor ar = R.op("sum", {R.op("mul", {a, s})});
  std::vector<int64_t> axes = conv ? std::vector<int64_t>{0, 2, 3} : std::vector<int64_t>{0};
  c.outputs[2] = R.op("mul", {R.op("sum", {s}, one_attr("axes", std::vector<double>(axes.begin(), axes.end()))), neg_h});
  Tensor gw = R.op("add", {R.weight_grad(conv, gy, a, W), R.weight_grad(conv, x, s, W)});
  c.outputs[1] = R.op("mul", {gw, neg_h});
  c.outputs[0] = R.op("sub", {gy, R.op("mul", {R.adjoint(conv, s, W, x.shape()), h})});
  Tensor sv = sigma.view({});
  c.outputs[3] = R.op("mul", {R.op("mul", {ar, sv}), R.op("mul", {h, h})}).view(sigma.shape());
}

}  // namespace

void define_cpl_ops(Registry& r) {
  for (const char* name : {"cpl_dense", "cpl_conv2d"}) {
    r.define({name, 4, 4, [](const OpCall& c) {
                check_inputs(c, 0);
                return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()},
                                               {activation_shape(c, 0), c.inputs[0].dtype()}};
              }});
  }
  for (const char* name : {"cpl_dense_backward", "cpl_conv2d_backward"}) {
    r.define({name, 5, 5, [](const OpCall& c) {
                check_inputs(c, 1);
                const Tensor& gy = c.inputs[0];
                if (c.inputs[3].shape() != activation_shape(c, 1))
                  fail(code::kShape, c.op, ": input 3 (a, the forward's activation) must have shape ",
                       shape_str(activation_shape(c, 1)), ", got ", shape_str(c.inputs[3].shape()));
                if (gy.shape() != c.inputs[1].shape())
                  fail(code::kShape, c.op, ": input 0 (gy) must have x's shape ", shape_str(c.inputs[1].shape()), ", got ",
                       shape_str(gy.shape()));
                const DType t = gy.dtype();
                return std::vector<TensorSpec>{{gy.shape(), t}, {c.inputs[2].shape(), t}, {{c.inputs[2].dim(0)}, t},
                                               {c.inputs[4].shape(), t}};
              }});
  }
}

/// Registers the composite CPL kernels on `device`. Cost per call: forward one A and one Aᵀ product
/// (4·N·m·d flops dense; a conv and a transposed conv), backward two A, one Aᵀ and two weight-gradient
/// products, plus O(N·(m + d)) elementwise work.
void register_cpl(Registry& r, Device device) {
  for (const char* name : {"cpl_dense", "cpl_conv2d"}) r.kernel(name, device, cpl_forward);
  for (const char* name : {"cpl_dense_backward", "cpl_conv2d_backward"}) r.kernel(name, device, cpl_backward);
}

}  // namespace onelip
