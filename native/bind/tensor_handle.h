// TensorHandle: the JS object that owns one native Tensor. dispose() is idempotent; the N-API
// finalizer is only a safety net. The storage size is reported to V8 as external memory.
#pragma once
#include <napi.h>
#include "../core/tensor.h"

namespace onelip {

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function define_class(Napi::Env env);
  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  /// Wraps `t` in a new JS TensorHandle (reports fresh storage to V8).
  static Napi::Object wrap(Napi::Env env, Tensor t);
  /// The live tensor of argument `i` of a call to `fn`; throws OnelipError (ERR_ARGUMENT / ERR_DISPOSED).
  static const Tensor& unwrap(const Napi::Value& v, const char* fn, const char* arg);

 private:
  // Prototype members are plain functions that unwrap `this` themselves, so calling them on a
  // foreign object gives an OnelipError rather than node-addon-api's generic error.
  static TensorHandle* self(const Napi::CallbackInfo& info, const char* member);
  static Napi::Value js_shape(const Napi::CallbackInfo& info);
  static Napi::Value js_dtype(const Napi::CallbackInfo& info);
  static Napi::Value js_device(const Napi::CallbackInfo& info);
  static Napi::Value js_disposed(const Napi::CallbackInfo& info);
  static Napi::Value js_nbytes(const Napi::CallbackInfo& info);
  static Napi::Value js_dispose(const Napi::CallbackInfo& info);
  static Napi::Value js_to_host(const Napi::CallbackInfo& info);
  const Tensor& live(const char* member) const;
  void release();

  Tensor tensor_;
  int64_t reported_bytes_ = 0;
  Napi::Env env_;
};

}  // namespace onelip
