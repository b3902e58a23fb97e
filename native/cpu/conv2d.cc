// CPU kernels of the conv2d family on the packed GEMM of native/cpu/gemm/ (through gemm/gemm.h).
// Per image, with K = C·kh·kw and P = Ho·Wo:
//   forward          y[n] [O, P] = w [O, K] · col(x[n]) [K, P]             (col = im2col; 1×1 convs
//                    with stride 1 and no padding use x[n] itself)
//   backward weight  dw [O, K] = Σ_n g[n] [O, P] · col(x[n])ᵀ              (images split between
//                    threads, one partial sum per thread, added at the end: no race, deterministic)
//   backward input   stride 1 (and padding ≤ k − 1): a forward conv of g with the flipped, transposed
//                    kernel and padding k − 1 − p (the same GEMM shape as the forward, no scatter);
//                    otherwise dcol = wᵀ · g[n], then col2im (the adjoint of im2col) into dx[n].
// Images run in parallel (one GEMM thread each) when there are enough of them, else one after the
// other with every thread in each GEMM.
#include <algorithm>
#include <cstring>
#include <vector>
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "cpu_ops.h"
#include "conv2d.h"
#include "gemm/gemm.h"

namespace onelip {
namespace {

// An image smaller than this many flops runs on one thread and the batch is split across the pool.
constexpr double kImageSerialFlops = 2e7;

/// A grow-only per-thread buffer of T (the im2col matrix, GEMM partial results).
template <class T, int Slot>
T* scratch(size_t n) {
  thread_local std::vector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

/// col [C·kh·kw, Ho·Wo] from one image x [C, H, W]: row (c, i, j), column (oh, ow) holds
/// x[c, oh·sh − ph + i, ow·sw − pw + j], or 0 in the padding.
template <class T>
void im2col(const T* x, T* col, const ConvGeom& g, int64_t ld = 0) {
  const int64_t P = ld ? ld : g.ho * g.wo;
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * P;  // P: the row stride here
        // Output columns whose input column ow·sw − pw + j lies inside [0, W).
        const int64_t lo = std::min(g.wo, std::max<int64_t>(0, (g.pw - j + g.sw - 1) / g.sw));
        const int64_t hi = std::max(lo, std::min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw));
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          T* dst = row + oh * g.wo;
          const int64_t ih = oh * g.sh - g.ph + i;
          if (ih < 0 || ih >= g.h) {
            std::fill(dst, dst + g.wo, T(0));
            continue;
          }
          const T* src = x + (c * g.h + ih) * g.w;  // input column of output column ow: ow·sw − pw + j
          std::fill(dst, dst + lo, T(0));
          if (g.sw == 1) {
            std::memcpy(dst + lo, src + (lo - g.pw + j), sizeof(T) * (hi - lo));
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw - g.pw + j];
          }
          std::fill(dst + hi, dst + g.wo, T(0));
        }
      }
}

/// dx [C, H, W] = col2im(dcol): the adjoint of im2col (dx zeroed first, then every column entry added
/// to the input element it was read from).
template <class T>
void col2im(const T* dcol, T* dx, const ConvGeom& g) {
  const int64_t P = g.ho * g.wo;
  std::fill(dx, dx + g.c * g.h * g.w, T(0));
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = dcol + ((c * g.kh + i) * g.kw + j) * P;
        const int64_t lo = std::min(g.wo, std::max<int64_t>(0, (g.pw - j + g.sw - 1) / g.sw));
        const int64_t hi = std::max(lo, std::min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw));
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + i;
          if (ih < 0 || ih >= g.h) continue;
          const T* src = row + oh * g.wo;
          T* dst = dx + (c * g.h + ih) * g.w;
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw - g.pw + j] += src[ow];
        }
      }
}

