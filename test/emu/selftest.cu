// Self-test of the CUDA CPU emulator (cuda/emu). The same file builds two ways:
//   emulated: g++ -std=c++17 -O2 -x c++ -I cuda/emu -include cuda/emu/prelude.h -pthread
//                 -Wno-unknown-pragmas test/emu/selftest.cu
//   real:     nvcc -std=c++17 -arch=sm_90 test/emu/selftest.cu   (without a GPU it prints
//             "no CUDA device: skipping" and exits 0)
// Kernels are plain CUDA; only host code uses `#if defined(CUDA_EMU)` (worker-count control, the forked
// deadlock checks). Every check compares with a plain CPU computation on fresh non-zero random inputs
// from a fixed-seed generator. Output: one line per check, then "N passed, M failed"; the exit status
// is non-zero if any check failed. test/emu/run-selftest.sh runs it in every mode.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <time.h>
#include <vector>

#include "../../cuda/emu/launch_macro.h"

#if defined(CUDA_EMU)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#define FULL_MASK 0xffffffffu

#if defined(CUDA_EMU)
// A dynamic shared memory name of this file only (the project's names are in cuda/emu/prelude.h).
CUDA_EMU_EXTERN_SHARED(unsigned int, emu_test_smem_u32);
#endif

// =====================================================================================================
// Kernels
// =====================================================================================================

/// Tree reduction of 2 * blockDim.x elements per block in dynamic shared memory.
__global__ void reduce_tree_kernel(const float* x, float* block_sums, int n) {
  extern __shared__ float smem_f32[];
  const unsigned t = threadIdx.x;
  const unsigned i = blockIdx.x * blockDim.x * 2 + t;
  float v = 0.0f;
  if (i < static_cast<unsigned>(n)) v += x[i];
  if (i + blockDim.x < static_cast<unsigned>(n)) v += x[i + blockDim.x];
  smem_f32[t] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) smem_f32[t] += smem_f32[t + s];
    __syncthreads();
  }
  if (t == 0) block_sums[blockIdx.x] = smem_f32[0];
}

/// Float sum by __shfl_down_sync per warp + atomicAdd; exact int warp sums by __shfl_xor_sync
/// (every lane ends with the warp's sum).
__global__ void warp_sum_kernel(const float* x, const int* xi, int n, float* total, int* lane_sums) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(FULL_MASK, v, off);
  if ((threadIdx.x & 31) == 0) atomicAdd(total, v);
  int a = i < n ? xi[i] : 0;
#pragma unroll
  for (int m = 1; m < 32; m <<= 1) a += __shfl_xor_sync(FULL_MASK, a, m);
  if (i < n) lane_sums[i] = a;
}

