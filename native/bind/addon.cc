// The N-API module: a handful of generic entry points (run an op, move data in/out) over the op
// registry, so adding an op needs no binding code. Context-aware: per-environment state lives in
// AddonData, so the addon loads in the main thread and in any number of worker_threads.
#include <napi.h>
#include "../core/backends.h"
#include "../core/error.h"
#include "../core/registry.h"
#include "../core/thread_pool.h"
#include "bench_ref.h"
#include "js_errors.h"
#include "tensor_handle.h"

#ifndef ONELIP_ADDON_KIND
#define ONELIP_ADDON_KIND "cpu"
#endif

namespace onelip {
namespace {

/// setErrorClass(ctor): the JS class (code, message) used for every error thrown by the addon.
Napi::Value set_error_class(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsFunction()) fail(code::kArgument, "setErrorClass: expected a class");
    info.Env().GetInstanceData<AddonData>()->error_ctor = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  });
}

/// info(): build kind, CPU threads and SIMD level, CUDA status, registered ops per device.
Napi::Value info_fn(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Registry& reg = Registry::get();
    const CudaStatus& cs = cuda_status();
    Napi::Object out = Napi::Object::New(env);
    out.Set("addon", ONELIP_ADDON_KIND);
    Napi::Object cpu = Napi::Object::New(env);
    cpu.Set("threads", num_threads());
    cpu.Set("simd", cpu_simd_level());
    Napi::Object cuda = Napi::Object::New(env);
    cuda.Set("compiled", cs.compiled);
    cuda.Set("available", cs.available);
    cuda.Set("emulated", cs.emulated);
    if (!cs.available) cuda.Set("reason", cs.reason);
    cuda.Set("runtimeVersion", cs.runtime_version);
    cuda.Set("driverVersion", cs.driver_version);
    Napi::Array devs = Napi::Array::New(env, cs.devices.size());
    for (size_t i = 0; i < cs.devices.size(); ++i) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("name", cs.devices[i].name);
      d.Set("computeCapability", cs.devices[i].compute_capability);
      d.Set("memoryBytes", cs.devices[i].memory_bytes);
      devs.Set(static_cast<uint32_t>(i), d);
    }
    cuda.Set("devices", devs);
    Napi::Object backends = Napi::Object::New(env);
    backends.Set("cpu", cpu);
    backends.Set("cuda", cuda);
    out.Set("backends", backends);
    Napi::Object ops = Napi::Object::New(env);
    for (Device dev : {Device::CPU, Device::CUDA}) {
      std::vector<std::string> names = reg.ops(dev);
      Napi::Array a = Napi::Array::New(env, names.size());
      for (size_t i = 0; i < names.size(); ++i) a.Set(static_cast<uint32_t>(i), names[i]);
      ops.Set(device_name(dev), a);
    }
    out.Set("ops", ops);
    // The external memory V8 accounts for this isolate (tensor storage reported by TensorHandle).
    out.Set("externalMemoryBytes", static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(env, 0)));
    return out;
  });
}

/// setNumThreads(n)
Napi::Value set_num_threads_fn(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    double n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 1 && n <= 256 && n == static_cast<double>(static_cast<int>(n)))) n = -1;  // also NaN, ±Inf
    set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

/// fromHost(typedArray, shape, dtype, device): a new tensor holding a copy of the array.
Napi::Value from_host(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* fn = "fromHost";
    if (info.Length() < 4) fail(code::kArgument, fn, ": expected (data, shape, dtype, device)");
    Shape shape = to_shape(info[1], fn, "shape");
    DType dt = to_dtype(info[2], fn, "dtype");
    Device dev = to_device(info[3], fn, "device");
    if (!info[0].IsTypedArray()) fail(code::kArgument, fn, ": 'data' must be a Float32Array, Float64Array or Int32Array");
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    napi_typedarray_type want = dt == DType::F32 ? napi_float32_array
                                : dt == DType::F64 ? napi_float64_array
                                                   : napi_int32_array;
    if (ta.TypedArrayType() != want)
      fail(code::kDType, fn, ": 'data' must be a ",
           dt == DType::F32 ? "Float32Array" : dt == DType::F64 ? "Float64Array" : "Int32Array", " for dtype ",
           dtype_name(dt));
    int64_t n = checked_numel(shape, fn);
    if (static_cast<int64_t>(ta.ElementLength()) != n)
      fail(code::kShape, fn, ": 'data' has ", ta.ElementLength(), " elements but shape ", shape_str(shape), " needs ", n);
    Tensor t = Tensor::empty(shape, dt, dev);
    const char* src = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    copy_bytes(t.raw(), dev, src, Device::CPU, t.nbytes());
    return TensorHandle::wrap(info.Env(), std::move(t));
  });
}

