// CUDA CPU emulator: execution-space and memory-space qualifiers mapped onto C++.
//
// Include every standard header that might be affected *before* these macros (emu.h does): libstdc++
// spells GCC attributes as __attribute__((__noinline__)), which the __noinline__ macro would break.
#pragma once

#define __global__
#define __device__
#define __host__
#define __constant__  // an ordinary global: no cudaMemcpyToSymbol in the emulator
#define __managed__   // an ordinary global
#define __grid_constant__
#define __device_builtin__

// One copy per OS thread = one per resident block: a worker runs one block at a time. Block-scope
// `__shared__ T x[N];` becomes a static thread-local. `extern __shared__ T name[];` becomes a
// block-scope extern declaration of the thread-local array that the prelude defines (extern_shared.h).
#define __shared__ thread_local

#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
