// Shape helpers used by op definitions and kernels: broadcasting, axis normalisation, plans.
#pragma once
#include <string>
#include <vector>
#include "plans.h"
#include "tensor.h"

namespace onelip {

/// The numpy broadcast of a and b; throws ERR_SHAPE naming `op`.
Shape broadcast_shapes(const std::string& op, const Shape& a, const Shape& b);
/// Plan for reading a and b broadcast to `out`.
BroadcastPlan make_broadcast_plan(const Shape& out, const Shape& a, const Shape& b);
/// Normalises axes (negatives count from the end) to sorted unique values; throws ERR_ARGUMENT.
std::vector<int> normalize_axes(const std::string& op, const std::vector<int64_t>& axes, int ndim);
/// Plan for permuting a contiguous tensor of `in_shape` by `perm` (perm[i] = input dim of output dim i).
PermutePlan make_permute_plan(const Shape& in_shape, const std::vector<int>& perm);
/// Whether sorted `axes` are consecutive (then the reduction is a [outer, reduce, inner] view).
bool axes_contiguous(const std::vector<int>& axes);
/// [outer, reduce, inner] of a reduction over consecutive sorted `axes` of `shape`.
ReducePlan make_reduce_plan(const Shape& shape, const std::vector<int>& axes);

}  // namespace onelip
