// Fused SLL and AOL layer ops (SPEC.md A.2, A.3), forward and backward, float32 and float64, every
// device: one device-agnostic composite kernel per op that runs registry kernels on the device it is
// called on (syrk / kernel_self_correlation for the Gram, matmul or conv2d / conv2d_backward_input /
// conv2d_backward_weight for the products, elementwise and reduce kernels for the rescaling). Every
// intermediate stays on the device; a forward reads one scalar back to the host (the finiteness check).
//
//   sll_dense   (x [N, F], W [m, F], b [m], q [m])            → (y [N, F], z [N, m], T [m], G [m, m])
//   sll_conv2d  (x [N, C, H, W], K [m, C, k, k], b [m], q [m]) → (y, z [N, m, H, W], T [m], G [m, m, 2k−1, 2k−1])
//       y = x − 2·Wᵀ(T ⊙ relu(z)), z = W x + b (conv: z = K ⋆ x + b, Kᵀ ⋆ the adjoint, padding k//2)
//       t_i = Σ_j A_ij·exp(q_j − q_i), A = |G| (conv: summed over the 2k−1 × 2k−1 offsets), T = 1/t
//       with the zero-safe inverse (T_i = 0 where t_i = 0).
//   aol_dense   (x [N, d], P [n, d], b [n], q [d])             → (y [N, n], D [d], M [d, d])
//   aol_conv2d  (x [N, C, H, W], K [O, C, k, k], b [O], q [C]) → (y [N, O, H, W], D [C], M [C, C, 2k−1, 2k−1])
//       y = P (D ⊙ x) + b (conv: y = (K·D) ⋆ x + b, input channel j of K scaled by D_j), M = PᵀP (conv:
//       the self-correlation of K with its first two axes swapped, the kernel of JᵀJ),
//       t_j = Σ_i |M|_ji·exp(q_i − q_j), D = (t + ε)^{−1/2} zero-safe, ε = 0 (dense), 1e-6 (conv, 1LLC).
// The extra outputs (z, T, G; D, M) are what the backward ops read: the Gram is computed once per
// forward and reused. Backward ops take (gy, x, W|K|P, q, saved...) and return the gradients of
// (x, weight, b, q).
//
// Gradient of the rescaling (shared): with u = gt ⊙ exp(−q), v = exp(q), A symmetric,
//   gq = −gt ⊙ t + v ⊙ (A u),   gA = u vᵀ,   gG = sign(G) ⊙ gA (broadcast over the offsets),
// then dense: gW += (gG + gGᵀ) W (G = W Wᵀ), gP += P (gM + gMᵀ) (M = PᵀP); conv: through
// kernel_self_correlation_backward. SLL: gt = −gT·T²; AOL: gt = −½·gD·D³ (both 0 where the safe
// inverse gave 0).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include "../core/error.h"
#include "../core/thread_pool.h"
#include "../cpu/gemm/gemm.h"
#include "op_util.h"
#include "ops.h"

