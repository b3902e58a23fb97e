// CPU kernels of the elementwise ops: add sub mul div eq (numpy broadcasting), neg abs exp log sqrt relu
// softplus sigmoid sign, scale, clamp, cast. The per-element math is the single-source functors of cuda/math.cuh, shared with
// the CUDA kernels, so both backends compute every element with the same expression.
#include <algorithm>
#include <cstring>
#include "../../cuda/math.cuh"
#include "../core/shape_util.h"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

// Elements per thread-pool chunk: below twice this a loop runs on the calling thread only.
constexpr int64_t kGrainCheap = 1 << 15;   // add, neg, scale, ...: memory bound
constexpr int64_t kGrainCostly = 1 << 12;  // exp, log, sqrt: a libm call per element

/// y[i] = f(x[i]) for i in [0, n).
template <class Tin, class Tout, class F>
void map_contiguous(const Tin* x, Tout* y, int64_t n, int64_t grain, F f) {
  parallel_for(n, grain, [=](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
  });
}

/// One row of a broadcast: y[k] = op(a[k * sa], b[k * sb]) for k < len. The strides of the innermost
/// collapsed dim are 0 or 1, so the first three branches take every real case with unit-stride loops.
template <class T, class Op>
inline void binary_row(const T* a, int64_t sa, const T* b, int64_t sb, T* y, int64_t len, Op op) {
  if (sa == 1 && sb == 1) {
    for (int64_t k = 0; k < len; ++k) y[k] = op(a[k], b[k]);
  } else if (sa == 1 && sb == 0) {
    const T bv = *b;
    for (int64_t k = 0; k < len; ++k) y[k] = op(a[k], bv);
  } else if (sa == 0 && sb == 1) {
    const T av = *a;
    for (int64_t k = 0; k < len; ++k) y[k] = op(av, b[k]);
  } else {
    for (int64_t k = 0; k < len; ++k) y[k] = op(a[k * sa], b[k * sb]);
  }
}

/// General broadcast: walks the collapsed plan row by row (a row = the innermost plan dim). Each chunk
/// of rows computes the input offsets of its first row once, then advances them like an odometer.
template <class T, class Op>
void binary_broadcast(const T* a, const T* b, T* y, const BroadcastPlan& p, Op op) {
  const int last = p.ndim - 1;
  const int64_t len = p.shape[last];
  const int64_t rows = p.numel / len;
  const int64_t grain = std::max<int64_t>(1, kGrainCheap / len);
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    int64_t idx[kPlanDims] = {0};
    int64_t oa = 0, ob = 0;
    for (int d = last - 1; d >= 0; --d) {
      const int64_t row_stride = p.out_stride[d] / len;  // rows per step of dim d
      idx[d] = (begin / row_stride) % p.shape[d];
      oa += idx[d] * p.in_stride[0][d];
      ob += idx[d] * p.in_stride[1][d];
    }
    for (int64_t r = begin; r < end; ++r) {
      binary_row(a + oa, p.in_stride[0][last], b + ob, p.in_stride[1][last], y + r * len, len, op);
      for (int d = last - 1; d >= 0; --d) {
        oa += p.in_stride[0][d];
        ob += p.in_stride[1][d];
        if (++idx[d] < p.shape[d]) break;
        oa -= p.shape[d] * p.in_stride[0][d];
        ob -= p.shape[d] * p.in_stride[1][d];
        idx[d] = 0;
      }
    }
  });
}

/// y = op(a, b) with numpy broadcasting: same-shape and scalar fast paths, else the plan walk.
template <class T, class Op>
void binary_typed(const Tensor& a, const Tensor& b, Tensor& y, Op op) {
  const int64_t n = y.numel();
  if (n == 0) return;
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* py = y.data<T>();
  // With one side a single element, the other side has all n elements in output order.
  if (a.numel() == n && b.numel() == n) {
    parallel_for(n, kGrainCheap, [=](int64_t begin, int64_t end) {
      binary_row(pa + begin, 1, pb + begin, 1, py + begin, end - begin, op);
    });
  } else if (a.numel() == 1 && b.numel() == n) {
    parallel_for(n, kGrainCheap, [=](int64_t begin, int64_t end) {
      binary_row(pa, 0, pb + begin, 1, py + begin, end - begin, op);
    });
  } else if (b.numel() == 1 && a.numel() == n) {
    parallel_for(n, kGrainCheap, [=](int64_t begin, int64_t end) {
      binary_row(pa + begin, 1, pb, 0, py + begin, end - begin, op);
    });
  } else {
    binary_broadcast(pa, pb, py, make_broadcast_plan(y.shape(), a.shape(), b.shape()), op);
  }
}