/// C[M,N] = A[M,K] * B[K,N], 32x32 tiles in static shared memory, 1024-thread blocks.
__global__ void sgemm_tiled_kernel(const float* A, const float* B, float* C, int M, int N, int K) {
  __shared__ float As[32][32];
  __shared__ float Bs[32][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * 32 + ty, col = blockIdx.x * 32 + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += 32) {
    As[ty][tx] = (row < M && k0 + tx < K) ? A[row * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && col < N) ? B[(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < 32; ++kk) acc += As[ty][kk] * Bs[kk][tx];
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = acc;
}

namespace onelip {
namespace {
/// Histogram with shared-memory atomics per block, then global atomics. Lives in an unnamed namespace
/// (like the project's kernels) and uses a dynamic shared name declared in this file.
template <int kBins>
__global__ void histogram_kernel(const unsigned char* data, int n, unsigned int* hist) {
  extern __shared__ unsigned int emu_test_smem_u32[];
  for (int b = threadIdx.x; b < kBins; b += blockDim.x) emu_test_smem_u32[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    atomicAdd(&emu_test_smem_u32[data[i] % kBins], 1u);
  __syncthreads();
  for (int b = threadIdx.x; b < kBins; b += blockDim.x)
    if (emu_test_smem_u32[b]) atomicAdd(&hist[b], emu_test_smem_u32[b]);
}
}  // namespace
}  // namespace onelip

/// Votes per warp; blocks of 80 threads, so every third warp is partial (16 lanes).
__global__ void ballot_kernel(const int* x, int n, unsigned* ballots, int* counts, int* votes, unsigned* active) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int pred = i < n && (x[i] & 1);
  const unsigned b = __ballot_sync(FULL_MASK, pred);
  const int any = __any_sync(FULL_MASK, i < n && x[i] % 7 == 0);
  const int all = __all_sync(FULL_MASK, i >= n || x[i] > 0);
  const unsigned am = __activemask();
  if ((threadIdx.x & 31) == 0) {
    const int w = blockIdx.x * ((blockDim.x + 31) / 32) + threadIdx.x / 32;
    ballots[w] = b;
    counts[w] = __popc(b);
    votes[w] = any | (all << 1);
    active[w] = am;
  }
}

/// __syncthreads_count/and/or with 100-thread blocks (partial last warp); four in a row, so a thread
/// running ahead into the next one would clobber a shared counter. Every thread stores what it got.
__global__ void sync_predicate_kernel(const int* x, int n, int* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = i < n ? x[i] : 1;
  const int c = __syncthreads_count(v % 3 == 0);
  const int a = __syncthreads_and(v > 0);
  const int o = __syncthreads_or(v % 97 == 0);
  const int c2 = __syncthreads_count(v & 1);
  int* dst = out + 4 * i;
  dst[0] = c;
  dst[1] = a != 0;
  dst[2] = o != 0;
  dst[3] = c2;
}

/// Shuffles with widths and offsets that cross segment ends.
__global__ void shuffle_width_kernel(int* out, double* dout) {
  const int t = threadIdx.x;
  const int lane = t & 31;
  const int v = 1000 + 7 * t;
  int* o = out + 6 * t;
  o[0] = __shfl_up_sync(FULL_MASK, v, 3, 8);
  o[1] = __shfl_down_sync(FULL_MASK, v, 5, 16);
  o[2] = __shfl_xor_sync(FULL_MASK, v, 4, 8);
  o[3] = __shfl_sync(FULL_MASK, v, lane + 5, 16);
  o[4] = __shfl_up_sync(FULL_MASK, v, 1);
  o[5] = __shfl_sync(FULL_MASK, v, 0);
  const double d = 0.5 * v + 1e10;
  dout[t] = __shfl_xor_sync(FULL_MASK, d, 1);
}

/// Many barrier rounds checking that a block's shared memory, indices and ownership survive while
/// other blocks run concurrently; records the address of a __shared__ variable per block (one address
/// per OS thread under the emulator, so distinct addresses show concurrent workers).
__global__ void isolation_kernel(int rounds, int* errors, unsigned long long* shared_addr) {
  __shared__ int sh[256];
  __shared__ int owner;
  const unsigned t = threadIdx.x, b = blockIdx.x;
  int err = 0;
  if (t == 0) owner = static_cast<int>(b);
  for (int r = 0; r < rounds; ++r) {
    sh[t] = static_cast<int>(b * 1000003u + t * 7919u + static_cast<unsigned>(r));
    __syncthreads();
    const unsigned u = (t + static_cast<unsigned>(r) * 37u + 1u) % blockDim.x;
    if (sh[u] != static_cast<int>(b * 1000003u + u * 7919u + static_cast<unsigned>(r))) ++err;
    if (owner != static_cast<int>(b)) ++err;
    if (threadIdx.x != t || blockIdx.x != b) ++err;
    __syncthreads();
  }
  if (err) atomicAdd(errors, err);
  if (t == 0) shared_addr[b] = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(&owner));
}

/// Every atomic kind on global memory; all results are order-independent.
__global__ void atomics_kernel(const int* x, int n, int* iv, unsigned* uv, unsigned long long* ullv, float* fv,
                               double* dv) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int v = x[i];
  atomicAdd(&iv[0], v);
  atomicSub(&iv[1], v);
  atomicMax(&iv[2], v);
  atomicMin(&iv[3], v);
  atomicExch(&iv[4], v);
  int old = atomicOr(&iv[5], 0), assumed;  // an atomic read: other blocks update iv[5] concurrently
  do {
    assumed = old;
    old = atomicCAS(&iv[5], assumed, assumed + 1);
  } while (old != assumed);
  atomicAnd(&uv[0], ~(1u << (v % 32)));
  atomicOr(&uv[1], 1u << (v % 32));
  atomicXor(&uv[2], static_cast<unsigned>(v) * 2654435761u);
  atomicInc(&uv[3], 100u);
  atomicAdd(&ullv[0], static_cast<unsigned long long>(v) * 1000000007ull);
  atomicMax(&ullv[1], static_cast<unsigned long long>(v) << 33);
  atomicAdd(&fv[0], static_cast<float>(v));
  atomicExch(&fv[1], static_cast<float>(v));
  atomicAdd(&dv[0], static_cast<double>(v) * 0.25);
}

/// Bit and float intrinsics.
__global__ void intrinsics_kernel(const unsigned* u, const float* f, int n, unsigned* ou, float* of) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned a = u[i];
  const float x = f[i];
  unsigned* o = ou + 8 * i;
  o[0] = static_cast<unsigned>(__popc(a));
  o[1] = static_cast<unsigned>(__clz(static_cast<int>(a >> (a & 31u))));
  o[2] = static_cast<unsigned>(__ffs(static_cast<int>(a << (a & 15u))));
  o[3] = __brev(a);
  o[4] = __float_as_uint(x);
  o[5] = static_cast<unsigned>(__popcll((static_cast<unsigned long long>(a) << 32) | (a ^ 0x5a5a5a5au)));
  o[6] = static_cast<unsigned>(__float_as_int(__int_as_float(static_cast<int>(a))));
  o[7] = min(a, 0x7fffffffu) + static_cast<unsigned>(max(static_cast<int>(a & 0xffff), 1000));
  float* q = of + 6 * i;
  q[0] = __saturatef(x);
  q[1] = rsqrtf(fabsf(x));
  q[2] = __fdividef(x, 3.0f);
  q[3] = __fmaf_rn(x, x, 1.0f);
  q[4] = __expf(x);
  q[5] = __uint_as_float(__float_as_uint(x));
}

