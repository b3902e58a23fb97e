// Fused optimizer updates: sgd_step and adam_step (PyTorch's torch.optim.SGD / Adam / AdamW update
// formulas, cuda/math.cuh SgdStep / AdamStep). These ops are IN PLACE: they declare no outputs and
// write into their inputs (the parameter and its optimizer state), so a module that holds the
// parameter tensor sees the update. The gradient input is only read. Every input must be float32 or
// float64, all of one dtype, one shape and one device, and no two inputs may share storage (a written
// tensor aliasing another input would make the one-pass update order-dependent).
#include <cmath>
#include "op_util.h"
#include "ops.h"

namespace onelip {
namespace {

/// A finite number attribute in [lo, hi] (hi may be +inf); absent: `fallback` (or required when
/// `required`). `open_lo`/`open_hi` exclude the bound.
double number_attr(const OpCall& c, const char* name, double fallback, double lo, double hi, bool open_lo = false,
                   bool open_hi = false, bool required = false) {
  if (required && !c.attrs.has(name)) fail(code::kArgument, c.op, ": missing attribute '", name, "'");
  const double v = c.attrs.get_float(name, fallback);
  const bool ok = std::isfinite(v) && (open_lo ? v > lo : v >= lo) && (open_hi ? v < hi : v <= hi);
  if (!ok)
    fail(code::kArgument, c.op, ": attribute '", name, "' must be a finite number in ", open_lo ? "(" : "[", lo, ", ",
         hi, open_hi ? ")" : "]", ", got ", v);
  return v;
}

/// Inputs of an in-place update: float dtypes, one dtype, one shape, no shared storage.
void require_update_inputs(const OpCall& c, const char* const* names) {
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
  const Tensor& p = c.inputs[0];
  for (size_t i = 1; i < c.inputs.size(); ++i)
    if (c.inputs[i].shape() != p.shape())
      fail(code::kShape, c.op, ": input ", i, " (", names[i], ") has shape ", shape_str(c.inputs[i].shape()),
           " but input 0 (param) has shape ", shape_str(p.shape()), "; they must match");
  for (size_t i = 0; i < c.inputs.size(); ++i)
    for (size_t j = i + 1; j < c.inputs.size(); ++j)
      if (c.inputs[i].numel() > 0 && c.inputs[i].storage() == c.inputs[j].storage())
        fail(code::kArgument, c.op, ": input ", i, " (", names[i], ") and input ", j, " (", names[j],
             ") share storage; the update writes in place and needs distinct tensors");
}

const char* const kSgdNames[] = {"param", "grad", "momentum_buffer"};
const char* const kAdamNames[] = {"param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

}  // namespace

SgdConfig sgd_config(const OpCall& c) {
  SgdConfig s;
  s.lr = number_attr(c, "lr", 0, 0, INFINITY, false, false, true);
  s.momentum = number_attr(c, "momentum", 0, 0, INFINITY);
  s.dampening = number_attr(c, "dampening", 0, 0, 1);
  s.weight_decay = number_attr(c, "weightDecay", 0, 0, INFINITY);
  s.nesterov = c.attrs.get_bool("nesterov", false);
  s.init_buffer = c.attrs.get_bool("initBuffer", false);
  s.momentum_buffer = c.inputs.size() == 3;
  if (s.nesterov && (s.momentum <= 0 || s.dampening != 0))
    fail(code::kArgument, c.op, ": nesterov momentum requires momentum > 0 and dampening = 0, got momentum ", s.momentum,
         " and dampening ", s.dampening);
  if (s.momentum > 0 && !s.momentum_buffer)
    fail(code::kArgument, c.op, ": momentum ", s.momentum,
         " needs input 2 (momentum_buffer, same shape as the parameter); got 2 inputs");
  if (s.momentum == 0 && s.momentum_buffer)
    fail(code::kArgument, c.op, ": input 2 (momentum_buffer) given but momentum is 0; pass 2 inputs or set momentum > 0");
  return s;
}

AdamConfig adam_config(const OpCall& c) {
  AdamConfig a;
  a.lr = number_attr(c, "lr", 0, 0, INFINITY, false, false, true);
  a.beta1 = number_attr(c, "beta1", 0.9, 0, 1, false, true);
  a.beta2 = number_attr(c, "beta2", 0.999, 0, 1, false, true);
  // eps = 0 would make 0/0 = NaN for an element whose gradients have all been 0: not accepted.
  a.eps = number_attr(c, "eps", 1e-8, 0, INFINITY, true);
  a.weight_decay = number_attr(c, "weightDecay", 0, 0, INFINITY);
  a.decoupled = c.attrs.get_bool("decoupled", false);
  a.amsgrad = c.inputs.size() == 5;
  if (!c.attrs.has("step")) fail(code::kArgument, c.op, ": missing attribute 'step' (the step count, 1 on the first step)");
  a.step = c.attrs.get_int("step");
  if (a.step < 1 || a.step > (int64_t(1) << 53))
    fail(code::kArgument, c.op, ": attribute 'step' must be an integer in 1..2^53 (1 on the first step), got ", a.step);
  const double t = static_cast<double>(a.step);
  a.step_size = a.lr / (1 - std::pow(a.beta1, t));
  a.bias_correction2_sqrt = std::sqrt(1 - std::pow(a.beta2, t));
  a.decay_factor = a.decoupled ? 1 - a.lr * a.weight_decay : 1;
  a.l2 = a.decoupled ? 0 : a.weight_decay;
  return a;
}

void define_optim_ops(Registry& r) {
  // In place, no outputs. (param, grad[, momentum_buffer]) all of one shape; attrs lr (required),
  // momentum, dampening, weightDecay, nesterov, initBuffer (the buffer's first step: buffer ← d).
  r.define({"sgd_step", 2, 3, [](const OpCall& c) {
              require_update_inputs(c, kSgdNames);
              sgd_config(c);
              return std::vector<TensorSpec>{};
            }});
  // In place, no outputs. (param, grad, exp_avg, exp_avg_sq[, max_exp_avg_sq]) of one shape; 5 inputs
  // = amsgrad. attrs lr (required), step (required, ≥ 1), beta1, beta2, eps, weightDecay, decoupled.
  r.define({"adam_step", 4, 5, [](const OpCall& c) {
              require_update_inputs(c, kAdamNames);
              adam_config(c);
              return std::vector<TensorSpec>{};
            }});
}

}  // namespace onelip
