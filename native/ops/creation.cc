// Creation ops (no inputs): fill, rand (uniform), randn (normal). Counter-based Philox: the same seed
// gives the same numbers on every device and thread count.
#include <cmath>
#include "op_util.h"

namespace onelip {

/// attr 'seed': an integer in [0, 2^53).
uint64_t seed_attr(const OpCall& c) {
  int64_t s = c.attrs.get_int("seed");
  if (s < 0) fail(code::kArgument, c.op, ": attribute 'seed' must be a non-negative integer, got ", s);
  return static_cast<uint64_t>(s);
}

void define_creation_ops(Registry& r) {
  r.define({"fill", 0, 0, [](const OpCall& c) {
              DType t = dtype_attr(c, "dtype", "float32");
              double v = c.attrs.get_float("value");
              if (t == DType::I32 && (v != std::floor(v) || std::fabs(v) > 2147483647.0))
                fail(code::kArgument, c.op, ": value ", v, " is not representable as int32");
              return std::vector<TensorSpec>{{shape_attr(c, "shape"), t}};
            }});
  // rand: uniform in [low, high); randn: normal(mean, std). float32/float64.
  for (const char* name : {"rand", "randn"}) {
    r.define({name, 0, 0, [](const OpCall& c) {
                DType t = dtype_attr(c, "dtype", "float32");
                if (t == DType::I32) fail(code::kDType, c.op, ": dtype must be float32 or float64, got int32");
                seed_attr(c);
                const char* a = c.op == "rand" ? "low" : "mean";
                const char* b = c.op == "rand" ? "high" : "std";
                double x = c.attrs.get_float(a, 0.0);
                double y = c.attrs.get_float(b, 1.0);
                if (!std::isfinite(x) || !std::isfinite(y) || (c.op == "rand" ? y < x : y < 0))
                  fail(code::kArgument, c.op, ": need finite '", a, "' and '", b, "' with ",
                       c.op == "rand" ? "low <= high" : "std >= 0", ", got ", x, ", ", y);
                return std::vector<TensorSpec>{{shape_attr(c, "shape"), t}};
              }});
  }
}

}  // namespace onelip
