// CUDA CPU emulator: storage behind `extern __shared__ T name[];` (dynamic shared memory).
//
// Under the emulator `__shared__` is `thread_local`, so inside a kernel
//     extern __shared__ float smem_f32[];
// becomes a block-scope `extern thread_local float smem_f32[];`. Such a declaration names an entity of
// the *innermost enclosing namespace* of the kernel ([basic.link]): a kernel in `namespace onelip {
// namespace { ... } }` declares `onelip::(anonymous)::smem_f32`, not `::smem_f32`. So each name is
//   1. defined once per program, at global scope, as a 16-byte aligned thread-local array of
//      kDynSmemCapacity bytes whose assembler symbol is fixed (`cuda_emu_xs_<name>`) — one array per
//      worker thread, i.e. per resident block (CUDA_EMU_EXTERN_SHARED_DEFINE);
//   2. redeclared with that same assembler symbol in every namespace that holds kernels
//      (CUDA_EMU_EXTERN_SHARED_REDECLARE), so the kernel's block-scope declaration finds the
//      redeclaration there and binds to the one global array.
// Each name is also registered, so that the launcher can fill the first `smem` bytes with 0xFF (a NaN
// pattern) before every block: kernels that read dynamic shared memory before writing it fail loudly.
//
// Limits: two different names do not alias (on the GPU all extern shared arrays start at the same
// address); one name has one element type per program.
#pragma once

#include <atomic>
#include <cstddef>

#include "config.h"

namespace cuda_emu {
namespace detail {

/// A registered extern shared array: returns its address on the calling thread.
struct ExternShared {
  void* (*address)();
  const char* name;
};

constexpr int kMaxExternShared = 64;
inline ExternShared g_extern_shared[kMaxExternShared] = {};  // constant-initialised: no order issues
inline std::atomic<int> g_extern_shared_count{0};

/// Called during static initialisation, once per name (the registrar is an inline variable).
inline bool register_extern_shared(void* (*address)(), const char* name) {
  int i = g_extern_shared_count.load(std::memory_order_relaxed);
  if (i >= kMaxExternShared) fatal("too many CUDA_EMU_EXTERN_SHARED names (raise kMaxExternShared)");
  g_extern_shared[i] = ExternShared{address, name};
  g_extern_shared_count.store(i + 1, std::memory_order_release);
  return true;
}

/// A value the compiler cannot fold (see CUDA_EMU_TLS_INIT_ANCHOR).
inline int tls_anchor_value() {
  static volatile int one = 1;
  return one;
}

}  // namespace detail
}  // namespace cuda_emu

#define CUDA_EMU_EXTERN_SHARED_SYMBOL(name) "cuda_emu_xs_" #name

/// Defines the storage for one extern shared name (global scope, once per name per program: the
/// definition is `inline`, so every translation unit may contain it).
#define CUDA_EMU_EXTERN_SHARED_DEFINE(type, name)                                                 \
  alignas(16) inline thread_local type name[::cuda_emu::kDynSmemCapacity / sizeof(type)]        \
      __asm__(CUDA_EMU_EXTERN_SHARED_SYMBOL(name));                                               \
  namespace cuda_emu {                                                                            \
  namespace extern_shared {                                                                       \
  inline void* address_of_##name() { return static_cast<void*>(::name); }                        \
  inline const bool registered_##name =                                                           \
      ::cuda_emu::detail::register_extern_shared(&address_of_##name, #name);                      \
  }                                                                                               \
  }                                                                                               \
  static_assert(sizeof(type) > 0, "")

/// Makes `extern __shared__ type name[];` usable in kernels of the enclosing namespace. Use inside
/// `namespace X { ... }` for each namespace that holds kernels (global scope needs nothing).
#define CUDA_EMU_EXTERN_SHARED_REDECLARE(type, name) \
  extern thread_local type name[] __asm__(CUDA_EMU_EXTERN_SHARED_SYMBOL(name)) \
      __attribute__((tls_model("global-dynamic")))

/// A redeclaration inside an unnamed namespace has internal linkage, and g++ then routes every access
/// through the translation unit's `__tls_init` function — which it only emits when the translation unit
/// has a thread-local variable with dynamic initialisation. This anchor guarantees one. Expand it once
/// per translation unit, at global scope (the prelude does).
#define CUDA_EMU_TLS_INIT_ANCHOR()                                                                \
  namespace {                                                                                     \
  [[maybe_unused]] thread_local int cuda_emu_tls_init_anchor = ::cuda_emu::detail::tls_anchor_value(); \
  }                                                                                               \
  static_assert(true, "")
