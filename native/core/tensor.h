// Tensor: a contiguous, row-major array of one dtype on one device. Views (reshape) share storage.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "dtype.h"
#include "storage.h"

namespace onelip {

using Shape = std::vector<int64_t>;
constexpr int kMaxDims = 8;

int64_t shape_numel(const Shape& s);
std::string shape_str(const Shape& s);
/// The number of elements of a valid shape: at most kMaxDims dims, each >= 0, and the product of the
/// non-zero dims below 2^40 (so no partial product of any subset of dims can overflow int64).
/// Throws ERR_SHAPE naming `who`.
int64_t checked_numel(const Shape& shape, const char* who = "tensor");
/// Row-major strides in elements.
Shape contiguous_strides(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  /// Allocates an uninitialised tensor. Validates the shape (≤ kMaxDims dims, non-negative, < 2^40 elements).
  static Tensor empty(const Shape& shape, DType dtype, Device device);
  /// A tensor sharing this one's storage with another shape of the same number of elements.
  Tensor view(const Shape& shape) const;
  /// A copy of this tensor on `device` (a new storage even when the device is the same).
  Tensor to(Device device) const;

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  void* raw() const { return static_cast<char*>(storage_->data()) + offset_; }
  template <class T> T* data() const { return static_cast<T*>(raw()); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  int64_t numel_ = 0;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  Device device_ = Device::CPU;
};

}  // namespace onelip
