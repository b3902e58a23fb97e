// Shim found first on the include path of the emulated build (-I cuda/emu): `#include
// <cuda_runtime.h>` in CUDA sources compiled by g++ lands here and gets the CPU emulator. nvcc must
// never see it: it has its own <cuda_runtime.h>.
#pragma once

#if defined(__CUDACC__)
#error "cuda/emu/cuda_runtime.h is the CPU emulator's shim: do not put cuda/emu on nvcc's include path"
#endif

#ifndef CUDA_EMU
#define CUDA_EMU 1  // lets host code detect the emulator: #if defined(CUDA_EMU)
#endif

#include "emu.h"
