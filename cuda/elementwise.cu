// CUDA kernels of the elementwise ops: add sub mul div eq (numpy broadcasting), neg abs exp log sqrt relu
// softplus sigmoid sign, scale, clamp, cast. The per-element math is the single-source functors of math.cuh, shared with the
// CPU kernels.
#include "../native/core/shape_util.h"
#include "../native/ops/ops.h"
#include "common.cuh"
#include "cuda_ops.h"

namespace onelip {
namespace {

/// Four consecutive elements loaded or stored with one vector memory instruction.
template <class T>
struct alignas(4 * sizeof(T)) Pack4 {
  T v[4];
};

/// Whether every pointer is aligned for Pack4 accesses.
template <class T>
bool pack_aligned(const void* a, const void* b = nullptr, const void* c = nullptr) {
  auto ok = [](const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % (4 * sizeof(T)) == 0; };
  return ok(a) && ok(b) && ok(c);
}

/// y[i] = op(a[i], b[i]) for same-shape inputs. The first `npacks` groups of four go through Pack4
/// loads (npacks == 0 when the pointers are not aligned: the scalar loop then covers everything); the
/// scalar loop covers the remaining elements [4 * npacks, n).
template <class T, class Op>
__global__ void binary_same_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y, int64_t n,
                                   int64_t npacks, Op op) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Pack4<T>* pa = reinterpret_cast<const Pack4<T>*>(a);
  const Pack4<T>* pb = reinterpret_cast<const Pack4<T>*>(b);
  Pack4<T>* py = reinterpret_cast<Pack4<T>*>(y);
  for (int64_t p = tid; p < npacks; p += stride) {
    Pack4<T> va = pa[p], vb = pb[p], vy;
#pragma unroll
    for (int k = 0; k < 4; ++k) vy.v[k] = op(va.v[k], vb.v[k]);
    py[p] = vy;
  }
  for (int64_t i = 4 * npacks + tid; i < n; i += stride) y[i] = op(a[i], b[i]);
}

/// y[o] = op(a[off_a(o)], b[off_b(o)]) walking the collapsed broadcast plan (in_stride 0 along
/// broadcast dims).
template <class T, class Op>
__global__ void binary_broadcast_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ y,
                                        BroadcastPlan plan, Op op) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < plan.numel; o += stride) {
    int64_t rest = o, oa = 0, ob = 0;
    for (int d = plan.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % plan.shape[d];
      rest /= plan.shape[d];
      oa += idx * plan.in_stride[0][d];
      ob += idx * plan.in_stride[1][d];
    }
    y[o] = op(a[oa], b[ob]);
  }
}

/// y[i] = f(x[i]) (Tin → Tout), Pack4 fast path as in binary_same_kernel.
template <class Tin, class Tout, class F>
__global__ void map_kernel(const Tin* __restrict__ x, Tout* __restrict__ y, int64_t n, int64_t npacks, F f) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const Pack4<Tin>* px = reinterpret_cast<const Pack4<Tin>*>(x);
  Pack4<Tout>* py = reinterpret_cast<Pack4<Tout>*>(y);
  for (int64_t p = tid; p < npacks; p += stride) {
    Pack4<Tin> vx = px[p];
    Pack4<Tout> vy;
#pragma unroll
    for (int k = 0; k < 4; ++k) vy.v[k] = f(vx.v[k]);
    py[p] = vy;
  }
  for (int64_t i = 4 * npacks + tid; i < n; i += stride) y[i] = f(x[i]);
}

/// cast as a map functor: math::convert (float → int32 truncates, saturates, NaN → 0).
template <class To>
struct CastTo {
  template <class From>
  OL_HD To operator()(From x) const { return math::convert<To, From>(x); }
};

template <class T, class Op>
void launch_binary(OpCall& c, Op op) {
  const Tensor &a = c.inputs[0], &b = c.inputs[1];
  Tensor& y = c.outputs[0];
  const int64_t n = y.numel();
  if (n == 0) return;
  if (a.shape() == y.shape() && b.shape() == y.shape()) {
    const int64_t npacks = pack_aligned<T>(a.raw(), b.raw(), y.raw()) ? n / 4 : 0;
    auto k = binary_same_kernel<T, Op>;
    KLAUNCH(k, cuda::grid_for(npacks > 0 ? npacks : n), cuda::kBlock, 0, 0, a.data<T>(), b.data<T>(), y.data<T>(), n,
            npacks, op);
    cuda::check_launch("binary_same_kernel");
    return;
  }
  const BroadcastPlan plan = make_broadcast_plan(y.shape(), a.shape(), b.shape());
  auto k = binary_broadcast_kernel<T, Op>;
  KLAUNCH(k, cuda::grid_for(n), cuda::kBlock, 0, 0, a.data<T>(), b.data<T>(), y.data<T>(), plan, op);
  cuda::check_launch("binary_broadcast_kernel");
}

