// Shim: under the emulator the built-in variables come with <cuda_runtime.h>.
#pragma once
#include "cuda_runtime.h"
