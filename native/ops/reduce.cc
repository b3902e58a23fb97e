// Reductions over axes: sum (any dtype), mean (float), max (any dtype; empty reduction is an error).
#include "../core/shape_util.h"
#include <algorithm>
#include "op_util.h"

namespace onelip {

/// Axes of a reduction call: attr 'axes' (default: all), normalised and sorted.
std::vector<int> reduce_axes(const OpCall& c) {
  const Tensor& x = c.inputs[0];
  std::vector<int64_t> all;
  for (int d = 0; d < x.ndim(); ++d) all.push_back(d);
  return normalize_axes(c.op, c.attrs.get_ints("axes", all), x.ndim());
}

void define_reduce_ops(Registry& r) {
  for (const char* name : {"sum", "mean", "max"}) {
    std::string n = name;
    r.define({name, 1, 1, [n](const OpCall& c) {
                require_dtype_in(c, 0, true, true, n != "mean");
                const Tensor& x = c.inputs[0];
                std::vector<int> axes = reduce_axes(c);
                bool keep = c.attrs.get_bool("keepDims", false);
                int64_t count = 1;
                for (int a : axes) count *= x.dim(a);
                if (count == 0 && n != "sum")
                  fail(code::kShape, c.op, ": cannot reduce over an empty axis (shape ", shape_str(x.shape()), ")");
                Shape out;
                for (int d = 0; d < x.ndim(); ++d) {
                  bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
                  if (!reduced) out.push_back(x.dim(d));
                  else if (keep) out.push_back(1);
                }
                return std::vector<TensorSpec>{{out, x.dtype()}};
              }});
  }
}

}  // namespace onelip
