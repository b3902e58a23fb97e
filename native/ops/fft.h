// Shared by the FFT op definitions and kernels (native/ops/fft.cc, native/cpu/fft.cc, cuda/fft.cu).
#pragma once
#include <cstdint>
#include "../core/registry.h"

namespace onelip {

/// Largest transform length along one axis (every power of two and 3·2^k up to it).
constexpr int64_t kFftMaxSize = 64;
/// Whether n is a supported transform length: 2^k or 3·2^k, 1 ≤ n ≤ kFftMaxSize.
bool fft_size_supported(int64_t n);
/// Planes (product of the leading dims), H and W of a real [..., H, W] tensor.
void fft2_dims(const Tensor& real, int64_t* batch, int64_t* h, int64_t* w);
void define_fft_ops(Registry& r);

/// Which transform a kernel runs (the four ops share two kernels):
///   forward (real → half spectrum): kRfft2 plain; kIrfft2Adjoint multiplies column q by c_q/(HW);
///   inverse (half spectrum → real): kIrfft2 scales by 1/(HW); kRfft2Adjoint divides column q by c_q first.
enum FftMode : int { kRfft2 = 0, kIrfft2 = 1, kRfft2Adjoint = 2, kIrfft2Adjoint = 3 };

/// c_q: how many times column q of the half spectrum appears in the full (Hermitian) spectrum.
inline int half_weight(int64_t q, int64_t w) { return (q == 0 || 2 * q == w) ? 1 : 2; }

}  // namespace onelip