namespace onelip {

namespace {

constexpr double kAolConvEps = 1e-6;

Attrs axes_attr(std::initializer_list<double> axes) {
  Attrs a;
  a.set("axes", std::vector<double>(axes));
  return a;
}

/// Registry ops on one device.
struct Ops {
  Device dev;
  Tensor op(const char* name, std::vector<Tensor> in, Attrs a = Attrs()) const {
    return run_op(name, dev, std::move(in), std::move(a))[0];
  }
  Tensor add(const Tensor& a, const Tensor& b) const { return op("add", {a, b}); }
  Tensor sub(const Tensor& a, const Tensor& b) const { return op("sub", {a, b}); }
  Tensor mul(const Tensor& a, const Tensor& b) const { return op("mul", {a, b}); }
  Tensor un(const char* name, const Tensor& a) const { return op(name, {a}); }
  Tensor scale(const Tensor& x, double alpha, double beta = 0) const {
    Attrs a;
    a.set("alpha", alpha);
    a.set("beta", beta);
    return op("scale", {x}, a);
  }
  Tensor sum(const Tensor& x, std::initializer_list<double> axes) const { return op("sum", {x}, axes_attr(axes)); }
  Tensor mm(const Tensor& a, const Tensor& b, bool ta = false, bool tb = false) const {
    Attrs at;
    if (ta) at.set("transA", true);
    if (tb) at.set("transB", true);
    return op("matmul", {a, b}, at);
  }
  Tensor permute01(const Tensor& x) const {
    Attrs a;
    a.set("perm", std::vector<double>{1, 0, 2, 3});
    return op("permute", {x}, a);
  }
  /// 1/x where x ≠ 0, 0 where x = 0 (x ≥ 0 here).
  Tensor safe_inverse(const Tensor& x) const {
    const Tensor zero = scale(x, 0.0);
    const Tensor one = scale(x, 0.0, 1.0);
    const Tensor is0 = op("eq", {x, zero});
    return mul(op("div", {one, add(x, is0)}), sub(one, is0));
  }
  /// 0 when every element of x is finite, NaN otherwise (0·x summed).
  Tensor finite_check(const Tensor& x) const { return op("sum", {scale(x, 0.0)}); }
  Tensor conv(const Tensor& x, const Tensor& K, const Tensor* b) const {
    Attrs a;
    a.set("padding", double(K.dim(2) / 2));
    if (b) return op("conv2d", {x, K, *b}, a);
    return op("conv2d", {x, K}, a);
  }
  Tensor conv_adjoint(const Tensor& g, const Tensor& K, const Shape& in) const {
    Attrs a;
    a.set("padding", double(K.dim(2) / 2));
    std::vector<double> s(in.begin(), in.end());
    a.set("inputShape", s);
    return op("conv2d_backward_input", {g, K}, a);
  }
  Tensor conv_weight_grad(const Tensor& x, const Tensor& g, int64_t k) const {
    Attrs a;
    a.set("padding", double(k / 2));
    a.set("kernelSize", double(k));
    return op("conv2d_backward_weight", {x, g}, a);
  }
};

/// t from the Gram G and q (see row_bound), without |G| buffers on the cpu.
Tensor row_bound_of_gram(const Ops& o, const Tensor& G, const Tensor& q);

/// A [m, m] = |G| summed over the offsets (conv) or |G| (dense).
Tensor abs_gram(const Ops& o, const Tensor& G) {
  Tensor a = o.un("abs", G);
  return G.ndim() == 4 ? o.sum(a, {2, 3}) : a;
}

/// CPU: t_i = exp(−q_i)·Σ_j Σ_s |G[i, j, s]|·exp(q_j), one pass over G (no |G| buffer).
template <class T>
void cpu_row_bound(const T* G, const T* q, T* t, int64_t m, int64_t S) {
  std::vector<double> e(static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) e[j] = std::exp(static_cast<double>(q[j]));
  parallel_for(m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, m * S)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double acc = 0;
      for (int64_t j = 0; j < m; ++j) {
        const T* g = G + (i * m + j) * S;
        double a = 0;
        for (int64_t k = 0; k < S; ++k) a += std::abs(static_cast<double>(g[k]));
        acc += a * e[j];
      }
      t[i] = static_cast<T>(acc / e[i]);
    }
  });
}

/// CPU form of rescale_backward: gq, and gG = sign(G) ⊙ u vᵀ (conv, S > 1) or its symmetrisation
/// sign(G) ⊙ (u vᵀ + v uᵀ) (dense, `sym`), with u = gt ⊙ exp(−q), v = exp(q).
template <class T>
void cpu_rescale_backward(const T* G, const T* q, const T* gt, T* gq, T* gG, int64_t m, int64_t S, bool sym) {
  std::vector<double> e(static_cast<size_t>(m)), u(static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) {
    e[j] = std::exp(static_cast<double>(q[j]));
    u[j] = static_cast<double>(gt[j]) / e[j];
  }
  parallel_for(m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, m * S)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      double t = 0, au = 0;  // t_i·e_i and (A u)_i
      for (int64_t j = 0; j < m; ++j) {
        const T* g = G + (i * m + j) * S;
        T* gg = gG + (i * m + j) * S;
        const double w = sym ? u[i] * e[j] + u[j] * e[i] : u[i] * e[j];
        double a = 0;
        for (int64_t k = 0; k < S; ++k) {
          a += std::abs(static_cast<double>(g[k]));
          gg[k] = g[k] > T(0) ? static_cast<T>(w) : g[k] < T(0) ? static_cast<T>(-w) : T(0);
        }
        t += a * e[j];
        au += a * u[j];
      }
      gq[i] = static_cast<T>(-static_cast<double>(gt[i]) * t / e[i] + e[i] * au);
    }
  });
}

/// t = exp(−q) ⊙ (A exp(q)).
Tensor row_bound(const Ops& o, const Tensor& A, const Tensor& q) {
  const int64_t m = q.dim(0);
  const Tensor e = o.un("exp", q);
  const Tensor en = o.un("exp", o.un("neg", q));
  return o.mul(en, o.mm(A, e.view({m, 1})).view({m}));
}

