// The SOC series and its adjoint, written once for both devices over a backend B that supplies:
//   B::template conv<T>(in, L, out, g)        out = L ⋆ in (the stride-1 "same" convolution g describes)
//   B::template conv_adj<T>(in, L, out, g)    out = (L⋆)ᵀ in (conv2d_backward_input)
//   B::template wgrad<T>(x, go, dL, g)        dL = conv2d_backward_weight(x, go) (overwritten)
//   B::template lin<T>(out, a, x, b, y, n)    out = a·x + b·y elementwise over n values (x may be null: out = b·y;
//                                 out may alias x or y)
//   B::kDevice                    where the scratch tensors live
// With n = terms − 1, the forward is Horner's scheme z⁽ⁿ⁺¹⁾ = x, z⁽ⁱ⁾ = x + (L ⋆ z⁽ⁱ⁺¹⁾)/i, y = z⁽¹⁾.
#pragma once
#include <cstdint>
#include "../core/tensor.h"
#include "ops.h"

namespace onelip {

/// A validated soc_exp / soc_exp_backward call (native/ops/soc.cc).
struct SocGeom {
  ConvGeom conv;          // the convolution L ⋆ x
  int64_t n = 0;          // degree = terms − 1
  int64_t saved = 0;      // leading dim of the saved-intermediates tensor
  bool save_all = false;  // forward: save z⁽²⁾..z⁽ⁿ⁾ (else at most z⁽²⁾)
  bool fast = false;      // backward: the fast weight gradient
};
SocGeom soc_geom(const OpCall& c);
/// soc_f4_step: the shape of F4 vector i (u1, v1, …, v4) and the validated 'iterations' attribute.
Shape soc_f4_shape(int i, int64_t C, int64_t kh, int64_t kw);
int64_t soc_f4_iterations(const OpCall& c);

/// y and saved (saved[i − 2] = z⁽ⁱ⁾ when save_all, saved[0] = z⁽²⁾ when one is saved).
template <class T, class B>
void soc_series_forward(const T* x, const T* L, T* y, T* saved, const SocGeom& s) {
  const ConvGeom& g = s.conv;
  const int64_t m = g.n * g.c * g.h * g.w;
  if (s.n == 0) {
    B::template lin<T>(y, T(0), nullptr, T(1), x, m);
    return;
  }
  Tensor tbuf = Tensor::empty({m}, dtype_of<T>::value, B::kDevice);
  Tensor wbuf = Tensor::empty({s.n >= 2 ? m : 0}, dtype_of<T>::value, B::kDevice);
  T* t = tbuf.data<T>();
  const T* z = x;
  for (int64_t i = s.n; i >= 1; --i) {
    B::template conv<T>(z, L, t, g);
    T* dest = i == 1                 ? y
              : s.save_all           ? saved + (i - 2) * m
              : (i == 2 && s.saved)  ? saved
                                     : wbuf.data<T>();
    B::template lin<T>(dest, T(1), x, T(1) / T(i), t, m);  // L ⋆ z was read into t, so dest may be z's buffer
    z = dest;
  }
}

/// dx = S_n(L⋆)ᵀ go and dL (exact: Σ_i wgrad(z⁽ⁱ⁺¹⁾, d⁽ⁱ⁾)/i with d⁽¹⁾ = go, d⁽ⁱ⁺¹⁾ = (L⋆)ᵀ d⁽ⁱ⁾/i;
/// fast: wgrad(z⁽²⁾, G) with G = Σ_{a<n} ((L⋆)ᵀ)^a go/(a+1)!, and dx = go + (L⋆)ᵀ G).
template <class T, class B>
void soc_series_backward(const T* go, const T* x, const T* L, const T* saved, T* dx, T* dL, const SocGeom& s) {
  const ConvGeom& g = s.conv;
  const int64_t m = g.n * g.c * g.h * g.w, kk = g.c * g.c * g.kh * g.kw;
  B::template lin<T>(dx, T(0), nullptr, T(1), go, m);
  if (s.n == 0) {
    B::template lin<T>(dL, T(0), nullptr, T(0), L, kk);
    return;
  }
  Tensor tbuf = Tensor::empty({m}, dtype_of<T>::value, B::kDevice);
  Tensor dbuf = Tensor::empty({m}, dtype_of<T>::value, B::kDevice);
  T *t = tbuf.data<T>(), *d = dbuf.data<T>();
  if (s.fast) {
    B::template lin<T>(d, T(0), nullptr, T(1), go, m);  // G
    for (int64_t i = s.n; i >= 2; --i) {
      B::template conv_adj<T>(d, L, t, g);
      B::template lin<T>(d, T(1), go, T(1) / T(i), t, m);
    }
    B::template wgrad<T>(s.n >= 2 ? saved : x, d, dL, g);
    B::template conv_adj<T>(d, L, t, g);
    B::template lin<T>(dx, T(1), dx, T(1), t, m);
    return;
  }
  Tensor wbuf = Tensor::empty({kk}, dtype_of<T>::value, B::kDevice);
  T* dw = wbuf.data<T>();
  const T* cur = go;  // d⁽ⁱ⁾
  for (int64_t i = 1; i <= s.n; ++i) {
    const T* zin = i == s.n ? x : saved + (i - 1) * m;  // z⁽ⁱ⁺¹⁾
    if (i == 1) {
      B::template wgrad<T>(zin, cur, dL, g);
    } else {
      B::template wgrad<T>(zin, cur, dw, g);
      B::template lin<T>(dL, T(1), dL, T(1) / T(i), dw, kk);
    }
    B::template conv_adj<T>(cur, L, t, g);
    B::template lin<T>(d, T(0), nullptr, T(1) / T(i), t, m);
    B::template lin<T>(dx, T(1), dx, T(1), d, m);
    cur = d;
  }
}

}  // namespace onelip