/// run(op, device, inputs[], attrs): runs a registered op; returns its output tensors.
Napi::Value run(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    std::string op = to_string(info.Length() > 0 ? info[0] : info.Env().Undefined(), "run", "op");
    if (!Registry::get().has_op(op)) fail(code::kUnknownOp, "unknown op '", op, "'");
    Device dev = to_device(info.Length() > 1 ? info[1] : info.Env().Undefined(), op.c_str(), "device");
    Napi::Value in = info.Length() > 2 ? info[2] : info.Env().Undefined();
    if (!in.IsArray()) fail(code::kArgument, op, ": inputs must be an array of tensors");
    Napi::Array arr = in.As<Napi::Array>();
    if (arr.Length() > 1024) fail(code::kArgument, op, ": at most 1024 input tensors");
    std::vector<Tensor> inputs;
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      std::string name = "input " + std::to_string(i);
      inputs.push_back(TensorHandle::unwrap(arr.Get(i), op.c_str(), name.c_str()));
    }
    Attrs attrs = to_attrs(info.Length() > 3 ? info[3] : info.Env().Undefined(), op);
    std::vector<Tensor> outs = Registry::get().run(op, dev, std::move(inputs), std::move(attrs));
    Napi::Array res = Napi::Array::New(info.Env(), outs.size());
    for (size_t i = 0; i < outs.size(); ++i) res.Set(static_cast<uint32_t>(i), TensorHandle::wrap(info.Env(), outs[i]));
    return res;
  });
}

/// reshape(t, shape): a view sharing t's storage.
Napi::Value reshape(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::unwrap(info.Length() > 0 ? info[0] : info.Env().Undefined(), "reshape", "x");
    Shape s = to_shape(info.Length() > 1 ? info[1] : info.Env().Undefined(), "reshape", "shape");
    return TensorHandle::wrap(info.Env(), t.view(s));
  });
}

/// to(t, device): a copy on `device`.
Napi::Value to(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const Tensor& t = TensorHandle::unwrap(info.Length() > 0 ? info[0] : info.Env().Undefined(), "to", "x");
    Device d = to_device(info.Length() > 1 ? info[1] : info.Env().Undefined(), "to", "device");
    return TensorHandle::wrap(info.Env(), t.to(d));
  });
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function ctor = TensorHandle::define_class(env);
  data->tensor_ctor = Napi::Persistent(ctor);
  Registry::get();  // registers ops and queries the CUDA runtime once per process
  exports.Set("TensorHandle", ctor);
  exports.Set("setErrorClass", Napi::Function::New(env, set_error_class, "setErrorClass"));
  exports.Set("info", Napi::Function::New(env, info_fn, "info"));
  exports.Set("setNumThreads", Napi::Function::New(env, set_num_threads_fn, "setNumThreads"));
  exports.Set("fromHost", Napi::Function::New(env, from_host, "fromHost"));
  exports.Set("run", Napi::Function::New(env, run, "run"));
  exports.Set("reshape", Napi::Function::New(env, reshape, "reshape"));
  exports.Set("to", Napi::Function::New(env, to, "to"));
  register_bench_exports(env, exports);  // benchReferenceSgemm: OpenBLAS side by side in `onelip bench`
  return exports;
}

}  // namespace onelip

static Napi::Object InitOnelip(Napi::Env env, Napi::Object exports) { return onelip::init(env, exports); }

NODE_API_MODULE(onelip, InitOnelip)
