// CPU kernels of rfft2 / irfft2 and their adjoints. A 1-d complex FFT (Stockham autosort, decimation in
// frequency, radix-4/2/3 stages with precomputed twiddles, planned once per length and dtype) runs on
// planar (re, im) buffers over "vectors": element e of the sequence is v contiguous complex numbers,
// so every stage's inner loop is a contiguous run of at least v numbers. The column pass of a 2-d
// transform is one FFT over rows of v = W/2+1 numbers; the row pass packs real rows in pairs
// (z = x₂ⱼ + i·x₂ⱼ₊₁, split afterwards by conjugate symmetry) and transforms all pairs of the plane at
// once as vectors of H/2 numbers; the inverse builds the pairs' Hermitian rows the same way and takes
// real and imaginary parts. One task per plane on the pool.
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

/// A planar complex buffer: re[i] + i·im[i].
template <class T>
struct Planar {
  T* re;
  T* im;
};

/// One Stockham stage of radix R: for every p < m, the R inputs a_j = element p + j·m of each of the s
/// interleaved sequences go through a length-R DFT, and output u (times ω_len^{p·u}) goes to element
/// R·p + u. An element is `v` contiguous numbers and the s sequences are adjacent, so for a fixed p the
/// work is one contiguous run of s·v numbers per input and per output (planar re/im: vectorizable).
template <class T, int R, bool inverse>
void stage(const Stage& st, const Cx<T>* tw, Planar<T> src, Planar<T> dst, int64_t v) {
  const T h3 = static_cast<T>(inverse ? 0.86602540378443864676 : -0.86602540378443864676);  // ∓√3/2
  const int64_t m = st.len / R, run = st.stride * v;
  const int64_t is = m * run;  // between a_j and a_{j+1}
  for (int64_t p = 0; p < m; ++p) {
    T wr[R > 1 ? R - 1 : 1], wi[R > 1 ? R - 1 : 1];
    for (int u = 0; u + 1 < R; ++u) {
      wr[u] = tw[p * (R - 1) + u].re;
      wi[u] = inverse ? -tw[p * (R - 1) + u].im : tw[p * (R - 1) + u].im;
    }
    const T* __restrict__ xr = src.re + p * run;
    const T* __restrict__ xi = src.im + p * run;
    T* __restrict__ yr = dst.re + R * p * run;
    T* __restrict__ yi = dst.im + R * p * run;
    if (R == 4) {
      const T w0r = wr[0], w0i = wi[0], w1r = wr[1], w1i = wi[1], w2r = wr[2], w2i = wi[2];
#pragma GCC ivdep  // src and dst never overlap (ping-pong buffers)
      for (int64_t c = 0; c < run; ++c) {
        const T t0r = xr[c] + xr[c + 2 * is], t0i = xi[c] + xi[c + 2 * is];
        const T t1r = xr[c] - xr[c + 2 * is], t1i = xi[c] - xi[c + 2 * is];
        const T t2r = xr[c + is] + xr[c + 3 * is], t2i = xi[c + is] + xi[c + 3 * is];
        const T dr = xr[c + is] - xr[c + 3 * is], di = xi[c + is] - xi[c + 3 * is];
        // t3 = ∓i·d (forward −i, inverse +i)
        const T t3r = inverse ? -di : di, t3i = inverse ? dr : -dr;
        yr[c] = t0r + t2r;
        yi[c] = t0i + t2i;
        const T ar = t1r + t3r, ai = t1i + t3i, br = t0r - t2r, bi = t0i - t2i, cr = t1r - t3r, ci = t1i - t3i;
        yr[c + run] = ar * w0r - ai * w0i;
        yi[c + run] = ar * w0i + ai * w0r;
        yr[c + 2 * run] = br * w1r - bi * w1i;
        yi[c + 2 * run] = br * w1i + bi * w1r;
        yr[c + 3 * run] = cr * w2r - ci * w2i;
        yi[c + 3 * run] = cr * w2i + ci * w2r;
      }
    } else if (R == 2) {
      const T w0r = wr[0], w0i = wi[0];
#pragma GCC ivdep  // src and dst never overlap (ping-pong buffers)
      for (int64_t c = 0; c < run; ++c) {
        const T ar = xr[c], ai = xi[c], br = xr[c + is], bi = xi[c + is];
        yr[c] = ar + br;
        yi[c] = ai + bi;
        const T dr = ar - br, di = ai - bi;
        yr[c + run] = dr * w0r - di * w0i;
        yi[c + run] = dr * w0i + di * w0r;
      }
    } else {
      const T w0r = wr[0], w0i = wi[0], w1r = wr[1], w1i = wi[1];
#pragma GCC ivdep  // src and dst never overlap (ping-pong buffers)
      for (int64_t c = 0; c < run; ++c) {
        const T a0r = xr[c], a0i = xi[c];
        const T sr = xr[c + is] + xr[c + 2 * is], si = xi[c + is] + xi[c + 2 * is];
        const T dr = xr[c + is] - xr[c + 2 * is], di = xi[c + is] - xi[c + 2 * is];
        const T mr = a0r - T(0.5) * sr, mi = a0i - T(0.5) * si;
        // rot = ∓i·(√3/2)·d: i·h·d = (−h·di, h·dr) with h = h3 (signed)
        const T rr = -h3 * di, ri = h3 * dr;
        yr[c] = a0r + sr;
        yi[c] = a0i + si;
        const T pr = mr + rr, pi = mi + ri, qr = mr - rr, qi = mi - ri;
        yr[c + run] = pr * w0r - pi * w0i;
        yi[c + run] = pr * w0i + pi * w0r;
        yr[c + 2 * run] = qr * w1r - qi * w1i;
        yi[c + 2 * run] = qr * w1i + qi * w1r;
      }
    }
  }
}

