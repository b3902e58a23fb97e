// CPU kernels of the conv2d family on the packed GEMM of native/cpu/gemm/ (through gemm/gemm.h).
// Per image, with K = C·kh·kw and P = Ho·Wo:
//   forward          y[n] [O, P] = w [O, K] · im2col(x[n]) [K, P]: the im2col operand is produced inside
//                    the GEMM's packing (gemm::Problem::pack_b_fn) from a zero-padded copy of the image,
//                    so no im2col matrix is written; 1×1 stride-1 unpadded convs use x[n] itself
//   backward weight  dwᵀ [(i, j, c), O] += im2col(x[n]) · g[n]ᵀ: the im2col operand is produced inside
//                    the GEMM's A packing (gemm::Problem::pack_a_fn) from a padded pixel-major copy of the
//                    image (a pixel's channels contiguous), g[n]ᵀ is transposed by tiles; the GEMMs
//                    accumulate (C +=). Images are split between threads, one partial sum per thread,
//                    added at the end (no reduction race).
//   backward input   stride 1 (and padding ≤ k − 1): a forward conv of g with the flipped, transposed
//                    kernel and padding k − 1 − p (the forward's GEMM, no scatter); otherwise
//                    dcol = wᵀ · g[n], then col2im (the adjoint of im2col) into dx[n].
// Images run in parallel (one GEMM thread each) when there are enough of them, else one after the
// other with every thread in each GEMM. Paddings larger than the kernel take explicit im2col paths.
#include <algorithm>
#include <cstring>
#include <vector>
#include "../core/error.h"
#include "../core/thread_pool.h"
#include "../ops/ops.h"
#include "conv2d.h"
#include "cpu_ops.h"
#include "gemm/gemm.h"

namespace onelip {
namespace {

// An image smaller than this many flops runs on one thread and the batch is split across the pool.
constexpr double kImageSerialFlops = 2e7;
// Pixels per im2col block and GEMM thread (K·256 floats: 590 KB for K = 576, within the 1 MB L2).
constexpr int64_t kChunkPixels = 256;

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

/// Row stride (elements) of an im2col matrix with P columns: P rounded up to a cache line, plus one
/// line, so that consecutive rows never sit a multiple of 4 KB apart. (With P = 32·32 floats they would:
/// the GEMM's packing reads a few elements from each of hundreds of rows, and rows 4 KB apart all map
/// to the same L1 set; that made packing a quarter of the forward's time.)
template <class T>
int64_t col_ld(int64_t P) {
  constexpr int64_t line = 64 / sizeof(T);
  return (P + line - 1) / line * line + line;
}

/// col [C·kh·kw, (oh1 − oh0)·Wo] (row stride ld) from one image x [C, H, W], output rows [oh0, oh1):
/// row (c, i, j), column (oh − oh0, ow) holds x[c, oh·sh − ph + i, ow·sw − pw + j], or 0 in the padding.
template <class T>
void im2col(const T* x, T* col, int64_t ld, const ConvGeom& g, int64_t oh0, int64_t oh1) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        // Output columns whose input column ow·sw − pw + j lies inside [0, W).
        const int64_t lo = std::min(g.wo, std::max<int64_t>(0, (g.pw - j + g.sw - 1) / g.sw));
        const int64_t hi = std::max(lo, std::min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw));
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          T* dst = row + (oh - oh0) * g.wo;
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

/// dx [C, H, W] += col2im(dcol) for output rows [oh0, oh1) (dcol [C·kh·kw, (oh1 − oh0)·Wo], row stride
/// ld): the adjoint of im2col, every column entry added to the input element it was read from.
template <class T>
void col2im(const T* dcol, int64_t ld, T* dx, const ConvGeom& g, int64_t oh0, int64_t oh1) {
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = dcol + ((c * g.kh + i) * g.kw + j) * ld;
        const int64_t lo = std::min(g.wo, std::max<int64_t>(0, (g.pw - j + g.sw - 1) / g.sw));
        const int64_t hi = std::max(lo, std::min(g.wo, (g.w + g.pw - j + g.sw - 1) / g.sw));
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + i;
          if (ih < 0 || ih >= g.h) continue;
          const T* src = row + (oh - oh0) * g.wo;
          T* dst = dx + (c * g.h + ih) * g.w;
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw - g.pw + j] += src[ow];
        }
      }
}

