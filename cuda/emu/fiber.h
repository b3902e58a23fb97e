// CUDA CPU emulator: user-space contexts ("fibers") and their stacks.
//
// Every GPU thread of a block is a fiber on the worker's OS thread. The scheduler (scheduler.h) runs on
// the worker's own stack and switches to each fiber in turn; a fiber switches back when it reaches a
// barrier or exits. Two implementations:
//   * x86-64 (default): a 21-instruction assembly switch. It saves the System V callee-saved registers
//     (rbx, rbp, r12-r15), MXCSR and the x87 control word on the old stack, stores the stack pointer,
//     loads the new one and restores the same set. Everything else is caller-saved, so the compiler
//     already spilled it around the call.
//   * ucontext (-DCUDA_EMU_UCONTEXT, or any other host): glibc swapcontext, which also makes a
//     sigprocmask system call per switch (~17x slower). Sanitizers understand it.
// Both announce switches to ASan/TSan when built with them, so sanitizer builds work with either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

#if CUDA_EMU_USE_UCONTEXT
#include <ucontext.h>
#endif
#if CUDA_EMU_ASAN || CUDA_EMU_TSAN
#include <sanitizer/common_interface_defs.h>
#endif
#if CUDA_EMU_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if CUDA_EMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if !CUDA_EMU_USE_UCONTEXT
// cuda_emu_fiber_switch(void** save_sp, void* load_sp)
//   Pushes the callee-saved state onto the current stack, stores rsp in *save_sp, switches to load_sp
//   and pops the state saved there. Stack layout at a saved rsp (low to high address):
//     [MXCSR:4 | x87 CW:2 | pad:2] r15 r14 r13 r12 rbx rbp <return address>
// cuda_emu_fiber_start
//   First "return address" of a new fiber (see context_prepare): calls r13(r12) on a 16-byte aligned
//   stack. The entry function never returns (it switches away for good), hence the ud2.
// Weak symbols in a COMDAT section, so that any number of translation units may include this header;
// hidden, so that calls inside a shared library do not go through the PLT.
__asm__(
    ".pushsection .text.cuda_emu_fiber_switch,\"axG\",@progbits,cuda_emu_fiber_switch,comdat\n"
    ".weak cuda_emu_fiber_switch\n"
    ".hidden cuda_emu_fiber_switch\n"
    ".type cuda_emu_fiber_switch,@function\n"
    ".p2align 4\n"
    "cuda_emu_fiber_switch:\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".size cuda_emu_fiber_switch, .-cuda_emu_fiber_switch\n"
    ".weak cuda_emu_fiber_start\n"
    ".hidden cuda_emu_fiber_start\n"
    ".type cuda_emu_fiber_start,@function\n"
    ".p2align 4\n"
    "cuda_emu_fiber_start:\n"
    "  movq %r12, %rdi\n"
    "  andq $-16, %rsp\n"
    "  callq *%r13\n"
    "  ud2\n"
    ".size cuda_emu_fiber_start, .-cuda_emu_fiber_start\n"
    ".popsection\n");

extern "C" {
__attribute__((visibility("hidden"))) void cuda_emu_fiber_switch(void** save_sp, void* load_sp);
__attribute__((visibility("hidden"))) void cuda_emu_fiber_start();
}
#endif

namespace cuda_emu {
namespace detail {

/// A saved execution context: a fiber's or the scheduler's.
struct FiberContext {
#if CUDA_EMU_USE_UCONTEXT
  ucontext_t uc;
  bool uc_ready = false;  // getcontext done once; makecontext re-arms it for each block
#else
  void* sp = nullptr;
#endif
  void* stack_lo = nullptr;  // stack bounds, for the sanitizers
  size_t stack_size = 0;
#if CUDA_EMU_ASAN
  void* fake_stack = nullptr;
#endif
#if CUDA_EMU_TSAN
  void* tsan_fiber = nullptr;
  bool tsan_owned = false;
#endif
};

/// Binds `c` to the calling OS thread's own stack (the scheduler's context).
inline void context_init_thread(FiberContext& c) {
#if CUDA_EMU_TSAN
  c.tsan_fiber = __tsan_get_current_fiber();
#else
  (void)c;
#endif
}

/// Frees sanitizer state owned by a fiber context.
inline void context_destroy(FiberContext& c) {
#if CUDA_EMU_TSAN
  if (c.tsan_owned) __tsan_destroy_fiber(c.tsan_fiber);
  c.tsan_owned = false;
#else
  (void)c;
#endif
}

/// The calling thread's floating-point control state (MXCSR and x87 control word, packed as the
/// assembly switch stores them), which new fibers inherit. Read once per block.
inline uint64_t fp_control_state() {
#if CUDA_EMU_USE_UCONTEXT
  return 0;  // getcontext/makecontext handle it
#else
  unsigned mxcsr = __builtin_ia32_stmxcsr();
  unsigned short fpucw = 0;
  __asm__ volatile("fnstcw %0" : "=m"(fpucw));
  return static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fpucw) << 32);
#endif
}