/// dst [cols, rows] = srcᵀ (+ bias[c] on row c of dst) for src [rows, cols], in 32×32 blocks.
template <class T>
void transpose_add_bias(const T* src, int64_t rows, int64_t cols, const T* bias, T* dst) {
  constexpr int64_t B = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += B)
    for (int64_t c0 = 0; c0 < cols; c0 += B) {
      const int64_t r1 = std::min(rows, r0 + B), c1 = std::min(cols, c0 + B);
      for (int64_t c = c0; c < c1; ++c) {
        const T v = bias ? bias[c] : T(0);
        T* d = dst + c * rows;
        for (int64_t r = r0; r < r1; ++r) d[r] = src[r * cols + c] + v;
      }
    }
}

// Images with fewer output pixels than this (and a batch im2col of at most kBatchedColElems) are
// convolved as ONE GEMM over all images: per-image GEMMs with a handful of rows would re-pack the whole
// kernel for every image (the 2×2 and 1×1 layers of LipConvNet, whose kernels hold 10⁶–10⁷ values).
constexpr int64_t kBatchedMaxPixels = 256;
constexpr int64_t kBatchedColElems = int64_t(1) << 25;

bool batched(const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo;
  return g.n > 1 && P < kBatchedMaxPixels && K * P * g.n <= kBatchedColElems;
}

/// col [K, N·P] of all images (image b in columns b·P .. b·P + P − 1).
template <class T>
T* batch_im2col(const T* x, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo, NP = g.n * P;
  T* col = scratch<T, 2>(static_cast<size_t>(K * NP));
  parallel_for(g.n, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) im2col(x + b * g.c * g.h * g.w, col + b * P, g, NP);
  });
  return col;
}

/// Runs fn(image, gemm_threads) for every image: in parallel over the images (one GEMM thread each)
/// when they are small or many, else one after the other with every thread.
template <class F>
void for_each_image(int64_t n, double image_flops, F fn) {
  const int nt = num_threads();
  if (nt > 1 && n > 1 && (image_flops < kImageSerialFlops || n >= 4 * nt)) {
    parallel_for(n, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) fn(b, 1);
    });
  } else {
    for (int64_t b = 0; b < n; ++b) fn(b, nt);
  }
}

}  // namespace

namespace cpu {

/// y [N, O, Ho, Wo] = conv2d(x [N, C, H, W], w [O, C, kh, kw]) (+ bias [O] when given).
/// Each image is computed transposed, yᵀ [P, O] = colᵀ [P, K] · wᵀ [K, O], then transposed into y: the
/// GEMM's rows (micro-panels of MR) run over the P = Ho·Wo pixels, which fill them exactly where O
/// (64 channels) would leave a third of the last panel empty; colᵀ is read from col with unit row
/// stride, which packs as fast as a plain matrix.
template <class T>
void conv_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo;
  if (batched(g)) {
    // yᵀ [N·P, O] = colᵀ [N·P, K] · wᵀ [K, O], then each image's [P, O] block transposed into y.
    const int64_t NP = g.n * P;
    const T* col = batch_im2col(x, g);
    T* yt = scratch<T, 3>(static_cast<size_t>(NP * g.o));
    gemm::gemm<T>({NP, g.o, K, col, 1, NP, w, 1, K, yt, g.o}, num_threads());
    parallel_for(g.n, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) transpose_add_bias(yt + b * P * g.o, P, g.o, bias, y + b * g.o * P);
    });
    return;
  }
  const bool pointwise = is_pointwise(g);
  for_each_image(g.n, 2.0 * g.o * P * K, [&](int64_t b, int threads) {
    const T* xb = x + b * g.c * g.h * g.w;
    T* yb = y + b * g.o * P;
    const T* col = xb;
    if (!pointwise) {
      T* buf = scratch<T, 0>(static_cast<size_t>(K * P));
      im2col(xb, buf, g);
      col = buf;
    }
    T* yt = scratch<T, 1>(static_cast<size_t>(P * g.o));
    gemm::gemm<T>({P, g.o, K, col, 1, P, w, 1, K, yt, g.o}, threads);
    transpose_add_bias(yt, P, g.o, bias, yb);
  });
}