/// dst [cols, rows] = srcᵀ (+ bias[c] on row c of dst) for src [rows, cols]: 8×8 blocks through a
/// local tile (whole 8-element runs read and written), the ragged border element by element.
template <class T>
void transpose_add_bias(const T* src, int64_t rows, int64_t cols, const T* bias, T* dst) {
  constexpr int64_t B = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += B)
    for (int64_t c0 = 0; c0 < cols; c0 += B) {
      if (r0 + B <= rows && c0 + B <= cols) {
        T t[B][B];
        for (int64_t i = 0; i < B; ++i)
          for (int64_t j = 0; j < B; ++j) t[j][i] = src[(r0 + i) * cols + c0 + j];
        for (int64_t j = 0; j < B; ++j) {
          const T v = bias ? bias[c0 + j] : T(0);
          for (int64_t i = 0; i < B; ++i) dst[(c0 + j) * rows + r0 + i] = t[j][i] + v;
        }
      } else {
        for (int64_t c = c0; c < std::min(cols, c0 + B); ++c)
          for (int64_t r = r0; r < std::min(rows, r0 + B); ++r) dst[c * rows + r] = src[r * cols + c] + (bias ? bias[c] : T(0));
      }
    }
}

/// dst[j·ldd + i] = src[i·lds + j] for i < rows, j < cols (8×8 tiles through a local buffer).
template <class T>
void transpose_strided(const T* src, int64_t rows, int64_t cols, int64_t lds, T* dst, int64_t ldd) {
  constexpr int64_t B = 8;
  for (int64_t i0 = 0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B) {
      const int64_t i1 = std::min(rows, i0 + B), j1 = std::min(cols, j0 + B);
      if (i1 - i0 == B && j1 - j0 == B) {
        T t[B][B];
        for (int64_t i = 0; i < B; ++i)
          for (int64_t j = 0; j < B; ++j) t[j][i] = src[(i0 + i) * lds + j0 + j];
        for (int64_t j = 0; j < B; ++j)
          for (int64_t i = 0; i < B; ++i) dst[(j0 + j) * ldd + i0 + i] = t[j][i];
      } else {
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
      }
    }
}

/// xp [Hp·Wp, C] = one image x [C, H, W] zero-padded (ph rows, pw columns on each side) and stored
/// pixel-major, so that the C channels of a pixel are contiguous.
template <class T>
void pad_pixel_major(const T* x, T* xp, const ConvGeom& g) {
  const int64_t Wp = g.w + 2 * g.pw, Hp = g.h + 2 * g.ph;
  std::fill(xp, xp + Hp * Wp * g.c, T(0));
  for (int64_t h = 0; h < g.h; ++h)
    transpose_strided(x + h * g.w, g.c, g.w, g.h * g.w, xp + ((h + g.ph) * Wp + g.pw) * g.c, g.c);
}

/// xp [C, Hp, Wp] = one image x [C, H, W] with a zero border of ph rows and pw columns.
template <class T>
void pad_channel_major(const T* x, T* xp, const ConvGeom& g) {
  const int64_t Wp = g.w + 2 * g.pw, Hp = g.h + 2 * g.ph;
  for (int64_t c = 0; c < g.c; ++c) {
    T* plane = xp + c * Hp * Wp;
    std::fill(plane, plane + g.ph * Wp, T(0));
    for (int64_t h = 0; h < g.h; ++h) {
      T* row = plane + (h + g.ph) * Wp;
      std::fill(row, row + g.pw, T(0));
      std::memcpy(row + g.pw, x + (c * g.h + h) * g.w, sizeof(T) * g.w);
      std::fill(row + g.pw + g.w, row + Wp, T(0));
    }
    std::fill(plane + (g.h + g.ph) * Wp, plane + Hp * Wp, T(0));
  }
}