template <class Tin, class Tout, class F>
void launch_map(const Tensor& x, Tensor& y, F f) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const int64_t npacks = pack_aligned<Tin>(x.raw()) && pack_aligned<Tout>(y.raw()) ? n / 4 : 0;
  auto k = map_kernel<Tin, Tout, F>;
  KLAUNCH(k, cuda::grid_for(npacks > 0 ? npacks : n), cuda::kBlock, 0, 0, x.data<Tin>(), y.data<Tout>(), n, npacks, f);
  cuda::check_launch("map_kernel");
}

/// Binary op over every dtype the definition allows (`ints`: int32 too; the definition already
/// rejected the others).
template <class Op, bool ints>
void binary_op(OpCall& c) {
  if constexpr (ints)
    dispatch_dtype(c.inputs[0].dtype(), [&](auto tag) { launch_binary<decltype(tag)>(c, Op{}); });
  else
    dispatch_float(c.inputs[0].dtype(), [&](auto tag) { launch_binary<decltype(tag)>(c, Op{}); });
}

/// Same-dtype unary op; `ints` says whether the definition allows int32 (otherwise only floats reach here).
template <class F, bool ints>
void unary_op(OpCall& c, F f = F{}) {
  if constexpr (ints) {
    dispatch_dtype(c.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      launch_map<T, T>(c.inputs[0], c.outputs[0], f);
    });
  } else {
    dispatch_float(c.inputs[0].dtype(), [&](auto tag) {
      using T = decltype(tag);
      launch_map<T, T>(c.inputs[0], c.outputs[0], f);
    });
  }
}

void cast_op(OpCall& c) {
  dispatch_dtype(c.inputs[0].dtype(), [&](auto from) {
    dispatch_dtype(c.outputs[0].dtype(), [&](auto to) {
      using From = decltype(from);
      using To = decltype(to);
      launch_map<From, To>(c.inputs[0], c.outputs[0], CastTo<To>{});
    });
  });
}

}  // namespace

/// Registers the CUDA kernels of add, sub, mul, div, eq (same-shape vectorised path, or a walk of the
/// collapsed broadcast plan), neg, abs, exp, log, sqrt, relu, softplus, sigmoid, sign, scale, clamp and cast (one map kernel
/// with a math.cuh functor). One thread per element (grid-stride), 64-bit indices.
void register_cuda_elementwise(Registry& r) {
  r.kernel("add", Device::CUDA, binary_op<math::Add, true>);
  r.kernel("sub", Device::CUDA, binary_op<math::Sub, true>);
  r.kernel("mul", Device::CUDA, binary_op<math::Mul, true>);
  r.kernel("div", Device::CUDA, binary_op<math::Div, false>);
  r.kernel("eq", Device::CUDA, binary_op<math::Eq, false>);
  r.kernel("neg", Device::CUDA, [](OpCall& c) { unary_op<math::Neg, true>(c); });
  r.kernel("abs", Device::CUDA, [](OpCall& c) { unary_op<math::Abs, true>(c); });
  r.kernel("exp", Device::CUDA, [](OpCall& c) { unary_op<math::Exp, false>(c); });
  r.kernel("log", Device::CUDA, [](OpCall& c) { unary_op<math::Log, false>(c); });
  r.kernel("sqrt", Device::CUDA, [](OpCall& c) { unary_op<math::Sqrt, false>(c); });
  r.kernel("relu", Device::CUDA, [](OpCall& c) { unary_op<math::Relu, false>(c); });
  r.kernel("softplus", Device::CUDA, [](OpCall& c) { unary_op<math::Softplus, false>(c); });
  r.kernel("sigmoid", Device::CUDA, [](OpCall& c) { unary_op<math::Sigmoid, false>(c); });
  r.kernel("sign", Device::CUDA, [](OpCall& c) { unary_op<math::Sign, false>(c); });
  r.kernel("scale", Device::CUDA, [](OpCall& c) {
    math::Scale f{c.attrs.get_float("alpha"), c.attrs.get_float("beta", 0.0)};
    unary_op<math::Scale, false>(c, f);
  });
  r.kernel("clamp", Device::CUDA, [](OpCall& c) {
    math::Clamp f{c.attrs.get_float("min", -INFINITY), c.attrs.get_float("max", INFINITY)};
    unary_op<math::Clamp, false>(c, f);
  });
  r.kernel("cast", Device::CUDA, cast_op);
}

}  // namespace onelip
