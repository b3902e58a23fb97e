// CUDA CPU emulator: warp-level operations (__syncwarp, shuffles, votes, warp reductions, match).
//
// Each operation is one trip through the warp's double-buffered exchange buffer (WarpState in
// scheduler.h): publish the lane's value (at most 8 bytes), wait at the warp barrier, read the source
// lane's value. Only lanes that took part (arrived) are read; reading a lane that does not exist (a
// partial last warp), has exited, or lies past the end of the width segment returns the caller's own
// value. Masks are not honoured: every live lane of the warp must take part in each operation, as
// with full masks; ballot/any/all/reduce/match results are restricted to the mask.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "builtins.h"
#include "scheduler.h"

namespace cuda_emu {
namespace detail {

template <class T>
inline uint64_t to_slot(const T& v) {
  static_assert(sizeof(T) <= 8, "warp operations exchange values of at most 8 bytes");
  static_assert(std::is_trivially_copyable<T>::value, "warp operations need trivially copyable values");
  uint64_t s = 0;
  std::memcpy(&s, &v, sizeof(T));
  return s;
}

template <class T>
inline T from_slot(uint64_t s) {
  T v;
  std::memcpy(&v, &s, sizeof(T));
  return v;
}

enum class ShuffleMode { kIndex, kUp, kDown, kXor };

inline void check_width(int width, const char* what) {
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: width %d is not a power of two in [1, 32]", what, width);
    fatal(buf);
  }
}

template <class T>
inline T shuffle(T var, ShuffleMode mode, int arg, int width, const CallSite& site) {
  check_width(width, site.what);
  Fiber& f = current_fiber(site.what);
  Worker& w = *f.worker;
  const unsigned p = w.warp_exchange(f, to_slot(var), site);
  const WarpState& ws = w.warps[f.warp];
  const int lane = static_cast<int>(f.lane);
  const int seg = lane & ~(width - 1);  // first lane of this lane's width segment
  int src = lane;
  switch (mode) {
    case ShuffleMode::kIndex: src = seg + (arg & (width - 1)); break;
    case ShuffleMode::kUp: src = lane - arg < seg ? lane : lane - arg; break;
    case ShuffleMode::kDown: src = lane + arg >= seg + width ? lane : lane + arg; break;
    // Lanes may read earlier segments, not later ones.
    case ShuffleMode::kXor: src = (lane ^ arg) >= seg + width ? lane : (lane ^ arg); break;
  }
  if (src == lane || src < 0 || src >= 32 || !((ws.arrived[p] >> src) & 1u)) return var;
  return from_slot<T>(ws.slot[p][src]);
}

/// Exchanges one value per lane; returns the parity whose slots/arrived mask the caller reads.
inline unsigned exchange(uint64_t v, const CallSite& site, Fiber** fiber) {
  Fiber& f = current_fiber(site.what);
  *fiber = &f;
  return f.worker->warp_exchange(f, v, site);
}

}  // namespace detail
}  // namespace cuda_emu

/// Warp barrier (mask ignored: every live lane of the warp must call it).
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  (void)mask;
  ::cuda_emu::detail::Fiber* f = nullptr;
  ::cuda_emu::detail::exchange(0, ::cuda_emu::detail::CallSite{"__syncwarp", file, line}, &f);
}

/// Mask of the warp's lanes that exist and had not exited at the warp's last barrier release (or at
/// block start). Does not synchronise. A snapshot rather than the current state, so that the result
/// does not depend on the order in which the emulator runs the lanes between barriers.
inline unsigned __activemask() {
  ::cuda_emu::detail::Fiber& f = ::cuda_emu::detail::current_fiber("__activemask");
  return f.worker->warps[f.warp].active;
}

template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
  (void)mask;
  return ::cuda_emu::detail::shuffle(var, ::cuda_emu::detail::ShuffleMode::kIndex, srcLane, width,
                                     ::cuda_emu::detail::CallSite{"__shfl_sync", file, line});
}

template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  (void)mask;
  return ::cuda_emu::detail::shuffle(var, ::cuda_emu::detail::ShuffleMode::kUp, static_cast<int>(delta & 63u),
                                     width, ::cuda_emu::detail::CallSite{"__shfl_up_sync", file, line});
}

template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  (void)mask;
  return ::cuda_emu::detail::shuffle(var, ::cuda_emu::detail::ShuffleMode::kDown, static_cast<int>(delta & 63u),
                                     width, ::cuda_emu::detail::CallSite{"__shfl_down_sync", file, line});
}

template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize,
                         const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  (void)mask;
  return ::cuda_emu::detail::shuffle(var, ::cuda_emu::detail::ShuffleMode::kXor, laneMask & 63, width,
                                     ::cuda_emu::detail::CallSite{"__shfl_xor_sync", file, line});
}

