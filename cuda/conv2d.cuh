// The CUDA convolution entry points of cuda/conv2d.cu, for fused ops that chain convolutions
// (cuda/soc.cu). float and double; device pointers to contiguous NCHW / [O, C, kh, kw] buffers; the
// geometry as validated by conv2d_geom (native/ops/ops.h); every tensor < 2^31 elements. Launches on
// the default stream.
#pragma once
#include "../native/ops/ops.h"

namespace onelip {
namespace cuda_conv {
/// y [n, o, ho, wo] = conv2d(x [n, c, h, w], w [o, c, kh, kw]) (+ bias [o] when not null).
template <class T>
void forward(const T* x, const T* w, const T* bias, T* y, const ConvGeom& g);
/// dx [n, c, h, w] = the adjoint in x of the convolution g describes, applied to go [n, o, ho, wo].
template <class T>
void backward_input(const T* go, const T* w, T* dx, const ConvGeom& g);
/// dw [o, c, kh, kw] = Σ over images of go[n] · im2col(x[n])ᵀ (overwritten).
template <class T>
void backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g);
}  // namespace cuda_conv
}  // namespace onelip
