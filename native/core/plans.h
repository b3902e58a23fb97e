// Plain-data index plans shared by the CPU and CUDA kernels (passed by value into CUDA kernels).
#pragma once
#include <cstdint>

namespace onelip {

/// Broadcasting of up to kPlanDims inputs to one output, with adjacent dims collapsed.
/// Element `o` of the output (row-major over `shape`) reads input k at offset
///   sum_d ((o / out_stride[d]) % shape[d]) * in_stride[k][d]
/// where in_stride is 0 along broadcast dims.
constexpr int kPlanDims = 8;
struct BroadcastPlan {
  int ndim;
  int64_t numel;
  int64_t shape[kPlanDims];
  int64_t out_stride[kPlanDims];
  int64_t in_stride[2][kPlanDims];
  bool same_shape;  // both inputs have the output's shape: offset == o
};

/// Reduction of a [outer, reduce, inner] view of a contiguous tensor to [outer, inner].
struct ReducePlan {
  int64_t outer;
  int64_t reduce;
  int64_t inner;
};

/// A permutation of a contiguous tensor: output element o (row-major over out shape) reads input
/// offset sum_d ((o / out_stride[d]) % shape[d]) * in_stride[d], dims collapsed where possible.
struct PermutePlan {
  int ndim;
  int64_t numel;
  int64_t shape[kPlanDims];
  int64_t out_stride[kPlanDims];
  int64_t in_stride[kPlanDims];
};

}  // namespace onelip
