#include "tensor_handle.h"
#include <cstring>
#include "../core/error.h"
#include "js_errors.h"

namespace onelip {

Napi::Function TensorHandle::define_class(Napi::Env env) {
  return DefineClass(env, "TensorHandle",
                     {InstanceAccessor<&TensorHandle::shape>("shape"),
                      InstanceAccessor<&TensorHandle::dtype>("dtype"),
                      InstanceAccessor<&TensorHandle::device>("device"),
                      InstanceAccessor<&TensorHandle::disposed>("disposed"),
                      InstanceAccessor<&TensorHandle::nbytes>("nbytes"),
                      InstanceMethod<&TensorHandle::dispose>("dispose"),
                      InstanceMethod<&TensorHandle::to_host>("toHost")});
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info), env_(info.Env()) {}

TensorHandle::~TensorHandle() { release(); }

void TensorHandle::release() {
  if (reported_bytes_) {
    Napi::MemoryManagement::AdjustExternalMemory(env_, -reported_bytes_);
    reported_bytes_ = 0;
  }
  tensor_ = Tensor();
}

Napi::Object TensorHandle::wrap(Napi::Env env, Tensor t) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->tensor_ctor.New({});
  TensorHandle* h = Unwrap(obj);
  if (t.nbytes() > 0 && t.storage()->claim_accounting()) {
    h->reported_bytes_ = static_cast<int64_t>(t.storage()->bytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, h->reported_bytes_);
  }
  h->tensor_ = std::move(t);
  return obj;
}

const Tensor& TensorHandle::unwrap(const Napi::Value& v, const char* fn, const char* arg) {
  Napi::Env env = v.Env();
  AddonData* data = env.GetInstanceData<AddonData>();
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(data->tensor_ctor.Value()))
    fail(code::kArgument, fn, ": '", arg, "' must be a tensor");
  TensorHandle* h = Unwrap(v.As<Napi::Object>());
  if (!h->tensor_.defined()) fail(code::kDisposed, fn, ": '", arg, "' is a disposed tensor");
  return h->tensor_;
}

#define LIVE_TENSOR(name)                                                                    \
  if (!tensor_.defined()) fail(code::kDisposed, "Tensor.", name, ": the tensor is disposed"); \
  const Tensor& t = tensor_

Napi::Value TensorHandle::shape(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    LIVE_TENSOR("shape");
    Napi::Array a = Napi::Array::New(info.Env(), t.ndim());
    for (int i = 0; i < t.ndim(); ++i) a.Set(i, Napi::Number::New(info.Env(), static_cast<double>(t.dim(i))));
    return a;
  });
}

Napi::Value TensorHandle::dtype(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    LIVE_TENSOR("dtype");
    return Napi::String::New(info.Env(), dtype_name(t.dtype()));
  });
}

Napi::Value TensorHandle::device(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    LIVE_TENSOR("device");
    return Napi::String::New(info.Env(), device_name(t.device()));
  });
}

Napi::Value TensorHandle::nbytes(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    LIVE_TENSOR("nbytes");
    return Napi::Number::New(info.Env(), static_cast<double>(t.nbytes()));
  });
}

Napi::Value TensorHandle::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

Napi::Value TensorHandle::dispose(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::to_host(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    LIVE_TENSOR("data");
    Napi::Env env = info.Env();
    size_t n = static_cast<size_t>(t.numel());
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t.nbytes());
    copy_bytes(buf.Data(), Device::CPU, t.raw(), t.device(), t.nbytes());
    switch (t.dtype()) {
      case DType::F32: return Napi::Float32Array::New(env, n, buf, 0);
      case DType::F64: return Napi::Float64Array::New(env, n, buf, 0);
      default: return Napi::Int32Array::New(env, n, buf, 0);
    }
  });
}

}  // namespace onelip
