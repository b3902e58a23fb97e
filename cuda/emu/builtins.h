// CUDA CPU emulator: the built-in variables threadIdx, blockIdx, blockDim, gridDim and warpSize.
//
// They are macros yielding const references (they cannot be assigned, as in CUDA): threadIdx reads the
// running fiber's record, the others the worker's per-block thread-local state.
#pragma once

#include "scheduler.h"
#include "types.h"

#define threadIdx (static_cast<const ::uint3&>(::cuda_emu::detail::t_cur.fiber->tid))
#define blockIdx (static_cast<const ::uint3&>(::cuda_emu::detail::t_cur.block_idx))
#define blockDim (static_cast<const ::dim3&>(::cuda_emu::detail::t_cur.block_dim))
#define gridDim (static_cast<const ::dim3&>(::cuda_emu::detail::t_cur.grid_dim))

/// Not a macro, so that cudaDeviceProp::warpSize still works.
inline constexpr int warpSize = 32;
