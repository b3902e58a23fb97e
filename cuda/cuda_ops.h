// Registration of the CUDA kernels, one function per op family (cuda/<family>.cu), and the backend's
// start-up. Included by host code only (native/core/register_all.cc).
#pragma once
#include "../native/core/registry.h"

namespace onelip {
/// Queries the runtime and, when a device is usable, registers the cuda memory functions.
void init_cuda_backend();
void register_cuda_elementwise(Registry& r);
void register_cuda_reduce(Registry& r);
void register_cuda_layout(Registry& r);
void register_cuda_creation(Registry& r);
void register_cuda_matmul(Registry& r);
void register_cuda_shuffle(Registry& r);
void register_cuda_pooling(Registry& r);
void register_cuda_activations(Registry& r);
void register_cuda_conv2d(Registry& r);
void register_cuda_optim(Registry& r);
void register_cuda_spectral(Registry& r);
void register_cuda_fft(Registry& r);
void register_cuda_linalg_complex(Registry& r);
void register_cuda_soc(Registry& r);
}  // namespace onelip