/// What pack_im2col needs: the padded image and the geometry.
template <class T>
struct Im2colSource {
  const T* xp;  // pad_channel_major output
  const ConvGeom* g;
};

template <class T, int NR>
inline void copy_run(T* dst, const T* src, int64_t len, int64_t stride) {
  if (stride == 1 && len == NR) {
    std::memcpy(dst, src, sizeof(T) * NR);  // the common case: a whole panel from one output row
  } else {
    for (int64_t u = 0; u < len; ++u) dst[u] = src[u * stride];
  }
}

/// The GEMM's B producer for the forward (gemm::Problem::pack_b_fn): op(B) = im2col of the padded
/// image, element (k = (c, i, j), pixel (oh, ow)) = xp[c, oh·sh + i, ow·sw + j], packed straight into
/// the micro-panel layout (no im2col matrix is written).
template <class T, int NR>
void pack_im2col(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
  const Im2colSource<T>& src = *static_cast<const Im2colSource<T>*>(ctx);
  const ConvGeom& g = *src.g;
  const int64_t Wp = g.w + 2 * g.pw, plane = (g.h + 2 * g.ph) * Wp, taps = g.kh * g.kw;
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t cols = std::min<int64_t>(NR, nc - q);
    T* d = dst + q * kc;
    // The panel's pixels as runs within one output row: (offset in the panel, length, window corner).
    int64_t off[NR], len[NR], corner[NR];
    int runs = 0;
    for (int64_t t = 0; t < cols; ++runs) {
      const int64_t pix = j0 + q + t, oh = pix / g.wo, ow = pix - oh * g.wo;
      off[runs] = t;
      len[runs] = std::min(cols - t, g.wo - ow);
      corner[runs] = oh * g.sh * Wp + ow * g.sw;
      t += len[runs];
    }
    int64_t c = p0 / taps, r = p0 - c * taps, i = r / g.kw, j = r - i * g.kw;
    for (int64_t p = 0; p < kc; ++p) {
      T* dp = d + p * NR;
      const T* base = src.xp + c * plane + i * Wp + j;
      for (int u = 0; u < runs; ++u) copy_run<T, NR>(dp + off[u], base + corner[u], len[u], g.sw);
      for (int64_t t = cols; t < NR; ++t) dp[t] = T(0);
      if (++j == g.kw) {
        j = 0;
        if (++i == g.kh) {
          i = 0;
          ++c;
        }
      }
    }
  }
}

/// pack_im2col for the GEMM's run-time panel width.
template <class T>
void pack_im2col_any(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, T* dst) {
  switch (nr) {
    case 32: return pack_im2col<T, 32>(ctx, p0, kc, j0, nc, dst);
    case 16: return pack_im2col<T, 16>(ctx, p0, kc, j0, nc, dst);
    case 8: return pack_im2col<T, 8>(ctx, p0, kc, j0, nc, dst);
    case 4: return pack_im2col<T, 4>(ctx, p0, kc, j0, nc, dst);
    default: fail(code::kInternal, "conv2d: GEMM panel width ", nr, " has no im2col packer");
  }
}

/// What pack_pixel_major_a needs: the padded pixel-major image (pad_pixel_major) and the geometry.
template <class T>
struct PixelMajorSource {
  const T* xp;
  const ConvGeom* g;
};

