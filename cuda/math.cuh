// Single-source math shared by the CPU kernels (native/cpu) and the CUDA kernels (cuda/):
// per-element functors, the Philox counter-based generator, and conversions.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define OL_HD __host__ __device__ __forceinline__
#else
#define OL_HD inline
#endif

namespace onelip {
namespace math {

// ---- binary ----
// int32 arithmetic wraps (two's complement) on every device: it is done in uint32, because signed
// overflow is undefined behaviour in C++.
OL_HD int32_t wrap_i32(uint32_t v) { return static_cast<int32_t>(v); }
struct Add {
  template <class T> OL_HD T operator()(T a, T b) const { return a + b; }
  OL_HD int32_t operator()(int32_t a, int32_t b) const { return wrap_i32(uint32_t(a) + uint32_t(b)); }
};
struct Sub {
  template <class T> OL_HD T operator()(T a, T b) const { return a - b; }
  OL_HD int32_t operator()(int32_t a, int32_t b) const { return wrap_i32(uint32_t(a) - uint32_t(b)); }
};
struct Mul {
  template <class T> OL_HD T operator()(T a, T b) const { return a * b; }
  OL_HD int32_t operator()(int32_t a, int32_t b) const { return wrap_i32(uint32_t(a) * uint32_t(b)); }
};
struct Div { template <class T> OL_HD T operator()(T a, T b) const { return a / b; } };
/// 1 where a == b, else 0 (NaN equals nothing), in the inputs' float type.
struct Eq { template <class T> OL_HD T operator()(T a, T b) const { return a == b ? T(1) : T(0); } };

// ---- unary ----
struct Neg {
  template <class T> OL_HD T operator()(T x) const { return -x; }
  OL_HD int32_t operator()(int32_t x) const { return wrap_i32(0u - uint32_t(x)); }
};
/// |INT32_MIN| wraps to INT32_MIN, as in two's complement hardware.
struct Abs {
  template <class T> OL_HD T operator()(T x) const { return x < T(0) ? -x : x; }
  OL_HD int32_t operator()(int32_t x) const { return x < 0 ? wrap_i32(0u - uint32_t(x)) : x; }
};
struct Exp { template <class T> OL_HD T operator()(T x) const { return std::exp(x); } };
struct Log { template <class T> OL_HD T operator()(T x) const { return std::log(x); } };
struct Sqrt { template <class T> OL_HD T operator()(T x) const { return std::sqrt(x); } };
/// relu keeps NaN (x < 0 is false for NaN, so the NaN is returned as it is).
struct Relu { template <class T> OL_HD T operator()(T x) const { return x < T(0) ? T(0) : x; } };
/// log(1 + eˣ) as max(x, 0) + log1p(e^−|x|): no overflow for large x, full precision for very negative x.
struct Softplus {
  template <class T> OL_HD T operator()(T x) const {
    const T pos = x > T(0) ? x : T(0);
    return pos + std::log1p(std::exp(-(x < T(0) ? -x : x)));
  }
};
/// 1 / (1 + e^−x), evaluated through e^−|x| ≤ 1 so neither branch overflows; NaN stays NaN.
struct Sigmoid {
  template <class T> OL_HD T operator()(T x) const {
    const T e = std::exp(-(x < T(0) ? -x : x));
    return x < T(0) ? e / (T(1) + e) : T(1) / (T(1) + e);
  }
};
/// −1, 0 or 1 by the sign of x; ±0 and NaN are returned as they are.
struct Sign {
  template <class T> OL_HD T operator()(T x) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x); }
};
struct Scale {
  double alpha, beta;
  template <class T> OL_HD T operator()(T x) const { return T(alpha) * x + T(beta); }
};
/// clamp to [lo, hi]; NaN stays NaN.
struct Clamp {
  double lo, hi;
  template <class T> OL_HD T operator()(T x) const { return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x); }
};

/// Conversion used by `cast`: float → int32 truncates toward zero, saturates, NaN → 0.
template <class To, class From>
OL_HD To convert(From x) {
  if constexpr (std::is_same<To, int32_t>::value && !std::is_same<From, int32_t>::value) {
    if (!(x == x)) return 0;
    if (x >= From(2147483647.0)) return 2147483647;
    if (x <= From(-2147483648.0)) return -2147483647 - 1;
    return static_cast<int32_t>(x);
  } else {
    return static_cast<To>(x);
  }
}

// ---- Philox4x32-10 (Salmon et al., SC'11): counter (index) + key (seed) → 4 random 32-bit words ----
struct U32x4 { uint32_t w[4]; };

OL_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

OL_HD U32x4 philox(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(0xD2511F53u, c0, &hi0, &lo0);
    mulhilo32(0xCD9E8D57u, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return U32x4{{c0, c1, c2, c3}};
}

// Separately rounded multiply and add: nvcc would otherwise contract a*b + c into one FMA and the
// random numbers would differ from the CPU's in the last bit.
#if defined(__CUDA_ARCH__)
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
#else
template <class T> inline T mul_rn(T a, T b) { return a * b; }
template <class T> inline T add_rn(T a, T b) { return a + b; }
#endif

/// Uniform double in [0, 1) from 53 random bits.
OL_HD double unit_double(uint32_t hi, uint32_t lo) {
  uint64_t bits = (static_cast<uint64_t>(hi >> 5) << 26) | (lo >> 6);
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);
}

