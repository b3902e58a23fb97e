// onelip::Error — the one exception type of the native layer. The N-API binding turns it into a JS
// OnelipError whose `code` is the code given here and whose message names the op, argument and expectation.
#pragma once
#include <stdexcept>
#include <string>
#include <sstream>

namespace onelip {

/// Error codes shared with lib/errors.ts.
namespace code {
constexpr const char* kShape = "ERR_SHAPE";             // shapes that do not fit together
constexpr const char* kDType = "ERR_DTYPE";             // unsupported or mismatched dtype
constexpr const char* kDevice = "ERR_DEVICE";           // mismatched or unavailable device
constexpr const char* kArgument = "ERR_ARGUMENT";       // a bad attribute or argument value/type
constexpr const char* kDisposed = "ERR_DISPOSED";       // a disposed tensor was used
constexpr const char* kUnsupported = "ERR_UNSUPPORTED"; // valid request the backend does not implement
constexpr const char* kUnknownOp = "ERR_UNKNOWN_OP";    // no op of that name
constexpr const char* kCuda = "ERR_CUDA";               // a CUDA runtime call or launch failed
constexpr const char* kOutOfMemory = "ERR_OUT_OF_MEMORY";
constexpr const char* kInternal = "ERR_INTERNAL";
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/// Builds a message from streamable parts and throws onelip::Error.
template <class... Parts>
[[noreturn]] void fail(const char* code, const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(code, os.str());
}

}  // namespace onelip
