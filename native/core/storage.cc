#include "storage.h"
#include <cstdlib>
#include <cstring>
#include <mutex>
#include "backends.h"
#include "error.h"

namespace onelip {
namespace {
DeviceMemory g_cuda_memory{};
bool g_cuda_registered = false;
std::mutex g_mutex;
}  // namespace

void register_device_memory(Device d, const DeviceMemory& m) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (d == Device::CUDA) {
    g_cuda_memory = m;
    g_cuda_registered = true;
  }
}

const DeviceMemory& device_memory(Device d) {
  if (d != Device::CUDA || !g_cuda_registered)
    fail(code::kDevice, "device '", device_name(d), "' is not available: ", cuda_status().reason);
  return g_cuda_memory;
}

Storage::Storage(Device device, size_t bytes) : device_(device), bytes_(bytes) {
  size_t n = bytes == 0 ? 64 : bytes;  // never a null pointer, even for empty tensors
  if (device == Device::CPU) {
    n = (n + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, n);
    if (!data_) fail(code::kOutOfMemory, "out of host memory allocating ", bytes, " bytes");
  } else {
    data_ = device_memory(device).alloc(n);
  }
}

Storage::~Storage() {
  if (!data_) return;
  if (device_ == Device::CPU) std::free(data_);
  else device_memory(device_).free(data_);
}

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) std::memcpy(dst, src, bytes);
  else if (dst_dev == Device::CPU) device_memory(src_dev).to_host(dst, src, bytes);
  else if (src_dev == Device::CPU) device_memory(dst_dev).to_device(dst, src, bytes);
  else device_memory(dst_dev).device_to_device(dst, src, bytes);
}

}  // namespace onelip
