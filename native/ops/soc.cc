// Skew orthogonal convolution (SOC, SPEC.md A.4), float32 and float64:
//   soc_skew           M [C, C, k, k] → L = ½(M − Mᵀ), Mᵀ[o, c, i, j] = M[c, o, k−1−i, k−1−j], so that
//                      the zero-padded "same" convolution x ↦ L ⋆ x is a skew-symmetric operator. The map
//                      is linear and self-adjoint: its gradient is soc_skew of the upstream gradient.
//   soc_exp            x [N, C, H, W], L [C, C, kh, kw]; attrs terms (≥ 1), save ('none' | 'last' |
//                      'all') → y = Σ_{j=0}^{n} (L⋆)^j x / j! (n = terms − 1, Horner) and the Horner
//                      intermediates the backward needs, [S, N, C, H, W]: S = 0 ('none'), min(1, n − 1)
//                      ('last': z₁ of the fast gradient), n − 1 ('all').
//   soc_exp_backward   g, x, L, saved; attrs terms, fast → dx = S_n(L⋆)ᵀ g and dL (exact, or the fast
//                      one-convolution approximation of SPEC.md A.4 when fast is true).
// L⋆ is the stride-1 convolution with zero padding kh/2, kw/2 (odd kernels, 1..7).
#include "op_util.h"
#include "ops.h"
#include "soc_series.h"

