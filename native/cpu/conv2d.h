// The CPU convolution entry points of native/cpu/conv2d.cc, for fused ops that chain convolutions
// (native/cpu/soc.cc). float and double; pointers to contiguous NCHW / [O, C, kh, kw] buffers; the
// geometry as validated by conv2d_geom (native/ops/ops.h). Each call uses the whole thread pool.
#pragma once
#include "../ops/ops.h"

namespace onelip {
namespace cpu {
/// y [n, o, ho, wo] = conv2d(x [n, c, h, w], w [o, c, kh, kw]) (+ bias [o] when not null).
template <class T>
void conv_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeom& g);
/// dx [n, c, h, w] = the adjoint in x of the convolution g describes, applied to go [n, o, ho, wo].
template <class T>
void conv_backward_input(const T* go, const T* w, T* dx, const ConvGeom& g);
/// dw [o, c, kh, kw] = Σ over images of go[n] · im2col(x[n])ᵀ (overwritten, not accumulated).
template <class T>
void conv_backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g);
}  // namespace cpu
}  // namespace onelip
