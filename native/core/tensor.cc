#include "tensor.h"
#include <sstream>
#include "error.h"

namespace onelip {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

int64_t checked_numel(const Shape& shape, const char* who) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    fail(code::kShape, who, ": tensors have at most ", kMaxDims, " dimensions, got shape ", shape_str(shape));
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) fail(code::kShape, who, ": dimensions must be >= 0, got shape ", shape_str(shape));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > (int64_t(1) << 40) / d)
      fail(code::kShape, who, ": tensor too large (more than 2^40 elements): shape ", shape_str(shape));
    nonzero *= d;
  }
  return empty ? 0 : nonzero;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.numel_ = checked_numel(shape, "tensor");
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(device, t.nbytes());
  return t;
}

Tensor Tensor::view(const Shape& shape) const {
  int64_t n = checked_numel(shape, "reshape");
  if (n != numel_)
    fail(code::kShape, "reshape: cannot view ", shape_str(shape_), " (", numel_, " elements) as ", shape_str(shape),
         " (", n, " elements)");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  copy_bytes(t.raw(), device, raw(), device_, nbytes());
  return t;
}

}  // namespace onelip
