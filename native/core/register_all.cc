// The one list of everything this build registers. ONELIP_HAVE_CUDA is defined by the CUDA and the
// emulated-CUDA builds (CMakeLists.txt), not by the CPU-only build (binding.gyp).
#include "../cpu/cpu_ops.h"
#include "../ops/fft.h"
#include "../ops/linalg_complex.h"
#include "../ops/ops.h"
#include "backends.h"
#include "registry.h"
#if ONELIP_HAVE_CUDA
#include "../../cuda/cuda_ops.h"
#endif

namespace onelip {

void register_all(Registry& r) {
  define_elementwise_ops(r);
  define_reduce_ops(r);
  define_layout_ops(r);
  define_creation_ops(r);
  define_matmul_ops(r);
  define_shuffle_ops(r);
  define_pooling_ops(r);
  define_conv2d_ops(r);
  define_optim_ops(r);
  define_spectral_ops(r);
  define_cpl_ops(r);
  define_sll_ops(r);
  define_fft_ops(r);
  define_linalg_complex_ops(r);
  define_activations_ops(r);
  define_soc_ops(r);

  register_cpu_elementwise(r);
  register_cpu_reduce(r);
  register_cpu_layout(r);
  register_cpu_creation(r);
  register_cpu_matmul(r);
  register_cpu_shuffle(r);
  register_cpu_pooling(r);
  register_cpu_conv2d(r);
  register_cpu_optim(r);
  register_cpu_spectral(r);
  register_power_iteration(r, Device::CPU);
  register_cpl(r, Device::CPU);
  register_sll(r, Device::CPU);
  register_cpu_fft(r);
  register_cpu_linalg_complex(r);
  register_cpu_activations(r);
  register_cpu_soc(r);

#if ONELIP_HAVE_CUDA
  init_cuda_backend();
  register_cuda_elementwise(r);
  register_cuda_reduce(r);
  register_cuda_layout(r);
  register_cuda_creation(r);
  register_cuda_matmul(r);
  register_cuda_shuffle(r);
  register_cuda_pooling(r);
  register_cuda_conv2d(r);
  register_cuda_optim(r);
  register_cuda_spectral(r);
  register_power_iteration(r, Device::CUDA);
  register_cpl(r, Device::CUDA);
  register_sll(r, Device::CUDA);
  register_cuda_fft(r);
  register_cuda_linalg_complex(r);
  register_cuda_activations(r);
  register_cuda_soc(r);
#endif
}

#if !ONELIP_HAVE_CUDA
const CudaStatus& cuda_status() {
  static const CudaStatus s = [] {
    CudaStatus st;
    st.reason = "this is the CPU-only build of onelip (no CUDA kernels compiled in)";
    return st;
  }();
  return s;
}
#endif

}  // namespace onelip
