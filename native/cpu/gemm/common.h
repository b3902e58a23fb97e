// Shared definitions of the CPU GEMM (native/cpu/gemm/): target attributes for the per-ISA code, the
// micro-kernel signature, and the ISA levels. Everything under gemm/ is header-only and compiled into
// native/cpu/matmul.cc; the addon itself is built without -march, so each ISA's code carries its own
// target attribute and is only called after a run-time check (cpu_simd_level()).
#pragma once
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#define ONELIP_GEMM_X86 1
#include <immintrin.h>
#else
#define ONELIP_GEMM_X86 0
#endif

#define ONELIP_ALWAYS_INLINE inline __attribute__((always_inline))
#if ONELIP_GEMM_X86
#define ONELIP_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define ONELIP_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace onelip {
namespace gemm {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 };

inline const char* isa_name(Isa i) {
  return i == Isa::Avx512 ? "avx512" : i == Isa::Avx2 ? "avx2" : "portable";
}

/// Micro-kernel: the MR×NR tile C[i][j] (row stride ldc) = (accumulate ? C : 0) + Σ_p a[p·MR + i]·b[p·NR + j]
/// for p < kc, where `a` is a packed MR-row micro-panel of A and `b` a packed NR-column micro-panel of B
/// (both 64-byte aligned, zero-padded to full MR / NR).
template <class T>
using MicroKernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, bool accumulate);

/// C = A·B for few rows with B row-contiguous (loops.h rows_axpy_impl).
template <class T>
using RowsAxpyFn = void (*)(int64_t m, int64_t n, int64_t k, const T* a, int64_t ars, int64_t acs, const T* b,
                            int64_t brs, T* c, int64_t ldc);

/// C[i][j] = dot(A row i, B column j), both contiguous along k (loops.h rows_dot_impl).
template <class T>
using RowsDotFn = void (*)(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                           int64_t ldc);

}  // namespace gemm
}  // namespace onelip
