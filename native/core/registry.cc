#include "registry.h"
#include <mutex>
#include "backends.h"
#include "error.h"

namespace onelip {

Registry& Registry::get() {
  static Registry* r = [] {
    auto* reg = new Registry();
    register_all(*reg);
    return reg;
  }();
  return *r;
}

void Registry::define(OpDef def) {
  if (defs_.count(def.name)) fail(code::kInternal, "op '", def.name, "' defined twice");
  defs_[def.name] = std::move(def);
}

void Registry::kernel(const std::string& op, Device device, KernelFn fn) {
  if (!defs_.count(op)) fail(code::kInternal, "kernel registered for undefined op '", op, "'");
  kernels_[{op, static_cast<int>(device)}] = std::move(fn);
}

std::vector<Tensor> Registry::run(const std::string& op, Device device, std::vector<Tensor> inputs,
                                  Attrs attrs) const {
  auto it = defs_.find(op);
  if (it == defs_.end()) fail(code::kUnknownOp, "unknown op '", op, "'");
  const OpDef& def = it->second;
  int n = static_cast<int>(inputs.size());
  if (n < def.min_inputs || (def.max_inputs >= 0 && n > def.max_inputs)) {
    if (def.min_inputs == def.max_inputs) fail(code::kArgument, op, ": expected ", def.min_inputs, " input tensor(s), got ", n);
    fail(code::kArgument, op, ": expected at least ", def.min_inputs, " input tensor(s), got ", n);
  }
  for (int i = 0; i < n; ++i) {
    if (!inputs[i].defined()) fail(code::kArgument, op, ": input ", i, " is not a tensor");
    if (inputs[i].device() != device)
      fail(code::kDevice, op, ": input ", i, " is on ", device_name(inputs[i].device()), " but the op runs on ",
           device_name(device), "; move it with .to('", device_name(device), "')");
  }
  auto k = kernels_.find({op, static_cast<int>(device)});
  if (k == kernels_.end()) {
    if (device == Device::CUDA && !cuda_status().available)
      fail(code::kDevice, op, ": the cuda device is not available (", cuda_status().reason, ")");
    fail(code::kUnsupported, op, ": no kernel for device '", device_name(device), "' in this build");
  }
  OpCall call{op, device, std::move(inputs), std::move(attrs), {}};
  std::vector<TensorSpec> specs = def.infer(call);
  for (const TensorSpec& s : specs) call.outputs.push_back(Tensor::empty(s.shape, s.dtype, device));
  k->second(call);
  return std::move(call.outputs);
}

std::vector<std::string> Registry::ops(Device device) const {
  std::vector<std::string> out;
  for (const auto& kv : kernels_)
    if (kv.first.second == static_cast<int>(device)) out.push_back(kv.first.first);
  return out;  // std::map keeps them sorted
}

}  // namespace onelip
