// The convolution family (NCHW, weights [O, C, kh, kw] as in PyTorch; float32 and float64):
//   conv2d                 x [N, C, H, W], w [O, C, kh, kw], optional bias [O] → [N, O, Ho, Wo]
//   conv2d_backward_input  grad_out [N, O, Ho, Wo], w; attr inputShape [N, C, H, W] → [N, C, H, W]
//   conv2d_backward_weight x [N, C, H, W], grad_out [N, O, Ho, Wo]; attr kernelSize → [O, C, kh, kw]
//   conv_transpose2d       x [N, Cin, H, W], w [Cin, Cout, kh, kw], optional bias [Cout]; attr outputPadding
//                          → [N, Cout, (H − 1)·sh − 2ph + kh + oph, …] (= conv2d_backward_input + bias)
// Shared attrs: 'stride' (1 or 2, an integer or [sh, sw]; default 1) and 'padding' (≥ 0, an integer or
// [ph, pw]; default kh/2, kw/2 rounded down: "same" for odd kernels at stride 1). Kernel sizes 1..7.
#include <variant>
#include "op_util.h"
#include "ops.h"

namespace onelip {
namespace {

constexpr int64_t kMaxKernel = 7;
constexpr int64_t kMaxPadding = 1 << 16;

void require_4d(const OpCall& c, int i, const char* what) {
  const Tensor& t = c.inputs[i];
  if (t.ndim() != 4)
    fail(code::kShape, c.op, ": input ", i, " (", what, ") must be 4-d, got shape ", shape_str(t.shape()));
}

void check_kernel(const OpCall& c, const char* what, int64_t kh, int64_t kw) {
  if (kh < 1 || kh > kMaxKernel || kw < 1 || kw > kMaxKernel)
    fail(code::kUnsupported, c.op, ": ", what, " is ", kh, "×", kw, "; supported kernel sizes are 1..", kMaxKernel,
         " in each dimension");
}

/// floor((in + 2p − k) / s) + 1, which must be ≥ 1.
int64_t conv_out(const OpCall& c, const char* dim, int64_t in, int64_t k, int64_t s, int64_t p) {
  const int64_t span = in + 2 * p - k;
  if (span < 0)
    fail(code::kShape, c.op, ": the output ", dim, " would be ≤ 0: input ", dim, " ", in, " + 2·padding ", p,
         " is smaller than the kernel (", k, ")");
  return span / s + 1;
}

}  // namespace

/// The geometry of any call of the conv2d family, from its inputs and attrs (validated), expressed as
/// the conv2d x [n, c, h, w] ⊛ w [o, c, kh, kw] → [n, o, ho, wo] it is, or is the adjoint of.
ConvGeom conv2d_geom(const OpCall& c) {
  const std::string& op = c.op;
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
  ConvGeom g;
  g.kind = op == "conv2d" ? ConvKind::Forward
           : op == "conv2d_backward_input" ? ConvKind::BackwardInput
           : op == "conv2d_backward_weight" ? ConvKind::BackwardWeight
                                            : ConvKind::Transpose;
  const int64_t one[2] = {1, 1};
  int64_t s[2];
  pair_attr(c, "stride", one, 1, 2, "1 or 2", s);
  g.sh = s[0];
  g.sw = s[1];
  // Kernel size first (the padding default depends on it).
  switch (g.kind) {
    case ConvKind::Forward:
    case ConvKind::BackwardInput:
    case ConvKind::Transpose: {
      require_4d(c, 1, "w");
      const Tensor& w = c.inputs[1];
      g.kh = w.dim(2);
      g.kw = w.dim(3);
      check_kernel(c, "the kernel of input 1 (w)", g.kh, g.kw);
      break;
    }
    case ConvKind::BackwardWeight: {
      if (!c.attrs.has("kernelSize")) fail(code::kArgument, c.op, ": missing attribute 'kernelSize'");
      int64_t k[2];
      pair_attr(c, "kernelSize", one, 1, kMaxKernel, "in 1..7 (supported kernel sizes)", k);
      g.kh = k[0];
      g.kw = k[1];
      break;
    }
  }
  const int64_t half[2] = {g.kh / 2, g.kw / 2};
  int64_t p[2];
  pair_attr(c, "padding", half, 0, kMaxPadding, "an integer in 0..65536", p);
  g.ph = p[0];
  g.pw = p[1];
  int64_t op_[2] = {0, 0};
  if (g.kind == ConvKind::Transpose) {
    const int64_t zero[2] = {0, 0};
    pair_attr(c, "outputPadding", zero, 0, 1, "0 or 1 and smaller than the stride", op_);
    if (op_[0] >= g.sh || op_[1] >= g.sw)
      fail(code::kArgument, c.op, ": attribute 'outputPadding' [", op_[0], ", ", op_[1], "] must be smaller than the stride [",
           g.sh, ", ", g.sw, "]");
  } else if (c.attrs.has("outputPadding")) {
    fail(code::kArgument, c.op, ": attribute 'outputPadding' applies to conv_transpose2d only");
  }

  switch (g.kind) {
    case ConvKind::Forward: {
      require_4d(c, 0, "x");
      const Tensor &x = c.inputs[0], &w = c.inputs[1];
      g.n = x.dim(0); g.c = x.dim(1); g.h = x.dim(2); g.w = x.dim(3); g.o = w.dim(0);
      if (w.dim(1) != g.c)
        fail(code::kShape, c.op, ": input 1 (w) has ", w.dim(1), " input channels (shape ", shape_str(w.shape()),
             ") but input 0 (x) has ", g.c, " channels (shape ", shape_str(x.shape()), ")");
      g.ho = conv_out(c, "height", g.h, g.kh, g.sh, g.ph);
      g.wo = conv_out(c, "width", g.w, g.kw, g.sw, g.pw);
      g.has_bias = c.inputs.size() == 3;
      break;
    }
    case ConvKind::BackwardInput: {
      require_4d(c, 0, "grad_out");
      const Tensor &go = c.inputs[0], &w = c.inputs[1];
      const Shape in = shape_attr(c, "inputShape");
      if (in.size() != 4) fail(code::kShape, c.op, ": attribute 'inputShape' must be 4-d [N, C, H, W], got ", shape_str(in));
      g.n = in[0]; g.c = in[1]; g.h = in[2]; g.w = in[3]; g.o = w.dim(0);
      if (w.dim(1) != g.c)
        fail(code::kShape, c.op, ": input 1 (w) has ", w.dim(1), " input channels (shape ", shape_str(w.shape()),
             ") but attribute 'inputShape' ", shape_str(in), " has ", g.c);
      g.ho = conv_out(c, "height", g.h, g.kh, g.sh, g.ph);
      g.wo = conv_out(c, "width", g.w, g.kw, g.sw, g.pw);
      const Shape expect = {g.n, g.o, g.ho, g.wo};
      if (go.shape() != expect)
        fail(code::kShape, c.op, ": input 0 (grad_out) has shape ", shape_str(go.shape()), " but conv2d of an input ",
             shape_str(in), " with w ", shape_str(w.shape()), " gives ", shape_str(expect));
      break;
    }
    case ConvKind::BackwardWeight: {
      require_4d(c, 0, "x");
      require_4d(c, 1, "grad_out");
      const Tensor &x = c.inputs[0], &go = c.inputs[1];
      g.n = x.dim(0); g.c = x.dim(1); g.h = x.dim(2); g.w = x.dim(3); g.o = go.dim(1);
      g.ho = conv_out(c, "height", g.h, g.kh, g.sh, g.ph);
      g.wo = conv_out(c, "width", g.w, g.kw, g.sw, g.pw);
      const Shape expect = {g.n, g.o, g.ho, g.wo};
      if (go.shape() != expect)
        fail(code::kShape, c.op, ": input 1 (grad_out) has shape ", shape_str(go.shape()), " but conv2d of x ",
             shape_str(x.shape()), " with a ", g.kh, "×", g.kw, " kernel gives [N, O, Ho, Wo] = ", shape_str(expect));
      break;
    }
    case ConvKind::Transpose: {
      require_4d(c, 0, "x");
      const Tensor &x = c.inputs[0], &w = c.inputs[1];
      if (w.dim(0) != x.dim(1))
        fail(code::kShape, c.op, ": input 1 (w, [Cin, Cout, kh, kw]) has ", w.dim(0), " input channels (shape ",
             shape_str(w.shape()), ") but input 0 (x) has ", x.dim(1), " channels (shape ", shape_str(x.shape()), ")");
      g.n = x.dim(0); g.o = x.dim(1); g.ho = x.dim(2); g.wo = x.dim(3); g.c = w.dim(1);
      g.h = (g.ho - 1) * g.sh - 2 * g.ph + g.kh + op_[0];
      g.w = (g.wo - 1) * g.sw - 2 * g.pw + g.kw + op_[1];
      if (g.ho < 1 || g.wo < 1 || g.h < 1 || g.w < 1)
        fail(code::kShape, c.op, ": the output size (", g.h, "×", g.w, ") of an input ", shape_str(x.shape()),
             " must be ≥ 1 in each dimension; padding is too large for this input");
      g.has_bias = c.inputs.size() == 3;
      break;
    }
  }
  if (g.has_bias) {
    const int64_t channels = g.kind == ConvKind::Forward ? g.o : g.c;
    const Tensor& b = c.inputs[2];
    if (b.ndim() != 1 || b.dim(0) != channels)
      fail(code::kShape, c.op, ": input 2 (bias) must have shape [", channels, "] (one per output channel), got ",
           shape_str(b.shape()));
  }
  return g;
}

void define_conv2d_ops(Registry& r) {
  r.define({"conv2d", 2, 3, [](const OpCall& c) {
              const ConvGeom g = conv2d_geom(c);
              return std::vector<TensorSpec>{{Shape{g.n, g.o, g.ho, g.wo}, c.inputs[0].dtype()}};
            }});
  r.define({"conv2d_backward_input", 2, 2, [](const OpCall& c) {
              const ConvGeom g = conv2d_geom(c);
              return std::vector<TensorSpec>{{Shape{g.n, g.c, g.h, g.w}, c.inputs[0].dtype()}};
            }});
  r.define({"conv2d_backward_weight", 2, 2, [](const OpCall& c) {
              const ConvGeom g = conv2d_geom(c);
              return std::vector<TensorSpec>{{Shape{g.o, g.c, g.kh, g.kw}, c.inputs[0].dtype()}};
            }});
  r.define({"conv_transpose2d", 2, 3, [](const OpCall& c) {
              const ConvGeom g = conv2d_geom(c);
              return std::vector<TensorSpec>{{Shape{g.n, g.c, g.h, g.w}, c.inputs[0].dtype()}};
            }});
}

}  // namespace onelip