/// Binary op over every dtype the definition allows (`ints`: int32 too; the definition rejected the rest).
template <class Op, bool ints>
void binary_op(OpCall& c) {
  auto run = [&](auto tag) { binary_typed<decltype(tag)>(c.inputs[0], c.inputs[1], c.outputs[0], Op{}); };
  if constexpr (ints) dispatch_dtype(c.inputs[0].dtype(), run);
  else dispatch_float(c.inputs[0].dtype(), run);
}

/// Same-dtype unary op (`ints`: the definition allows int32; otherwise only floats reach here).
template <class F, bool ints>
void unary_op(OpCall& c, F f, int64_t grain) {
  auto run = [&](auto tag) {
    using T = decltype(tag);
    map_contiguous(c.inputs[0].data<T>(), c.outputs[0].data<T>(), c.outputs[0].numel(), grain, f);
  };
  if constexpr (ints) dispatch_dtype(c.inputs[0].dtype(), run);
  else dispatch_float(c.inputs[0].dtype(), run);
}

/// cast as a map functor: math::convert (float → int32 truncates, saturates, NaN → 0).
template <class To>
struct CastTo {
  template <class From>
  To operator()(From x) const { return math::convert<To, From>(x); }
};

void cast_op(OpCall& c) {
  const Tensor& x = c.inputs[0];
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  if (x.dtype() == y.dtype()) {
    std::memcpy(y.raw(), x.raw(), y.nbytes());
    return;
  }
  dispatch_dtype(x.dtype(), [&](auto from) {
    dispatch_dtype(y.dtype(), [&](auto to) {
      using From = decltype(from);
      using To = decltype(to);
      map_contiguous(x.data<From>(), y.data<To>(), y.numel(), kGrainCheap, CastTo<To>{});
    });
  });
}

void scale_op(OpCall& c) {
  math::Scale f{c.attrs.get_float("alpha"), c.attrs.get_float("beta", 0.0)};
  unary_op<math::Scale, false>(c, f, kGrainCheap);
}

void clamp_op(OpCall& c) {
  math::Clamp f{c.attrs.get_float("min", -INFINITY), c.attrs.get_float("max", INFINITY)};
  unary_op<math::Clamp, false>(c, f, kGrainCheap);
}

}  // namespace

/// Registers the CPU kernels of the elementwise ops. add/sub/mul (float32, float64, int32), div and eq
/// (float): same-shape and scalar fast paths, else a row-wise walk of the collapsed BroadcastPlan.
/// neg/abs (any dtype), exp/log/sqrt/relu/softplus/sigmoid/sign, scale (alpha * x + beta), clamp (float) and cast (any →
/// any, via math::convert): one contiguous loop. All O(n), split over the thread pool.
void register_cpu_elementwise(Registry& r) {
  r.kernel("add", Device::CPU, binary_op<math::Add, true>);
  r.kernel("sub", Device::CPU, binary_op<math::Sub, true>);
  r.kernel("mul", Device::CPU, binary_op<math::Mul, true>);
  r.kernel("div", Device::CPU, binary_op<math::Div, false>);
  r.kernel("eq", Device::CPU, binary_op<math::Eq, false>);
  r.kernel("neg", Device::CPU, [](OpCall& c) { unary_op<math::Neg, true>(c, math::Neg{}, kGrainCheap); });
  r.kernel("abs", Device::CPU, [](OpCall& c) { unary_op<math::Abs, true>(c, math::Abs{}, kGrainCheap); });
  r.kernel("exp", Device::CPU, [](OpCall& c) { unary_op<math::Exp, false>(c, math::Exp{}, kGrainCostly); });
  r.kernel("log", Device::CPU, [](OpCall& c) { unary_op<math::Log, false>(c, math::Log{}, kGrainCostly); });
  r.kernel("sqrt", Device::CPU, [](OpCall& c) { unary_op<math::Sqrt, false>(c, math::Sqrt{}, kGrainCostly); });
  r.kernel("relu", Device::CPU, [](OpCall& c) { unary_op<math::Relu, false>(c, math::Relu{}, kGrainCheap); });
  r.kernel("softplus", Device::CPU, [](OpCall& c) { unary_op<math::Softplus, false>(c, math::Softplus{}, kGrainCostly); });
  r.kernel("sigmoid", Device::CPU, [](OpCall& c) { unary_op<math::Sigmoid, false>(c, math::Sigmoid{}, kGrainCostly); });
  r.kernel("sign", Device::CPU, [](OpCall& c) { unary_op<math::Sign, false>(c, math::Sign{}, kGrainCheap); });
  r.kernel("scale", Device::CPU, scale_op);
  r.kernel("clamp", Device::CPU, clamp_op);
  r.kernel("cast", Device::CPU, cast_op);
}

}  // namespace onelip