/// Threads with index >= n exit before the barrier; the others must still get through it.
__global__ void early_exit_kernel(const int* x, int n, int* out) {
  __shared__ int s[128];
  const int t = threadIdx.x;
  if (t >= n) return;
  s[t] = x[t];
  __syncthreads();
  out[t] = s[(t + 1) % n];
}

/// Writes its thread index (to see whether it ran at all).
__global__ void mark_kernel(int* out) { out[threadIdx.x] = static_cast<int>(threadIdx.x) + 1; }

/// Uses up to 64 KiB of dynamic shared memory; also reports the first word as read before writing.
__global__ void big_smem_kernel(int nbytes, unsigned* sum, unsigned* first_word) {
  extern __shared__ unsigned char smem_raw[];
  if (threadIdx.x == 0) {
    unsigned w;
    memcpy(&w, smem_raw, sizeof w);
    *first_word = w;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < nbytes; i += blockDim.x) smem_raw[i] = static_cast<unsigned char>(i * 7 + 3);
  __syncthreads();
  unsigned s = 0;
  for (int i = threadIdx.x; i < nbytes; i += blockDim.x) s += smem_raw[(i + 1) % nbytes];
  atomicAdd(sum, s);
}

/// Block 3 deadlocks: its odd threads wait at a warp barrier, its even threads at the block barrier.
__global__ void divergent_barrier_kernel(int* out) {
  if (blockIdx.x == 3 && (threadIdx.x & 1)) {
    __syncwarp();
  } else {
    __syncthreads();
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

/// Two different __syncthreads call sites in one barrier (undefined behaviour in CUDA).
__global__ void divergent_sites_kernel(int* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

// =====================================================================================================
// Host side
// =====================================================================================================

namespace {

int g_passed = 0, g_failed = 0;

double now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}
double g_last_report_ms = now_ms();

/// One line per check, with the time since the previous line.
void report(const char* name, bool ok, const std::string& detail) {
  const double t = now_ms();
  std::printf("%s  %s%s%s (%.0f ms)\n", ok ? "PASS" : "FAIL", name, detail.empty() ? "" : ": ", detail.c_str(),
              t - g_last_report_ms);
  std::fflush(stdout);
  g_last_report_ms = t;
  (ok ? g_passed : g_failed)++;
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

/// splitmix64: fixed seed, reproducible inputs.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Non-zero float in +-[0.5, 1.5).
  float signed_float() {
    float m = 0.5f + static_cast<float>(next() >> 40) / 16777216.0f;
    return (next() & 1) ? m : -m;
  }
  /// Integer in [lo, hi].
  int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
};

#define CHECK_CUDA(expr)                                                                             \
  do {                                                                                               \
    cudaError_t e_ = (expr);                                                                         \
    if (e_ != cudaSuccess) {                                                                         \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(2);                                                                                  \
    }                                                                                                \
  } while (0)

/// A device allocation with host transfers.
template <class T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count) : n(count) { CHECK_CUDA(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T))); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void upload(const std::vector<T>& v) { CHECK_CUDA(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> download() const {
    std::vector<T> v(n);
    CHECK_CUDA(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  void fill_bytes(int byte) { CHECK_CUDA(cudaMemset(p, byte, n * sizeof(T))); }
};

bool launch_ok(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    report(what, false, std::string("launch failed: ") + cudaGetErrorString(e));
    return false;
  }
  return true;
}

bool close_rel(double got, double want, double tol) {
  return std::fabs(got - want) <= tol * std::fmax(1.0, std::fabs(want));
}

// ---- checks ----

/// The block sums of reduce_tree_kernel computed on the CPU with the same tree, in float: only
/// additions, so the GPU/emulator results must match bit for bit.
std::vector<float> tree_reference(const std::vector<float>& x, int block) {
  const int n = static_cast<int>(x.size()), per_block = 2 * block, grid = (n + per_block - 1) / per_block;
  std::vector<float> sums(grid), s(block);
  for (int b = 0; b < grid; ++b) {
    for (int t = 0; t < block; ++t) {
      int i = b * per_block + t;
      float v = 0.0f;
      if (i < n) v += x[i];
      if (i + block < n) v += x[i + block];
      s[t] = v;
    }
    for (int st = block / 2; st > 0; st >>= 1)
      for (int t = 0; t < st; ++t) s[t] += s[t + st];
    sums[b] = s[0];
  }
  return sums;
}

/// Runs reduce_tree_kernel `reps` times; returns the number of blocks whose sum differs bitwise from
/// the reference (or -1 if a launch failed).
int run_tree_reduction(const std::vector<float>& x, int block, int reps, std::vector<float>* last) {
  const int n = static_cast<int>(x.size()), grid = (n + 2 * block - 1) / (2 * block);
  const std::vector<float> want = tree_reference(x, block);
  DeviceBuffer<float> dx(n), dsum(grid);
  dx.upload(x);
  int mismatches = 0;
  for (int r = 0; r < reps; ++r) {
    dsum.fill_bytes(0);
    KLAUNCH(reduce_tree_kernel, grid, block, block * sizeof(float), 0, dx.p, dsum.p, n);
    if (cudaGetLastError() != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) return -1;
    *last = dsum.download();
    for (int b = 0; b < grid; ++b) mismatches += std::memcmp(&want[b], &(*last)[b], sizeof(float)) != 0;
  }
  return mismatches;
}

void check_tree_reduction() {
  const char* name = "tree reduction (extern __shared__ + __syncthreads)";
  const int n = 100003, block = 256;
  Rng rng(1);
  std::vector<float> x(n), got;
  for (float& v : x) v = rng.signed_float();
  const int mismatches = run_tree_reduction(x, block, 1, &got);
  double total = 0, want_total = 0;
  for (float v : got) total += v;
  for (float v : x) want_total += v;
  report(name, mismatches == 0 && close_rel(total, want_total, 1e-4),
         fmt("%zu blocks, %d bitwise mismatches with the CPU tree, sum %.6f vs %.6f", got.size(), mismatches,
             total, want_total));
}

void check_host_threads() {
  const char* name = "two host threads launching at the same time (launches are serialised)";
  const int block = 128, reps = 10;
  std::vector<float> x1(30011), x2(20011), got1, got2;
  Rng rng(10);
  for (float& v : x1) v = rng.signed_float();
  for (float& v : x2) v = rng.signed_float();
  int bad1 = 0, bad2 = 0;
  std::thread t1([&] { bad1 = run_tree_reduction(x1, block, reps, &got1); });
  std::thread t2([&] { bad2 = run_tree_reduction(x2, block, reps, &got2); });
  t1.join();
  t2.join();
  report(name, bad1 == 0 && bad2 == 0, fmt("%d x 2 launches, %d + %d bitwise mismatches", reps, bad1, bad2));
}

void check_warp_shuffle() {
  const char* name = "warp shuffle reduction (__shfl_down_sync, __shfl_xor_sync) + atomicAdd";
  const int n = 50000, block = 128, grid = (n + block - 1) / block;
  Rng rng(2);
  std::vector<float> x(n);
  std::vector<int> xi(n);
  for (int i = 0; i < n; ++i) {
    x[i] = rng.signed_float();
    xi[i] = rng.range(1, 100000) * ((rng.next() & 1) ? 1 : -1);
  }
  DeviceBuffer<float> dx(n), dtotal(1);
  DeviceBuffer<int> dxi(n), dlanes(n);
  dx.upload(x);
  dxi.upload(xi);
  dtotal.upload({0.0f});
  KLAUNCH(warp_sum_kernel, grid, block, 0, 0, dx.p, dxi.p, n, dtotal.p, dlanes.p);
  if (!launch_ok(name)) return;
  double want = 0;
  for (float v : x) want += v;
  const float total = dtotal.download()[0];
  std::vector<int> lanes = dlanes.download();
  int bad = 0;
  for (int w0 = 0; w0 < n; w0 += 32) {
    int s = 0;
    for (int i = w0; i < w0 + 32 && i < n; ++i) s += xi[i];
    for (int i = w0; i < w0 + 32 && i < n; ++i) bad += lanes[i] != s;
  }
  report(name, bad == 0 && close_rel(total, want, 1e-4),
         fmt("float sum %.5f vs %.5f, %d wrong xor lane sums", total, want, bad));
}

std::vector<float> run_sgemm(const std::vector<float>& A, const std::vector<float>& B, int M, int N, int K) {
  DeviceBuffer<float> dA(A.size()), dB(B.size()), dC(static_cast<size_t>(M) * N);
  dA.upload(A);
  dB.upload(B);
  dC.fill_bytes(0x7f);
  dim3 grid((N + 31) / 32, (M + 31) / 32), block(32, 32);
  KLAUNCH(sgemm_tiled_kernel, grid, block, 0, 0, dA.p, dB.p, dC.p, M, N, K);
  if (cudaGetLastError() != cudaSuccess) return {};
  return dC.download();
}

void check_sgemm() {
  const char* name = "32x32 tiled SGEMM 100x70x130 (ragged edges)";
  const int M = 100, N = 70, K = 130;
  Rng rng(3);
  std::vector<float> A(static_cast<size_t>(M) * K), B(static_cast<size_t>(K) * N);
  for (float& v : A) v = rng.signed_float();
  for (float& v : B) v = rng.signed_float();
  std::vector<float> C = run_sgemm(A, B, M, N, K);
  if (C.empty()) {
    report(name, false, "launch failed");
    return;
  }
  double worst = 0;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        s += static_cast<double>(A[i * K + k]) * B[k * N + j];
        mag += std::fabs(static_cast<double>(A[i * K + k]) * B[k * N + j]);
      }
      worst = std::fmax(worst, std::fabs(C[i * N + j] - s) / mag);
    }
  report(name, worst < 1e-5, fmt("max error / sum|a*b| = %.2e", worst));
#if defined(CUDA_EMU)
  const unsigned saved = cuda_emu::threads();
  cuda_emu::set_threads(1);
  std::vector<float> C1 = run_sgemm(A, B, M, N, K);
  cuda_emu::set_threads(2);
  std::vector<float> C2 = run_sgemm(A, B, M, N, K);
  cuda_emu::set_threads(saved);
  bool same = !C1.empty() && C1.size() == C2.size() && std::memcmp(C1.data(), C2.data(), C1.size() * sizeof(float)) == 0 &&
              std::memcmp(C1.data(), C.data(), C1.size() * sizeof(float)) == 0;
  report("SGEMM bitwise identical on 1 and 2 worker threads", same, "");
#endif
}

void check_histogram() {
  const char* name = "histogram with shared and global atomics (template kernel in unnamed namespace)";
  const int n = 200000, bins = 256;
  Rng rng(4);
  std::vector<unsigned char> data(n);
  for (unsigned char& c : data) c = static_cast<unsigned char>(rng.range(1, 255));
  DeviceBuffer<unsigned char> dd(n);
  DeviceBuffer<unsigned int> dh(bins);
  dd.upload(data);
  dh.fill_bytes(0);
  KLAUNCH(onelip::histogram_kernel<bins>, 60, 256, bins * sizeof(unsigned), 0, dd.p, n, dh.p);
  if (!launch_ok(name)) return;
  std::vector<unsigned> want(bins, 0), got = dh.download();
  for (unsigned char c : data) want[c % bins]++;
  report(name, got == want, fmt("%d values into %d bins", n, bins));
}

void check_ballot() {
  const char* name = "__ballot_sync + __popc, __any_sync, __all_sync, __activemask (partial warps)";
  const int block = 80, grid = 50, n = block * grid - 13;
  const int warps_per_block = (block + 31) / 32, nwarps = grid * warps_per_block;
  Rng rng(5);
  std::vector<int> x(n);
  for (int& v : x) v = rng.range(1, 1000) * ((rng.next() % 50) ? 1 : -1);
  DeviceBuffer<int> dx(n), dcounts(nwarps), dvotes(nwarps);
  DeviceBuffer<unsigned> dballots(nwarps), dactive(nwarps);
  dx.upload(x);
  KLAUNCH(ballot_kernel, grid, block, 0, 0, dx.p, n, dballots.p, dcounts.p, dvotes.p, dactive.p);
  if (!launch_ok(name)) return;
  std::vector<unsigned> ballots = dballots.download(), active = dactive.download();
  std::vector<int> counts = dcounts.download(), votes = dvotes.download();
  int bad = 0;
  for (int b = 0; b < grid; ++b)
    for (int w = 0; w < warps_per_block; ++w) {
      const int wi = b * warps_per_block + w;
      unsigned want_ballot = 0, want_active = 0;
      int any = 0, all = 1, pop = 0;
      for (int l = 0; l < 32; ++l) {
        const int t = w * 32 + l;
        if (t >= block) break;
        want_active |= 1u << l;
        const int i = b * block + t;
        if (i < n && (x[i] & 1)) want_ballot |= 1u << l;
        if (i < n && x[i] % 7 == 0) any = 1;
        if (i < n && x[i] <= 0) all = 0;
      }
      for (unsigned m = want_ballot; m; m >>= 1) pop += m & 1;
      bad += ballots[wi] != want_ballot || counts[wi] != pop || votes[wi] != (any | (all << 1)) ||
             active[wi] != want_active;
    }
  report(name, bad == 0, fmt("%d warps, %d wrong", nwarps, bad));
}

void check_sync_predicates() {
  const char* name = "__syncthreads_count/and/or, 100-thread blocks";
  const int block = 100, grid = 64, n = block * grid;
  Rng rng(6);
  std::vector<int> x(n);
  for (int& v : x) v = rng.range(1, 1000) * ((rng.next() % 64) ? 1 : -1);
  DeviceBuffer<int> dx(n), dout(4 * n);
  dx.upload(x);
  KLAUNCH(sync_predicate_kernel, grid, block, 0, 0, dx.p, n, dout.p);
  if (!launch_ok(name)) return;
  std::vector<int> out = dout.download();
  int bad = 0, and_true = 0, or_true = 0;
  for (int b = 0; b < grid; ++b) {
    int c = 0, a = 1, o = 0, c2 = 0;
    for (int t = 0; t < block; ++t) {
      const int v = x[b * block + t];
      c += v % 3 == 0;
      a &= v > 0;
      o |= v % 97 == 0;
      c2 += v & 1;
    }
    and_true += a;
    or_true += o;
    for (int t = 0; t < block; ++t) {
      const int* r = &out[4 * (b * block + t)];
      bad += r[0] != c || r[1] != a || r[2] != o || r[3] != c2;
    }
  }
  report(name, bad == 0 && and_true > 0 && and_true < grid && or_true > 0 && or_true < grid,
         fmt("%d threads, %d wrong; and true in %d/%d blocks, or true in %d/%d", n, bad, and_true, grid, or_true, grid));
}

void check_shuffle_widths() {
  const char* name = "shuffles with width: __shfl_up_sync past the segment start returns own value";
  const int block = 64;
  DeviceBuffer<int> dout(6 * block);
  DeviceBuffer<double> dd(block);
  KLAUNCH(shuffle_width_kernel, 1, block, 0, 0, dout.p, dd.p);
  if (!launch_ok(name)) return;
  std::vector<int> out = dout.download();
  std::vector<double> dout_h = dd.download();
  auto val = [](int t) { return 1000 + 7 * t; };
  int bad = 0, own_up = 0;
  for (int t = 0; t < block; ++t) {
    const int lane = t & 31, wbase = t - lane;
    // up 3, width 8
    int seg = lane & ~7, src = lane - 3 < seg ? lane : lane - 3;
    own_up += src == lane;
    bad += out[6 * t + 0] != val(wbase + src);
    // down 5, width 16
    seg = lane & ~15;
    src = lane + 5 >= seg + 16 ? lane : lane + 5;
    bad += out[6 * t + 1] != val(wbase + src);
    // xor 4, width 8
    bad += out[6 * t + 2] != val(wbase + (lane ^ 4));
    // index lane + 5, width 16
    bad += out[6 * t + 3] != val(wbase + seg + ((lane + 5) & 15));
    // up 1, width 32
    bad += out[6 * t + 4] != val(wbase + (lane == 0 ? 0 : lane - 1));
    bad += out[6 * t + 5] != val(wbase);
    bad += dout_h[t] != 0.5 * val(wbase + (lane ^ 1)) + 1e10;
  }
  report(name, bad == 0 && own_up == 24, fmt("%d wrong values, %d lanes kept their own value", bad, own_up));
}

void check_concurrency() {
#if defined(CUDA_EMU) && CUDA_EMU_USE_UCONTEXT
  // swapcontext makes a system call per switch: fewer rounds keep the sanitizer run short.
  const char* name = "concurrent blocks: shared memory isolation, 200 blocks x 256 threads x 10 barrier rounds";
  const int rounds = 10;
#else
  const char* name = "concurrent blocks: shared memory isolation, 200 blocks x 256 threads x 50 barrier rounds";
  const int rounds = 50;
#endif
  const int grid = 200, block = 256;
#if defined(CUDA_EMU)
  const unsigned saved = cuda_emu::threads();
  cuda_emu::set_threads(2);
#endif
  DeviceBuffer<int> derr(1);
  DeviceBuffer<unsigned long long> daddr(grid);
  derr.fill_bytes(0);
  KLAUNCH(isolation_kernel, grid, block, 0, 0, rounds, derr.p, daddr.p);
  const bool ok = launch_ok(name);
#if defined(CUDA_EMU)
  cuda_emu::set_threads(saved);
#endif
  if (!ok) return;
  const int errors = derr.download()[0];
  std::vector<unsigned long long> addr = daddr.download();
  std::set<unsigned long long> distinct(addr.begin(), addr.end());
  report(name, errors == 0, fmt("%d errors", errors));
#if defined(CUDA_EMU)
  // A __shared__ variable has one address per OS thread: two addresses = blocks ran on two workers.
  report("blocks ran on 2 OS threads at once (CUDA_EMU_THREADS=2)", distinct.size() >= 2,
         fmt("%zu distinct worker shared-memory addresses", distinct.size()));
#endif
}

void check_atomics() {
  const char* name = "atomics: int/unsigned/ull add sub exch min max and or xor inc CAS, float/double add";
  const int n = 8192, block = 256;
  Rng rng(7);
  std::vector<int> x(n);
  for (int& v : x) v = rng.range(1, 1000);
  DeviceBuffer<int> dx(n), div(6);
  DeviceBuffer<unsigned> duv(4);
  DeviceBuffer<unsigned long long> dull(2);
  DeviceBuffer<float> dfv(2);
  DeviceBuffer<double> ddv(1);
  dx.upload(x);
  div.upload({0, 0, -1, 1 << 30, 0, 0});
  duv.upload({0xffffffffu, 0u, 0u, 0u});
  dull.upload({0ull, 0ull});
  dfv.upload({0.0f, 0.0f});
  ddv.upload({0.0});
  KLAUNCH(atomics_kernel, (n + block - 1) / block, block, 0, 0, dx.p, n, div.p, duv.p, dull.p, dfv.p, ddv.p);
  if (!launch_ok(name)) return;
  std::vector<int> iv = div.download();
  std::vector<unsigned> uv = duv.download();
  std::vector<unsigned long long> ull = dull.download();
  std::vector<float> fv = dfv.download();
  std::vector<double> dv = ddv.download();
  long long sum = 0;
  int mx = -1, mn = 1 << 30;
  unsigned andv = 0xffffffffu, orv = 0, xorv = 0;
  unsigned long long usum = 0, umax = 0;
  std::set<int> values(x.begin(), x.end());
  for (int v : x) {
    sum += v;
    mx = v > mx ? v : mx;
    mn = v < mn ? v : mn;
    andv &= ~(1u << (v % 32));
    orv |= 1u << (v % 32);
    xorv ^= static_cast<unsigned>(v) * 2654435761u;
    usum += static_cast<unsigned long long>(v) * 1000000007ull;
    umax = std::max(umax, static_cast<unsigned long long>(v) << 33);
  }
  std::string bad;
  if (iv[0] != sum) bad += " add";
  if (iv[1] != -sum) bad += " sub";
  if (iv[2] != mx) bad += " max";
  if (iv[3] != mn) bad += " min";
  if (!values.count(iv[4])) bad += " exch";
  if (iv[5] != n) bad += " cas";
  if (uv[0] != andv) bad += " and";
  if (uv[1] != orv) bad += " or";
  if (uv[2] != xorv) bad += " xor";
  if (uv[3] != static_cast<unsigned>(n % 101)) bad += " inc";
  if (ull[0] != usum) bad += " ull-add";
  if (ull[1] != umax) bad += " ull-max";
  if (fv[0] != static_cast<float>(sum)) bad += " float-add";
  if (!values.count(static_cast<int>(fv[1]))) bad += " float-exch";
  if (dv[0] != 0.25 * static_cast<double>(sum)) bad += " double-add";
  report(name, bad.empty(), bad.empty() ? fmt("%d threads", n) : "wrong:" + bad);
}

unsigned ref_clz(unsigned v) {
  unsigned c = 0;
  for (int b = 31; b >= 0 && !((v >> b) & 1u); --b) ++c;
  return c;
}
unsigned ref_ffs(unsigned v) {
  for (unsigned b = 0; b < 32; ++b)
    if ((v >> b) & 1u) return b + 1;
  return 0;
}
unsigned ref_popc(unsigned long long v) {
  unsigned c = 0;
  for (; v; v >>= 1) c += v & 1;
  return c;
}
unsigned ref_brev(unsigned v) {
  unsigned r = 0;
  for (int b = 0; b < 32; ++b) r |= ((v >> b) & 1u) << (31 - b);
  return r;
}

void check_intrinsics() {
  const char* name = "intrinsics: __popc(ll) __clz __ffs __brev __float_as_uint & co, __saturatef rsqrtf __fdividef __fmaf_rn __expf min/max";
  const int n = 4096;
  Rng rng(8);
  std::vector<unsigned> u(n);
  std::vector<float> f(n);
  for (int i = 0; i < n; ++i) {
    u[i] = static_cast<unsigned>(rng.next()) | 1u;
    f[i] = rng.signed_float() * 2.0f;
  }
  DeviceBuffer<unsigned> du(n), dou(8 * n);
  DeviceBuffer<float> df(n), dof(6 * n);
  du.upload(u);
  df.upload(f);
  KLAUNCH(intrinsics_kernel, (n + 127) / 128, 128, 0, 0, du.p, df.p, n, dou.p, dof.p);
  if (!launch_ok(name)) return;
  std::vector<unsigned> ou = dou.download();
  std::vector<float> of = dof.download();
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    const unsigned a = u[i];
    const float x = f[i];
    unsigned xb;
    std::memcpy(&xb, &x, 4);
    const unsigned* o = &ou[8 * i];
    bad += o[0] != ref_popc(a);
    bad += o[1] != ref_clz(a >> (a & 31u));
    bad += o[2] != ref_ffs(a << (a & 15u));
    bad += o[3] != ref_brev(a);
    bad += o[4] != xb;
    bad += o[5] != ref_popc((static_cast<unsigned long long>(a) << 32) | (a ^ 0x5a5a5a5au));
    bad += o[6] != a;
    bad += o[7] != (a < 0x7fffffffu ? a : 0x7fffffffu) + static_cast<unsigned>(std::max(static_cast<int>(a & 0xffff), 1000));
    const float* q = &of[6 * i];
    bad += q[0] != (x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f));
    bad += !close_rel(q[1], 1.0 / std::sqrt(std::fabs(static_cast<double>(x))), 1e-5);
    bad += !close_rel(q[2], x / 3.0, 1e-5);
    bad += !close_rel(q[3], static_cast<double>(x) * x + 1.0, 1e-6);
    bad += !close_rel(q[4], std::exp(static_cast<double>(x)), 1e-5);
    bad += std::memcmp(&q[5], &x, 4) != 0;
  }
  report(name, bad == 0, fmt("%d inputs, %d wrong", n, bad));
}

