#include "tensor_handle.h"
#include <cstring>
#include "../core/error.h"
#include "js_errors.h"

namespace onelip {

Napi::Function TensorHandle::define_class(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "TensorHandle", {});
  Napi::Object proto = ctor.Get("prototype").As<Napi::Object>();
  proto.DefineProperties({
      Napi::PropertyDescriptor::Accessor(env, proto, "shape", js_shape),
      Napi::PropertyDescriptor::Accessor(env, proto, "dtype", js_dtype),
      Napi::PropertyDescriptor::Accessor(env, proto, "device", js_device),
      Napi::PropertyDescriptor::Accessor(env, proto, "disposed", js_disposed),
      Napi::PropertyDescriptor::Accessor(env, proto, "nbytes", js_nbytes),
      Napi::PropertyDescriptor::Function(env, proto, "dispose", js_dispose),
      Napi::PropertyDescriptor::Function(env, proto, "toHost", js_to_host),
  });
  return ctor;
}

namespace {
// Only the addon creates handles: wrap() passes this token; `new TensorHandle()` from JS is refused.
int g_construct_token;
}  // namespace

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info), env_(info.Env()) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &g_construct_token)
    throw make_error(info.Env(), code::kArgument,
                     "TensorHandle: handles are created by the addon; make tensors with ol.tensor(), ol.zeros(), ...");
}

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
  Napi::Object obj = data->tensor_ctor.New({Napi::External<int>::New(env, &g_construct_token)});
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
  // InstanceOf also accepts objects made from the prototype without the constructor
  // (Object.create(TensorHandle.prototype)): those have no native object behind them.
  void* raw = nullptr;
  if (napi_unwrap(env, v, &raw) != napi_ok || raw == nullptr) fail(code::kArgument, fn, ": '", arg, "' must be a tensor");
  TensorHandle* h = static_cast<TensorHandle*>(raw);
  if (!h->tensor_.defined()) fail(code::kDisposed, fn, ": '", arg, "' is a disposed tensor");
  return h->tensor_;
}

TensorHandle* TensorHandle::self(const Napi::CallbackInfo& info, const char* member) {
  void* raw = nullptr;
  napi_value self = info.This();
  if (self == nullptr || napi_unwrap(info.Env(), self, &raw) != napi_ok || raw == nullptr)
    fail(code::kArgument, "TensorHandle.", member, ": called on an object that is not a tensor handle");
  return static_cast<TensorHandle*>(raw);
}

const Tensor& TensorHandle::live(const char* member) const {
  if (!tensor_.defined()) fail(code::kDisposed, "Tensor.", member, ": the tensor is disposed");
  return tensor_;
}

Napi::Value TensorHandle::js_shape(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Tensor& t = self(info, "shape")->live("shape");
    Napi::Array a = Napi::Array::New(info.Env(), t.ndim());
    for (int i = 0; i < t.ndim(); ++i) a.Set(i, Napi::Number::New(info.Env(), static_cast<double>(t.dim(i))));
    return a;
  });
}

Napi::Value TensorHandle::js_dtype(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), dtype_name(self(info, "dtype")->live("dtype").dtype()));
  });
}

Napi::Value TensorHandle::js_device(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), device_name(self(info, "device")->live("device").device()));
  });
}

Napi::Value TensorHandle::js_nbytes(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(self(info, "nbytes")->live("nbytes").nbytes()));
  });
}

Napi::Value TensorHandle::js_disposed(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), !self(info, "disposed")->tensor_.defined());
  });
}

Napi::Value TensorHandle::js_dispose(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    self(info, "dispose")->release();
    return info.Env().Undefined();
  });
}

Napi::Value TensorHandle::js_to_host(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Tensor& t = self(info, "toHost")->live("data");
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
