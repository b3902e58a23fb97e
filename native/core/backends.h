// What each backend of this build offers; filled at start-up (info()).
#pragma once
#include <string>
#include <vector>

namespace onelip {

struct CudaDeviceInfo {
  std::string name;
  std::string compute_capability;
  double memory_bytes = 0;
};

struct CudaStatus {
  bool compiled = false;   // this build contains CUDA kernels
  bool emulated = false;   // ... compiled by g++ against the CPU emulator
  bool available = false;  // a device is usable
  std::string reason;      // why not, when !available
  int runtime_version = 0;
  int driver_version = 0;
  std::vector<CudaDeviceInfo> devices;
};

/// Queries the CUDA runtime once (cached); never throws.
const CudaStatus& cuda_status();
/// "avx512" | "avx2" | "portable": the best SIMD level of this CPU that the kernels use.
const char* cpu_simd_level();
/// Registers every op definition and every kernel of this build (called once by Registry::get()).
void register_all(class Registry& r);

}  // namespace onelip