void check_early_exit() {
  const char* name = "exited threads count as arrived at __syncthreads";
  const int block = 128, n = 64;
  Rng rng(9);
  std::vector<int> x(block);
  for (int& v : x) v = rng.range(1, 1 << 20);
  DeviceBuffer<int> dx(block), dout(block);
  dx.upload(x);
  dout.fill_bytes(0);
  KLAUNCH(early_exit_kernel, 1, block, 0, 0, dx.p, n, dout.p);
  if (!launch_ok(name)) return;
  std::vector<int> out = dout.download();
  int bad = 0;
  for (int t = 0; t < block; ++t) bad += out[t] != (t < n ? x[(t + 1) % n] : 0);
  report(name, bad == 0, fmt("%d wrong", bad));
}

void check_invalid_configuration() {
  const char* name = "invalid configuration -> cudaErrorInvalidConfiguration, kernel not run";
  DeviceBuffer<int> dout(1024);
  DeviceBuffer<unsigned> dsum(1), dfirst(1);
  std::string bad;
  cudaGetLastError();
  // also_ok: a second acceptable code on a real GPU (the driver rejects too much dynamic shared memory
  // with cudaErrorInvalidValue; the emulator reports every invalid launch as InvalidConfiguration).
  auto expect_invalid = [&](const char* what, cudaError_t also_ok) {
    cudaError_t peek = cudaPeekAtLastError();
    cudaError_t e = cudaGetLastError();
#if defined(CUDA_EMU)
    also_ok = cudaErrorInvalidConfiguration;
#endif
    const bool ok = (e == cudaErrorInvalidConfiguration || e == also_ok) && peek == e;
    if (!ok) bad += fmt(" %s(%s)", what, cudaGetErrorName(e));
    if (cudaGetLastError() != cudaSuccess) bad += fmt(" %s-not-cleared", what);
  };
  dout.fill_bytes(0);
  KLAUNCH(mark_kernel, 1, 1025, 0, 0, dout.p);
  expect_invalid("1025-threads", cudaErrorInvalidConfiguration);
  KLAUNCH(mark_kernel, 0, 32, 0, 0, dout.p);
  expect_invalid("empty-grid", cudaErrorInvalidConfiguration);
  KLAUNCH(mark_kernel, 1, dim3(1, 1, 65), 0, 0, dout.p);
  expect_invalid("blockDim.z=65", cudaErrorInvalidConfiguration);
  KLAUNCH(big_smem_kernel, 1, 256, 64 * 1024, 0, 64 * 1024, dsum.p, dfirst.p);
  expect_invalid("64KiB-smem-without-attribute", cudaErrorInvalidValue);
  cudaDeviceSynchronize();
  std::vector<int> out = dout.download();
  int ran = 0;
  for (int v : out) ran += v != 0;
  if (ran) bad += fmt(" kernel-ran(%d)", ran);
  KLAUNCH(mark_kernel, 1, 1024, 0, 0, dout.p);
  if (cudaGetLastError() != cudaSuccess) bad += " valid-launch-failed";
  out = dout.download();
  if (out[1023] != 1024) bad += " valid-launch-did-not-run";
  report(name, bad.empty(), bad.empty() ? "1025 threads, empty grid, blockDim.z 65, 64 KiB smem" : "wrong:" + bad);

  const char* name2 = "cudaFuncSetAttribute(MaxDynamicSharedMemorySize) allows 64 KiB of dynamic shared memory";
  const int nbytes = 64 * 1024;
  CHECK_CUDA(cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, nbytes));
  dsum.fill_bytes(0);
  KLAUNCH(big_smem_kernel, 2, 256, nbytes, 0, nbytes, dsum.p, dfirst.p);
  if (!launch_ok(name2)) return;
  unsigned want = 0;
  for (int i = 0; i < nbytes; ++i) want += static_cast<unsigned char>(i * 7 + 3);
  const unsigned got = dsum.download()[0];
  report(name2, got == 2 * want, fmt("sum %u vs %u", got, 2 * want));