/// dx [N, C, H, W] = the adjoint in x of conv2d with w [O, C, kh, kw], applied to g [N, O, Ho, Wo].
template <class T>
void conv_backward_input(const T* go, const T* w, T* dx, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo;
  if (g.sh == 1 && g.sw == 1 && g.ph <= g.kh - 1 && g.pw <= g.kw - 1) {
    // dx[c, h, v] = Σ_{o,i,j} g[o, h + ph − i, v + pw − j]·w[o, c, i, j]: the stride-1 conv of g with
    // wf[c, o, i', j'] = w[o, c, kh−1−i', kw−1−j'] and padding kh−1−ph, kw−1−pw.
    std::vector<T> wf(static_cast<size_t>(g.o * K));
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j)
            wf[((c * g.o + o) * g.kh + (g.kh - 1 - i)) * g.kw + (g.kw - 1 - j)] = w[((o * g.c + c) * g.kh + i) * g.kw + j];
    ConvGeom f = g;
    f.c = g.o;
    f.h = g.ho;
    f.w = g.wo;
    f.o = g.c;
    f.ph = g.kh - 1 - g.ph;
    f.pw = g.kw - 1 - g.pw;
    f.ho = g.h;
    f.wo = g.w;
    conv_forward<T>(go, wf.data(), nullptr, dx, f);
    return;
  }
  for_each_image(g.n, 2.0 * g.o * P * K, [&](int64_t b, int threads) {
    T* dcol = scratch<T, 0>(static_cast<size_t>(K * P));
    // dcol [K, P] = wᵀ [K, O] · g[b] [O, P]
    gemm::gemm<T>({K, P, g.o, w, 1, K, go + b * g.o * P, P, 1, dcol, P}, threads);
    col2im(dcol, dx + b * g.c * g.h * g.w, g);
  });
}

/// dw [O, C, kh, kw] = Σ_n g[n] · col(x[n])ᵀ, computed transposed as dwᵀ [K, O] = Σ_n col [K, P] · g[n]ᵀ
/// (rows over K = C·kh·kw fill the GEMM's micro-panels; see conv_forward). The images are dealt to the
/// threads in contiguous ranges; each thread sums its images' products into its own buffer, and the
/// buffers are added in thread order, then transposed into dw.
template <class T>
void conv_backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo, OK = g.o * K;
  if (g.n == 0 || P == 0) {
    std::fill(dw, dw + OK, T(0));
    return;
  }
  if (batched(g)) {
    // dwᵀ [K, O] = col [K, N·P] · gcatᵀ [N·P, O], gcat [O, N·P] the images' gradients side by side.
    const int64_t NP = g.n * P;
    const T* col = batch_im2col(x, g);
    T* gcat = scratch<T, 3>(static_cast<size_t>(NP * g.o));
    parallel_for(g.n, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        for (int64_t o = 0; o < g.o; ++o) std::memcpy(gcat + o * NP + b * P, go + (b * g.o + o) * P, sizeof(T) * P);
    });
    T* prod = scratch<T, 1>(static_cast<size_t>(OK));
    gemm::gemm<T>({K, g.o, NP, col, NP, 1, gcat, 1, NP, prod, g.o}, num_threads());
    transpose_add_bias<T>(prod, K, g.o, nullptr, dw);
    return;
  }
  const bool pointwise = is_pointwise(g);
  const int nt = num_threads();
  const double image_flops = 2.0 * g.o * P * K;
  const int parts =
      (nt > 1 && g.n > 1 && (image_flops < kImageSerialFlops || g.n >= 4 * nt)) ? static_cast<int>(std::min<int64_t>(nt, g.n)) : 1;
  const int gemm_threads = parts == 1 ? nt : 1;
  std::vector<std::vector<T>> partial(static_cast<size_t>(parts));
  parallel_for(parts, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      partial[t].assign(static_cast<size_t>(OK), T(0));
      T* acc = partial[t].data();
      T* prod = scratch<T, 1>(static_cast<size_t>(OK));
      for (int64_t b = g.n * t / parts; b < g.n * (t + 1) / parts; ++b) {
        const T* xb = x + b * g.c * g.h * g.w;
        const T* col = xb;
        if (!pointwise) {
          T* buf = scratch<T, 0>(static_cast<size_t>(K * P));
          im2col(xb, buf, g);
          col = buf;
        }
        // prod [K, O] = col [K, P] · g[b]ᵀ [P, O]
        gemm::gemm<T>({K, g.o, P, col, P, 1, go + b * g.o * P, 1, P, prod, g.o}, gemm_threads);
        for (int64_t e = 0; e < OK; ++e) acc[e] += prod[e];
      }
    }
  });
  for (int t = 1; t < parts; ++t)
    for (int64_t e = 0; e < OK; ++e) partial[0][e] += partial[t][e];
  transpose_add_bias<T>(partial[0].data(), K, g.o, nullptr, dw);
}

