// Channel/space rearrangements: pixel_unshuffle and pixel_shuffle (each the other's inverse and
// gradient), pad_channels and first_channels (zero padding / truncation along dim 1, each the other's
// gradient). All four only move elements, so they accept every dtype.
#include "op_util.h"

namespace onelip {
namespace {

constexpr int64_t kMaxFactor = 1024;

/// attr 'factor' of the pixel (un)shuffle ops: an integer in 1..kMaxFactor.
int64_t shuffle_factor(const OpCall& c) {
  const int64_t r = c.attrs.get_int("factor");
  if (r < 1 || r > kMaxFactor)
    fail(code::kArgument, c.op, ": attribute 'factor' must be an integer in 1..", kMaxFactor, ", got ", r);
  return r;
}

/// a·b for an output dimension; a dim of a tensor with a zero-size dim can be huge, so check.
int64_t dim_mul(const OpCall& c, int64_t a, int64_t b) {
  int64_t p;
  if (__builtin_mul_overflow(a, b, &p) || p > (int64_t(1) << 40))
    fail(code::kShape, c.op, ": output dimension ", a, " x ", b, " is too large (at most 2^40)");
  return p;
}

/// attr 'channels' of pad_channels / first_channels: an integer >= 0.
int64_t channels_attr(const OpCall& c) {
  const int64_t ch = c.attrs.get_int("channels");
  if (ch < 0) fail(code::kArgument, c.op, ": attribute 'channels' must be a non-negative integer, got ", ch);
  return ch;
}

void require_4d(const OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.ndim() != 4)
    fail(code::kShape, c.op, ": input 0 must be 4-d [N, C, H, W], got shape ", shape_str(x.shape()));
}

void require_channel_dim(const OpCall& c) {
  const Tensor& x = c.inputs[0];
  if (x.ndim() < 2)
    fail(code::kShape, c.op, ": input 0 must have a channel dimension ([N, C] or [N, C, ...]), got shape ",
         shape_str(x.shape()));
}

}  // namespace

void define_shuffle_ops(Registry& r) {
  // [N, C, H, W] → [N, C·r², H/r, W/r]; out channel c·r² + i·r + j holds x[c, h·r + i, w·r + j].
  r.define({"pixel_unshuffle", 1, 1, [](const OpCall& c) {
              require_4d(c);
              const int64_t f = shuffle_factor(c);
              const Tensor& x = c.inputs[0];
              if (x.dim(2) % f != 0 || x.dim(3) % f != 0)
                fail(code::kShape, c.op, ": height ", x.dim(2), " and width ", x.dim(3), " of input 0 (shape ",
                     shape_str(x.shape()), ") must both be divisible by attribute 'factor' (", f, ")");
              return std::vector<TensorSpec>{{{x.dim(0), dim_mul(c, x.dim(1), f * f), x.dim(2) / f, x.dim(3) / f}, x.dtype()}};
            }});
  // [N, C·r², H, W] → [N, C, H·r, W·r], the inverse of pixel_unshuffle.
  r.define({"pixel_shuffle", 1, 1, [](const OpCall& c) {
              require_4d(c);
              const int64_t f = shuffle_factor(c);
              const Tensor& x = c.inputs[0];
              if (x.dim(1) % (f * f) != 0)
                fail(code::kShape, c.op, ": channels ", x.dim(1), " of input 0 (shape ", shape_str(x.shape()),
                     ") must be divisible by factor² = ", f * f, " (attribute 'factor' = ", f, ")");
              return std::vector<TensorSpec>{
                  {{x.dim(0), x.dim(1) / (f * f), dim_mul(c, x.dim(2), f), dim_mul(c, x.dim(3), f)}, x.dtype()}};
            }});
  // [N, C, ...] → [N, channels, ...], channels >= C, the new channels zero.
  r.define({"pad_channels", 1, 1, [](const OpCall& c) {
              require_channel_dim(c);
              const int64_t ch = channels_attr(c);
              const Tensor& x = c.inputs[0];
              if (ch < x.dim(1))
                fail(code::kShape, c.op, ": attribute 'channels' (", ch, ") must be >= the input's ", x.dim(1),
                     " channels (shape ", shape_str(x.shape()), "); use first_channels to truncate");
              Shape out = x.shape();
              out[1] = ch;
              return std::vector<TensorSpec>{{out, x.dtype()}};
            }});
  // [N, C, ...] → [N, channels, ...], channels <= C: the first channels.
  r.define({"first_channels", 1, 1, [](const OpCall& c) {
              require_channel_dim(c);
              const int64_t ch = channels_attr(c);
              const Tensor& x = c.inputs[0];
              if (ch > x.dim(1))
                fail(code::kShape, c.op, ": attribute 'channels' (", ch, ") must be <= the input's ", x.dim(1),
                     " channels (shape ", shape_str(x.shape()), "); use pad_channels to add channels");
              Shape out = x.shape();
              out[1] = ch;
              return std::vector<TensorSpec>{{out, x.dtype()}};
            }});
}

}  // namespace onelip
