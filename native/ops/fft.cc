// 2-d real FFTs over the last two axes (complex values as a trailing dimension of 2: re, im):
// rfft2 (x [..., H, W] → X [..., H, W/2+1, 2], unnormalized, PyTorch's default norm), irfft2
// (X [..., H, W/2+1, 2], attr size [H, W] → [..., H, W], scaled by 1/(H·W); the imaginary parts of
// self-conjugate bins are ignored), and their adjoints rfft2_backward / irfft2_backward (the gradient
// ops: the half spectrum makes the adjoints differ from each other by per-column weights).
#include "fft.h"
#include "op_util.h"

namespace onelip {

bool fft_size_supported(int64_t n) {
  if (n < 1 || n > kFftMaxSize) return false;
  if (n % 3 == 0) n /= 3;
  return (n & (n - 1)) == 0;
}

namespace {

void require_size(const OpCall& c, const char* what, int64_t n) {
  if (!fft_size_supported(n))
    fail(code::kArgument, c.op, ": ", what, " ", n,
         " is not a supported transform size; supported: 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64 (2^k and 3·2^k up to ",
         kFftMaxSize, ")");
}

void require_float(const OpCall& c) {
  require_dtype_in(c, 0, true, true, false);
}

/// [H, W] of attr 'size' (required), both supported sizes.
void size_attr(const OpCall& c, int64_t* h, int64_t* w) {
  if (!c.attrs.has("size")) fail(code::kArgument, c.op, ": missing attribute 'size' ([H, W] of the real signal)");
  const std::vector<int64_t> s = c.attrs.get_ints("size");
  if (s.size() != 2) fail(code::kArgument, c.op, ": attribute 'size' must be [H, W], got ", s.size(), " values");
  require_size(c, "size[0] (H)", s[0]);
  require_size(c, "size[1] (W)", s[1]);
  *h = s[0];
  *w = s[1];
}

/// A real signal [..., H, W] → the half-spectrum shape [..., H, W/2+1, 2].
std::vector<TensorSpec> real_to_half(const OpCall& c) {
  require_float(c);
  const Tensor& x = c.inputs[0];
  if (x.ndim() < 2 || x.ndim() > kMaxDims - 1)
    fail(code::kShape, c.op, ": input 0 must be [..., H, W] with 2 to ", kMaxDims - 1, " dims, got shape ",
         shape_str(x.shape()));
  const int64_t h = x.dim(x.ndim() - 2), w = x.dim(x.ndim() - 1);
  require_size(c, "height H", h);
  require_size(c, "width W", w);
  Shape out = x.shape();
  out.back() = w / 2 + 1;
  out.push_back(2);
  return {{out, x.dtype()}};
}

/// A half spectrum [..., H, W/2+1, 2] with attr size [H, W] → the real shape [..., H, W].
std::vector<TensorSpec> half_to_real(const OpCall& c) {
  require_float(c);
  const Tensor& x = c.inputs[0];
  int64_t h, w;
  size_attr(c, &h, &w);
  const int nd = x.ndim();
  if (nd < 3 || x.dim(nd - 1) != 2 || x.dim(nd - 2) != w / 2 + 1 || x.dim(nd - 3) != h)
    fail(code::kShape, c.op, ": input 0 must be the half spectrum [..., H, W/2+1, 2] = [..., ", h, ", ", w / 2 + 1,
         ", 2] for size [", h, ", ", w, "], got shape ", shape_str(x.shape()));
  Shape out(x.shape().begin(), x.shape().end() - 1);
  out.back() = w;
  return {{out, x.dtype()}};
}

}  // namespace

void fft2_dims(const Tensor& real, int64_t* batch, int64_t* h, int64_t* w) {
  const int nd = real.ndim();
  *h = real.dim(nd - 2);
  *w = real.dim(nd - 1);
  *batch = (*h) * (*w) == 0 ? 0 : real.numel() / ((*h) * (*w));
}

void define_fft_ops(Registry& r) {
  // x [..., H, W] → X [..., H, W/2+1, 2]: X[p, q] = Σ_{h,w} x[h, w]·e^{−2πi(ph/H + qw/W)}.
  r.define({"rfft2", 1, 1, real_to_half});
  // X [..., H, W/2+1, 2], size [H, W] → x [..., H, W] = (1/HW)·Re Σ_{p, q ≤ W/2} c_q X[p, q]·e^{+2πi(ph/H + qw/W)},
  // c_q = 1 for q = 0 and q = W/2, else 2 (the Hermitian extension of the half spectrum).
  r.define({"irfft2", 1, 1, half_to_real});
  // The adjoint of rfft2 (its gradient): G [..., H, W/2+1, 2], size [H, W] → Re Σ_{p, q ≤ W/2} G[p, q]·e^{+2πi(ph/H + qw/W)}.
  r.define({"rfft2_backward", 1, 1, half_to_real});
  // The adjoint of irfft2 (its gradient): g [..., H, W] → (c_q/HW)·rfft2(g)[p, q].
  r.define({"irfft2_backward", 1, 1, real_to_half});
}

}  // namespace onelip