#if defined(CUDA_EMU)
  report("dynamic shared memory is filled with 0xFF before each block", dfirst.download()[0] == 0xffffffffu,
         fmt("first word 0x%08x", dfirst.download()[0]));
#endif
}

#if defined(CUDA_EMU)
/// Runs `launch` in a forked child with stderr captured; returns the child's wait status.
template <class F>
int run_in_child(F launch, std::string* stderr_text) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    cuda_emu::set_threads(1);  // the pool's helper threads do not exist in the child
    launch();
    _exit(0);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) > 0) stderr_text->append(buf, static_cast<size_t>(r));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

void check_deadlock() {
  const char* name = "divergent barrier is reported as a deadlock naming the block (forked child)";
  DeviceBuffer<int> dout(8 * 64);
  std::string text;
  const int status = run_in_child([&] { KLAUNCH(divergent_barrier_kernel, 8, 64, 0, 0, dout.p); }, &text);
  const bool died = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  const bool named = text.find("deadlock") != std::string::npos && text.find("block (3,0,0)") != std::string::npos;
  const size_t eol = text.find('\n');
  report(name, died && named, fmt("child %s; stderr: %s", died ? "aborted" : "did not abort",
                                  text.substr(0, eol == std::string::npos ? text.size() : eol).c_str()));
  const char* name2 = "__syncthreads at different call sites is reported (forked child)";
  std::string text2;
  const int status2 = run_in_child([&] { KLAUNCH(divergent_sites_kernel, 1, 64, 0, 0, dout.p); }, &text2);
  const bool died2 = WIFSIGNALED(status2) && WTERMSIG(status2) == SIGABRT;
  const bool named2 = text2.find("divergent barrier") != std::string::npos &&
                      text2.find("block (0,0,0)") != std::string::npos;
  report(name2, died2 && named2, fmt("child %s", died2 ? "aborted" : "did not abort"));
}
#endif

}  // namespace

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("no CUDA device: skipping\n");
    return 0;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
#if defined(CUDA_EMU)
  std::printf("device: %s (%u worker thread(s), %s context switch%s)\n", prop.name, cuda_emu::threads(),
              CUDA_EMU_USE_UCONTEXT ? "ucontext" : "x86-64 asm",
              cuda_emu::detail::settings().reverse ? ", reverse thread order" : "");
#else
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
#endif
  check_tree_reduction();
  check_host_threads();
  check_warp_shuffle();
  check_sgemm();
  check_histogram();
  check_ballot();
  check_sync_predicates();
  check_shuffle_widths();
  check_concurrency();
  check_atomics();
  check_intrinsics();
  check_early_exit();
  check_invalid_configuration();
#if defined(CUDA_EMU)
  check_deadlock();
#endif
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
