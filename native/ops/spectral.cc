// Spectral ops of the Lipschitz layers: kernel_self_correlation (the Gram tensor of a conv kernel,
// SPEC.md A.2/A.3) with its gradient op, and the power-iteration ops power_iteration_dense /
// power_iteration_conv (SPEC.md A.1, A.7). float32 and float64.
#include <cmath>
#include "op_util.h"
#include "ops.h"

namespace onelip {

namespace {

constexpr int64_t kMaxSelfCorrKernel = 7;

/// K [m, c, k, k] with k odd in 1..7, float. Returns k.
int64_t self_corr_kernel(const OpCall& c, int i, const char* what) {
  require_dtype_in(c, i, true, true, false);
  const Tensor& K = c.inputs[i];
  if (K.ndim() != 4 || K.dim(2) != K.dim(3) || K.dim(2) % 2 == 0 || K.dim(2) < 1 || K.dim(2) > kMaxSelfCorrKernel)
    fail(code::kShape, c.op, ": input ", i, " (", what, ") must be a 4-d kernel [m, c, k, k] with k odd in 1..",
         kMaxSelfCorrKernel, ", got shape ", shape_str(K.shape()));
  return K.dim(2);
}

}  // namespace

/// iters attribute of the power-iteration ops: an integer in 1..1e6.
int64_t power_iteration_iters(const OpCall& c) {
  if (!c.attrs.has("iters")) fail(code::kArgument, c.op, ": missing attribute 'iters' (an integer >= 1)");
  const int64_t n = c.attrs.get_int("iters");
  if (n < 1 || n > 1000000)
    fail(code::kArgument, c.op, ": attribute 'iters' must be an integer in 1..1000000, got ", n);
  return n;
}

/// (stride, padding) pairs of power_iteration_conv: each an integer or [h, w]; stride 1 or 2 (default 1),
/// padding 0..65536 (default k // 2 per dim), the ranges of conv2d.
void power_iteration_conv_geometry(const OpCall& c, int64_t stride[2], int64_t padding[2]) {
  const Tensor& K = c.inputs[0];
  const int64_t one[2] = {1, 1};
  const int64_t half[2] = {K.dim(2) / 2, K.dim(3) / 2};
  pair_attr(c, "stride", one, 1, 2, "1 or 2 (as conv2d)", stride);
  pair_attr(c, "padding", half, 0, 65536, "an integer in 0..65536 (as conv2d)", padding);
}

void define_spectral_ops(Registry& r) {
  // K [m, c, k, k] → G [m, m, 2k−1, 2k−1], G[i, j, s] = Σ_c Σ_u K[i, c, u + s]·K[j, c, u].
  r.define({"kernel_self_correlation", 1, 1, [](const OpCall& c) {
              const int64_t k = self_corr_kernel(c, 0, "K");
              const Tensor& K = c.inputs[0];
              return std::vector<TensorSpec>{{{K.dim(0), K.dim(0), 2 * k - 1, 2 * k - 1}, K.dtype()}};
            }});
  // (K [m, c, k, k], gradG [m, m, 2k−1, 2k−1]) → gradK [m, c, k, k].
  r.define({"kernel_self_correlation_backward", 2, 2, [](const OpCall& c) {
              const int64_t k = self_corr_kernel(c, 0, "K");
              require_dtype_in(c, 1, true, true, false);
              require_same_dtype(c);
              const Tensor& K = c.inputs[0];
              const Shape expect = {K.dim(0), K.dim(0), 2 * k - 1, 2 * k - 1};
              if (c.inputs[1].shape() != expect)
                fail(code::kShape, c.op, ": input 1 (gradG) has shape ", shape_str(c.inputs[1].shape()),
                     " but K of shape ", shape_str(K.shape()), " needs ", shape_str(expect));
              return std::vector<TensorSpec>{{K.shape(), K.dtype()}};
            }});
  // (W [m, n], u [n]) → (sigma [], u [n], v [m]); attr iters.
  r.define({"power_iteration_dense", 2, 2, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              require_dtype_in(c, 1, true, true, false);
              require_same_dtype(c);
              const Tensor& W = c.inputs[0];
              const Tensor& u = c.inputs[1];
              if (W.ndim() != 2 || W.dim(0) < 1 || W.dim(1) < 1)
                fail(code::kShape, c.op, ": input 0 (W) must be a non-empty 2-d matrix [m, n], got shape ",
                     shape_str(W.shape()));
              if (u.ndim() != 1 || u.dim(0) != W.dim(1))
                fail(code::kShape, c.op, ": input 1 (u) must be a vector [", W.dim(1), "] (W has shape ",
                     shape_str(W.shape()), "), got shape ", shape_str(u.shape()));
              power_iteration_iters(c);
              return std::vector<TensorSpec>{{{}, W.dtype()}, {u.shape(), W.dtype()}, {{W.dim(0)}, W.dtype()}};
            }});
  // (K [O, C, kh, kw], u [1, C, H, W]) → (sigma [], u [1, C, H, W], v [1, O, Ho, Wo]); attrs iters,
  // stride, padding.
  r.define({"power_iteration_conv", 2, 2, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              require_dtype_in(c, 1, true, true, false);
              require_same_dtype(c);
              const Tensor& K = c.inputs[0];
              const Tensor& u = c.inputs[1];
              if (K.ndim() != 4 || K.numel() == 0)
                fail(code::kShape, c.op, ": input 0 (K) must be a non-empty 4-d kernel [O, C, kh, kw], got shape ",
                     shape_str(K.shape()));
              if (u.ndim() != 4 || u.dim(0) != 1 || u.dim(1) != K.dim(1) || u.dim(2) < 1 || u.dim(3) < 1)
                fail(code::kShape, c.op, ": input 1 (u) must be [1, ", K.dim(1), ", H, W] (K has shape ",
                     shape_str(K.shape()), "), got shape ", shape_str(u.shape()));
              if (K.dim(2) > 7 || K.dim(3) > 7)
                fail(code::kUnsupported, c.op, ": the kernel of input 0 (K) is ", K.dim(2), "×", K.dim(3),
                     "; supported kernel sizes are 1..7 (as conv2d)");
              power_iteration_iters(c);
              int64_t s[2], p[2];
              power_iteration_conv_geometry(c, s, p);
              int64_t out[2];
              for (int d = 0; d < 2; ++d) {
                const int64_t span = u.dim(2 + d) + 2 * p[d] - K.dim(2 + d);
                if (span < 0)
                  fail(code::kShape, c.op, ": u's spatial size ", u.dim(2), "x", u.dim(3), " with padding ", p[0], ",", p[1],
                       " is smaller than the kernel ", K.dim(2), "x", K.dim(3));
                out[d] = span / s[d] + 1;
              }
              return std::vector<TensorSpec>{
                  {{}, K.dtype()}, {u.shape(), K.dtype()}, {{1, K.dim(0), out[0], out[1]}, K.dtype()}};
            }});
}

}  // namespace onelip
