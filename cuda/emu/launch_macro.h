// The project's kernel launch macro (also in cuda/common.cuh): triple chevrons under nvcc, the CPU
// emulator's synchronous launch under g++.
#pragma once

#if defined(__CUDACC__)
#define KLAUNCH(k, grid, block, smem, stream, ...) k<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#else
#define KLAUNCH(k, grid, block, smem, stream, ...) ((void)(stream), ::cuda_emu::launch((k), dim3(grid), dim3(block), (size_t)(smem), ##__VA_ARGS__))
#endif
