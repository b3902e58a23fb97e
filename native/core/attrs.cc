#include "attrs.h"
#include <cmath>
#include <sstream>
#include "error.h"

namespace onelip {
namespace {

std::string describe(const AttrValue& v) {
  std::ostringstream os;
  if (std::holds_alternative<bool>(v)) os << (std::get<bool>(v) ? "true" : "false");
  else if (std::holds_alternative<double>(v)) os << std::get<double>(v);
  else if (std::holds_alternative<std::string>(v)) os << "'" << std::get<std::string>(v) << "'";
  else {
    const auto& l = std::get<std::vector<double>>(v);
    os << "[";
    for (size_t i = 0; i < l.size() && i < 8; ++i) os << (i ? ", " : "") << l[i];
    if (l.size() > 8) os << ", ...";
    os << "]";
  }
  return os.str();
}

bool is_int(double d) { return std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 9007199254740991.0; }

}  // namespace

const AttrValue& Attrs::require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) fail(code::kArgument, op_, ": missing attribute '", name, "'");
  return it->second;
}

int64_t Attrs::get_int(const std::string& name) const {
  const AttrValue& v = require(name);
  if (!std::holds_alternative<double>(v) || !is_int(std::get<double>(v)))
    fail(code::kArgument, op_, ": attribute '", name, "' must be an integer, got ", describe(v));
  return static_cast<int64_t>(std::get<double>(v));
}
int64_t Attrs::get_int(const std::string& name, int64_t fallback) const { return has(name) ? get_int(name) : fallback; }

double Attrs::get_float(const std::string& name) const {
  const AttrValue& v = require(name);
  if (!std::holds_alternative<double>(v))
    fail(code::kArgument, op_, ": attribute '", name, "' must be a number, got ", describe(v));
  return std::get<double>(v);
}
double Attrs::get_float(const std::string& name, double fallback) const { return has(name) ? get_float(name) : fallback; }

bool Attrs::get_bool(const std::string& name, bool fallback) const {
  if (!has(name)) return fallback;
  const AttrValue& v = require(name);
  if (!std::holds_alternative<bool>(v))
    fail(code::kArgument, op_, ": attribute '", name, "' must be a boolean, got ", describe(v));
  return std::get<bool>(v);
}

std::string Attrs::get_string(const std::string& name) const {
  const AttrValue& v = require(name);
  if (!std::holds_alternative<std::string>(v))
    fail(code::kArgument, op_, ": attribute '", name, "' must be a string, got ", describe(v));
  return std::get<std::string>(v);
}
std::string Attrs::get_string(const std::string& name, const std::string& fallback) const {
  return has(name) ? get_string(name) : fallback;
}

std::vector<int64_t> Attrs::get_ints(const std::string& name) const {
  const AttrValue& v = require(name);
  if (!std::holds_alternative<std::vector<double>>(v))
    fail(code::kArgument, op_, ": attribute '", name, "' must be a list of integers, got ", describe(v));
  std::vector<int64_t> out;
  for (double d : std::get<std::vector<double>>(v)) {
    if (!is_int(d)) fail(code::kArgument, op_, ": attribute '", name, "' must be a list of integers, got ", describe(v));
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}
std::vector<int64_t> Attrs::get_ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  return has(name) ? get_ints(name) : fallback;
}

}  // namespace onelip
