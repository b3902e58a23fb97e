// Small validation helpers for op definitions (each names the op and the argument in its error).
#pragma once
#include <string>
#include <variant>
#include <vector>
#include "../core/error.h"
#include "../core/registry.h"

namespace onelip {

inline void require_dtype_in(const OpCall& c, int i, bool f32, bool f64, bool i32) {
  DType t = c.inputs[i].dtype();
  bool ok = (t == DType::F32 && f32) || (t == DType::F64 && f64) || (t == DType::I32 && i32);
  if (!ok) {
    std::string allowed;
    if (f32) allowed += "float32";
    if (f64) allowed += allowed.empty() ? "float64" : ", float64";
    if (i32) allowed += allowed.empty() ? "int32" : ", int32";
    fail(code::kDType, c.op, ": input ", i, " has dtype ", dtype_name(t), "; expected one of ", allowed);
  }
}

inline void require_same_dtype(const OpCall& c) {
  for (size_t i = 1; i < c.inputs.size(); ++i)
    if (c.inputs[i].dtype() != c.inputs[0].dtype())
      fail(code::kDType, c.op, ": input ", i, " has dtype ", dtype_name(c.inputs[i].dtype()), " but input 0 has ",
           dtype_name(c.inputs[0].dtype()), "; convert with .astype()");
}

/// The attribute `name` as a shape (non-negative integers, at most kMaxDims).
inline Shape shape_attr(const OpCall& c, const char* name) {
  Shape s;
  const auto& all = c.attrs.values();
  auto it = all.find(name);
  bool is_list = it != all.end() && std::holds_alternative<std::vector<double>>(it->second);
  try {
    s = c.attrs.get_ints(name);  // ERR_ARGUMENT when absent or not a list
  } catch (const Error& e) {
    if (!is_list) throw;
    throw Error(code::kShape, e.what());  // a list with non-integer sizes is a bad shape
  }
  if (s.size() > static_cast<size_t>(kMaxDims))
    fail(code::kShape, c.op, ": attribute '", name, "' has ", s.size(), " dimensions; at most ", kMaxDims, " supported");
  for (int64_t d : s)
    if (d < 0) fail(code::kShape, c.op, ": attribute '", name, "' must have non-negative sizes, got ", shape_str(s));
  checked_numel(s, c.op.c_str());
  return s;
}

inline DType dtype_attr(const OpCall& c, const char* name, const char* fallback) {
  std::string s = c.attrs.get_string(name, fallback);
  DType t;
  if (!parse_dtype(s, &t))
    fail(code::kDType, c.op, ": attribute '", name, "' must be 'float32', 'float64' or 'int32', got '", s, "'");
  return t;
}

/// An integer-pair attribute (stride, padding, kernel size, window): one integer for both dims or a
/// list of 1 or 2 integers, each in lo..hi (`allowed` says so in the error; default "integers in lo..hi").
/// Absent: `fallback`.
inline void pair_attr(const OpCall& c, const char* name, const int64_t fallback[2], int64_t lo, int64_t hi,
                      const char* allowed, int64_t out[2]) {
  if (!c.attrs.has(name)) {
    out[0] = fallback[0];
    out[1] = fallback[1];
    return;
  }
  std::vector<int64_t> v;
  if (std::holds_alternative<double>(c.attrs.values().at(name))) v.push_back(c.attrs.get_int(name));
  else v = c.attrs.get_ints(name);
  if (v.size() != 1 && v.size() != 2)
    fail(code::kArgument, c.op, ": attribute '", name, "' must be an integer or a list of 1 or 2 integers, got ",
         v.size(), " values");
  out[0] = v[0];
  out[1] = v.back();
  for (int i = 0; i < 2; ++i)
    if (out[i] < lo || out[i] > hi) {
      if (allowed) fail(code::kArgument, c.op, ": attribute '", name, "' must be ", allowed, ", got ", out[i]);
      fail(code::kArgument, c.op, ": attribute '", name, "' must hold integers in ", lo, "..", hi, ", got ", out[i]);
    }
}

}  // namespace onelip