/// Prepares `c` so that switching to it runs entry(arg) on the stack [lo, lo + size), with the FP
/// control state `fp` (from fp_control_state). `entry` must never return: it ends with context_exit.
inline void context_prepare(FiberContext& c, void* lo, size_t size, void (*entry)(void*), void* arg,
                            uint64_t fp) {
  c.stack_lo = lo;
  c.stack_size = size;
#if CUDA_EMU_ASAN
  // The previous fiber on this stack never returned from its outermost frames; clear their redzones.
  ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#if CUDA_EMU_TSAN
  if (!c.tsan_owned) {
    c.tsan_fiber = __tsan_create_fiber(0);
    c.tsan_owned = true;
  }
#endif
#if CUDA_EMU_USE_UCONTEXT
  (void)fp;
  if (!c.uc_ready) {
    getcontext(&c.uc);  // once: fills the signal mask and the FP state pointer
    c.uc_ready = true;
  }
  c.uc.uc_stack.ss_sp = lo;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  // makecontext passes int arguments only: pass a pointer to an (entry, arg) pair, split in halves.
  using Start = void (*)(unsigned, unsigned);
  static const Start start = [](unsigned hi, unsigned low) {
    uintptr_t q = (static_cast<uintptr_t>(hi) << 32) | low;
    void** pair = reinterpret_cast<void**>(q);
    reinterpret_cast<void (*)(void*)>(pair[0])(pair[1]);
  };
  // The (entry, arg) pair lives at the top of the fiber's own stack, above the frames makecontext sets.
  void** pair = reinterpret_cast<void**>((reinterpret_cast<uintptr_t>(lo) + size - 16) & ~uintptr_t(15));
  pair[0] = reinterpret_cast<void*>(entry);
  pair[1] = arg;
  c.uc.uc_stack.ss_size = size - 32;
  uintptr_t p = reinterpret_cast<uintptr_t>(pair);
  makecontext(&c.uc, reinterpret_cast<void (*)()>(start), 2, static_cast<unsigned>(p >> 32),
              static_cast<unsigned>(p & 0xffffffffu));
#if CUDA_EMU_ASAN
  // ASan's swapcontext interceptor clears the shadow of the target's uc_stack on every switch (8 KiB of
  // shadow per 64 KiB stack: most of the cost of a sanitizer run). The fiber annotations already tell
  // ASan the stack bounds, so hide the stack from the interceptor; swapcontext itself ignores it.
  c.uc.uc_stack.ss_size = 0;
#endif
#else
  // Build the frame cuda_emu_fiber_switch pops: control state, r15..rbp, then the return address
  // cuda_emu_fiber_start, which finds entry in r13 and arg in r12.
  uint64_t* sp = reinterpret_cast<uint64_t*>((reinterpret_cast<uintptr_t>(lo) + size) & ~uintptr_t(15));
  *--sp = 0;                                                       // alignment / fake caller
  *--sp = reinterpret_cast<uint64_t>(&cuda_emu_fiber_start);      // return address
  *--sp = 0;                                                       // rbp (ends backtraces)
  *--sp = 0;                                                       // rbx
  *--sp = reinterpret_cast<uint64_t>(arg);                         // r12
  *--sp = reinterpret_cast<uint64_t>(entry);                       // r13
  *--sp = 0;                                                       // r14
  *--sp = 0;                                                       // r15
  *--sp = fp;                                                      // MXCSR | x87 control word
  c.sp = sp;
#endif
}

/// Called first thing on a new fiber: completes the sanitizer switch and records the bounds of the
/// stack we came from (the scheduler's) in `from`.
inline void context_entered(FiberContext& from) {
#if CUDA_EMU_ASAN
  const void* lo = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &lo, &size);
  from.stack_lo = const_cast<void*>(lo);
  from.stack_size = size;
#else
  (void)from;
#endif
}

/// Saves the current context in `from` and resumes `to`; returns when something switches back.
/// `record_from` (may be null) receives the stack bounds of the context that resumes us.
inline void context_switch(FiberContext& from, FiberContext& to, FiberContext* record_from) {
#if CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(&from.fake_stack, to.stack_lo, to.stack_size);
#endif
#if CUDA_EMU_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
#if CUDA_EMU_USE_UCONTEXT
  swapcontext(&from.uc, &to.uc);
#else
  cuda_emu_fiber_switch(&from.sp, to.sp);
#endif
#if CUDA_EMU_ASAN
  const void* lo = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(from.fake_stack, &lo, &size);
  if (record_from) {
    record_from->stack_lo = const_cast<void*>(lo);
    record_from->stack_size = size;
  }
#else
  (void)record_from;
#endif
}

/// Leaves the current fiber for good and resumes `to`.
[[noreturn]] inline void context_exit(FiberContext& from, FiberContext& to) {
#if CUDA_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, to.stack_lo, to.stack_size);  // null: drop our fake stack
#endif
#if CUDA_EMU_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
#if CUDA_EMU_USE_UCONTEXT
  swapcontext(&from.uc, &to.uc);
#else
  cuda_emu_fiber_switch(&from.sp, to.sp);
#endif
  fatal("internal error: an exited fiber was resumed");
}

/// One mmap holding the stacks of up to `count` fibers, each with a PROT_NONE guard page below it so
/// that an overflow faults instead of corrupting the neighbour. MAP_NORESERVE: untouched pages cost
/// nothing. Reserved once per worker thread and reused for every block.
class StackArea {
 public:
  StackArea() = default;
  StackArea(const StackArea&) = delete;
  StackArea& operator=(const StackArea&) = delete;
  ~StackArea() {
    if (base_) munmap(base_, bytes_);
  }

  void reserve(unsigned count, size_t stack_bytes) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t stack = (stack_bytes + page_ - 1) / page_ * page_;
    slot_ = stack + page_;
    bytes_ = slot_ * count;
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) fatal("cannot reserve fiber stacks (mmap failed); lower CUDA_EMU_STACK_KB");
    base_ = static_cast<char*>(p);
    for (unsigned i = 0; i < count; ++i)
      if (mprotect(base_ + i * slot_, page_, PROT_NONE) != 0) fatal("mprotect of a stack guard page failed");
  }

  void* stack_lo(unsigned i) const { return base_ + i * slot_ + page_; }
  size_t stack_size() const { return slot_ - page_; }

 private:
  char* base_ = nullptr;
  size_t bytes_ = 0, slot_ = 0, page_ = 0;
};

}  // namespace detail
}  // namespace cuda_emu
