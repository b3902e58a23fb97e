// Registration of the CPU kernels, one function per op family (native/cpu/<family>.cc).
#pragma once
#include "../core/registry.h"

namespace onelip {
void register_cpu_elementwise(Registry& r);
void register_cpu_reduce(Registry& r);
void register_cpu_layout(Registry& r);
void register_cpu_creation(Registry& r);
void register_cpu_matmul(Registry& r);
void register_cpu_shuffle(Registry& r);
void register_cpu_pooling(Registry& r);
void register_cpu_conv2d(Registry& r);
void register_cpu_optim(Registry& r);
void register_cpu_spectral(Registry& r);
void register_cpu_fft(Registry& r);
void register_cpu_linalg_complex(Registry& r);
void register_cpu_activations(Registry& r);
void register_cpu_soc(Registry& r);
}  // namespace onelip
