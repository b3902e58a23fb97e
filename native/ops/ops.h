// Declarations shared by op definitions and kernels (helpers that validate or derive op arguments).
#pragma once
#include <cstdint>
#include <type_traits>
#include <vector>
#include "../core/registry.h"

namespace onelip {

void define_elementwise_ops(Registry& r);
void define_reduce_ops(Registry& r);
void define_layout_ops(Registry& r);
void define_creation_ops(Registry& r);

std::vector<int> reduce_axes(const OpCall& c);
std::vector<int> permute_perm(const OpCall& c);
void slice_bounds(const OpCall& c, Shape* begin, Shape* end);
int concat_axis(const OpCall& c);
uint64_t seed_attr(const OpCall& c);

/// Validated dimensions of a matmul call: out[b] = op(a[b]) · op(b[b]), op = transpose when asked.
struct MatmulDims {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  Shape batch_shape;          // broadcast batch dims of the output
  int64_t batch = 1;          // product of batch_shape
  bool a_bcast = false, b_bcast = false;  // whether a/b batch dims differ from batch_shape
  Shape a_full_batch, b_full_batch;       // a/b batch dims left-padded with 1 to batch_shape's rank
};
MatmulDims matmul_dims(const OpCall& c);
void define_matmul_ops(Registry& r);
void define_shuffle_ops(Registry& r);
void define_pooling_ops(Registry& r);
void define_activations_ops(Registry& r);
void define_conv2d_ops(Registry& r);

/// Which op of the conv2d family a ConvGeom describes.
enum class ConvKind { Forward, BackwardInput, BackwardWeight, Transpose };

/// A call of the conv2d family as the convolution x [n, c, h, w] ⊛ w [o, c, kh, kw] → y [n, o, ho, wo]
/// (stride sh, sw; zero padding ph, pw) that it computes (Forward), or whose adjoint in x (BackwardInput,
/// and Transpose, whose x plays grad_out: o = Cin, c = Cout) or in w (BackwardWeight) it computes.
struct ConvGeom {
  ConvKind kind = ConvKind::Forward;
  int64_t n = 0, c = 0, h = 0, w = 0, o = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, ho = 0, wo = 0;
  bool has_bias = false;  // input 2: [o] for Forward, [c] for Transpose
};
/// Validates a conv2d-family call (dtypes, shapes, attrs) and returns its geometry (native/ops/conv2d.cc).
ConvGeom conv2d_geom(const OpCall& c);
void define_spectral_ops(Registry& r);
/// Registers the device-agnostic power-iteration composites (native/ops/power_iteration.cc) on `device`.
void register_power_iteration(Registry& r, Device device);
void define_cpl_ops(Registry& r);
/// Registers the device-agnostic fused CPL composites (native/ops/cpl.cc) on `device`.
void register_cpl(Registry& r, Device device);
/// SLL / AOL layer ops (native/ops/sll.cc): definitions, and the composite kernels on `device`.
void define_sll_ops(Registry& r);
void register_sll(Registry& r, Device device);

/// Validated attributes of an sgd_step call (native/ops/optim.cc); `momentum_buffer`: 3 inputs.
struct SgdConfig {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, init_buffer = false, momentum_buffer = false;
};
SgdConfig sgd_config(const OpCall& c);
/// Validated attributes of an adam_step call, with the step-dependent scalars computed in double.
struct AdamConfig {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  double l2 = 0;                // Adam's weight decay on the gradient (0 for AdamW)
  double decay_factor = 1;      // AdamW's p ← p·(1 − lr·wd) (1 for Adam)
  double step_size = 0, bias_correction2_sqrt = 1;
  bool decoupled = false, amsgrad = false;
  int64_t step = 0;
};
AdamConfig adam_config(const OpCall& c);
/// Calls f(std::true_type{}) or f(std::false_type{}): turns a runtime flag into a template flag.
template <class F>
void with_flag(bool b, F&& f) {
  if (b) f(std::true_type{});
  else f(std::false_type{});
}
void define_optim_ops(Registry& r);
void define_soc_ops(Registry& r);

}  // namespace onelip