Tensor row_bound_of_gram(const Ops& o, const Tensor& G, const Tensor& q) {
  if (o.dev != Device::CPU) return row_bound(o, abs_gram(o, G), q);
  const int64_t m = q.dim(0);
  Tensor t = Tensor::empty({m}, q.dtype(), Device::CPU);
  dispatch_float(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cpu_row_bound<T>(G.data<T>(), q.data<T>(), t.data<T>(), m, G.ndim() == 4 ? G.dim(2) * G.dim(3) : 1);
  });
  return t;
}

struct RescaleGrad {
  Tensor gq, gG;
};

/// Gradients of t(G, q) for the upstream gradient gt.
RescaleGrad rescale_backward(const Ops& o, const Tensor& G, const Tensor& q, const Tensor& gt, bool sym = false) {
  const int64_t m = q.dim(0);
  if (o.dev == Device::CPU) {
    RescaleGrad r{Tensor::empty({m}, q.dtype(), Device::CPU), Tensor::empty(G.shape(), G.dtype(), Device::CPU)};
    dispatch_float(q.dtype(), [&](auto tag) {
      using T = decltype(tag);
      cpu_rescale_backward<T>(G.data<T>(), q.data<T>(), gt.data<T>(), r.gq.data<T>(), r.gG.data<T>(), m,
                              G.ndim() == 4 ? G.dim(2) * G.dim(3) : 1, sym);
    });
    return r;
  }
  const Tensor A = abs_gram(o, G);
  const Tensor e = o.un("exp", q);
  const Tensor u = o.mul(gt, o.un("exp", o.un("neg", q)));
  const Tensor t = row_bound(o, A, q);
  const Tensor gq = o.add(o.scale(o.mul(gt, t), -1.0), o.mul(e, o.mm(A, u.view({m, 1})).view({m})));
  Tensor gA = o.mm(u.view({m, 1}), e.view({1, m}));
  if (G.ndim() == 4) gA = gA.view({m, m, 1, 1});
  return {gq, o.mul(o.un("sign", G), gA)};
}

/// Throws when a parameter (or the rescaling computed from it) is not finite. One host read.
void check_finite(const OpCall& c, const Ops& o, const Tensor& weight, const Tensor& b, const Tensor& q,
                  const Tensor& scaleT, const char* wname) {
  Attrs cat;
  cat.set("axis", 0.0);
  const Tensor checks = o.op("concat", {o.finite_check(weight).view({1}), o.finite_check(b).view({1}),
                                        o.finite_check(q).view({1}), o.finite_check(scaleT).view({1})},
                             cat)
                            .to(Device::CPU);
  double h[4];
  for (int i = 0; i < 4; ++i)
    h[i] = checks.dtype() == DType::F32 ? static_cast<double>(checks.data<float>()[i]) : checks.data<double>()[i];
  const char* names[3] = {wname, "b", "q"};
  for (int i = 0; i < 3; ++i)
    if (!std::isfinite(h[i]))
      fail(code::kArgument, c.op, ": parameter ", names[i], " contains non-finite values (NaN or infinity)");
  if (!std::isfinite(h[3]))
    fail(code::kArgument, c.op, ": the rescaling computed from ", wname, " and q overflowed ", dtype_name(weight.dtype()),
         " (a row bound t underflowed or exp(q) overflowed); use float64 or smaller |q|");
}

// ---------------- CPU fused elementwise passes ----------------
// On the cpu the per-element steps of the SLL layers run as single loops over host memory (one pass,
// results written in place where the input is a temporary of this op), which keeps the step's peak
// memory at three activation-sized buffers; other devices chain registry ops.

/// Channel i of a [N, m, P] activation (P = 1 for dense): runs fn(pointer, n) over the N rows.
template <class T, class F>
void for_channels(int64_t N, int64_t m, int64_t P, F fn) {
  parallel_for(m, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, N * P)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) fn(i);
  });
}

/// s = T ⊙ relu(z) for z [N, m, P].
template <class T>
void cpu_scaled_relu(const T* z, const T* Tv, T* s, int64_t N, int64_t m, int64_t P) {
  for_channels<T>(N, m, P, [&](int64_t i) {
    const T t = Tv[i];
    for (int64_t n = 0; n < N; ++n) {
      const T* zr = z + (n * m + i) * P;
      T* sr = s + (n * m + i) * P;
      for (int64_t p = 0; p < P; ++p) sr[p] = zr[p] > T(0) ? t * zr[p] : T(0);
    }
  });
}

