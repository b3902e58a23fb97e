// Attrs: the named scalar/list arguments of an op call ({ axes: [1], keepDims: true, ... }).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace onelip {

using AttrValue = std::variant<bool, double, std::string, std::vector<double>>;

/// Attributes as they arrive from JS (numbers are doubles; the getters check integrality and range).
/// Every getter names the op and the attribute in its error, e.g.
/// "sum: attribute 'axes' must be a list of integers, got 1.5".
class Attrs {
 public:
  explicit Attrs(std::string op = "") : op_(std::move(op)) {}
  void set(const std::string& name, AttrValue v) { values_[name] = std::move(v); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::string& op() const { return op_; }
  const std::map<std::string, AttrValue>& values() const { return values_; }

  int64_t get_int(const std::string& name) const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_float(const std::string& name) const;
  double get_float(const std::string& name, double fallback) const;
  bool get_bool(const std::string& name, bool fallback) const;
  std::string get_string(const std::string& name) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name) const;
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback) const;

 private:
  const AttrValue& require(const std::string& name) const;
  std::string op_;
  std::map<std::string, AttrValue> values_;
};

}  // namespace onelip
