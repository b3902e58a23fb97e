// CUDA CPU emulator: block barriers and memory fences.
//
// Every barrier records its call site (through __builtin_FILE/__builtin_LINE default arguments, so the
// calls look exactly as in CUDA) for the deadlock and divergent-barrier reports.
#pragma once

#include "scheduler.h"

/// Waits until every non-exited thread of the block has reached a block barrier.
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::cuda_emu::detail::Fiber& f = ::cuda_emu::detail::current_fiber("__syncthreads");
  f.worker->wait_block_barrier(f, ::cuda_emu::detail::CallSite{"__syncthreads", file, line});
}

namespace cuda_emu {
namespace detail {

/// Block barrier that also sums a predicate over the block. Each thread adds to the counter of the
/// barrier's phase and reads it back after the release (see Worker::release_block). Returns the sum
/// and, in *arrived, the number of threads that took part.
inline int sync_predicate(int pred, const char* what, const char* file, int line, int* arrived) {
  Fiber& f = current_fiber(what);
  Worker& w = *f.worker;
  const unsigned p = w.phase;
  w.sync_count[p] += pred != 0;
  w.wait_block_barrier(f, CallSite{what, file, line});
  *arrived = w.sync_total[p];
  return w.sync_count[p];
}

}  // namespace detail
}  // namespace cuda_emu

/// __syncthreads that returns how many threads passed a non-zero predicate.
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  int arrived = 0;
  return ::cuda_emu::detail::sync_predicate(pred, "__syncthreads_count", file, line, &arrived);
}

/// __syncthreads that returns non-zero iff the predicate is non-zero for every (non-exited) thread.
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  int arrived = 0;
  int n = ::cuda_emu::detail::sync_predicate(pred, "__syncthreads_and", file, line, &arrived);
  return n == arrived;
}

/// __syncthreads that returns non-zero iff the predicate is non-zero for any thread.
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  int arrived = 0;
  return ::cuda_emu::detail::sync_predicate(pred, "__syncthreads_or", file, line, &arrived) != 0;
}

// Blocks run concurrently on several OS threads: fences are real (sequentially consistent) fences.
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