/// The SLL backward pass over the activations, for gs = W·gy (unscaled, overwritten with gz):
///   gz = −2·T ⊙ gs ⊙ [z > 0],  s2 = −2·T ⊙ relu(z),  gT_i = −2·Σ gs ⊙ relu(z),  gb_i = Σ gz.
template <class T>
void cpu_sll_backward_pass(T* gs, const T* z, const T* Tv, T* s2, T* gT, T* gb, int64_t N, int64_t m, int64_t P) {
  for_channels<T>(N, m, P, [&](int64_t i) {
    const T t2 = T(-2) * Tv[i];
    double acc_t = 0, acc_b = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t off = (n * m + i) * P;
      T* g = gs + off;
      const T* zr = z + off;
      T* sr = s2 + off;
      for (int64_t p = 0; p < P; ++p) {
        if (zr[p] > T(0)) {
          acc_t += static_cast<double>(g[p]) * zr[p];
          g[p] *= t2;
          acc_b += g[p];
          sr[p] = t2 * zr[p];
        } else {
          g[p] = T(0);
          sr[p] = T(0);
        }
      }
    }
    gT[i] = static_cast<T>(-2 * acc_t);
    gb[i] = static_cast<T>(acc_b);
  });
}

/// y = x + alpha·y in place (n elements).
template <class T>
void cpu_axpy_into(const T* x, T* y, T alpha, int64_t n) {
  parallel_for(n, 1 << 15, [&](int64_t a, int64_t b) {
    for (int64_t e = a; e < b; ++e) y[e] = x[e] + alpha * y[e];
  });
}

/// C [M, N] += op(A)·op(B) on the cpu, by blocks of rows through a small buffer (the packed GEMM of
/// native/cpu/gemm writes C = AB; accumulating block by block avoids a full-size temporary).
template <class T>
void cpu_gemm_accumulate(int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs,
                         int64_t bcs, T* c) {
  const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(M, (int64_t(1) << 17) / std::max<int64_t>(1, N)));
  std::vector<T> tmp(static_cast<size_t>(rows * N));
  for (int64_t r0 = 0; r0 < M; r0 += rows) {
    const int64_t rb = std::min(rows, M - r0);
    gemm::gemm<T>({rb, N, K, a + r0 * ars, ars, acs, b, brs, bcs, tmp.data(), N}, num_threads());
    T* dst = c + r0 * N;
    parallel_for(rb * N, 1 << 15, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) dst[e] += tmp[e];
    });
  }
}

/// acc + b, in place into acc on the cpu (acc must be a temporary of the calling op).
Tensor add_into(const Ops& o, Tensor acc, const Tensor& b) {
  if (o.dev != Device::CPU) return o.add(acc, b);
  dispatch_float(acc.dtype(), [&](auto tag) {
    using TT = decltype(tag);
    cpu_axpy_into<TT>(b.data<TT>(), acc.data<TT>(), TT(1), acc.numel());
  });
  return acc;
}

/// The gradient reaching the weight through its Gram: conv: kernel_self_correlation_backward (`swap`:
/// the Gram is of the kernel with axes 0, 1 swapped); dense: (gG + gGᵀ)·W for G = W Wᵀ, or W·(gG + gGᵀ)
/// for M = WᵀW (`swap`). On the cpu gG comes symmetrised already.
Tensor gram_weight_grad(const Ops& o, const Tensor& gG, const Tensor& W, bool conv, bool swap) {
  if (conv) {
    if (!swap) return o.op("kernel_self_correlation_backward", {W, gG});
    return o.permute01(o.op("kernel_self_correlation_backward", {o.permute01(W), gG}));
  }
  Tensor sym = gG;
  if (o.dev != Device::CPU) {
    Attrs tr;
    tr.set("perm", std::vector<double>{1, 0});
    sym = o.add(gG, o.op("permute", {gG}, tr));
  }
  return swap ? o.mm(W, sym) : o.mm(sym, W);
}

// ---------------- SLL ----------------