/// The GEMM's A producer for the backward weight (gemm::Problem::pack_a_fn): op(A) row (i, j, c) (tap
/// (i, j), channel c), column = output pixel (oh, ow), element xp[(oh·sh + i)·Wp + ow·sw + j][c]: per
/// pixel, a panel's MR rows are MR consecutive channels of one or two taps, copied straight from xp.
template <class T, int MR>
void pack_pixel_major_a(const void* ctx, int64_t i0, int64_t mc, int64_t p0, int64_t kc, T* dst) {
  const PixelMajorSource<T>& src = *static_cast<const PixelMajorSource<T>*>(ctx);
  const ConvGeom& g = *src.g;
  const int64_t Wp = g.w + 2 * g.pw;
  for (int64_t r = 0; r < mc; r += MR) {
    const int64_t rows = std::min<int64_t>(MR, mc - r);
    T* d = dst + r * kc;
    // The panel's rows as runs within one tap: (offset in the panel, length, offset in xp).
    int64_t off[MR], len[MR], shift[MR];
    int runs = 0;
    for (int64_t t = 0; t < rows; ++runs) {
      const int64_t row = i0 + r + t, tap = row / g.c, c = row - tap * g.c;
      off[runs] = t;
      len[runs] = std::min(rows - t, g.c - c);
      shift[runs] = ((tap / g.kw) * Wp + tap % g.kw) * g.c + c;
      t += len[runs];
    }
    int64_t oh = p0 / g.wo, ow = p0 - oh * g.wo;
    for (int64_t p = 0; p < kc; ++p) {
      T* dp = d + p * MR;
      const T* base = src.xp + (oh * g.sh * Wp + ow * g.sw) * g.c;
      if (runs == 1 && rows == MR) {
        std::memcpy(dp, base + shift[0], sizeof(T) * MR);
      } else {
        for (int u = 0; u < runs; ++u)
          for (int64_t e = 0; e < len[u]; ++e) dp[off[u] + e] = base[shift[u] + e];
        for (int64_t t = rows; t < MR; ++t) dp[t] = T(0);
      }
      if (++ow == g.wo) {
        ow = 0;
        ++oh;
      }
    }
  }
}

/// pack_pixel_major_a for the GEMM's run-time panel height.
template <class T>
void pack_pixel_major_a_any(const void* ctx, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr, T* dst) {
  switch (mr) {
    case 12: return pack_pixel_major_a<T, 12>(ctx, i0, mc, p0, kc, dst);
    case 6: return pack_pixel_major_a<T, 6>(ctx, i0, mc, p0, kc, dst);
    case 4: return pack_pixel_major_a<T, 4>(ctx, i0, mc, p0, kc, dst);
    default: fail(code::kInternal, "conv2d_backward_weight: GEMM panel height ", mr, " has no packer");
  }
}