/// Element i of `rand(seed)`: uniform in [low, high).
template <class T>
OL_HD T uniform_at(uint64_t seed, uint64_t i, double low, double high) {
  U32x4 r = philox(i, seed);
  if (sizeof(T) == 4) {
    float u = static_cast<float>(r.w[0] >> 8) * (1.0f / 16777216.0f);
    float v = add_rn(static_cast<float>(low), mul_rn(static_cast<float>(high - low), u));
    return static_cast<T>(v < static_cast<float>(high) ? v : static_cast<float>(low));
  }
  double v = add_rn(low, mul_rn(high - low, unit_double(r.w[0], r.w[1])));
  return static_cast<T>(v < high ? v : low);
}

/// Element i of `randn(seed)`: Box–Muller on two uniforms, computed in double, then rounded to T.
/// Bit-identical between the CPU and the emulated CUDA build; on a real GPU, CUDA's double log/cos may
/// differ from glibc's by an ulp (the conformance suite allows that there).
template <class T>
OL_HD T normal_at(uint64_t seed, uint64_t i, double mean, double stddev) {
  U32x4 r = philox(i, seed);
  double u1 = 1.0 - unit_double(r.w[0], r.w[1]);  // (0, 1]
  double u2 = unit_double(r.w[2], r.w[3]);
  double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return static_cast<T>(add_rn(mean, mul_rn(stddev, z)));
}

}  // namespace math
}  // namespace onelip

namespace onelip {
namespace math {

/// Accumulator type of reductions: int32 sums accumulate in int64 and wrap when stored (identical on
/// every device, whatever the order); floats accumulate in their own type.
template <class T> struct Acc { using type = T; };
template <> struct Acc<int32_t> { using type = int64_t; };

/// max that propagates NaN (a NaN anywhere in the reduction gives NaN), on every device.
struct Max {
  template <class T> OL_HD T operator()(T a, T b) const {
    if (a != a) return a;
    if (b != b) return b;
    return a > b ? a : b;
  }
};
/// Identity of Max: -inf for floats, INT32_MIN for int32.
template <class T> OL_HD T max_identity() { return -INFINITY; }
template <> OL_HD int32_t max_identity<int32_t>() { return -2147483647 - 1; }

}  // namespace math
}  // namespace onelip

namespace onelip {
namespace math {

// ---- optimizer updates (native/cpu/optim.cc, cuda/optim.cu): PyTorch's torch.optim formulas ----

// The structural choices (momentum buffer or not, its first step, nesterov, amsgrad, which lerp form)
// are template flags, so the CPU loops have no control flow and vectorise; the rest are scalars
// prepared on the host in double.

/// One element of an SGD step (torch.optim.SGD): d = g + wd·p (wd = 0 adds 0·p); with a momentum buffer
/// b: b ← d on the buffer's first step (kInit), else momentum·b + (1 − dampening)·d; then
/// d ← d + momentum·b (kNesterov) or d ← b; finally p ← p − lr·d.
template <class T>
struct SgdStep {
  T lr, weight_decay, momentum, one_minus_dampening;
  template <bool kBuf, bool kInit, bool kNesterov>
  OL_HD void apply(T* p, T g, T* buf) const {
    T d = g + weight_decay * *p;
    if (kBuf) {
      const T b = kInit ? d : momentum * *buf + one_minus_dampening * d;
      *buf = b;
      d = kNesterov ? d + momentum * b : b;
    }
    *p = *p - lr * d;
  }
};

/// PyTorch's lerp(a, b, w): a + w·(b − a) for |w| < 0.5 (kLow), else b − (b − a)·(1 − w).
template <bool kLow, class T>
OL_HD T lerp(T a, T b, T w) {
  return kLow ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

/// max that propagates NaN from either side (torch.maximum).
template <class T>
OL_HD T nan_max(T a, T b) {
  const T m = a > b ? a : b;  // b NaN: b
  return a != a ? a : m;      // two selects, no branch
}

/// One element of an Adam / AdamW step (torch.optim.Adam / AdamW, step t ≥ 1):
///   g ← g + l2·p (Adam's weight decay; l2 = 0 for AdamW);  p ← p·decay (AdamW: 1 − lr·wd; Adam: 1)
///   m ← lerp(m, g, 1 − β1);  v ← β2·v + (1 − β2)·g²;  amsgrad (kMax): vmax ← max(vmax, v), NaN propagating
///   p ← p − step_size · m / (sqrt(v or vmax) / sqrt(1 − β2^t) + eps),  step_size = lr / (1 − β1^t).
/// kLow: 1 − β1 < 0.5 (PyTorch's lerp branch).
template <class T>
struct AdamStep {
  T beta1, beta2, eps, l2, decay, step_size, bias_correction2_sqrt;
  template <bool kMax, bool kLow>
  OL_HD void apply(T* p, T g, T* m, T* v, T* vmax) const {
    const T p0 = *p;
    g = g + l2 * p0;
    const T mv = lerp<kLow>(*m, g, T(1) - beta1);
    const T vv = beta2 * *v + (T(1) - beta2) * g * g;
    *m = mv;
    *v = vv;
    T s = vv;
    if (kMax) {
      s = nan_max(vv, *vmax);
      *vmax = s;
    }
    const T denom = std::sqrt(s) / bias_correction2_sqrt + eps;
    *p = p0 * decay - step_size * mv / denom;
  }
};

}  // namespace math
}  // namespace onelip