void sll_forward(OpCall& c) {
  const bool conv = c.op == "sll_conv2d";
  const Ops o{c.device};
  const Tensor &x = c.inputs[0], &W = c.inputs[1], &b = c.inputs[2], &q = c.inputs[3];
  const int64_t m = W.dim(0);
  const bool cached = c.inputs.size() == 5;  // eval: T given, no Gram (G is returned empty)
  Tensor G, T;
  if (cached) {
    T = c.inputs[4];
  } else {
    G = conv ? o.op("kernel_self_correlation", {W}) : o.op("syrk", {W});
    T = o.safe_inverse(row_bound_of_gram(o, G, q));
  }
  check_finite(c, o, W, b, q, T, conv ? "K" : "W");
  Tensor z, y;
  if (c.device == Device::CPU) {
    z = conv ? o.conv(x, W, &b) : o.add(o.mm(x, W, false, true), b);
    const int64_t N = x.dim(0), P = conv ? x.dim(2) * x.dim(3) : 1;
    Tensor s = Tensor::empty(z.shape(), z.dtype(), Device::CPU);
    dispatch_float(z.dtype(), [&](auto tag) {
      using TT = decltype(tag);
      cpu_scaled_relu<TT>(z.data<TT>(), T.data<TT>(), s.data<TT>(), N, m, P);
    });
    y = conv ? o.conv_adjoint(s, W, x.shape()) : o.mm(s, W);
    s = Tensor();
    dispatch_float(z.dtype(), [&](auto tag) {
      using TT = decltype(tag);
      cpu_axpy_into<TT>(x.data<TT>(), y.data<TT>(), TT(-2), y.numel());
    });
  } else if (conv) {
    z = o.conv(x, W, &b);
    const Tensor s = o.mul(o.un("relu", z), T.view({1, m, 1, 1}));
    y = o.add(x, o.scale(o.conv_adjoint(s, W, x.shape()), -2.0));
  } else {
    z = o.add(o.mm(x, W, false, true), b);
    const Tensor s = o.mul(o.un("relu", z), T);
    y = o.add(x, o.scale(o.mm(s, W), -2.0));
  }
  c.outputs[0] = y;
  c.outputs[1] = z;
  c.outputs[2] = T;
  if (!cached) c.outputs[3] = G;
}

void sll_backward(OpCall& c) {
  const bool conv = c.op == "sll_conv2d_backward";
  const Ops o{c.device};
  const Tensor &gy = c.inputs[0], &x = c.inputs[1], &W = c.inputs[2], &q = c.inputs[3], &z = c.inputs[4],
               &T = c.inputs[5], &G = c.inputs[6];
  const int64_t m = W.dim(0);
  if (c.device == Device::CPU) {
    const int64_t N = x.dim(0), P = conv ? x.dim(2) * x.dim(3) : 1;
    Tensor gz = conv ? o.conv(gy, W, nullptr) : o.mm(gy, W, false, true);  // W·gy, turned into gz in place
    Tensor s2 = Tensor::empty(z.shape(), z.dtype(), Device::CPU);
    Tensor gT = Tensor::empty({m}, z.dtype(), Device::CPU), gb = Tensor::empty({m}, z.dtype(), Device::CPU);
    dispatch_float(z.dtype(), [&](auto tag) {
      using TT = decltype(tag);
      cpu_sll_backward_pass<TT>(gz.data<TT>(), z.data<TT>(), T.data<TT>(), s2.data<TT>(), gT.data<TT>(), gb.data<TT>(), N, m, P);
    });
    Tensor gW = conv ? o.conv_weight_grad(x, gz, W.dim(2)) : o.mm(gz, x, true);
    const int64_t F = W.numel() / m;
    if (conv) {
      gW = add_into(o, gW, o.conv_weight_grad(gy, s2, W.dim(2)));
    } else {
      dispatch_float(z.dtype(), [&](auto tag) {  // gW += s2ᵀ·gy
        using TT = decltype(tag);
        cpu_gemm_accumulate<TT>(m, F, N, s2.data<TT>(), 1, m, gy.data<TT>(), F, 1, gW.data<TT>());
      });
    }
    s2 = Tensor();
    Tensor gx = conv ? o.conv_adjoint(gz, W, x.shape()) : o.mm(gz, W);
    gz = Tensor();
    dispatch_float(z.dtype(), [&](auto tag) {
      using TT = decltype(tag);
      cpu_axpy_into<TT>(gy.data<TT>(), gx.data<TT>(), TT(1), gx.numel());
    });
    const RescaleGrad rg = rescale_backward(o, G, q, o.scale(o.mul(gT, o.mul(T, T)), -1.0), !conv);
    if (conv) {
      gW = add_into(o, gW, gram_weight_grad(o, rg.gG, W, conv, false));
    } else {
      dispatch_float(z.dtype(), [&](auto tag) {  // gW += (gG + gGᵀ)·W, gG symmetrised already
        using TT = decltype(tag);
        cpu_gemm_accumulate<TT>(m, F, m, rg.gG.data<TT>(), m, 1, W.data<TT>(), F, 1, gW.data<TT>());
      });
    }
    c.outputs[0] = gx;
    c.outputs[1] = gW;
    c.outputs[2] = gb;
    c.outputs[3] = rg.gq;
    return;
  }
  const Tensor Tb = conv ? T.view({1, m, 1, 1}) : T;
  const Tensor r = o.un("relu", z);
  const Tensor s = o.mul(r, Tb);
  const Tensor gs = o.scale(conv ? o.conv(gy, W, nullptr) : o.mm(gy, W, false, true), -2.0);
  const Tensor gT = conv ? o.sum(o.mul(gs, r), {0, 2, 3}) : o.sum(o.mul(gs, r), {0});
  const Tensor gz = o.mul(o.mul(gs, Tb), o.un("sign", r));
  Tensor gx, gW;
  if (conv) {
    const int64_t k = W.dim(2);
    gx = o.add(gy, o.conv_adjoint(gz, W, x.shape()));
    gW = o.add(o.conv_weight_grad(x, gz, k), o.scale(o.conv_weight_grad(gy, s, k), -2.0));
  } else {
    gx = o.add(gy, o.mm(gz, W));
    gW = o.add(o.mm(gz, x, true), o.scale(o.mm(s, gy, true), -2.0));
  }
  const Tensor gb = conv ? o.sum(gz, {0, 2, 3}) : o.sum(gz, {0});
  const Tensor gt = o.scale(o.mul(gT, o.mul(T, T)), -1.0);
  const RescaleGrad rg = rescale_backward(o, G, q, gt);
  gW = o.add(gW, gram_weight_grad(o, rg.gG, W, conv, false));
  c.outputs[0] = gx;
  c.outputs[1] = gW;
  c.outputs[2] = gb;
  c.outputs[3] = rg.gq;
}

