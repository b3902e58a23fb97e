// Turning native failures into JS OnelipError objects, and argument conversion that validates as it goes.
#pragma once
#include <napi.h>
#include <string>
#include "../core/attrs.h"
#include "../core/dtype.h"
#include "../core/tensor.h"

namespace onelip {

/// Per-environment data of the addon (context-aware: one per main thread / worker thread).
struct AddonData {
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference error_ctor;  // lib/errors.ts OnelipError, set by setErrorClass
};

/// Builds a JS OnelipError(code, message) (a plain Error with .code before setErrorClass).
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message);

/// Runs `body`, converting onelip::Error, std::bad_alloc and other exceptions into JS errors.
template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, F&& body);

Shape to_shape(const Napi::Value& v, const char* fn, const char* arg);
DType to_dtype(const Napi::Value& v, const char* fn, const char* arg);
Device to_device(const Napi::Value& v, const char* fn, const char* arg);
std::string to_string(const Napi::Value& v, const char* fn, const char* arg);
Attrs to_attrs(const Napi::Value& v, const std::string& op);

}  // namespace onelip

#include "js_errors_inl.h"
