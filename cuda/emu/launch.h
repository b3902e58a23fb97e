// CUDA CPU emulator: kernel launch and the worker pool.
//
//   ::cuda_emu::launch(kernel, dim3 grid, dim3 block, size_t dynamic_smem, args...)
//
// is what the project's KLAUNCH macro expands to under g++ (see launch_macro.h). It converts the
// arguments to the kernel's parameter types once (their number is checked at compile time), validates
// the configuration (an invalid one becomes cudaErrorInvalidConfiguration, returned by
// cudaGetLastError, and the kernel does not run), runs every block and returns when all are done.
//
// Blocks are spread over a persistent pool of OS threads: the launching thread is worker 0, helpers are
// created at the first launch that has more than one block. Workers claim block numbers from a shared
// atomic counter and run each block to completion. Launches are serialised by a process-wide mutex, so
// several host threads (e.g. Node worker_threads) may launch at the same time; each waits its turn.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <pthread.h>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "config.h"
#include "runtime.h"
#include "scheduler.h"
#include "types.h"

namespace cuda_emu {
namespace detail {

inline std::mutex& launch_mutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}

/// Persistent helper threads. Never destroyed (helpers may still wait on it during exit).
class Pool {
 public:
  static Pool& get() {
    static Pool* p = new Pool();
    return *p;
  }

  /// Runs every block of `job` on the calling thread and up to worker_count() - 1 helpers.
  void run(KernelJob& job) {
    job.next_block.store(0, std::memory_order_relaxed);
    const unsigned workers = worker_count();
    const uint64_t want = job.nblocks - 1 < workers - 1 ? job.nblocks - 1 : workers - 1;
    const unsigned helpers = static_cast<unsigned>(want);
    if (helpers > 0) {
      std::unique_lock<std::mutex> lock(mutex_);
      while (threads_ < helpers) {
        std::thread(&Pool::helper_loop, this, threads_ + 1).detach();
        ++threads_;
      }
      job_ = &job;
      participants_ = helpers;
      ++generation_;
      lock.unlock();
      work_cv_.notify_all();
    }
    work(job);
    if (helpers > 0) {
      // Late helpers must not join once we stop publishing the job; then wait for those that did.
      std::unique_lock<std::mutex> lock(mutex_);
      job_ = nullptr;
      done_cv_.wait(lock, [this] { return active_ == 0; });
    }
  }

 private:
  Pool() { pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child); }

  // fork() while a launch runs on another thread would leave its locks held in the child, and the
  // child has none of the helper threads: wait for the launch, then give the child a fresh pool.
  static void before_fork() {
    launch_mutex().lock();
    get().mutex_.lock();
  }
  static void after_fork_in_parent() {
    get().mutex_.unlock();
    launch_mutex().unlock();
  }
  static void after_fork_in_child() {
    Pool& p = get();
    p.mutex_.unlock();  // the forking thread holds both locks, in the child too
    launch_mutex().unlock();
    new (&p.work_cv_) std::condition_variable();  // forget the waiters that only exist in the parent
    new (&p.done_cv_) std::condition_variable();
    p.job_ = nullptr;
    p.threads_ = p.participants_ = p.active_ = 0;
  }

  static void work(KernelJob& job) {
    Worker& w = this_worker();
    for (;;) {
      uint64_t b = job.next_block.fetch_add(1, std::memory_order_relaxed);
      if (b >= job.nblocks) break;
      w.run_block(job, b);
    }
  }

  void helper_loop(unsigned index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      work_cv_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (!job_ || index > participants_) continue;
      KernelJob* job = job_;
      ++active_;
      lock.unlock();
      work(*job);
      lock.lock();
      if (--active_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  KernelJob* job_ = nullptr;
  unsigned threads_ = 0;       // helpers created
  unsigned participants_ = 0;  // helpers 1..participants_ work on the current job
  unsigned active_ = 0;        // helpers inside work()
  uint64_t generation_ = 0;
};

/// Calls the kernel with this thread's own copies of the stored arguments.
template <class Tuple, class... P, size_t... I>
inline void call_kernel(void (*kernel)(P...), const Tuple& args, std::index_sequence<I...>) {
  kernel(std::get<I>(args)...);
}

template <class... P>
inline void invoke_kernel(const KernelJob& job) {
  using Tuple = std::tuple<std::decay_t<P>...>;
  auto kernel = reinterpret_cast<void (*)(P...)>(job.kernel);
  call_kernel(kernel, *static_cast<const Tuple*>(job.args), std::index_sequence_for<P...>{});
}

/// Copy-initialises a parameter from an argument (the implicit conversions of a call).
template <class P, class A>
inline P convert_argument(A&& a) {
  return std::forward<A>(a);
}

/// Validates the configuration; on success runs the job.
inline void launch_job(KernelJob& job, const void* kernel_id) {
  if (t_cur.fiber) fatal("a kernel launched a kernel (dynamic parallelism is not emulated)");
  const dim3 g = job.grid, b = job.block;
  const uint64_t threads = static_cast<uint64_t>(b.x) * b.y * b.z;
  const uint64_t blocks = static_cast<uint64_t>(g.x) * g.y * g.z;
  bool ok = threads > 0 && blocks > 0 && threads <= kMaxThreadsPerBlock && b.z <= kMaxBlockDimZ &&
            g.x <= kMaxGridDimX && g.y <= kMaxGridDimYZ && g.z <= kMaxGridDimYZ;
  if (ok && job.smem > kDefaultDynSmem) ok = job.smem <= max_dyn_smem(kernel_id);
  if (!ok) {
    record(cudaErrorInvalidConfiguration);
    return;
  }
  job.nthreads = static_cast<unsigned>(threads);
  job.nblocks = blocks;
  std::lock_guard<std::mutex> lock(launch_mutex());
  Pool::get().run(job);
}

}  // namespace detail

/// Launches `kernel` over `grid` x `block` threads with `smem` bytes of dynamic shared memory and
/// returns when it has finished (the stream is ignored by the caller's macro). An invalid
/// configuration is recorded as cudaErrorInvalidConfiguration and the kernel does not run.
template <class... P, class... A>
inline void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "cuda_emu::launch: wrong number of kernel arguments");
  using Tuple = std::tuple<std::decay_t<P>...>;
  const Tuple stored{detail::convert_argument<std::decay_t<P>>(std::forward<A>(args))...};
  detail::KernelJob job;
  job.invoke = &detail::invoke_kernel<P...>;
  job.kernel = reinterpret_cast<void (*)()>(kernel);
  job.args = &stored;
  job.grid = grid;
  job.block = block;
  job.smem = smem;
  detail::launch_job(job, reinterpret_cast<const void*>(kernel));
}

/// Host-side control (tests): run the following launches on n OS threads (n >= 1). Call between
/// launches. Overrides CUDA_EMU_THREADS.
inline void set_threads(unsigned n) {
  std::lock_guard<std::mutex> lock(detail::launch_mutex());
  detail::g_worker_count.store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

/// OS threads the next launch may use.
inline unsigned threads() { return detail::worker_count(); }

}  // namespace cuda_emu
