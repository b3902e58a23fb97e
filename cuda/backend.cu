// The CUDA backend: device query (never throws, never aborts: no driver → available = false with the
// reason), allocator and copies. Compiled by nvcc, or by g++ against cuda/emu/ in the emulated build.
#include <string>
#include "../native/core/backends.h"
#include "../native/core/storage.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

CudaStatus g_status;

void* cuda_alloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    fail(code::kOutOfMemory, "out of CUDA device memory allocating ", bytes, " bytes");
  }
  cuda::check(err, "cudaMalloc");
  return p;
}
void cuda_free(void* p) { cudaFree(p); }
void cuda_to_device(void* d, const void* s, size_t n) { CUDA_CHECK(cudaMemcpy(d, s, n, cudaMemcpyHostToDevice)); }
void cuda_to_host(void* d, const void* s, size_t n) { CUDA_CHECK(cudaMemcpy(d, s, n, cudaMemcpyDeviceToHost)); }
void cuda_d2d(void* d, const void* s, size_t n) { CUDA_CHECK(cudaMemcpy(d, s, n, cudaMemcpyDeviceToDevice)); }

std::string describe(cudaError_t err) {
  if (err == cudaErrorInsufficientDriver)
    return std::string("no NVIDIA driver, or a driver too old for CUDA 13 (r580 or newer is needed): ") +
           cudaGetErrorString(err);
  if (err == cudaErrorNoDevice) return "no CUDA-capable device is present";
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

}  // namespace

void init_cuda_backend() {
  CudaStatus& s = g_status;
  s.compiled = true;
#if defined(CUDA_EMU)
  s.emulated = true;
#endif
  cudaRuntimeGetVersion(&s.runtime_version);
  cudaDriverGetVersion(&s.driver_version);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    s.reason = err != cudaSuccess ? describe(err) : "no CUDA-capable device is present";
    cudaGetLastError();
    return;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.name = prop.name;
    d.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    d.memory_bytes = static_cast<double>(prop.totalGlobalMem);
    s.devices.push_back(d);
  }
  err = cudaSetDevice(0);
  if (err != cudaSuccess) {
    s.reason = describe(err);
    cudaGetLastError();
    return;
  }
  s.available = true;
  register_device_memory(Device::CUDA, DeviceMemory{cuda_alloc, cuda_free, cuda_to_device, cuda_to_host, cuda_d2d});
}

const CudaStatus& cuda_status() { return g_status; }

}  // namespace onelip
