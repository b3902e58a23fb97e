// CUDA CPU emulator: the runtime API subset (errors, memory, device queries, streams and events).
//
// Device memory is host memory. Every launch is synchronous, so streams and events need no real work:
// synchronisation calls return at once and an event records the host time. Error codes have the
// numeric values of the real runtime. Like the real runtime, every failing call also becomes the
// calling thread's last error (cudaGetLastError / cudaPeekAtLastError).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unistd.h>
#include <unordered_map>

#include "config.h"

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999
};
typedef cudaError_t cudaError;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxBlockDimX = 2,
  cudaDevAttrMaxBlockDimY = 3,
  cudaDevAttrMaxBlockDimZ = 4,
  cudaDevAttrMaxGridDimX = 5,
  cudaDevAttrMaxGridDimY = 6,
  cudaDevAttrMaxGridDimZ = 7,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

/// Streams and events are opaque handles; 0 / nullptr is the default stream.
struct CUstream_st {
  int unused;
};
struct CUevent_st {
  double ms;  // host time at cudaEventRecord
};
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

/// The commonly used fields of the real structure (zero where the emulator has no meaningful value).
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  size_t memPitch;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  size_t totalConstMem;
  int major;
  int minor;
  size_t textureAlignment;
  int multiProcessorCount;
  int integrated;
  int canMapHostMemory;
  int concurrentKernels;
  int ECCEnabled;
  int pciBusID;
  int pciDeviceID;
  int pciDomainID;
  int asyncEngineCount;
  int unifiedAddressing;
  int memoryBusWidth;
  int l2CacheSize;
  int maxThreadsPerMultiProcessor;
  size_t sharedMemPerMultiprocessor;
  int regsPerMultiprocessor;
  int managedMemory;
  int isMultiGpuBoard;
  size_t sharedMemPerBlockOptin;
  int maxBlocksPerMultiProcessor;
};

namespace cuda_emu {
namespace detail {

inline thread_local cudaError_t t_last_error = cudaSuccess;

/// Records a failing result as the thread's last error and returns it.
inline cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) t_last_error = e;
  return e;
}

/// Dynamic shared memory limits raised with cudaFuncSetAttribute, per kernel.
struct FuncAttributes {
  std::mutex mutex;
  std::unordered_map<const void*, size_t> max_dyn_smem;
};
inline FuncAttributes& func_attributes() {
  static FuncAttributes* a = new FuncAttributes();  // never destroyed: usable during exit
  return *a;
}
inline size_t max_dyn_smem(const void* func) {
  FuncAttributes& a = func_attributes();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto it = a.max_dyn_smem.find(func);
  return it == a.max_dyn_smem.end() ? kDefaultDynSmem : it->second;
}

inline size_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

inline double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace detail
}  // namespace cuda_emu

// ---- errors ----
inline cudaError_t cudaGetLastError() {
  cudaError_t e = ::cuda_emu::detail::t_last_error;
  ::cuda_emu::detail::t_last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() { return ::cuda_emu::detail::t_last_error; }

inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "unrecognized error code";
}

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
  }
  return "unrecognized error code";
}

