// Data movement: permute, slice, concat (reshape is a view, done in the binding).
#include "../core/shape_util.h"
#include "op_util.h"

namespace onelip {

/// attr 'perm' validated as a permutation of the input's dims.
std::vector<int> permute_perm(const OpCall& c) {
  int n = c.inputs[0].ndim();
  std::vector<int64_t> p = c.attrs.get_ints("perm");
  if (static_cast<int>(p.size()) != n)
    fail(code::kArgument, c.op, ": attribute 'perm' must list all ", n, " dimensions, got ", p.size());
  std::vector<int> perm;
  std::vector<bool> seen(n, false);
  for (int64_t v : p) {
    int64_t a = v < 0 ? v + n : v;
    if (a < 0 || a >= n || seen[a])
      fail(code::kArgument, c.op, ": attribute 'perm' must be a permutation of 0..", n - 1, ", got ", v);
    seen[a] = true;
    perm.push_back(static_cast<int>(a));
  }
  return perm;
}

/// attrs 'begin'/'end' (one per dim; negatives count from the end) validated to 0 <= begin <= end <= dim.
void slice_bounds(const OpCall& c, Shape* begin, Shape* end) {
  const Tensor& x = c.inputs[0];
  Shape b = c.attrs.get_ints("begin"), e = c.attrs.get_ints("end");
  if (static_cast<int>(b.size()) != x.ndim() || static_cast<int>(e.size()) != x.ndim())
    fail(code::kArgument, c.op, ": attributes 'begin' and 'end' need one entry per dimension (", x.ndim(), "), got ",
         b.size(), " and ", e.size());
  for (int d = 0; d < x.ndim(); ++d) {
    int64_t n = x.dim(d);
    if (b[d] < 0) b[d] += n;
    if (e[d] < 0) e[d] += n;
    if (b[d] < 0 || e[d] > n || b[d] > e[d])
      fail(code::kArgument, c.op, ": dim ", d, " of size ", n, " cannot be sliced to [", b[d], ", ", e[d], ")");
  }
  *begin = b;
  *end = e;
}

int concat_axis(const OpCall& c) {
  return normalize_axes(c.op, {c.attrs.get_int("axis")}, c.inputs[0].ndim())[0];
}

void define_layout_ops(Registry& r) {
  r.define({"permute", 1, 1, [](const OpCall& c) {
              std::vector<int> perm = permute_perm(c);
              Shape out;
              for (int p : perm) out.push_back(c.inputs[0].dim(p));
              return std::vector<TensorSpec>{{out, c.inputs[0].dtype()}};
            }});
  r.define({"slice", 1, 1, [](const OpCall& c) {
              Shape b, e;
              slice_bounds(c, &b, &e);
              Shape out;
              for (size_t d = 0; d < b.size(); ++d) out.push_back(e[d] - b[d]);
              return std::vector<TensorSpec>{{out, c.inputs[0].dtype()}};
            }});
  r.define({"concat", 1, -1, [](const OpCall& c) {
              require_same_dtype(c);
              const Shape& s0 = c.inputs[0].shape();
              if (s0.empty()) fail(code::kShape, c.op, ": cannot concatenate scalars (0-d tensors)");
              int axis = concat_axis(c);
              Shape out = s0;
              out[axis] = 0;
              for (size_t i = 0; i < c.inputs.size(); ++i) {
                const Shape& s = c.inputs[i].shape();
                bool ok = s.size() == s0.size();
                for (size_t d = 0; ok && d < s.size(); ++d) ok = static_cast<int>(d) == axis || s[d] == s0[d];
                if (!ok)
                  fail(code::kShape, c.op, ": input ", i, " has shape ", shape_str(s), ", which does not match input 0 ",
                       shape_str(s0), " outside axis ", axis);
                out[axis] += s[axis];
              }
              return std::vector<TensorSpec>{{out, c.inputs[0].dtype()}};
            }});
}

}  // namespace onelip
