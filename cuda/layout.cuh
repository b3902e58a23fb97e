// Host entry points of cuda/layout.cu used by other CUDA op files (reductions permute their input
// when the reduced axes are not consecutive).
#pragma once
#include <vector>
#include "../native/core/tensor.h"

namespace onelip {
namespace cuda {

/// out = x permuted by `perm` (perm[i] = input dim of output dim i). `out` is a contiguous CUDA tensor
/// of the permuted shape and x's dtype, already allocated. Launches on the default stream.
void permute(const Tensor& x, const std::vector<int>& perm, Tensor& out);

}  // namespace cuda
}  // namespace onelip
