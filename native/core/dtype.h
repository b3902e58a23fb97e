// Element types and devices of a tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace onelip {

enum class DType : int { F32 = 0, F64 = 1, I32 = 2 };
enum class Device : int { CPU = 0, CUDA = 1 };

inline size_t dtype_size(DType t) { return t == DType::F64 ? 8 : 4; }
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    default: return "int32";
  }
}
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }
inline bool is_float(DType t) { return t != DType::I32; }

/// Parses "float32" | "float64" | "int32"; returns false otherwise.
bool parse_dtype(const std::string& s, DType* out);
/// Parses "cpu" | "cuda"; returns false otherwise.
bool parse_device(const std::string& s, Device* out);

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };

/// Calls f(T{}) with T the C++ type of `t` (float, double or int32_t).
template <class F>
auto dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    default: return f(int32_t{});
  }
}
/// Calls f(Bits{}) with the unsigned integer type of the dtype's size: for ops that only move bits.
template <class F>
void dispatch_bits(DType t, F&& f) {
  if (dtype_size(t) == 8) f(uint64_t{});
  else f(uint32_t{});
}
/// Same for floating types only; callers validate the dtype first.
template <class F>
auto dispatch_float(DType t, F&& f) {
  if (t == DType::F64) return f(double{});
  return f(float{});
}

}  // namespace onelip
