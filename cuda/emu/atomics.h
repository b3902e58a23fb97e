// CUDA CPU emulator: atomic functions.
//
// Blocks run concurrently on several OS threads, so these are real atomics (relaxed, like CUDA's):
// integer add/sub/exchange/and/or/xor/CAS map to GCC __atomic builtins; integer min/max, inc/dec and the
// floating-point operations are compare-and-swap loops on the value's bit pattern (so NaN cannot make
// them spin). The same functions serve global and shared memory. Only CUDA's overloads exist, so a
// kernel that compiles here also finds its atomic on the GPU.
#pragma once

namespace cuda_emu {
namespace detail {

/// CAS loop: *p = f(*p) atomically; returns the old value.
template <class T, class F>
inline T atomic_update(T* p, F f) {
  T old;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  T desired;
  do {
    desired = f(old);
  } while (!__atomic_compare_exchange(p, &old, &desired, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return old;
}

template <class T>
inline T atomic_cas(T* p, T compare, T val) {
  __atomic_compare_exchange_n(p, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  // the old value either way
}

}  // namespace detail
}  // namespace cuda_emu

// ---- add / sub ----
inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
inline unsigned int atomicAdd(unsigned int* a, unsigned int v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
inline float atomicAdd(float* a, float v) {
  return ::cuda_emu::detail::atomic_update(a, [v](float x) { return x + v; });
}
inline double atomicAdd(double* a, double v) {
  return ::cuda_emu::detail::atomic_update(a, [v](double x) { return x + v; });
}
inline int atomicSub(int* a, int v) { return __atomic_fetch_sub(a, v, __ATOMIC_RELAXED); }
inline unsigned int atomicSub(unsigned int* a, unsigned int v) { return __atomic_fetch_sub(a, v, __ATOMIC_RELAXED); }

// ---- exchange / compare-and-swap ----
inline int atomicExch(int* a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }
inline unsigned int atomicExch(unsigned int* a, unsigned int v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicExch(unsigned long long* a, unsigned long long v) {
  return __atomic_exchange_n(a, v, __ATOMIC_RELAXED);
}
inline float atomicExch(float* a, float v) {
  float old;
  __atomic_exchange(a, &v, &old, __ATOMIC_RELAXED);
  return old;
}
inline int atomicCAS(int* a, int compare, int val) { return ::cuda_emu::detail::atomic_cas(a, compare, val); }
inline unsigned int atomicCAS(unsigned int* a, unsigned int compare, unsigned int val) {
  return ::cuda_emu::detail::atomic_cas(a, compare, val);
}
inline unsigned long long atomicCAS(unsigned long long* a, unsigned long long compare, unsigned long long val) {
  return ::cuda_emu::detail::atomic_cas(a, compare, val);
}
inline unsigned short atomicCAS(unsigned short* a, unsigned short compare, unsigned short val) {
  return ::cuda_emu::detail::atomic_cas(a, compare, val);
}

// ---- min / max ----
#define CUDA_EMU_ATOMIC_MINMAX(T)                                                                  \
  inline T atomicMin(T* a, T v) {                                                                  \
    return ::cuda_emu::detail::atomic_update(a, [v](T x) { return v < x ? v : x; });               \
  }                                                                                                \
  inline T atomicMax(T* a, T v) {                                                                  \
    return ::cuda_emu::detail::atomic_update(a, [v](T x) { return v > x ? v : x; });               \
  }
CUDA_EMU_ATOMIC_MINMAX(int)
CUDA_EMU_ATOMIC_MINMAX(unsigned int)
CUDA_EMU_ATOMIC_MINMAX(long long)
CUDA_EMU_ATOMIC_MINMAX(unsigned long long)
#undef CUDA_EMU_ATOMIC_MINMAX

// ---- wrapping increment / decrement ----
/// old >= val ? 0 : old + 1
inline unsigned int atomicInc(unsigned int* a, unsigned int val) {
  return ::cuda_emu::detail::atomic_update(a, [val](unsigned int x) { return x >= val ? 0u : x + 1u; });
}
/// (old == 0 || old > val) ? val : old - 1
inline unsigned int atomicDec(unsigned int* a, unsigned int val) {
  return ::cuda_emu::detail::atomic_update(a, [val](unsigned int x) { return (x == 0u || x > val) ? val : x - 1u; });
}

// ---- bitwise ----
#define CUDA_EMU_ATOMIC_BITS(T)                                                                    \
  inline T atomicAnd(T* a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_RELAXED); }             \
  inline T atomicOr(T* a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_RELAXED); }               \
  inline T atomicXor(T* a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_RELAXED); }
CUDA_EMU_ATOMIC_BITS(int)
CUDA_EMU_ATOMIC_BITS(unsigned int)
CUDA_EMU_ATOMIC_BITS(unsigned long long)
#undef CUDA_EMU_ATOMIC_BITS

// Scoped variants: every scope is the whole process here.
#define atomicAdd_block atomicAdd
#define atomicAdd_system atomicAdd
#define atomicSub_block atomicSub
#define atomicSub_system atomicSub
#define atomicExch_block atomicExch
#define atomicExch_system atomicExch
#define atomicCAS_block atomicCAS
#define atomicCAS_system atomicCAS
#define atomicMin_block atomicMin
#define atomicMin_system atomicMin
#define atomicMax_block atomicMax
#define atomicMax_system atomicMax
#define atomicInc_block atomicInc
#define atomicInc_system atomicInc
#define atomicDec_block atomicDec
#define atomicDec_system atomicDec
#define atomicAnd_block atomicAnd
#define atomicAnd_system atomicAnd
#define atomicOr_block atomicOr
#define atomicOr_system atomicOr
#define atomicXor_block atomicXor
#define atomicXor_system atomicXor
