// The op registry: op name → definition (validation + output shapes), and (op, device) → kernel.
// Adding an op = one OpDef (native/ops/<family>.cc) + one kernel per backend + one registration line.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>
#include "attrs.h"
#include "tensor.h"

namespace onelip {

struct TensorSpec {
  Shape shape;
  DType dtype;
};

/// One call of an op: validated inputs and attributes, outputs allocated by the dispatcher.
struct OpCall {
  std::string op;
  Device device;
  std::vector<Tensor> inputs;
  Attrs attrs;
  std::vector<Tensor> outputs;
};

/// Validates inputs/attrs (throwing onelip::Error naming the op and argument) and returns output specs.
using InferFn = std::function<std::vector<TensorSpec>(const OpCall&)>;
/// Fills call.outputs (already allocated on call.device) from call.inputs.
using KernelFn = std::function<void(OpCall&)>;

struct OpDef {
  std::string name;
  int min_inputs = 0;
  int max_inputs = 0;  // -1: unbounded
  InferFn infer;
};

class Registry {
 public:
  /// The process-wide registry, with every op and kernel compiled into this build registered.
  static Registry& get();

  void define(OpDef def);
  void kernel(const std::string& op, Device device, KernelFn fn);

  /// Validates, allocates outputs and runs the kernel of (op, device). Inputs must all be on `device`.
  std::vector<Tensor> run(const std::string& op, Device device, std::vector<Tensor> inputs, Attrs attrs) const;

  bool has_op(const std::string& op) const { return defs_.count(op) != 0; }
  /// Names of the ops that have a kernel on `device`, sorted.
  std::vector<std::string> ops(Device device) const;

 private:
  std::map<std::string, OpDef> defs_;
  std::map<std::pair<std::string, int>, KernelFn> kernels_;
};

/// Convenience: Registry::get().run(...).
inline std::vector<Tensor> run_op(const std::string& op, Device device, std::vector<Tensor> inputs,
                                  Attrs attrs = Attrs()) {
  return Registry::get().run(op, device, std::move(inputs), std::move(attrs));
}

}  // namespace onelip