// ---------------- AOL ----------------

Tensor aol_scale(const Ops& o, const Tensor& t, double eps) {
  return o.safe_inverse(o.un("sqrt", eps > 0 ? o.scale(t, 1.0, eps) : t));
}

void aol_forward(OpCall& c) {
  const bool conv = c.op == "aol_conv2d";
  const Ops o{c.device};
  const Tensor &x = c.inputs[0], &P = c.inputs[1], &b = c.inputs[2], &q = c.inputs[3];
  const bool cached = c.inputs.size() == 5;  // eval: D given, no Gram (M is returned empty)
  Tensor M, D;
  if (cached) {
    D = c.inputs[4];
  } else {
    if (conv) {
      M = o.op("kernel_self_correlation", {o.permute01(P)});
    } else {
      Attrs tr;
      tr.set("trans", true);
      M = o.op("syrk", {P}, tr);
    }
    D = aol_scale(o, row_bound_of_gram(o, M, q), conv ? kAolConvEps : 0.0);
  }
  check_finite(c, o, P, b, q, D, conv ? "K" : "P");
  Tensor y;
  if (conv) {
    y = o.conv(x, o.mul(P, D.view({1, P.dim(1), 1, 1})), &b);
  } else {
    y = o.add(o.mm(o.mul(x, D), P, false, true), b);
  }
  c.outputs[0] = y;
  c.outputs[1] = D;
  if (!cached) c.outputs[2] = M;
}

void aol_backward(OpCall& c) {
  const bool conv = c.op == "aol_conv2d_backward";
  const Ops o{c.device};
  const Tensor &gy = c.inputs[0], &x = c.inputs[1], &P = c.inputs[2], &q = c.inputs[3], &D = c.inputs[4],
               &M = c.inputs[5];
  Tensor gx, gP, gb, gD;
  if (conv) {
    const int64_t k = P.dim(2);
    const Tensor Dv = D.view({1, P.dim(1), 1, 1});
    gx = o.conv_adjoint(gy, o.mul(P, Dv), x.shape());
    const Tensor gKs = o.conv_weight_grad(x, gy, k);
    gP = o.mul(gKs, Dv);
    gD = o.sum(o.mul(gKs, P), {0, 2, 3});
    gb = o.sum(gy, {0, 2, 3});
  } else {
    const Tensor gxs = o.mm(gy, P);
    gx = o.mul(gxs, D);
    gP = o.mm(gy, o.mul(x, D), true);
    gD = o.sum(o.mul(gxs, x), {0});
    gb = o.sum(gy, {0});
  }
  const Tensor gt = o.scale(o.mul(gD, o.mul(D, o.mul(D, D))), -0.5);
  const RescaleGrad rg = rescale_backward(o, M, q, gt, !conv);
  if (!conv && c.device == Device::CPU) {
    const int64_t n = P.dim(0), d = P.dim(1);
    dispatch_float(P.dtype(), [&](auto tag) {  // gP += P·(gM + gMᵀ), gM symmetrised already
      using TT = decltype(tag);
      cpu_gemm_accumulate<TT>(n, d, d, P.data<TT>(), d, 1, rg.gG.data<TT>(), d, 1, gP.data<TT>());
    });
  } else {
    gP = add_into(o, gP, gram_weight_grad(o, rg.gG, P, conv, true));
  }
  c.outputs[0] = gx;
  c.outputs[1] = gP;
  c.outputs[2] = gb;
  c.outputs[3] = rg.gq;
}

