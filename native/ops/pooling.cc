// Pooling-like ops of 1-Lipschitz networks: avg_pool2d (no padding, PyTorch's divisor_override as
// attr 'divisor') with its gradient avg_pool2d_backward, and max_min (GroupSort of size 2 over channel
// halves, SPEC.md B.1) with its gradient max_min_backward. float32 and float64.
#include <cmath>
#include <variant>
#include "op_util.h"

namespace onelip {
namespace {

constexpr int64_t kMaxWindow = 2147483647;  // kernel size and stride: the kernels index in 32 bits

/// Pooled size of one spatial dim: floor((in - k) / s) + 1 (no padding, no ceil mode).
int64_t pooled(const OpCall& c, const char* what, int64_t in, int64_t k, int64_t s) {
  if (in < k)
    fail(code::kShape, c.op, ": input ", what, " ", in, " is smaller than the pooling window (", k,
         "); no padding is supported");
  return (in - k) / s + 1;
}

void require_float(const OpCall& c) {
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
}

}  // namespace

/// Window of an avg_pool2d / avg_pool2d_backward call: attrs 'kernelSize' (required), 'stride' (default:
/// kernelSize), each an integer or [h, w]; 'divisor' (default kh·kw; PyTorch's divisor_override), a
/// finite number > 0.
void pool2d_window(const OpCall& c, int64_t* kh, int64_t* kw, int64_t* sh, int64_t* sw, double* divisor) {
  if (!c.attrs.has("kernelSize")) fail(code::kArgument, c.op, ": missing attribute 'kernelSize'");
  const int64_t none[2] = {0, 0};  // unused: kernelSize is present
  int64_t k[2], s[2];
  pair_attr(c, "kernelSize", none, 1, kMaxWindow, nullptr, k);
  pair_attr(c, "stride", k, 1, kMaxWindow, nullptr, s);
  const double d = c.attrs.get_float("divisor", static_cast<double>(k[0] * k[1]));
  if (!std::isfinite(d) || d <= 0)
    fail(code::kArgument, c.op, ": attribute 'divisor' must be a finite number > 0, got ", d);
  *kh = k[0];
  *kw = k[1];
  *sh = s[0];
  *sw = s[1];
  *divisor = d;
}

void define_pooling_ops(Registry& r) {
  // x [N, C, H, W] → [N, C, (H − kh)/sh + 1, (W − kw)/sw + 1], each output the window sum / divisor.
  r.define({"avg_pool2d", 1, 1, [](const OpCall& c) {
              require_float(c);
              const Tensor& x = c.inputs[0];
              if (x.ndim() != 4)
                fail(code::kShape, c.op, ": input 0 must be 4-d [N, C, H, W], got shape ", shape_str(x.shape()));
              int64_t kh, kw, sh, sw;
              double d;
              pool2d_window(c, &kh, &kw, &sh, &sw, &d);
              Shape out = {x.dim(0), x.dim(1), pooled(c, "height", x.dim(2), kh, sh), pooled(c, "width", x.dim(3), kw, sw)};
              return std::vector<TensorSpec>{{out, x.dtype()}};
            }});
  // grad_out [N, C, Ho, Wo] → grad_in of attr 'inputShape' [N, C, H, W] (same window attrs as the forward).
  r.define({"avg_pool2d_backward", 1, 1, [](const OpCall& c) {
              require_float(c);
              const Tensor& g = c.inputs[0];
              if (g.ndim() != 4)
                fail(code::kShape, c.op, ": input 0 (grad_out) must be 4-d [N, C, Ho, Wo], got shape ",
                     shape_str(g.shape()));
              const Shape in = shape_attr(c, "inputShape");
              if (in.size() != 4)
                fail(code::kShape, c.op, ": attribute 'inputShape' must be 4-d [N, C, H, W], got ", shape_str(in));
              int64_t kh, kw, sh, sw;
              double d;
              pool2d_window(c, &kh, &kw, &sh, &sw, &d);
              const Shape expect = {in[0], in[1], pooled(c, "height", in[2], kh, sh), pooled(c, "width", in[3], kw, sw)};
              if (expect != g.shape())
                fail(code::kShape, c.op, ": grad_out has shape ", shape_str(g.shape()), " but pooling an input of shape ",
                     shape_str(in), " gives ", shape_str(expect));
              return std::vector<TensorSpec>{{in, g.dtype()}};
            }});
  // x [N, C, ...] with C even → same shape: channels [0, C/2) max(x_c, x_{c+C/2}), [C/2, C) the min.
  r.define({"max_min", 1, 1, [](const OpCall& c) {
              require_float(c);
              const Tensor& x = c.inputs[0];
              if (x.ndim() < 2 || x.dim(1) % 2 != 0)
                fail(code::kShape, c.op, ": input 0 must be [N, C] or [N, C, ...] with an even number of channels C, got shape ",
                     shape_str(x.shape()));
              return std::vector<TensorSpec>{{x.shape(), x.dtype()}};
            }});
  // (x, grad_out) of the same shape → grad_in: each pair's gradient follows the forward's routing.
  r.define({"max_min_backward", 2, 2, [](const OpCall& c) {
              require_float(c);
              const Tensor& x = c.inputs[0];
              if (x.ndim() < 2 || x.dim(1) % 2 != 0)
                fail(code::kShape, c.op, ": input 0 (x) must be [N, C] or [N, C, ...] with an even number of channels C, got shape ",
                     shape_str(x.shape()));
              if (c.inputs[1].shape() != x.shape())
                fail(code::kShape, c.op, ": input 1 (grad_out) has shape ", shape_str(c.inputs[1].shape()),
                     " but input 0 (x) has shape ", shape_str(x.shape()), "; they must match");
              return std::vector<TensorSpec>{{x.shape(), x.dtype()}};
            }});
}

}  // namespace onelip