namespace onelip {
namespace {

constexpr int64_t kMaxTerms = 64;

void require_float(const OpCall& c) {
  for (size_t i = 0; i < c.inputs.size(); ++i) require_dtype_in(c, static_cast<int>(i), true, true, false);
  require_same_dtype(c);
}

/// Validates a skew kernel argument: 4-d [C, C, kh, kw], kh and kw odd in 1..7.
void check_kernel(const OpCall& c, int i, const char* what) {
  const Tensor& L = c.inputs[i];
  if (L.ndim() != 4 || L.dim(0) != L.dim(1))
    fail(code::kShape, c.op, ": input ", i, " (", what, ") must be a square-channel kernel [C, C, kh, kw], got shape ",
         shape_str(L.shape()));
  for (int d = 2; d < 4; ++d)
    if (L.dim(d) < 1 || L.dim(d) > 7 || L.dim(d) % 2 == 0)
      fail(code::kUnsupported, c.op, ": input ", i, " (", what, ") has a ", L.dim(2), "×", L.dim(3),
           " kernel; supported kernel sizes are odd, 1..7 (zero padding k/2 keeps the operator skew)");
}

}  // namespace

SocGeom soc_geom(const OpCall& c) {
  require_float(c);
  SocGeom s;
  const bool backward = c.op == "soc_exp_backward";
  const int xi = backward ? 1 : 0, li = backward ? 2 : 1;
  const Tensor& x = c.inputs[xi];
  if (x.ndim() != 4) fail(code::kShape, c.op, ": input ", xi, " (x) must be 4-d [N, C, H, W], got shape ", shape_str(x.shape()));
  check_kernel(c, li, "L");
  const Tensor& L = c.inputs[li];
  if (L.dim(1) != x.dim(1))
    fail(code::kShape, c.op, ": input ", li, " (L) has ", L.dim(1), " channels (shape ", shape_str(L.shape()),
         ") but input ", xi, " (x) has ", x.dim(1), " (shape ", shape_str(x.shape()), ")");
  if (!c.attrs.has("terms")) fail(code::kArgument, c.op, ": missing attribute 'terms'");
  const double t = c.attrs.get_float("terms");
  if (!(t >= 1 && t <= kMaxTerms) || t != static_cast<double>(static_cast<int64_t>(t)))
    fail(code::kArgument, c.op, ": attribute 'terms' must be an integer in 1..", kMaxTerms, ", got ", t);
  s.n = static_cast<int64_t>(t) - 1;
  ConvGeom& g = s.conv;
  g.kind = ConvKind::Forward;
  g.n = x.dim(0); g.c = x.dim(1); g.h = x.dim(2); g.w = x.dim(3); g.o = g.c;
  g.kh = L.dim(2); g.kw = L.dim(3); g.ph = g.kh / 2; g.pw = g.kw / 2; g.sh = g.sw = 1;
  g.ho = g.h; g.wo = g.w;
  if (backward) {
    s.fast = c.attrs.get_bool("fast", false);
    s.saved = s.fast ? (s.n >= 2 ? 1 : 0) : std::max<int64_t>(0, s.n - 1);
    const Tensor& go = c.inputs[0];
    if (go.shape() != x.shape())
      fail(code::kShape, c.op, ": input 0 (grad_out) has shape ", shape_str(go.shape()), " but x has ", shape_str(x.shape()));
    const Tensor& sv = c.inputs[3];
    const Shape need = {s.saved, g.n, g.c, g.h, g.w};
    // The fast gradient reads only z₁ = saved[0], which leads both layouts.
    const bool ok = sv.shape() == need ||
                    (s.fast && s.saved == 1 && sv.ndim() == 5 && sv.dim(0) == s.n - 1 &&
                     Shape(sv.shape().begin() + 1, sv.shape().end()) == x.shape());
    if (!ok)
      fail(code::kShape, c.op, ": input 3 (saved) has shape ", shape_str(sv.shape()), "; ", s.fast ? "the fast" : "the exact",
           " gradient with terms ", s.n + 1, " needs the intermediates soc_exp saved with save='", s.fast ? "last" : "all",
           "', shape ", shape_str(need));
  } else {
    const std::string save = c.attrs.get_string("save", "none");
    if (save == "none") s.saved = 0;
    else if (save == "last") s.saved = s.n >= 2 ? 1 : 0;
    else if (save == "all") s.saved = std::max<int64_t>(0, s.n - 1);
    else fail(code::kArgument, c.op, ": attribute 'save' must be 'none', 'last' or 'all', got '", save, "'");
    s.save_all = save == "all";
  }
  return s;
}

/// The expected shape of F4 vector `i` (0..7: u1, v1, u2, v2, u3, v3, u4, v4) for a kernel [C, C, kh, kw].
Shape soc_f4_shape(int i, int64_t C, int64_t kh, int64_t kw) {
  switch (i) {
    case 0: return {1, C, 1, kw};
    case 1: return {C, 1, kh, 1};
    case 2: return {1, C, kh, 1};
    case 3: return {C, 1, 1, kw};
    case 4: return {1, C, kh, kw};
    case 5: return {C, 1, 1, 1};
    case 6: return {C, 1, kh, kw};
    default: return {1, C, 1, 1};
  }
}

int64_t soc_f4_iterations(const OpCall& c) {
  const double it = c.attrs.get_float("iterations", 1);
  if (!(it >= 1 && it <= 10000) || it != static_cast<double>(static_cast<int64_t>(it)))
    fail(code::kArgument, c.op, ": attribute 'iterations' must be an integer in 1..10000, got ", it);
  return static_cast<int64_t>(it);
}

void define_soc_ops(Registry& r) {
  // soc_f4_step: L, u1, v1, u2, v2, u3, v3, u4, v4 → the 8 vectors after `iterations` F4 power steps
  // (SPEC.md A.4: each v_i ← normalize(Σ L ⊙ u_i), then u_i ← normalize(Σ L ⊙ v_i)) and σ [4],
  // σ_i = Σ L ⊙ u_i ⊙ v_i with the new vectors.
  r.define({"soc_f4_step", 9, 9, [](const OpCall& c) {
              require_float(c);
              check_kernel(c, 0, "L");
              const Tensor& L = c.inputs[0];
              const char* names[8] = {"u1", "v1", "u2", "v2", "u3", "v3", "u4", "v4"};
              std::vector<TensorSpec> out;
              for (int i = 0; i < 8; ++i) {
                const Shape want = soc_f4_shape(i, L.dim(0), L.dim(2), L.dim(3));
                if (c.inputs[i + 1].shape() != want)
                  fail(code::kShape, c.op, ": input ", i + 1, " (", names[i], ") must have shape ", shape_str(want),
                       " for a kernel ", shape_str(L.shape()), ", got ", shape_str(c.inputs[i + 1].shape()));
                out.push_back({want, L.dtype()});
              }
              soc_f4_iterations(c);
              out.push_back({Shape{4}, L.dtype()});
              return out;
            }});
  r.define({"soc_skew", 1, 1, [](const OpCall& c) {
              require_float(c);
              check_kernel(c, 0, "M");
              return std::vector<TensorSpec>{{c.inputs[0].shape(), c.inputs[0].dtype()}};
            }});
  r.define({"soc_exp", 2, 2, [](const OpCall& c) {
              const SocGeom s = soc_geom(c);
              const Tensor& x = c.inputs[0];
              const Shape saved = {s.saved, x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
              return std::vector<TensorSpec>{{x.shape(), x.dtype()}, {saved, x.dtype()}};
            }});
  r.define({"soc_exp_backward", 4, 4, [](const OpCall& c) {
              soc_geom(c);
              return std::vector<TensorSpec>{{c.inputs[1].shape(), c.inputs[1].dtype()}, {c.inputs[2].shape(), c.inputs[2].dtype()}};
            }});
}

}  // namespace onelip