namespace cuda_emu {
namespace detail {

/// Bits of the lanes (in `lanes`) whose published value is non-zero.
inline unsigned nonzero_lanes(const WarpState& ws, unsigned p, unsigned lanes) {
  unsigned r = 0;
  for (unsigned m = lanes; m; m &= m - 1) {
    unsigned l = static_cast<unsigned>(__builtin_ctz(m));
    if (ws.slot[p][l]) r |= 1u << l;
  }
  return r;
}

/// Folds op over the published values of the participating lanes (in lane order).
template <class T, class Op>
inline T warp_reduce(unsigned mask, T value, const char* what, const char* file, int line, Op op) {
  Fiber* f = nullptr;
  const unsigned p = exchange(to_slot(value), CallSite{what, file, line}, &f);
  const WarpState& ws = f->worker->warps[f->warp];
  const unsigned lanes = ws.arrived[p] & mask;
  bool first = true;
  T acc = value;
  for (unsigned m = lanes; m; m &= m - 1) {
    T v = from_slot<T>(ws.slot[p][__builtin_ctz(m)]);
    acc = first ? v : op(acc, v);
    first = false;
  }
  return acc;
}

}  // namespace detail
}  // namespace cuda_emu

/// Bit l set iff lane l (in mask) passed a non-zero predicate.
inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  ::cuda_emu::detail::Fiber* f = nullptr;
  const unsigned p = ::cuda_emu::detail::exchange(predicate != 0, {"__ballot_sync", file, line}, &f);
  const auto& ws = f->worker->warps[f->warp];
  return ::cuda_emu::detail::nonzero_lanes(ws, p, ws.arrived[p] & mask);
}

inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::cuda_emu::detail::Fiber* f = nullptr;
  const unsigned p = ::cuda_emu::detail::exchange(predicate != 0, {"__any_sync", file, line}, &f);
  const auto& ws = f->worker->warps[f->warp];
  return ::cuda_emu::detail::nonzero_lanes(ws, p, ws.arrived[p] & mask) != 0;
}

inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::cuda_emu::detail::Fiber* f = nullptr;
  const unsigned p = ::cuda_emu::detail::exchange(predicate != 0, {"__all_sync", file, line}, &f);
  const auto& ws = f->worker->warps[f->warp];
  const unsigned lanes = ws.arrived[p] & mask;
  return ::cuda_emu::detail::nonzero_lanes(ws, p, lanes) == lanes;
}

inline unsigned __reduce_add_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_add_sync", file, line,
                                         [](unsigned a, unsigned b) { return a + b; });
}
inline int __reduce_add_sync(unsigned mask, int value, const char* file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
  // Wrapping addition, as on the GPU.
  return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(value), file, line));
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_min_sync", file, line,
                                         [](unsigned a, unsigned b) { return b < a ? b : a; });
}
inline int __reduce_min_sync(unsigned mask, int value, const char* file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_min_sync", file, line,
                                         [](int a, int b) { return b < a ? b : a; });
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_max_sync", file, line,
                                         [](unsigned a, unsigned b) { return b > a ? b : a; });
}
inline int __reduce_max_sync(unsigned mask, int value, const char* file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_max_sync", file, line,
                                         [](int a, int b) { return b > a ? b : a; });
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_and_sync", file, line,
                                         [](unsigned a, unsigned b) { return a & b; });
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_or_sync", file, line,
                                         [](unsigned a, unsigned b) { return a | b; });
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned value, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
  return ::cuda_emu::detail::warp_reduce(mask, value, "__reduce_xor_sync", file, line,
                                         [](unsigned a, unsigned b) { return a ^ b; });
}

/// Mask of the lanes (in mask) whose value equals the caller's (bitwise).
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value, const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
  ::cuda_emu::detail::Fiber* f = nullptr;
  const uint64_t mine = ::cuda_emu::detail::to_slot(value);
  const unsigned p = ::cuda_emu::detail::exchange(mine, {"__match_any_sync", file, line}, &f);
  const auto& ws = f->worker->warps[f->warp];
  unsigned r = 0;
  for (unsigned m = ws.arrived[p] & mask; m; m &= m - 1) {
    unsigned l = static_cast<unsigned>(__builtin_ctz(m));
    if (ws.slot[p][l] == mine) r |= 1u << l;
  }
  return r;
}

/// mask (and *pred = 1) if all lanes in mask hold the same value, else 0 (and *pred = 0).
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred, const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
  ::cuda_emu::detail::Fiber* f = nullptr;
  const uint64_t mine = ::cuda_emu::detail::to_slot(value);
  const unsigned p = ::cuda_emu::detail::exchange(mine, {"__match_all_sync", file, line}, &f);
  const auto& ws = f->worker->warps[f->warp];
  bool all = true;
  for (unsigned m = ws.arrived[p] & mask; m; m &= m - 1)
    if (ws.slot[p][__builtin_ctz(m)] != mine) all = false;
  *pred = all ? 1 : 0;
  return all ? mask : 0u;
}
