// CUDA CPU emulator prelude: force-included into every translation unit of the emulated build
//     g++ -x c++ -I cuda/emu -include cuda/emu/prelude.h ...
// It declares the names that kernels may use for dynamic shared memory (`extern __shared__ T name[];`,
// see extern_shared.h for why they must be declared here). It needs nothing else: it is harmless in a
// translation unit that never includes <cuda_runtime.h>, and empty under nvcc.
//
// To add a name: one CUDA_EMU_EXTERN_SHARED line below (or, for a name used by one file only, the same
// line at global scope in that file, inside `#if defined(CUDA_EMU)`, as test/emu/selftest.cu does).
// Kernels may live at global scope or in the namespaces listed in CUDA_EMU_EXTERN_SHARED; kernels
// elsewhere need a CUDA_EMU_EXTERN_SHARED_REDECLARE(type, name) in their namespace.
#pragma once

#if !defined(__CUDACC__)

#include "extern_shared.h"

/// Declares an extern shared array usable from kernels at global scope and in the project's kernel
/// namespaces: onelip, onelip::(anonymous), onelip::cuda, onelip::cuda::(anonymous).
#define CUDA_EMU_EXTERN_SHARED(type, name)                \
  CUDA_EMU_EXTERN_SHARED_DEFINE(type, name);              \
  namespace onelip {                                      \
  CUDA_EMU_EXTERN_SHARED_REDECLARE(type, name);           \
  namespace {                                             \
  CUDA_EMU_EXTERN_SHARED_REDECLARE(type, name);           \
  }                                                       \
  namespace cuda {                                        \
  CUDA_EMU_EXTERN_SHARED_REDECLARE(type, name);           \
  namespace {                                             \
  CUDA_EMU_EXTERN_SHARED_REDECLARE(type, name);           \
  }                                                       \
  }                                                       \
  }                                                       \
  static_assert(true, "")

CUDA_EMU_TLS_INIT_ANCHOR();

// Names for the project's kernels. Each costs kDynSmemCapacity bytes of thread-local storage per
// thread that touches the library's thread-locals.
CUDA_EMU_EXTERN_SHARED(float, smem_f32);
CUDA_EMU_EXTERN_SHARED(double, smem_f64);
CUDA_EMU_EXTERN_SHARED(int, smem_i32);
CUDA_EMU_EXTERN_SHARED(unsigned char, smem_raw);

#endif  // !__CUDACC__