/// FFT of the length-n sequence of vectors x (element e = numbers e·v .. e·v + v), using y as scratch.
/// Returns the buffer holding the result (x or y). Unnormalized; `inverse` uses e^{+2πi/n}.
template <class T>
Planar<T> fft(const Plan<T>& plan, Planar<T> x, Planar<T> y, int64_t v, bool inverse) {
  Planar<T> src = x, dst = y;
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

/// Per-thread scratch: three planar buffers.
template <class T>
struct Scratch {
  std::vector<T> buf;
  Planar<T> a, b, c;
  void reserve(int64_t n) {
    if (static_cast<int64_t>(buf.size()) < 6 * n) buf.resize(static_cast<size_t>(6 * n));
    T* p = buf.data();
    const int64_t cap = static_cast<int64_t>(buf.size()) / 6;
    a = {p, p + cap};
    b = {p + 2 * cap, p + 3 * cap};
    c = {p + 4 * cap, p + 5 * cap};
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
  const int64_t Wh = W / 2 + 1, np = (H + 1) / 2;
  Scratch<T>& sc = scratch<T>();
  sc.reserve(std::max(W * np, H * Wh));
  const Plan<T>& pw = plan_for<T>(W);
  const Plan<T>& ph = plan_for<T>(H);
  // rows in pairs, all pairs at once: sequence element w is the vector (x[2j, w] + i·x[2j+1, w]) over
  // pairs j, so one FFT along W over vectors of np numbers transforms every row
  for (int64_t w = 0; w < W; ++w)
    for (int64_t j = 0; j < np; ++j) {
      sc.a.re[w * np + j] = x[2 * j * W + w];
      sc.a.im[w * np + j] = 2 * j + 1 < H ? x[(2 * j + 1) * W + w] : T(0);
    }
  const Planar<T> z = fft(pw, sc.a, sc.b, np, false);
  // split by conjugate symmetry: X₁[q] = (Z[q] + conj Z[−q])/2, X₂[q] = (Z[q] − conj Z[−q])/(2i)
  const Planar<T> col = sc.c;  // [H, Wh]
  for (int64_t q = 0; q < Wh; ++q) {
    const int64_t mq = (W - q) % W;
    for (int64_t j = 0; j < np; ++j) {
      const T ar = z.re[q * np + j], ai = z.im[q * np + j], br = z.re[mq * np + j], bi = -z.im[mq * np + j];
      col.re[2 * j * Wh + q] = T(0.5) * (ar + br);
      col.im[2 * j * Wh + q] = T(0.5) * (ai + bi);
      if (2 * j + 1 < H) {
        col.re[(2 * j + 1) * Wh + q] = T(0.5) * (ai - bi);
        col.im[(2 * j + 1) * Wh + q] = T(-0.5) * (ar - br);
      }
    }
  }
  // columns: one FFT of length H over vectors of Wh numbers
  const Planar<T> res = fft(ph, col, sc.a, Wh, false);
  const T inv = T(1) / static_cast<T>(H * W);
  for (int64_t i = 0; i < H * Wh; ++i) {
    T f = T(1);
    if (mode == kIrfft2Adjoint) f = inv * static_cast<T>(half_weight(i % Wh, W));
    out[i] = {res.re[i] * f, res.im[i] * f};
  }
}

/// One plane: half spectrum in [H, Wh] → real y [H, W] (inverse modes).
template <class T>
void inverse_plane(const Cx<T>* in, T* y, int64_t H, int64_t W, int mode) {
  const int64_t Wh = W / 2 + 1, np = (H + 1) / 2;
  Scratch<T>& sc = scratch<T>();
  sc.reserve(std::max(W * np, H * Wh));
  const Plan<T>& pw = plan_for<T>(W);
  const Plan<T>& ph = plan_for<T>(H);
  for (int64_t i = 0; i < H * Wh; ++i) {
    const T f = mode == kRfft2Adjoint && half_weight(i % Wh, W) == 2 ? T(0.5) : T(1);
    sc.c.re[i] = in[i].re * f;
    sc.c.im[i] = in[i].im * f;
  }
  const Planar<T> z = fft(ph, sc.c, sc.a, Wh, true);
  const Planar<T> f = z.re == sc.c.re ? sc.a : sc.c;  // [W, np]
  // the full Hermitian rows F₂ⱼ, F₂ⱼ₊₁ of Z, packed as F₂ⱼ + i·F₂ⱼ₊₁: IFFT gives y₂ⱼ + i·y₂ⱼ₊₁.
  // F[q] for q ≤ W/2 is Z[q] (imaginary part of self-conjugate bins dropped), else conj Z[W − q].
  for (int64_t q = 0; q < W; ++q) {
    const bool low = q < Wh;
    const int64_t src = low ? q : W - q;
    const bool selfc = low && 2 * q % W == 0;
    const T sign = low ? T(1) : T(-1);
    for (int64_t j = 0; j < np; ++j) {
      const int64_t r1 = 2 * j * Wh + src, r2 = r1 + Wh;
      const T ar = z.re[r1], ai = selfc ? T(0) : sign * z.im[r1];
      const bool pair = 2 * j + 1 < H;
      const T br = pair ? z.re[r2] : T(0), bi = pair && !selfc ? sign * z.im[r2] : T(0);
      f.re[q * np + j] = ar - bi;  // a + i·b
      f.im[q * np + j] = ai + br;
    }
  }
  const Planar<T> r = fft(pw, f, sc.b, np, true);
  const T scale = mode == kIrfft2 ? T(1) / static_cast<T>(H * W) : T(1);
  for (int64_t j = 0; j < np; ++j)
    for (int64_t w = 0; w < W; ++w) {
      y[2 * j * W + w] = r.re[w * np + j] * scale;
      if (2 * j + 1 < H) y[(2 * j + 1) * W + w] = r.im[w * np + j] * scale;
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
