#include "js_errors.h"
#include <cmath>
#include "../core/error.h"

namespace onelip {

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data && !data->error_ctor.IsEmpty()) {
    // A class that throws or builds something other than an Error falls back to a plain Error with .code.
    napi_value args[2] = {Napi::String::New(env, code), Napi::String::New(env, message)};
    napi_value obj = nullptr;
    if (napi_new_instance(env, data->error_ctor.Value(), 2, args, &obj) == napi_ok && obj != nullptr) {
      bool is_error = false;
      if (napi_is_error(env, obj, &is_error) == napi_ok && is_error) return Napi::Error(env, Napi::Value(env, obj));
    }
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

static const char* js_type(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    default: return v.IsArray() ? "an array" : "an object";
  }
}

Shape to_shape(const Napi::Value& v, const char* fn, const char* arg) {
  if (!v.IsArray()) fail(code::kArgument, fn, ": '", arg, "' must be an array of non-negative integers, got ", js_type(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > static_cast<uint32_t>(kMaxDims))
    fail(code::kShape, fn, ": '", arg, "' has ", a.Length(), " dimensions; at most ", kMaxDims, " are supported");
  Shape s;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    double d = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : -1;
    if (!e.IsNumber() || !std::isfinite(d) || d < 0 || d != std::floor(d) || d > 9007199254740991.0)
      fail(code::kShape, fn, ": '", arg, "' must contain non-negative integers; entry ", i, " is ",
           e.IsNumber() ? std::to_string(d) : std::string(js_type(e)));
    s.push_back(static_cast<int64_t>(d));
  }
  return s;
}

std::string to_string(const Napi::Value& v, const char* fn, const char* arg) {
  if (!v.IsString()) fail(code::kArgument, fn, ": '", arg, "' must be a string, got ", js_type(v));
  return v.As<Napi::String>().Utf8Value();
}

DType to_dtype(const Napi::Value& v, const char* fn, const char* arg) {
  DType t;
  if (!v.IsString() || !parse_dtype(v.As<Napi::String>().Utf8Value(), &t))
    fail(code::kDType, fn, ": '", arg, "' must be 'float32', 'float64' or 'int32', got ",
         v.IsString() ? "'" + v.As<Napi::String>().Utf8Value() + "'" : std::string(js_type(v)));
  return t;
}

Device to_device(const Napi::Value& v, const char* fn, const char* arg) {
  Device d;
  if (!v.IsString() || !parse_device(v.As<Napi::String>().Utf8Value(), &d))
    fail(code::kDevice, fn, ": '", arg, "' must be 'cpu' or 'cuda', got ",
         v.IsString() ? "'" + v.As<Napi::String>().Utf8Value() + "'" : std::string(js_type(v)));
  return d;
}

namespace {
Attrs read_attrs(const Napi::Value& v, const std::string& op) {
  Attrs attrs(op);
  if (v.IsUndefined() || v.IsNull()) return attrs;
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsArrayBuffer() || v.IsFunction())
    fail(code::kArgument, op, ": attributes must be a plain object, got ", v.IsTypedArray() ? "a typed array" : js_type(v));
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  if (keys.Length() > 64) fail(code::kArgument, op, ": attributes object has ", keys.Length(), " keys; ops take a few");
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    Napi::Value x = o.Get(k);
    if (x.IsUndefined()) continue;
    if (x.IsBoolean()) attrs.set(k, x.As<Napi::Boolean>().Value());
    else if (x.IsNumber()) attrs.set(k, x.As<Napi::Number>().DoubleValue());
    else if (x.IsString()) attrs.set(k, x.As<Napi::String>().Utf8Value());
    else if (x.IsArray()) {
      Napi::Array a = x.As<Napi::Array>();
      if (a.Length() > 4096) fail(code::kArgument, op, ": attribute '", k, "' is a list longer than 4096");
      std::vector<double> l;
      for (uint32_t j = 0; j < a.Length(); ++j) {
        Napi::Value e = a.Get(j);
        if (!e.IsNumber()) fail(code::kArgument, op, ": attribute '", k, "' must be a list of numbers; entry ", j, " is ", js_type(e));
        l.push_back(e.As<Napi::Number>().DoubleValue());
      }
      attrs.set(k, l);
    } else {
      fail(code::kArgument, op, ": attribute '", k, "' must be a boolean, number, string or list of numbers, got ", js_type(x));
    }
  }
  return attrs;
}
}  // namespace

Attrs to_attrs(const Napi::Value& v, const std::string& op) {
  // Reading the object runs JS (getters, proxies) and V8 may refuse to enumerate it ("Too many
  // properties to enumerate"): whatever JS throws becomes an ERR_ARGUMENT naming the op.
  try {
    return read_attrs(v, op);
  } catch (const Napi::Error& e) {
    fail(code::kArgument, op, ": the attributes object could not be read (", e.Message(), ")");
  }
}

}  // namespace onelip
