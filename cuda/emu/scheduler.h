// CUDA CPU emulator: running one block — its threads as fibers on one OS thread, barriers, deadlock
// detection.
//
// A worker (one per OS thread, reused for every block and launch) owns the fibers, their stacks and
// the barrier state of the block it is running. The scheduler loop:
//   * for each warp: resume every runnable lane once, in lane order (reverse with CUDA_EMU_REVERSE=1);
//     a lane runs without interruption until it reaches a barrier or exits. If then every live lane of
//     the warp waits at a warp barrier (shuffle, vote, __syncwarp), release the warp and run it again,
//     so a chain of warp operations finishes without visiting the other warps in between;
//   * when every warp has been run: if every live thread waits at the block barrier, release it
//     (exited threads count as arrived, as on the GPU); if all threads exited, the block is done;
//     otherwise no thread can progress: report a deadlock and abort.
// Code between two barriers therefore runs thread by thread, in index order: a block's result is
// deterministic, whatever the number of OS threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "config.h"
#include "extern_shared.h"
#include "fiber.h"
#include "types.h"

namespace cuda_emu {
namespace detail {

struct Worker;

/// Where a thread waits: the barrier function and its call site (for deadlock reports). Two barriers
/// on one source line count as one site (g++ 12 has no __builtin_COLUMN).
struct CallSite {
  const char* what;
  const char* file;
  int line;
};

enum class FiberState : unsigned char { kRunnable, kBlockBarrier, kWarpBarrier, kExited };

/// One emulated GPU thread.
struct Fiber {
  FiberContext ctx;
  uint3 tid{0, 0, 0};        // threadIdx
  unsigned index = 0;        // linear thread index in the block (fixed per slot)
  unsigned lane = 0, warp = 0;
  FiberState state = FiberState::kExited;
  unsigned char warp_parity = 0;  // which half of the warp's exchange buffer the next warp op uses
  CallSite site{nullptr, nullptr, 0};
  Worker* worker = nullptr;
};

/// Per-warp barrier state and the double-buffered exchange buffer of the warp operations.
///
/// A warp operation writes the lane's value to slot[p][lane] and sets bit `lane` of arrived[p], then
/// waits at the warp barrier; once released, it reads the source lane's slot[p]. p alternates per
/// operation (Fiber::warp_parity), so a lane that runs ahead into the next operation writes the other
/// half and cannot overwrite a slot a slower lane has not read yet. It cannot run two operations ahead:
/// the next barrier waits for the slow lane. arrived[p'] of the *next* operation is cleared when a
/// barrier is released, before any lane can enter that operation.
struct WarpState {
  unsigned live = 0;        // lanes that exist and have not exited
  unsigned waiting = 0;     // lanes waiting at the warp barrier
  uint32_t live_mask = 0;   // bit per live lane
  uint32_t active = 0;      // live lanes at the last warp or block barrier release (__activemask)
  uint32_t arrived[2] = {0, 0};
  uint64_t slot[2][kWarpSize] = {};
};

/// A launch as the workers see it. `invoke` calls the kernel with a copy of the stored arguments.
struct KernelJob {
  void (*invoke)(const KernelJob&) = nullptr;
  void (*kernel)() = nullptr;     // the kernel, type-erased (invoke knows the real type)
  const void* args = nullptr;     // std::tuple of the converted arguments
  dim3 grid, block;
  size_t smem = 0;
  unsigned nthreads = 0;
  uint64_t nblocks = 0;
  std::atomic<uint64_t> next_block{0};
};

/// Hot thread-local state read by threadIdx/blockIdx/blockDim/gridDim and the barriers. A trivial type
/// with constant initialisation, so that access needs no TLS wrapper call.
struct Current {
  Fiber* fiber;     // the fiber running on this OS thread (null outside a kernel)
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

inline thread_local Current t_cur{nullptr, {0, 0, 0}, dim3(), dim3()};

[[noreturn]] inline void fatal_outside_kernel(const char* what) {
  std::fprintf(stderr, "cuda_emu: %s called outside a kernel (no emulated GPU thread is running)\n", what);
  std::fflush(stderr);
  std::abort();
}

/// The fiber running on this OS thread; aborts when called from host code.
inline Fiber& current_fiber(const char* what) {
  Fiber* f = t_cur.fiber;
  if (__builtin_expect(f == nullptr, 0)) fatal_outside_kernel(what);
  return *f;
}

inline void fiber_main(void* arg);

/// Per-OS-thread block runner. Created on the thread's first block, destroyed with the thread.
struct Worker {
  FiberContext sched;                 // the scheduler: this OS thread's own stack
  StackArea stacks;
  std::unique_ptr<Fiber[]> fibers;
  WarpState warps[kMaxWarpsPerBlock];
  const KernelJob* job = nullptr;
  unsigned nthreads = 0, nwarps = 0;
  unsigned live = 0;                  // threads not exited
  unsigned at_block = 0;              // threads waiting at the block barrier
  unsigned phase = 0;                 // parity of the current block barrier
  int sync_count[2] = {0, 0};         // __syncthreads_count/and/or predicate sums, per phase
  int sync_total[2] = {0, 0};         // threads released by the barrier of that phase
  bool reverse = false;

