// CPU kernels of rfft2 / irfft2 and their adjoints. A 1-d complex FFT (Stockham autosort, decimation in
// frequency, radix-4/2/3 stages with precomputed twiddles, planned once per length and dtype) runs
// over "vectors": element e of the sequence is v contiguous complex numbers, so the column pass of a
// 2-d transform is one FFT over rows of v = W/2+1 numbers whose inner loop is contiguous. Real rows go
// two at a time through one complex FFT (z = x₁ + i·x₂, split by conjugate symmetry); the inverse
// builds two Hermitian rows and takes the real and imaginary parts. One task per plane on the pool.
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>
#include "../core/thread_pool.h"
#include "../ops/fft.h"
#include "cpu_ops.h"

namespace onelip {
namespace {

template <class T>
struct Cx {
  T re, im;
};
template <class T> inline Cx<T> operator+(Cx<T> a, Cx<T> b) { return {a.re + b.re, a.im + b.im}; }
template <class T> inline Cx<T> operator-(Cx<T> a, Cx<T> b) { return {a.re - b.re, a.im - b.im}; }
template <class T> inline Cx<T> operator*(Cx<T> a, Cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <class T> inline Cx<T> scaled(Cx<T> a, T s) { return {a.re * s, a.im * s}; }
template <class T> inline Cx<T> conj(Cx<T> a) { return {a.re, -a.im}; }
/// ±i·a: +i when `plus`.
template <class T> inline Cx<T> times_i(Cx<T> a, bool plus) { return plus ? Cx<T>{-a.im, a.re} : Cx<T>{a.im, -a.re}; }

struct Stage {
  int radix;
  int64_t len;     // length of the sub-transforms at this stage
  int64_t stride;  // number of interleaved sub-transforms (s)
  size_t tw;       // offset of this stage's twiddles: (len/radix)·(radix−1) values ω_len^{p·u}
};

/// The stages and twiddles of a length-n forward FFT (the inverse conjugates the twiddles).
template <class T>
struct Plan {
  int64_t n = 0;
  std::vector<Stage> stages;
  std::vector<Cx<T>> tw;
};

template <class T>
std::unique_ptr<Plan<T>> make_plan(int64_t n) {
  auto p = std::make_unique<Plan<T>>();
  p->n = n;
  int64_t len = n, stride = 1;
  while (len > 1) {
    const int r = len % 4 == 0 ? 4 : len % 2 == 0 ? 2 : 3;
    const int64_t m = len / r;
    p->stages.push_back({r, len, stride, p->tw.size()});
    for (int64_t q = 0; q < m; ++q)
      for (int u = 1; u < r; ++u) {
        const double a = -2.0 * M_PI * static_cast<double>(q * u) / static_cast<double>(len);
        p->tw.push_back({static_cast<T>(std::cos(a)), static_cast<T>(std::sin(a))});
      }
    len = m;
    stride *= r;
  }
  return p;
}

template <class T>
const Plan<T>& plan_for(int64_t n) {
  static std::mutex mu;
  static std::map<int64_t, std::unique_ptr<Plan<T>>> plans;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = plans[n];
  if (!slot) slot = make_plan<T>(n);
  return *slot;
}

/// One Stockham stage of radix R: for every p < m, the R inputs a_j = element p + j·m of each of the s
/// interleaved sequences go through a length-R DFT, and output u (times ω_len^{p·u}) goes to element
/// R·p + u. An element is `v` contiguous numbers and the s sequences are adjacent, so for a fixed p the
/// work is one contiguous run of s·v numbers per input and per output.
template <class T, int R, bool inverse>
void stage(const Stage& st, const Cx<T>* tw, const Cx<T>* __restrict__ src, Cx<T>* __restrict__ dst, int64_t v) {
  const T h3 = static_cast<T>(0.86602540378443864676);  // √3/2
  const int64_t m = st.len / R, run = st.stride * v;
  const int64_t istep = m * run;  // between a_j and a_{j+1}
  for (int64_t p = 0; p < m; ++p) {
    Cx<T> w[R > 1 ? R - 1 : 1];
    for (int u = 0; u + 1 < R; ++u) w[u] = inverse ? conj(tw[p * (R - 1) + u]) : tw[p * (R - 1) + u];
    const Cx<T>* __restrict__ in = src + p * run;
    Cx<T>* __restrict__ out = dst + R * p * run;
    if (R == 4) {
      for (int64_t c = 0; c < run; ++c) {
        const Cx<T> a0 = in[c], a1 = in[c + istep], a2 = in[c + 2 * istep], a3 = in[c + 3 * istep];
        const Cx<T> t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3, t3 = times_i(a1 - a3, inverse);
        out[c] = t0 + t2;
        out[c + run] = (t1 + t3) * w[0];
        out[c + 2 * run] = (t0 - t2) * w[1];
        out[c + 3 * run] = (t1 - t3) * w[2];
      }
    } else if (R == 2) {
      for (int64_t c = 0; c < run; ++c) {
        const Cx<T> a0 = in[c], a1 = in[c + istep];
        out[c] = a0 + a1;
        out[c + run] = (a0 - a1) * w[0];
      }
    } else {
      for (int64_t c = 0; c < run; ++c) {
        const Cx<T> a0 = in[c], a1 = in[c + istep], a2 = in[c + 2 * istep];
        const Cx<T> sum = a1 + a2, mid = a0 - scaled(sum, T(0.5));
        const Cx<T> rot = times_i(scaled(a1 - a2, h3), inverse);
        out[c] = a0 + sum;
        out[c + run] = (mid + rot) * w[0];
        out[c + 2 * run] = (mid - rot) * w[1];
      }
    }
  }
}

/// FFT of the length-n sequence of vectors x (element e = x[e·v .. e·v + v)), using y as scratch.
/// Returns the buffer holding the result (x or y). Unnormalized; `inverse` uses e^{+2πi/n}.
template <class T>
Cx<T>* fft(const Plan<T>& plan, Cx<T>* x, Cx<T>* y, int64_t v, bool inverse) {
  Cx<T>* src = x;
  Cx<T>* dst = y;
  for (const Stage& st : plan.stages) {
    const Cx<T>* tw = plan.tw.data() + st.tw;
    if (inverse) {
      if (st.radix == 4) stage<T, 4, true>(st, tw, src, dst, v);
      else if (st.radix == 2) stage<T, 2, true>(st, tw, src, dst, v);
      else stage<T, 3, true>(st, tw, src, dst, v);
    } else {
      if (st.radix == 4) stage<T, 4, false>(st, tw, src, dst, v);
      else if (st.radix == 2) stage<T, 2, false>(st, tw, src, dst, v);
      else stage<T, 3, false>(st, tw, src, dst, v);
    }
    std::swap(src, dst);
  }
  return src;
}

/// Per-thread scratch buffers of complex numbers.
template <class T>
struct Scratch {
  std::vector<Cx<T>> a, b, c;
  void reserve(int64_t n) {
    if (static_cast<int64_t>(a.size()) < n) {
      a.resize(n);
      b.resize(n);
      c.resize(n);
    }
  }
};
template <class T>
Scratch<T>& scratch() {
  thread_local Scratch<T> s;
  return s;
}

/// One plane: real x [H, W] → half spectrum out [H, Wh] (forward modes).
template <class T>
void forward_plane(const T* x, Cx<T>* out, int64_t H, int64_t W, int mode) {
  const int64_t Wh = W / 2 + 1;
  Scratch<T>& sc = scratch<T>();
  sc.reserve(std::max(W, H * Wh));
  const Plan<T>& pw = plan_for<T>(W);
  const Plan<T>& ph = plan_for<T>(H);
  // rows, two at a time: Z = FFT(x₁ + i x₂); X₁[q] = (Z[q] + conj Z[−q])/2, X₂[q] = (Z[q] − conj Z[−q])/(2i)
  for (int64_t h = 0; h < H; h += 2) {
    const bool pair = h + 1 < H;
    const T* r1 = x + h * W;
    const T* r2 = pair ? r1 + W : nullptr;
    for (int64_t w = 0; w < W; ++w) sc.a[w] = {r1[w], pair ? r2[w] : T(0)};
    const Cx<T>* z = fft(pw, sc.a.data(), sc.b.data(), 1, false);
    for (int64_t q = 0; q < Wh; ++q) {
      const Cx<T> zq = z[q], zc = conj(z[(W - q) % W]);
      out[h * Wh + q] = scaled(zq + zc, T(0.5));
      if (pair) {
        const Cx<T> d = zq - zc;  // (d)/(2i) = (d.im, −d.re)/2
        out[(h + 1) * Wh + q] = {d.im * T(0.5), -d.re * T(0.5)};
      }
    }
  }
  // columns: one FFT of length H over vectors of Wh numbers
  const Cx<T>* res = fft(ph, out, sc.c.data(), Wh, false);
  const T inv = T(1) / static_cast<T>(H * W);
  for (int64_t i = 0; i < H * Wh; ++i) {
    Cx<T> v = res[i];
    if (mode == kIrfft2Adjoint) v = scaled(v, inv * static_cast<T>(half_weight(i % Wh, W)));
    out[i] = v;
  }
}

/// One plane: half spectrum in [H, Wh] → real y [H, W] (inverse modes).
template <class T>
void inverse_plane(const Cx<T>* in, T* y, int64_t H, int64_t W, int mode) {
  const int64_t Wh = W / 2 + 1;
  Scratch<T>& sc = scratch<T>();
  sc.reserve(std::max(2 * W, H * Wh));
  const Plan<T>& pw = plan_for<T>(W);
  const Plan<T>& ph = plan_for<T>(H);
  std::vector<Cx<T>>& col = sc.c;  // [H, Wh]
  for (int64_t i = 0; i < H * Wh; ++i) {
    Cx<T> v = in[i];
    if (mode == kRfft2Adjoint && half_weight(i % Wh, W) == 2) v = scaled(v, T(0.5));
    col[i] = v;
  }
  const Cx<T>* z = fft(ph, col.data(), sc.a.data(), Wh, true);
  if (z != col.data()) std::copy(z, z + H * Wh, col.data());
  const T scale = mode == kIrfft2 ? T(1) / static_cast<T>(H * W) : T(1);
  // rows, two at a time: the full Hermitian rows F₁, F₂ of Z rows h, h+1; IFFT(F₁ + i F₂) = y₁ + i y₂
  for (int64_t h = 0; h < H; h += 2) {
    const bool pair = h + 1 < H;
    const Cx<T>* z1 = col.data() + h * Wh;
    const Cx<T>* z2 = pair ? z1 + Wh : nullptr;
    Cx<T>* f = sc.a.data();
    for (int64_t q = 0; q < W; ++q) {
      // F[q] for q ≤ W/2 is Z[q] (imaginary part of self-conjugate bins dropped), else conj Z[W − q]
      const bool low = q < Wh;
      const int64_t src = low ? q : W - q;
      const bool selfc = low && 2 * q % W == 0;
      Cx<T> a = z1[src], b = pair ? z2[src] : Cx<T>{T(0), T(0)};
      if (selfc) {
        a.im = 0;
        b.im = 0;
      } else if (!low) {
        a = conj(a);
        b = conj(b);
      }
      f[q] = a + times_i(b, true);
    }
    const Cx<T>* r = fft(pw, f, sc.b.data(), 1, true);
    for (int64_t w = 0; w < W; ++w) {
      y[h * W + w] = r[w].re * scale;
      if (pair) y[(h + 1) * W + w] = r[w].im * scale;
    }
  }
}

void fft_op(OpCall& c, int mode) {
  const bool fwd = mode == kRfft2 || mode == kIrfft2Adjoint;
  const Tensor& real = fwd ? c.inputs[0] : c.outputs[0];
  int64_t planes, H, W;
  fft2_dims(real, &planes, &H, &W);
  if (planes == 0) return;
  const int64_t Wh = W / 2 + 1;
  dispatch_float(real.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const int64_t grain = std::max<int64_t>(1, 4096 / (H * W));
    if (fwd) {
      const T* x = c.inputs[0].data<T>();
      Cx<T>* out = reinterpret_cast<Cx<T>*>(c.outputs[0].data<T>());
      parallel_for(planes, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) forward_plane<T>(x + i * H * W, out + i * H * Wh, H, W, mode);
      });
    } else {
      const Cx<T>* in = reinterpret_cast<const Cx<T>*>(c.inputs[0].data<T>());
      T* y = c.outputs[0].data<T>();
      parallel_for(planes, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) inverse_plane<T>(in + i * H * Wh, y + i * H * W, H, W, mode);
      });
    }
  });
}

}  // namespace

/// Registers the CPU kernels of rfft2, irfft2 and their adjoints rfft2_backward, irfft2_backward
/// (mixed-radix Stockham FFTs, one plane per pool task). Cost per plane: O(HW log HW).
void register_cpu_fft(Registry& r) {
  r.kernel("rfft2", Device::CPU, [](OpCall& c) { fft_op(c, kRfft2); });
  r.kernel("irfft2", Device::CPU, [](OpCall& c) { fft_op(c, kIrfft2); });
  r.kernel("rfft2_backward", Device::CPU, [](OpCall& c) { fft_op(c, kRfft2Adjoint); });
  r.kernel("irfft2_backward", Device::CPU, [](OpCall& c) { fft_op(c, kIrfft2Adjoint); });
}

}  // namespace onelip
