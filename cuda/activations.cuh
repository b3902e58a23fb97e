// Single-source per-pair math of the channel-pair activations (SPEC.md B.1, B.2), shared by
// native/cpu/activations.cc and cuda/activations.cu. A pair is (x, y) = (z[c], z[c + C/2]); θ is the
// pair's angle (one per channel c < C/2).
#pragma once
#include "math.cuh"

namespace onelip {
namespace math {

/// LipPool 'lip1' (IMP repo LipPool): signed distance from (x, y) to the boundary of the wedge
/// {|angle| ≤ θ/2} around the +x axis. Region by φ = atan2(y, x) mod 2π:
///   φ < (θ+π)/2 → −x·sin(θ/2) + y·cos(θ/2);  φ < (3π−θ)/2 → √(x²+y²);  else −x·sin(θ/2) − y·cos(θ/2).
/// Returns the region (0, 1, 2) so that the backward follows the same branch.
template <class T>
OL_HD int lip_pool_region(T x, T y, T theta) {
  const T pi = T(3.14159265358979323846);
  T phi = std::atan2(y, x);
  if (phi < T(0)) phi += T(2) * pi;
  if (phi < (theta + pi) / T(2)) return 0;
  if (phi < (T(3) * pi - theta) / T(2)) return 1;
  return 2;
}

template <class T>
OL_HD T lip_pool(T x, T y, T theta) {
  const T s = std::sin(theta / T(2)), c = std::cos(theta / T(2));
  const int r = lip_pool_region(x, y, theta);
  if (r == 0) return -x * s + y * c;
  if (r == 1) return std::sqrt(x * x + y * y);
  return -x * s - y * c;
}

/// Gradient of lip_pool for the output gradient g: (dx, dy, dθ), that of the region's piece. The origin
/// belongs to region 0 (atan2(0, 0) = 0), so the norm's branch never divides by 0 (guarded anyway).
template <class T>
OL_HD void lip_pool_backward(T x, T y, T theta, T g, T* dx, T* dy, T* dtheta) {
  const T s = std::sin(theta / T(2)), c = std::cos(theta / T(2));
  const int r = lip_pool_region(x, y, theta);
  if (r == 0) {
    *dx = -s * g;
    *dy = c * g;
    *dtheta = g * (-x * c - y * s) / T(2);
  } else if (r == 1) {
    const T n = std::sqrt(x * x + y * y);
    *dx = n > T(0) ? g * x / n : T(0);
    *dy = n > T(0) ? g * y / n : T(0);
    *dtheta = T(0);
  } else {
    *dx = -s * g;
    *dy = -c * g;
    *dtheta = g * (-x * c + y * s) / T(2);
  }
}

/// HH1 (Householder activation of order 1): if x·sin(θ/2) − y·cos(θ/2) > 0 the pair is reflected,
/// (x, y) ↦ (x cosθ + y sinθ, x sinθ − y cosθ); otherwise it is kept.
template <class T>
OL_HD bool householder_reflects(T x, T y, T theta) {
  return x * std::sin(theta / T(2)) - y * std::cos(theta / T(2)) > T(0);
}

template <class T>
OL_HD void householder(T x, T y, T theta, T* ox, T* oy) {
  if (householder_reflects(x, y, theta)) {
    const T cs = std::cos(theta), sn = std::sin(theta);
    *ox = x * cs + y * sn;
    *oy = x * sn - y * cs;
  } else {
    *ox = x;
    *oy = y;
  }
}

/// Gradient of householder for output gradients (gx, gy): (dx, dy, dθ). The reflection is symmetric,
/// so (dx, dy) is the reflected (gx, gy).
template <class T>
OL_HD void householder_backward(T x, T y, T theta, T gx, T gy, T* dx, T* dy, T* dtheta) {
  if (householder_reflects(x, y, theta)) {
    const T cs = std::cos(theta), sn = std::sin(theta);
    *dx = gx * cs + gy * sn;
    *dy = gx * sn - gy * cs;
    *dtheta = gx * (y * cs - x * sn) + gy * (x * cs + y * sn);
  } else {
    *dx = gx;
    *dy = gy;
    *dtheta = T(0);
  }
}

}  // namespace math
}  // namespace onelip
