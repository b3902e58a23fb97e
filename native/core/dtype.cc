#include "dtype.h"

namespace onelip {

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "float32") *out = DType::F32;
  else if (s == "float64") *out = DType::F64;
  else if (s == "int32") *out = DType::I32;
  else return false;
  return true;
}

bool parse_device(const std::string& s, Device* out) {
  if (s == "cpu") *out = Device::CPU;
  else if (s == "cuda") *out = Device::CUDA;
  else return false;
  return true;
}

}  // namespace onelip
