// Storage: one owned block of memory on one device. Tensors share it through shared_ptr (views).
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>
#include "dtype.h"

namespace onelip {

/// Memory functions of a device other than the CPU (registered by the CUDA backend when compiled in).
struct DeviceMemory {
  void* (*alloc)(size_t bytes);                  // throws onelip::Error on failure
  void (*free)(void* p);                         // never throws
  void (*to_device)(void* dst, const void* src, size_t bytes);
  void (*to_host)(void* dst, const void* src, size_t bytes);
  void (*device_to_device)(void* dst, const void* src, size_t bytes);
};

/// Registers the memory functions of `d` (called once by the backend's initialisation).
void register_device_memory(Device d, const DeviceMemory& m);
/// The memory functions of `d`, or throws ERR_DEVICE when the device is not available.
const DeviceMemory& device_memory(Device d);

class Storage {
 public:
  Storage(Device device, size_t bytes);  // throws ERR_OUT_OF_MEMORY / ERR_DEVICE
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  /// True exactly once per storage: lets the first JS handle report the bytes to V8, not every view.
  bool claim_accounting() { return !accounted_.exchange(true); }

 private:
  std::atomic<bool> accounted_{false};
  Device device_;
  size_t bytes_;
  void* data_ = nullptr;
};

/// Copies `bytes` between two pointers on (possibly different) devices.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

}  // namespace onelip