// ---------------- validation ----------------

void require_float_same(const OpCall& c) {
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
}

void require_shape(const OpCall& c, int i, const char* what, const Shape& expect) {
  if (c.inputs[i].shape() != expect)
    fail(code::kShape, c.op, ": input ", i, " (", what, ") must have shape ", shape_str(expect), ", got ",
         shape_str(c.inputs[i].shape()));
}

/// The weight of a conv layer op: [o, c, k, k] with k odd in 1..7. Returns k.
int64_t conv_kernel(const OpCall& c, int i, const char* what) {
  const Tensor& K = c.inputs[i];
  if (K.ndim() != 4 || K.dim(2) != K.dim(3))
    fail(code::kShape, c.op, ": input ", i, " (", what, ") must be a square 4-d kernel [out, in, k, k], got shape ",
         shape_str(K.shape()));
  if (K.dim(2) % 2 == 0 || K.dim(2) < 1 || K.dim(2) > 7)
    fail(code::kUnsupported, c.op, ": kernel size ", K.dim(2), " of input ", i, " (", what,
         ") is not supported; supported kernel sizes are odd 1..7 (padding k//2 keeps the spatial size)");
  if (K.dim(0) < 1 || K.dim(1) < 1)
    fail(code::kShape, c.op, ": input ", i, " (", what, ") must have at least one output and one input channel, got shape ",
         shape_str(K.shape()));
  return K.dim(2);
}

/// Validates the (x, weight, b, q) inputs of a forward op; returns the output spec of y.
struct FwdGeom {
  Shape y;
  int64_t m;       // rows of the Gram / length of T or D
  Shape gram;      // shape of G / M
};

FwdGeom forward_geom(const OpCall& c, bool sll, bool conv) {
  require_float_same(c);
  const Tensor &x = c.inputs[0], &W = c.inputs[1];
  const char* wname = conv ? "K" : (sll ? "W" : "P");
  FwdGeom g;
  if (conv) {
    const int64_t k = conv_kernel(c, 1, wname);
    if (x.ndim() != 4 || x.dim(1) != W.dim(1) || x.dim(2) < 1 || x.dim(3) < 1)
      fail(code::kShape, c.op, ": input 0 (x) must be [N, ", W.dim(1), ", H, W] (", wname, " has shape ",
           shape_str(W.shape()), "), got shape ", shape_str(x.shape()));
    const int64_t m = sll ? W.dim(0) : W.dim(1);
    g.m = m;
    g.gram = {m, m, 2 * k - 1, 2 * k - 1};
    g.y = sll ? x.shape() : Shape{x.dim(0), W.dim(0), x.dim(2), x.dim(3)};
  } else {
    if (W.ndim() != 2 || W.dim(0) < 1 || W.dim(1) < 1)
      fail(code::kShape, c.op, ": input 1 (", wname, ") must be a non-empty matrix [", sll ? "inner, features" : "out, in",
           "], got shape ", shape_str(W.shape()));
    if (x.ndim() != 2 || x.dim(1) != W.dim(1))
      fail(code::kShape, c.op, ": input 0 (x) must be [N, ", W.dim(1), "] (", wname, " has shape ", shape_str(W.shape()),
           "), got shape ", shape_str(x.shape()));
    g.m = sll ? W.dim(0) : W.dim(1);
    g.gram = {g.m, g.m};
    g.y = sll ? x.shape() : Shape{x.dim(0), W.dim(0)};
  }
  const int64_t nb = sll ? W.dim(0) : W.dim(0);
  require_shape(c, 2, "b", {nb});
  require_shape(c, 3, "q", {g.m});
  return g;
}