/// Output rows per im2col block: about kChunkPixels pixels per GEMM thread, so the block stays in cache
/// and its size is bounded whatever the image size.
inline int64_t chunk_rows(const ConvGeom& g, int threads) {
  return std::max<int64_t>(1, kChunkPixels * threads / std::max<int64_t>(1, g.wo));
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

/// y [N, O, Ho, Wo] = conv2d(x [N, C, H, W], w [O, C, kh, kw]) (+ bias [O] when given).
/// Per image, y[n] [O, P] = w [O, K] · col [K, P], in chunks of whole output rows of about kChunkPixels
/// pixels: each chunk's im2col block (K × ~256 floats) stays in L2 while the GEMM packs it, and the GEMM
/// writes straight into y (row stride P). w is passed as (wᵀ)ᵀ so that it packs with row copies.
template <class T>
void conv_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo;
  const bool pointwise = is_pointwise(g);
  std::vector<T> wt(static_cast<size_t>(K * g.o));
  transpose_add_bias<T>(w, g.o, K, nullptr, wt.data());
  // im2col generated inside the GEMM's packing from a padded copy of the image (paddings up to the
  // kernel size, i.e. always in practice); else an explicit im2col matrix per block of output rows.
  const bool fused = !pointwise && g.ph <= g.kh && g.pw <= g.kw;
  for_each_image(g.n, 2.0 * g.o * P * K, [&](int64_t b, int threads) {
    const T* xb = x + b * g.c * g.h * g.w;
    T* yb = y + b * g.o * P;
    if (pointwise) {
      gemm::gemm<T>({g.o, P, K, wt.data(), 1, g.o, xb, P, 1, yb, P}, threads);
    } else if (fused) {
      T* xp = scratch<T, 3>(static_cast<size_t>((g.h + 2 * g.ph) * (g.w + 2 * g.pw) * g.c));
      pad_channel_major(xb, xp, g);
      const Im2colSource<T> src{xp, &g};
      gemm::Problem<T> pr{g.o, P, K, wt.data(), 1, g.o, nullptr, 0, 0, yb, P};
      pr.pack_b_fn = pack_im2col_any<T>;
      pr.b_ctx = &src;
      gemm::gemm<T>(pr, threads);
    } else {
      const int64_t rows_per = chunk_rows(g, threads);
      const int64_t ld = col_ld<T>(std::min(rows_per, g.ho) * g.wo);
      T* col = scratch<T, 0>(static_cast<size_t>(K * ld));
      for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows_per) {
        const int64_t oh1 = std::min(g.ho, oh0 + rows_per);
        im2col(xb, col, ld, g, oh0, oh1);
        gemm::gemm<T>({g.o, (oh1 - oh0) * g.wo, K, wt.data(), 1, g.o, col, ld, 1, yb + oh0 * g.wo, P}, threads);
      }
    }
    if (bias)
      for (int64_t o = 0; o < g.o; ++o) {
        T* row = yb + o * P;
        const T v = bias[o];
        for (int64_t p = 0; p < P; ++p) row[p] += v;
      }
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
    T* dxb = dx + b * g.c * g.h * g.w;
    std::fill(dxb, dxb + g.c * g.h * g.w, T(0));
    const int64_t rows_per = chunk_rows(g, threads);
    const int64_t ld = col_ld<T>(std::min(rows_per, g.ho) * g.wo);
    T* dcol = scratch<T, 0>(static_cast<size_t>(K * ld));
    for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows_per) {
      const int64_t oh1 = std::min(g.ho, oh0 + rows_per);
      // dcol [K, block] = wᵀ [K, O] · g[b] [O, block]
      gemm::gemm<T>({K, (oh1 - oh0) * g.wo, g.o, w, 1, K, go + b * g.o * P + oh0 * g.wo, P, 1, dcol, ld}, threads);
      col2im(dcol, ld, dxb, g, oh0, oh1);
    }
  });
}