template void conv_forward<float>(const float*, const float*, const float*, float*, const ConvGeom&);
template void conv_forward<double>(const double*, const double*, const double*, double*, const ConvGeom&);
template void conv_backward_input<float>(const float*, const float*, float*, const ConvGeom&);
template void conv_backward_input<double>(const double*, const double*, double*, const ConvGeom&);
template void conv_backward_weight<float>(const float*, const float*, float*, const ConvGeom&);
template void conv_backward_weight<double>(const double*, const double*, double*, const ConvGeom&);

}  // namespace cpu

namespace {

using cpu::conv_backward_input;
using cpu::conv_backward_weight;
using cpu::conv_forward;

void conv2d_op(OpCall& c) {
  const ConvGeom g = conv2d_geom(c);
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    conv_forward<T>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), g.has_bias ? c.inputs[2].data<T>() : nullptr,
                    y.data<T>(), g);
  });
}

void conv2d_backward_input_op(OpCall& c) {
  const ConvGeom g = conv2d_geom(c);
  Tensor& dx = c.outputs[0];
  if (dx.numel() == 0) return;
  dispatch_float(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    conv_backward_input<T>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), dx.data<T>(), g);
  });
}

void conv2d_backward_weight_op(OpCall& c) {
  const ConvGeom g = conv2d_geom(c);
  Tensor& dw = c.outputs[0];
  if (dw.numel() == 0) return;
  dispatch_float(dw.dtype(), [&](auto tag) {
    using T = decltype(tag);
    conv_backward_weight<T>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), dw.data<T>(), g);
  });
}

void conv_transpose2d_op(OpCall& c) {
  const ConvGeom g = conv2d_geom(c);
  Tensor& y = c.outputs[0];
  if (y.numel() == 0) return;
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = y.data<T>();
    conv_backward_input<T>(c.inputs[0].data<T>(), c.inputs[1].data<T>(), out, g);
    if (g.has_bias) {
      const T* bias = c.inputs[2].data<T>();
      const int64_t plane = g.h * g.w;
      parallel_for(g.n * g.c, std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, plane)),
                   [&](int64_t r0, int64_t r1) {
                     for (int64_t r = r0; r < r1; ++r) {
                       const T v = bias[r % g.c];
                       T* row = out + r * plane;
                       for (int64_t p = 0; p < plane; ++p) row[p] += v;
                     }
                   });
    }
  });
}

}  // namespace

/// Registers the CPU kernels of conv2d, conv2d_backward_input, conv2d_backward_weight and
/// conv_transpose2d (float32, the fast path, and float64). Cost: 2·N·O·C·kh·kw·Ho·Wo flops each, on the
/// packed GEMM, plus an im2col copy of C·kh·kw·Ho·Wo elements per image (none for 1×1 stride-1 convs).
void register_cpu_conv2d(Registry& r) {
  r.kernel("conv2d", Device::CPU, conv2d_op);
  r.kernel("conv2d_backward_input", Device::CPU, conv2d_backward_input_op);
  r.kernel("conv2d_backward_weight", Device::CPU, conv2d_backward_weight_op);
  r.kernel("conv_transpose2d", Device::CPU, conv_transpose2d_op);
}

}  // namespace onelip