  Worker() : fibers(new Fiber[kMaxThreadsPerBlock]) {
    stacks.reserve(kMaxThreadsPerBlock, settings().stack_bytes);
    context_init_thread(sched);
    for (unsigned i = 0; i < kMaxThreadsPerBlock; ++i) {
      fibers[i].index = i;
      fibers[i].lane = i % kWarpSize;
      fibers[i].warp = i / kWarpSize;
      fibers[i].worker = this;
    }
    reverse = settings().reverse;
  }
  ~Worker() {
    for (unsigned i = 0; i < kMaxThreadsPerBlock; ++i) context_destroy(fibers[i].ctx);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Runs block number `b` (linear, x fastest) of `j` to completion.
  void run_block(const KernelJob& j, uint64_t b) {
    job = &j;
    uint3 bi;
    bi.x = static_cast<unsigned>(b % j.grid.x);
    uint64_t rest = b / j.grid.x;
    bi.y = static_cast<unsigned>(rest % j.grid.y);
    bi.z = static_cast<unsigned>(rest / j.grid.y);
    t_cur.block_idx = bi;
    t_cur.block_dim = j.block;
    t_cur.grid_dim = j.grid;
    prepare_dynamic_smem(j.smem);

    nthreads = j.nthreads;
    nwarps = (nthreads + kWarpSize - 1) / kWarpSize;
    live = nthreads;
    at_block = 0;
    phase = 0;
    sync_count[0] = sync_count[1] = 0;
    sync_total[0] = sync_total[1] = 0;
    for (unsigned w = 0; w < nwarps; ++w) {
      WarpState& ws = warps[w];
      unsigned lanes = nthreads - w * kWarpSize < kWarpSize ? nthreads - w * kWarpSize : kWarpSize;
      ws.live = lanes;
      ws.waiting = 0;
      ws.live_mask = lanes == kWarpSize ? 0xffffffffu : (1u << lanes) - 1;
      ws.active = ws.live_mask;
      ws.arrived[0] = ws.arrived[1] = 0;
    }
    const uint64_t fp = fp_control_state();
    unsigned i = 0;
    for (unsigned z = 0; z < j.block.z; ++z)
      for (unsigned y = 0; y < j.block.y; ++y)
        for (unsigned x = 0; x < j.block.x; ++x, ++i) {
          Fiber& f = fibers[i];
          f.tid = uint3{x, y, z};
          f.state = FiberState::kRunnable;
          f.warp_parity = 0;
          f.site = CallSite{nullptr, nullptr, 0};
          context_prepare(f.ctx, stacks.stack_lo(i), stacks.stack_size(), &fiber_main, &f, fp);
        }

    schedule();
    t_cur.fiber = nullptr;
    finish_dynamic_smem();
  }

  // ---- called on the fiber (device side) ----

  /// Waits at the block barrier (__syncthreads and friends).
  void wait_block_barrier(Fiber& f, const CallSite& site) {
    f.site = site;
    f.state = FiberState::kBlockBarrier;
    ++at_block;
    context_switch(f.ctx, sched, &sched);
  }

  /// Publishes `value` for the lane, waits at the warp barrier, returns the parity whose slots hold
  /// the values of all lanes that took part (see WarpState).
  unsigned warp_exchange(Fiber& f, uint64_t value, const CallSite& site) {
    WarpState& ws = warps[f.warp];
    unsigned p = f.warp_parity;
    f.warp_parity = static_cast<unsigned char>(p ^ 1u);
    ws.slot[p][f.lane] = value;
    ws.arrived[p] |= 1u << f.lane;
    f.site = site;
    f.state = FiberState::kWarpBarrier;
    ++ws.waiting;
    context_switch(f.ctx, sched, &sched);
    return p;
  }

  void fiber_exited(Fiber& f) {
    f.state = FiberState::kExited;
    --live;
    WarpState& ws = warps[f.warp];
    --ws.live;
    ws.live_mask &= ~(1u << f.lane);
  }

 private:
  void resume(Fiber& f) {
    t_cur.fiber = &f;
    context_switch(sched, f.ctx, nullptr);
  }

  void schedule() {
    for (;;) {
      if (!reverse) {
        for (unsigned w = 0; w < nwarps; ++w) run_warp(w);
      } else {
        for (unsigned w = nwarps; w-- > 0;) run_warp(w);
      }
      if (live == 0) return;
      if (at_block == live) {
        release_block();
        continue;
      }
      report_deadlock();
    }
  }

  void run_warp(unsigned w) {
    WarpState& ws = warps[w];
    const unsigned first = w * kWarpSize;
    const unsigned end = first + kWarpSize < nthreads ? first + kWarpSize : nthreads;
    for (;;) {
      if (!reverse) {
        for (unsigned i = first; i < end; ++i)
          if (fibers[i].state == FiberState::kRunnable) resume(fibers[i]);
      } else {
        for (unsigned i = end; i-- > first;)
          if (fibers[i].state == FiberState::kRunnable) resume(fibers[i]);
      }
      if (ws.waiting == 0 || ws.waiting != ws.live) return;
      // Every live lane waits at the warp barrier: release them and clear the arrival mask of the
      // operation they will enter next (they have all left the one before it).
      unsigned next = 0;
      for (unsigned i = first; i < end; ++i) {
        Fiber& f = fibers[i];
        if (f.state == FiberState::kWarpBarrier) {
          f.state = FiberState::kRunnable;
          next = f.warp_parity;
        }
      }
      ws.waiting = 0;
      ws.arrived[next] = 0;
      ws.active = ws.live_mask;
    }
  }

  void release_block() {
    // Every live thread waits at the block barrier (at_block == live). One pass releases them and
    // compares their call sites by pointer; only a mismatch takes the slow path (string compare).
    const CallSite* first = nullptr;
    bool same = true;
    for (unsigned i = 0; i < nthreads; ++i) {
      Fiber& f = fibers[i];
      if (f.state != FiberState::kBlockBarrier) continue;
      if (!first) {
        first = &f.site;
      } else {
        same &= f.site.line == first->line && f.site.file == first->file && f.site.what == first->what;
      }
      f.state = FiberState::kRunnable;
    }
    if (!same && !settings().allow_divergent_sync) check_barrier_sites();
    // Threads read the predicate sum of the phase they arrived in; the next barrier accumulates into
    // the other counter, so a thread racing ahead into it cannot clobber the value.
    const unsigned p = phase;
    sync_total[p] = static_cast<int>(at_block);
    sync_count[p ^ 1u] = 0;
    phase = p ^ 1u;
    for (unsigned w = 0; w < nwarps; ++w) warps[w].active = warps[w].live_mask;
    at_block = 0;
  }

  static bool same_site(const CallSite& a, const CallSite& b) {
    return a.line == b.line && (a.file == b.file || (a.file && b.file && std::strcmp(a.file, b.file) == 0)) &&
           (a.what == b.what || (a.what && b.what && std::strcmp(a.what, b.what) == 0));
  }

  /// The hardware merges __syncthreads calls at different sites; that is undefined behaviour in CUDA
  /// and almost always a bug, so the emulator stops. Called from release_block, when all live threads
  /// wait at the barrier (already marked runnable).
  void check_barrier_sites() {
    const CallSite* first = nullptr;
    bool same = true;
    for (unsigned i = 0; i < nthreads; ++i) {
      const Fiber& f = fibers[i];
      if (f.state == FiberState::kExited) continue;
      if (!first) first = &f.site;
      same = same && same_site(*first, f.site);
    }
    if (same) return;  // the same site reached through different pointers (e.g. two inline copies)
    for (unsigned i = 0; i < nthreads; ++i)
      if (fibers[i].state != FiberState::kExited) fibers[i].state = FiberState::kBlockBarrier;
    std::string msg = "divergent barrier in " + block_name() +
                      ": the threads of the block wait at different __syncthreads call sites "
                      "(undefined behaviour; the GPU merges them silently). Waiting threads:\n" +
                      describe_waiters() + "  (set CUDA_EMU_ALLOW_DIVERGENT_SYNC=1 to merge them as the GPU does)";
    fatal(msg.c_str());
  }

  std::string block_name() const {
    char buf[160];
    const uint3 b = t_cur.block_idx;
    std::snprintf(buf, sizeof buf, "block (%u,%u,%u) of grid (%u,%u,%u), block size (%u,%u,%u)", b.x, b.y,
                  b.z, job->grid.x, job->grid.y, job->grid.z, job->block.x, job->block.y, job->block.z);
    return buf;
  }

  /// Groups the non-exited threads by where they wait: count, first thread, call site.
  std::string describe_waiters() const {
    struct Group {
      FiberState state;
      CallSite site;
      unsigned count;
      uint3 first;
    };
    Group groups[16];
    unsigned ngroups = 0, other = 0, exited = 0;
    for (unsigned i = 0; i < nthreads; ++i) {
      const Fiber& f = fibers[i];
      if (f.state == FiberState::kExited) {
        ++exited;
        continue;
      }
      unsigned g = 0;
      while (g < ngroups && !(groups[g].state == f.state && same_site(groups[g].site, f.site))) ++g;
      if (g == ngroups) {
        if (ngroups == 16) {
          ++other;
          continue;
        }
        groups[ngroups++] = Group{f.state, f.site, 0, f.tid};
      }
      ++groups[g].count;
    }
    std::string out;
    char buf[512];
    for (unsigned g = 0; g < ngroups; ++g) {
      const Group& gr = groups[g];
      const char* kind = gr.state == FiberState::kBlockBarrier  ? "block barrier"
                         : gr.state == FiberState::kWarpBarrier ? "warp barrier"
                                                                : "runnable";
      std::snprintf(buf, sizeof buf, "    %u thread(s) at %s %s() at %s:%d (first: thread (%u,%u,%u))\n",
                    gr.count, kind, gr.site.what ? gr.site.what : "?", gr.site.file ? gr.site.file : "?",
                    gr.site.line, gr.first.x, gr.first.y, gr.first.z);
      out += buf;
    }
    if (other) {
      std::snprintf(buf, sizeof buf, "    %u thread(s) elsewhere\n", other);
      out += buf;
    }
    std::snprintf(buf, sizeof buf, "    %u thread(s) exited\n", exited);
    out += buf;
    return out;
  }

  [[noreturn]] void report_deadlock() const {
    std::string msg = "deadlock in " + block_name() +
                      ": no thread can make progress (threads wait at barriers that the other threads "
                      "of the block or warp never reach). Waiting threads:\n" +
                      describe_waiters();
    if (!msg.empty() && msg.back() == '\n') msg.pop_back();
    fatal(msg.c_str());
  }

  /// Fills the first `smem` bytes of every extern shared array with 0xFF (a NaN pattern) and, under
  /// ASan, poisons the rest, so reads before writes and reads past the requested size are caught.
  static void prepare_dynamic_smem(size_t smem) {
    const int n = g_extern_shared_count.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i) {
      char* p = static_cast<char*>(g_extern_shared[i].address());
      if (smem) std::memset(p, 0xFF, smem);
#if CUDA_EMU_ASAN
      size_t used = (smem + 7) & ~size_t(7);
      if (used < kDynSmemCapacity) ASAN_POISON_MEMORY_REGION(p + used, kDynSmemCapacity - used);
#endif
    }
  }

  static void finish_dynamic_smem() {
#if CUDA_EMU_ASAN
    const int n = g_extern_shared_count.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i) ASAN_UNPOISON_MEMORY_REGION(g_extern_shared[i].address(), kDynSmemCapacity);
#endif
  }
};

/// The calling OS thread's worker (created on first use).
inline Worker& this_worker() {
  static thread_local std::unique_ptr<Worker> w;
  if (!w) w.reset(new Worker());
  return *w;
}

/// Entry point of every fiber: runs the kernel for this thread, then leaves for good.
inline void fiber_main(void* arg) {
  Fiber& f = *static_cast<Fiber*>(arg);
  Worker& w = *f.worker;
  context_entered(w.sched);
#if defined(__cpp_exceptions)
  try {
    w.job->invoke(*w.job);
  } catch (const std::exception& e) {
    std::string msg = std::string("exception escaped a kernel: ") + e.what();
    fatal(msg.c_str());
  } catch (...) {
    fatal("exception escaped a kernel");
  }
#else
  w.job->invoke(*w.job);
#endif
  w.fiber_exited(f);
  context_exit(f.ctx, w.sched);
}

}  // namespace detail
}  // namespace cuda_emu
