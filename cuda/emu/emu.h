// onelip CUDA CPU emulator — runs unmodified CUDA kernels on the CPU when compiled by g++.
//
// Reached through the shim cuda/emu/cuda_runtime.h (put cuda/emu first on the include path, and
// force-include cuda/emu/prelude.h):
//     g++ -std=c++17 -x c++ -I cuda/emu -include cuda/emu/prelude.h -pthread -Wno-unknown-pragmas file.cu
// Design: /work/shared/CUDA_EMULATION.md. In short: a launch spreads the blocks over a pool of OS
// threads; the threads of a block are fibers on one OS thread that switch only at barriers and warp
// operations; __shared__ is thread_local; launches are synchronous.
//
// Headers, in dependency order:
//   config.h         limits, feature switches, environment variables
//   types.h          dim3, uint3, float2/float4/int2/... and make_*
//   qualifiers.h     __global__, __device__, __shared__, __forceinline__, ...
//   fiber.h          context switch (x86-64 assembly or ucontext) and fiber stacks
//   extern_shared.h  storage for `extern __shared__` arrays (declared in prelude.h)
//   scheduler.h      running one block: fibers, block/warp barriers, deadlock detection
//   builtins.h       threadIdx, blockIdx, blockDim, gridDim, warpSize
//   sync.h           __syncthreads(_count/_and/_or), fences
//   warp.h           __syncwarp, __shfl*_sync, __ballot_sync, __any/__all_sync, __reduce_*_sync, ...
//   atomics.h        atomicAdd & co.
//   intrinsics.h     __popc, __float_as_int, __ldg, rsqrtf, min/max, clock64, ...
//   runtime.h        cudaMalloc, cudaMemcpy, errors, device properties, streams, events
//   launch.h         cuda_emu::launch, the worker pool, cuda_emu::set_threads
#pragma once

#if defined(__CUDACC__)
#error "cuda/emu is the CPU emulator for g++: nvcc must use the real <cuda_runtime.h> (drop -I cuda/emu)"
#endif
#if __cplusplus < 201703L
#error "the CUDA emulator needs C++17"
#endif

#ifndef CUDA_EMU
#define CUDA_EMU 1  // host code can detect the emulator: #if defined(CUDA_EMU)
#endif

// Standard headers first: the qualifier macros must not reach them (see qualifiers.h).
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <math.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "config.h"
#include "types.h"
#include "fiber.h"
#include "extern_shared.h"
#include "scheduler.h"
#include "builtins.h"
#include "sync.h"
#include "warp.h"
#include "atomics.h"
#include "intrinsics.h"
#include "runtime.h"
#include "launch.h"
#include "qualifiers.h"
