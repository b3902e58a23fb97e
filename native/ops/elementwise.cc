// Elementwise ops: binary with numpy broadcasting, unary, scale, clamp, cast.
#include <cmath>
#include "../core/shape_util.h"
#include "op_util.h"

namespace onelip {

void define_elementwise_ops(Registry& r) {
  // add/sub/mul: float32, float64, int32; div: float only. Inputs of one dtype, broadcast.
  for (const char* name : {"add", "sub", "mul", "div"}) {
    bool ints = std::string(name) != "div";
    r.define({name, 2, 2, [ints](const OpCall& c) {
                require_dtype_in(c, 0, true, true, ints);
                require_same_dtype(c);
                return std::vector<TensorSpec>{
                    {broadcast_shapes(c.op, c.inputs[0].shape(), c.inputs[1].shape()), c.inputs[0].dtype()}};
              }});
  }
  // eq: 1 where a == b else 0, float inputs of one dtype, broadcast (a mask for gradients; not differentiable).
  r.define({"eq", 2, 2, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              require_same_dtype(c);
              return std::vector<TensorSpec>{
                  {broadcast_shapes(c.op, c.inputs[0].shape(), c.inputs[1].shape()), c.inputs[0].dtype()}};
            }});
  // neg, abs: any dtype. exp, log, sqrt, relu, softplus, sigmoid, sign: float.
  for (const char* name : {"neg", "abs", "exp", "log", "sqrt", "relu", "softplus", "sigmoid", "sign"}) {
    bool ints = std::string(name) == "neg" || std::string(name) == "abs";
    r.define({name, 1, 1, [ints](const OpCall& c) {
                require_dtype_in(c, 0, true, true, ints);
                return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}};
              }});
  }
  // scale: y = alpha * x + beta (attrs alpha, beta = 0), float.
  r.define({"scale", 1, 1, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              double a = c.attrs.get_float("alpha"), b = c.attrs.get_float("beta", 0.0);
              if (!std::isfinite(a) || !std::isfinite(b))
                fail(code::kArgument, c.op, ": attributes 'alpha' and 'beta' must be finite, got ", a, ", ", b);
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}};
            }});
  // clamp: y = min(max(x, min), max); either bound may be absent; float. NaN stays NaN.
  r.define({"clamp", 1, 1, [](const OpCall& c) {
              require_dtype_in(c, 0, true, true, false);
              double lo = c.attrs.get_float("min", -INFINITY), hi = c.attrs.get_float("max", INFINITY);
              if (std::isnan(lo) || std::isnan(hi) || lo > hi)
                fail(code::kArgument, c.op, ": need min <= max (both not NaN), got min=", lo, " max=", hi);
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}};
            }});
  // cast: to attr dtype. Float → int32 truncates toward zero, saturates, NaN → 0.
  r.define({"cast", 1, 1, [](const OpCall& c) {
              return std::vector<TensorSpec>{{c.inputs[0].shape(), dtype_attr(c, "dtype", "")}};
            }});
}

}  // namespace onelip