// ---- device management: one device, "onelip CUDA emulator" ----
inline cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *count = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : ::cuda_emu::detail::record(cudaErrorInvalidDevice);
}
inline cudaError_t cudaGetDevice(int* device) {
  if (!device) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
/// 0 marks the emulator (a real runtime reports e.g. 13000).
inline cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *v = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *v = 0;
  return cudaSuccess;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  if (device != 0) return ::cuda_emu::detail::record(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::strncpy(prop->name, "onelip CUDA emulator", sizeof prop->name - 1);
  prop->totalGlobalMem = ::cuda_emu::detail::physical_memory();
  prop->sharedMemPerBlock = ::cuda_emu::kDefaultDynSmem;
  prop->sharedMemPerBlockOptin = ::cuda_emu::kDynSmemCapacity;
  prop->sharedMemPerMultiprocessor = ::cuda_emu::kDynSmemCapacity;
  prop->regsPerBlock = 65536;
  prop->regsPerMultiprocessor = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = static_cast<int>(::cuda_emu::kMaxThreadsPerBlock);
  prop->maxThreadsPerMultiProcessor = static_cast<int>(::cuda_emu::kMaxThreadsPerBlock);
  prop->maxBlocksPerMultiProcessor = 1;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = static_cast<int>(::cuda_emu::kMaxBlockDimZ);
  prop->maxGridSize[0] = static_cast<int>(::cuda_emu::kMaxGridDimX);
  prop->maxGridSize[1] = static_cast<int>(::cuda_emu::kMaxGridDimYZ);
  prop->maxGridSize[2] = static_cast<int>(::cuda_emu::kMaxGridDimYZ);
  prop->totalConstMem = 65536;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = static_cast<int>(::cuda_emu::detail::worker_count());
  prop->integrated = 1;
  prop->canMapHostMemory = 1;
  prop->unifiedAddressing = 1;
  prop->managedMemory = 1;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  cudaDeviceProp p;
  cudaError_t e = cudaGetDeviceProperties(&p, device);
  if (e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    default: return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaDeviceReset() { return cudaSuccess; }
inline cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (!free_bytes || !total_bytes) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  long avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  *total_bytes = ::cuda_emu::detail::physical_memory();
  *free_bytes = avail > 0 && page > 0 ? static_cast<size_t>(avail) * static_cast<size_t>(page) : 0;
  return cudaSuccess;
}

// ---- memory: host memory, 256-byte aligned, exact size (ASan/valgrind see off-by-one accesses) ----
inline cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (!ptr) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  void* p = nullptr;
  if (posix_memalign(&p, 256, size) != 0) return ::cuda_emu::detail::record(cudaErrorMemoryAllocation);
  *ptr = p;
  return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMalloc(T** ptr, size_t size) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), size);
}
inline cudaError_t cudaFree(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}
inline cudaError_t cudaMallocHost(void** ptr, size_t size) { return cudaMalloc(ptr, size); }
template <class T>
inline cudaError_t cudaMallocHost(T** ptr, size_t size) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), size);
}
inline cudaError_t cudaFreeHost(void* ptr) { return cudaFree(ptr); }

inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (static_cast<unsigned>(kind) > 4u) return ::cuda_emu::detail::record(cudaErrorInvalidMemcpyDirection);
  if (count == 0) return cudaSuccess;
  if (!dst || !src) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  std::memmove(dst, src, count);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                                   cudaStream_t stream = nullptr) {
  (void)stream;
  return cudaMemcpy(dst, src, count, kind);
}
inline cudaError_t cudaMemset(void* ptr, int value, size_t count) {
  if (count == 0) return cudaSuccess;
  if (!ptr) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  std::memset(ptr, value, count);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t stream = nullptr) {
  (void)stream;
  return cudaMemset(ptr, value, count);
}

// ---- kernel attributes ----
/// Only cudaFuncAttributeMaxDynamicSharedMemorySize has an effect (up to kDynSmemCapacity).
inline cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (!func) return ::cuda_emu::detail::record(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > ::cuda_emu::kDynSmemCapacity)
    return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  auto& a = ::cuda_emu::detail::func_attributes();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.max_dyn_smem[func] = static_cast<size_t>(value) > ::cuda_emu::kDefaultDynSmem ? static_cast<size_t>(value)
                                                                                  : ::cuda_emu::kDefaultDynSmem;
  return cudaSuccess;
}
template <class F>
inline cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}

// ---- streams and events (launches are synchronous) ----
inline cudaError_t cudaStreamCreate(cudaStream_t* s) {
  if (!s) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *s = new CUstream_st{0};
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  (void)flags;
  return cudaStreamCreate(s);
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete s;
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  (void)s;
  return cudaSuccess;
}
inline cudaError_t cudaStreamQuery(cudaStream_t s) {
  (void)s;
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (!e) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  *e = new CUevent_st{0.0};
  return cudaSuccess;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  (void)flags;
  return cudaEventCreate(e);
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr) {
  (void)s;
  if (!e) return ::cuda_emu::detail::record(cudaErrorInvalidResourceHandle);
  e->ms = ::cuda_emu::detail::now_ms();
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  return e ? cudaSuccess : ::cuda_emu::detail::record(cudaErrorInvalidResourceHandle);
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) {
  return e ? cudaSuccess : ::cuda_emu::detail::record(cudaErrorInvalidResourceHandle);
}
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return ::cuda_emu::detail::record(cudaErrorInvalidValue);
  if (!start || !end) return ::cuda_emu::detail::record(cudaErrorInvalidResourceHandle);
  *ms = static_cast<float>(end->ms - start->ms);
  return cudaSuccess;
}