void define_forward(Registry& r, const char* name, bool sll, bool conv) {
  r.define({name, 4, 5, [sll, conv](const OpCall& c) {
              FwdGeom g = forward_geom(c, sll, conv);
              const DType dt = c.inputs[0].dtype();
              if (c.inputs.size() == 5) {
                require_shape(c, 4, sll ? "T (cached)" : "D (cached)", {g.m});
                g.gram = {0};
              }
              if (sll) {
                const Tensor& x = c.inputs[0];
                const Shape z = conv ? Shape{x.dim(0), g.m, x.dim(2), x.dim(3)} : Shape{x.dim(0), g.m};
                return std::vector<TensorSpec>{{g.y, dt}, {z, dt}, {{g.m}, dt}, {g.gram, dt}};
              }
              return std::vector<TensorSpec>{{g.y, dt}, {{g.m}, dt}, {g.gram, dt}};
            }});
}

void define_backward(Registry& r, const char* name, bool sll, bool conv) {
  const int n_in = sll ? 7 : 6;
  r.define({name, n_in, n_in, [sll, conv](const OpCall& c) {
              // (gy, x, weight, q, saved...): validate (x, weight, b = gy's bias-free stand-in) by shapes.
              require_float_same(c);
              const Tensor &x = c.inputs[1], &W = c.inputs[2];
              const char* wname = conv ? "K" : (sll ? "W" : "P");
              int64_t k = 1;
              if (conv) k = conv_kernel(c, 2, wname);
              else if (W.ndim() != 2 || W.dim(0) < 1 || W.dim(1) < 1)
                fail(code::kShape, c.op, ": input 2 (", wname, ") must be a non-empty matrix, got shape ", shape_str(W.shape()));
              if (x.ndim() != (conv ? 4 : 2) || x.dim(1) != W.dim(1) || (conv && (x.dim(2) < 1 || x.dim(3) < 1)))
                fail(code::kShape, c.op, ": input 1 (x) has shape ", shape_str(x.shape()), ", which does not fit ", wname,
                     " of shape ", shape_str(W.shape()));
              const int64_t m = sll ? W.dim(0) : W.dim(1);
              Shape ys = x.shape();
              if (!sll) ys[1] = W.dim(0);
              require_shape(c, 0, "gy", ys);
              require_shape(c, 3, "q", {m});
              const Shape gram = conv ? Shape{m, m, 2 * k - 1, 2 * k - 1} : Shape{m, m};
              if (sll) {
                const Shape z = conv ? Shape{x.dim(0), m, x.dim(2), x.dim(3)} : Shape{x.dim(0), m};
                require_shape(c, 4, "z", z);
                require_shape(c, 5, "T", {m});
                require_shape(c, 6, "G", gram);
              } else {
                require_shape(c, 4, "D", {m});
                require_shape(c, 5, "M", gram);
              }
              const DType dt = x.dtype();
              return std::vector<TensorSpec>{{x.shape(), dt}, {W.shape(), dt}, {{W.dim(0)}, dt}, {{m}, dt}};
            }});
}

}  // namespace

void define_sll_ops(Registry& r) {
  define_forward(r, "sll_dense", true, false);
  define_forward(r, "sll_conv2d", true, true);
  define_forward(r, "aol_dense", false, false);
  define_forward(r, "aol_conv2d", false, true);
  define_backward(r, "sll_dense_backward", true, false);
  define_backward(r, "sll_conv2d_backward", true, true);
  define_backward(r, "aol_dense_backward", false, false);
  define_backward(r, "aol_conv2d_backward", false, true);
}

/// Registers the composite SLL/AOL kernels on `device`. Cost (dense SLL, N×F input, m inner): syrk
/// m²F, forward 4NmF, backward 8NmF + 2m²F flops; conv: one self-correlation (2m²Ck⁴), forward two
/// convs, backward five conv-sized GEMMs and the self-correlation gradient.
void register_sll(Registry& r, Device device) {
  for (const char* name : {"sll_dense", "sll_conv2d"}) r.kernel(name, device, sll_forward);
  for (const char* name : {"sll_dense_backward", "sll_conv2d_backward"}) r.kernel(name, device, sll_backward);
  for (const char* name : {"aol_dense", "aol_conv2d"}) r.kernel(name, device, aol_forward);
  for (const char* name : {"aol_dense_backward", "aol_conv2d_backward"}) r.kernel(name, device, aol_backward);
}

}  // namespace onelip
