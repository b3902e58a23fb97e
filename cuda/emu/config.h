// CUDA CPU emulator: compile-time limits, feature selection and run-time settings.
//
// Environment variables (read once, at the first launch or device query):
//   CUDA_EMU_THREADS   OS worker threads that run blocks (default: hardware threads; the launching
//                      thread is worker 0). cuda_emu::set_threads() changes it at run time.
//   CUDA_EMU_STACK_KB  stack per emulated GPU thread in KiB (default 64; raise it for kernels with large
//                      local arrays). Each stack has a PROT_NONE guard page below it.
//   CUDA_EMU_REVERSE   1: run the threads of each block in reverse order between barriers (warps last
//                      to first, lanes 31..0), to expose races that index order happens to hide.
//   CUDA_EMU_ALLOW_DIVERGENT_SYNC
//                      1: release a block barrier whose threads wait at different __syncthreads call
//                      sites (the hardware merges them silently) instead of aborting.
//
// Compile-time switches:
//   CUDA_EMU_UCONTEXT  use glibc swapcontext instead of the hand-written x86-64 switch (for sanitizer
//                      builds; selected automatically on hosts other than x86-64 Linux).
//   CUDA_EMU_DYN_SMEM_CAPACITY
//                      bytes reserved per extern __shared__ name (default 96 KiB). Must be the same in
//                      every translation unit of a program.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

// Context switch implementation: the x86-64 assembly switch unless told (or forced) otherwise.
#if defined(CUDA_EMU_UCONTEXT) || !(defined(__x86_64__) && defined(__linux__))
#define CUDA_EMU_USE_UCONTEXT 1
#else
#define CUDA_EMU_USE_UCONTEXT 0
#endif

// Sanitizers that need to be told about fiber switches.
#if defined(__SANITIZE_ADDRESS__)
#define CUDA_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDA_EMU_ASAN 1
#endif
#endif
#ifndef CUDA_EMU_ASAN
#define CUDA_EMU_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define CUDA_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CUDA_EMU_TSAN 1
#endif
#endif
#ifndef CUDA_EMU_TSAN
#define CUDA_EMU_TSAN 0
#endif

#ifndef CUDA_EMU_DYN_SMEM_CAPACITY
#define CUDA_EMU_DYN_SMEM_CAPACITY (96 * 1024)
#endif

namespace cuda_emu {

constexpr unsigned kWarpSize = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxWarpsPerBlock = kMaxThreadsPerBlock / kWarpSize;
constexpr unsigned kMaxBlockDimZ = 64;
constexpr unsigned kMaxGridDimX = 2147483647u;
constexpr unsigned kMaxGridDimYZ = 65535u;
/// Dynamic shared memory a kernel may use without cudaFuncSetAttribute (as on the GPU).
constexpr size_t kDefaultDynSmem = 48 * 1024;
/// Storage behind each extern __shared__ name: the most any kernel may request.
constexpr size_t kDynSmemCapacity = CUDA_EMU_DYN_SMEM_CAPACITY;
static_assert(kDynSmemCapacity >= kDefaultDynSmem, "CUDA_EMU_DYN_SMEM_CAPACITY below 48 KiB");

namespace detail {

/// Prints "cuda_emu: <message>" to stderr and aborts. Used for errors a GPU would hang or trap on.
[[noreturn]] inline void fatal(const char* message) {
  std::fprintf(stderr, "cuda_emu: %s\n", message);
  std::fflush(stderr);
  std::abort();
}

inline long env_long(const char* name, long fallback) {
  const char* s = std::getenv(name);
  if (!s || !*s) return fallback;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return (end && *end == 0) ? v : fallback;
}

/// Settings read from the environment once.
struct Settings {
  unsigned threads;            // CUDA_EMU_THREADS
  size_t stack_bytes;          // CUDA_EMU_STACK_KB * 1024
  bool reverse;                // CUDA_EMU_REVERSE
  bool allow_divergent_sync;   // CUDA_EMU_ALLOW_DIVERGENT_SYNC
};

inline const Settings& settings() {
  static const Settings s = [] {
    Settings r{};
    long hw = static_cast<long>(std::thread::hardware_concurrency());
    long t = env_long("CUDA_EMU_THREADS", hw > 0 ? hw : 1);
    r.threads = static_cast<unsigned>(t < 1 ? 1 : (t > 256 ? 256 : t));
    long kb = env_long("CUDA_EMU_STACK_KB", 64);
    if (kb < 16) kb = 16;
    if (kb > 64 * 1024) kb = 64 * 1024;
    r.stack_bytes = static_cast<size_t>(kb) * 1024;
    r.reverse = env_long("CUDA_EMU_REVERSE", 0) != 0;
    r.allow_divergent_sync = env_long("CUDA_EMU_ALLOW_DIVERGENT_SYNC", 0) != 0;
    return r;
  }();
  return s;
}

/// Workers used by the next launch (CUDA_EMU_THREADS unless changed by cuda_emu::set_threads).
inline std::atomic<unsigned> g_worker_count{0};

inline unsigned worker_count() {
  unsigned n = g_worker_count.load(std::memory_order_relaxed);
  return n ? n : settings().threads;
}

}  // namespace detail
}  // namespace cuda_emu
