#include "shape_util.h"
#include <algorithm>
#include "error.h"

namespace onelip {

Shape broadcast_shapes(const std::string& op, const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail(code::kShape, op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast together (dim ",
           i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

BroadcastPlan make_broadcast_plan(const Shape& out, const Shape& a, const Shape& b) {
  BroadcastPlan p{};
  p.numel = shape_numel(out);
  p.same_shape = (a == out && b == out);
  const int n = static_cast<int>(out.size());
  // Per-dim strides of a and b aligned to out (0 where broadcast).
  int64_t sa[kPlanDims], sb[kPlanDims];
  const Shape* ins[2] = {&a, &b};
  int64_t* ss[2] = {sa, sb};
  for (int k = 0; k < 2; ++k) {
    const Shape& s = *ins[k];
    Shape st = contiguous_strides(s);
    int off = n - static_cast<int>(s.size());
    for (int d = 0; d < n; ++d) ss[k][d] = (d < off || s[d - off] == 1) ? 0 : st[d - off];
  }
  // Collapse adjacent dims d-1, d when both inputs are contiguous across them; drop size-1 dims.
  int m = 0;
  for (int d = 0; d < n; ++d) {
    if (out[d] == 1) continue;
    if (m > 0 && sa[d] * out[d] == p.in_stride[0][m - 1] && sb[d] * out[d] == p.in_stride[1][m - 1]) {
      p.shape[m - 1] *= out[d];
      p.in_stride[0][m - 1] = sa[d];
      p.in_stride[1][m - 1] = sb[d];
      continue;
    }
    p.shape[m] = out[d];
    p.in_stride[0][m] = sa[d];
    p.in_stride[1][m] = sb[d];
    ++m;
  }
  if (m == 0) {
    p.shape[0] = 1;
    p.in_stride[0][0] = p.in_stride[1][0] = 0;
    m = 1;
  }
  p.ndim = m;
  int64_t acc = 1;
  for (int d = m - 1; d >= 0; --d) {
    p.out_stride[d] = acc;
    acc *= p.shape[d];
  }
  return p;
}

std::vector<int> normalize_axes(const std::string& op, const std::vector<int64_t>& axes, int ndim) {
  std::vector<int> out;
  for (int64_t a : axes) {
    int64_t v = a < 0 ? a + ndim : a;
    if (v < 0 || v >= ndim)
      fail(code::kArgument, op, ": axis ", a, " is out of range for a tensor with ", ndim, " dimension(s)");
    if (std::find(out.begin(), out.end(), static_cast<int>(v)) != out.end())
      fail(code::kArgument, op, ": axis ", a, " is repeated");
    out.push_back(static_cast<int>(v));
  }
  std::sort(out.begin(), out.end());
  return out;
}

PermutePlan make_permute_plan(const Shape& in_shape, const std::vector<int>& perm) {
  PermutePlan p{};
  p.numel = shape_numel(in_shape);
  Shape in_st = contiguous_strides(in_shape);
  int m = 0;
  for (size_t i = 0; i < perm.size(); ++i) {
    int64_t size = in_shape[perm[i]], st = in_st[perm[i]];
    if (size == 1) continue;
    if (m > 0 && st * size == p.in_stride[m - 1]) {  // contiguous in the input too: merge
      p.shape[m - 1] *= size;
      p.in_stride[m - 1] = st;
      continue;
    }
    p.shape[m] = size;
    p.in_stride[m] = st;
    ++m;
  }
  if (m == 0) {
    p.shape[0] = 1;
    p.in_stride[0] = 1;
    m = 1;
  }
  p.ndim = m;
  int64_t acc = 1;
  for (int d = m - 1; d >= 0; --d) {
    p.out_stride[d] = acc;
    acc *= p.shape[d];
  }
  return p;
}

bool axes_contiguous(const std::vector<int>& axes) {
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] != axes[i - 1] + 1) return false;
  return true;
}

ReducePlan make_reduce_plan(const Shape& shape, const std::vector<int>& axes) {
  ReducePlan p{1, 1, 1};
  if (axes.empty()) {
    p.inner = shape_numel(shape);
    return p;
  }
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < axes.front()) p.outer *= shape[d];
    else if (d <= axes.back()) p.reduce *= shape[d];
    else p.inner *= shape[d];
  }
  return p;
}

}  // namespace onelip