/// dw [O, C, kh, kw] = Σ_n g[n] · col(x[n])ᵀ, computed transposed as dwᵀ [K, O] = Σ_n col [K, P] · g[n]ᵀ
/// (rows over K = C·kh·kw fill the GEMM's micro-panels; see conv_forward). The images are dealt to the
/// threads in contiguous ranges; each thread accumulates its images (GEMMs with C +=) into its own buffer, and the
/// buffers are added in thread order, then transposed into dw.
template <class T>
void conv_backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g) {
  const int64_t K = g.c * g.kh * g.kw, P = g.ho * g.wo, OK = g.o * K;
  if (g.n == 0 || P == 0) {
    std::fill(dw, dw + OK, T(0));
    return;
  }
  const bool pointwise = is_pointwise(g);
  const int nt = num_threads();
  const double image_flops = 2.0 * g.o * P * K;
  const int parts =
      (nt > 1 && g.n > 1 && (image_flops < kImageSerialFlops || g.n >= 4 * nt)) ? static_cast<int>(std::min<int64_t>(nt, g.n)) : 1;
  const int gemm_threads = parts == 1 ? nt : 1;
  // The pixel-major im2col (rows ordered (i, j, c)) needs a padded copy of each image: used for paddings
  // up to the kernel size (always, in practice), the channel-major one otherwise.
  const bool pixel_major = !pointwise && g.ph <= g.kh && g.pw <= g.kw;
  std::vector<std::vector<T>> partial(static_cast<size_t>(parts));
  parallel_for(parts, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      partial[t].assign(static_cast<size_t>(OK), T(0));
      T* acc = partial[t].data();
      for (int64_t b = g.n * t / parts; b < g.n * (t + 1) / parts; ++b) {
        const T* xb = x + b * g.c * g.h * g.w;
        // g[b]ᵀ [P, O], transposed by tiles (packing it from g would read 32 rows 4 KB apart at a time)
        T* gt = scratch<T, 2>(static_cast<size_t>(P * g.o));
        transpose_add_bias<T>(go + b * g.o * P, g.o, P, nullptr, gt);
        if (pointwise) {
          // acc [K, O] += x[b] [C, P] · g[b]ᵀ [P, O]
          gemm::gemm<T>({K, g.o, P, xb, P, 1, gt, g.o, 1, acc, g.o, false, 0, true}, gemm_threads);
          continue;
        }
        if (pixel_major) {
          // acc [(i, j, c), O] += im2col [(i, j, c), P] · g[b]ᵀ [P, O]: the GEMM's A operand is produced
          // while packing, from the padded pixel-major image (runs of channels are contiguous there), and
          // g[b]ᵀ packs with row copies.
          T* xp = scratch<T, 3>(static_cast<size_t>((g.h + 2 * g.ph) * (g.w + 2 * g.pw) * g.c));
          pad_pixel_major(xb, xp, g);
          const PixelMajorSource<T> src{xp, &g};
          gemm::Problem<T> pr{K, g.o, P, nullptr, 0, 0, gt, g.o, 1, acc, g.o, false, 0, true};
          pr.pack_a_fn = pack_pixel_major_a_any<T>;
          pr.a_ctx = &src;
          gemm::gemm<T>(pr, gemm_threads);
          continue;
        }
        // acc [K, O] += col [K, P] · g[b]ᵀ [P, O], over blocks of output rows whose im2col block stays in L2
        const int64_t rows_per = chunk_rows(g, gemm_threads);
        const int64_t ld = col_ld<T>(std::min(rows_per, g.ho) * g.wo);
        T* col = scratch<T, 0>(static_cast<size_t>(K * ld));
        for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows_per) {
          const int64_t oh1 = std::min(g.ho, oh0 + rows_per);
          im2col(xb, col, ld, g, oh0, oh1);
          gemm::gemm<T>({K, g.o, (oh1 - oh0) * g.wo, col, ld, 1, gt + oh0 * g.wo * g.o, g.o, 1, acc, g.o, false, 0, true},
                        gemm_threads);
        }
      }
    }
  });
  for (int t = 1; t < parts; ++t)
    for (int64_t e = 0; e < OK; ++e) partial[0][e] += partial[t][e];
  if (!pixel_major) {
    transpose_add_bias<T>(partial[0].data(), K, g.o, nullptr, dw);
    return;
  }
  // partial[0] [(i, j, c), O] → dw [O, (c, i, j)]
  const int64_t taps = g.kh * g.kw;
  for (int64_t o = 0; o < g.o; ++o)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t t = 0; t < taps; ++t) dw[(o * g.c + c) * taps + t] = partial[0][(t * g.c + c) * g.o + o];
}

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

namespace cpu {
// The entry points declared in conv2d.h, for fused ops that chain convolutions (native/cpu/soc.cc).
template <class T>
void conv_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeom& g) {
  onelip::conv_forward<T>(x, w, bias, y, g);
}
template <class T>
void conv_backward_input(const T* go, const T* w, T* dx, const ConvGeom& g) {
  onelip::conv_backward_input<T>(go, w, dx, g);
}
template <class T>
void conv_backward_weight(const T* x, const T* go, T* dw, const ConvGeom& g) {
  onelip::conv_backward_weight<T>(x, go, dw, g);
}
template void conv_forward<float>(const float*, const float*, const float*, float*, const ConvGeom&);
template void conv_forward<double>(const double*, const double*, const double*, double*, const ConvGeom&);
template void conv_backward_input<float>(const float*, const float*, float*, const ConvGeom&);
template void conv_backward_input<double>(const double*, const double*, double*, const ConvGeom&);
template void conv_backward_weight<float>(const float*, const float*, float*, const ConvGeom&);
template void conv_backward_weight<double>(const double*, const double*, double*, const ConvGeom&);
}  // namespace cpu

}  // namespace onelip
