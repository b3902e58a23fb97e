// Micro-benchmarks of the CUDA CPU emulator (emulated build only):
//   g++ -std=c++17 -O2 -x c++ -I cuda/emu -include cuda/emu/prelude.h -pthread -Wno-unknown-pragmas
//       test/emu/bench.cu -o build-test/emu/bench && build-test/emu/bench
// Prints the cost per emulated GPU thread, of an empty launch, of a barrier and of a warp shuffle, and
// the time of a 256^3 SGEMM (32x32 tiles, 1024-thread blocks) on 1 and 2 worker threads. Each figure is
// the best of several repetitions.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "../../cuda/emu/launch_macro.h"

#if !defined(CUDA_EMU)
#error "bench.cu measures the emulator: build it with g++ -I cuda/emu"
#endif

__global__ void store_kernel(int* out) { out[blockIdx.x * blockDim.x + threadIdx.x] = threadIdx.x; }

__global__ void barrier_kernel(int* out, int rounds) {
  int v = threadIdx.x;
  for (int r = 0; r < rounds; ++r) __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

__global__ void shuffle_kernel(int* out, int rounds) {
  int v = threadIdx.x;
  for (int r = 0; r < rounds; ++r) v += __shfl_xor_sync(0xffffffffu, v, 1);
  out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

__global__ void sgemm_kernel(const float* A, const float* B, float* C, int M, int N, int K) {
  __shared__ float As[32][32];
  __shared__ float Bs[32][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * 32 + ty, col = blockIdx.x * 32 + tx;
  float acc = 0.0f;
  for (int k0 = 0; k0 < K; k0 += 32) {
    As[ty][tx] = (row < M && k0 + tx < K) ? A[row * K + k0 + tx] : 0.0f;
    Bs[ty][tx] = (k0 + ty < K && col < N) ? B[(k0 + ty) * N + col] : 0.0f;
    __syncthreads();
    for (int kk = 0; kk < 32; ++kk) acc += As[ty][kk] * Bs[kk][tx];
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = acc;
}

static bool g_cpu_time = false;  // measure the calling thread's CPU time (1 worker: less load noise)

static double now_seconds() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
static double best_seconds(int reps, F f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double t0 = now_seconds();
    f();
    double s = now_seconds() - t0;
    best = s < best ? s : best;
  }
  return best;
}

int main() {
  std::printf("context switch: %s\n", CUDA_EMU_USE_UCONTEXT ? "ucontext" : "x86-64 asm");
  const int threads = 1 << 20, block = 256;
  int* out = nullptr;
  cudaMalloc(&out, threads * sizeof(int));
  const int n = 256;
  std::vector<float> host(static_cast<size_t>(n) * n, 1.0f);
  float *A, *B, *C;
  cudaMalloc(&A, host.size() * sizeof(float));
  cudaMalloc(&B, host.size() * sizeof(float));
  cudaMalloc(&C, host.size() * sizeof(float));
  cudaMemcpy(A, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
  cudaMemcpy(B, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);

  for (unsigned workers : {1u, 2u}) {
    cuda_emu::set_threads(workers);
    g_cpu_time = workers == 1;
    std::printf("-- %u worker thread(s), %s\n", workers, g_cpu_time ? "thread CPU time" : "wall time");
    double s = best_seconds(5, [&] { KLAUNCH(store_kernel, threads / block, block, 0, 0, out); });
    std::printf("store kernel, 2^20 threads:     %7.1f ns per thread (%.1f ms)\n", s * 1e9 / threads, s * 1e3);
    s = best_seconds(200, [&] { KLAUNCH(store_kernel, 1, 32, 0, 0, out); });
    std::printf("tiny launch (1 block x 32):     %7.1f us\n", s * 1e6);
    const int rounds = 16, bthreads = 64 * 1024;
    s = best_seconds(5, [&] { KLAUNCH(barrier_kernel, bthreads / block, block, 0, 0, out, rounds); });
    std::printf("__syncthreads:                  %7.1f ns per thread per barrier\n", s * 1e9 / bthreads / rounds);
    s = best_seconds(5, [&] { KLAUNCH(shuffle_kernel, bthreads / block, block, 0, 0, out, rounds); });
    std::printf("__shfl_xor_sync:                %7.1f ns per thread per shuffle\n", s * 1e9 / bthreads / rounds);
    dim3 grid(n / 32, n / 32), tile(32, 32);
    s = best_seconds(5, [&] { KLAUNCH(sgemm_kernel, grid, tile, 0, 0, A, B, C, n, n, n); });
    std::printf("SGEMM 256^3 (32x32 tiles):      %7.3f s  (%.2f GFLOP/s)\n", s, 2.0 * n * n * n / s * 1e-9);
  }
  float c0 = 0;
  cudaMemcpy(&c0, C, sizeof c0, cudaMemcpyDeviceToHost);
  if (c0 != static_cast<float>(n)) {
    std::printf("SGEMM result wrong: %g\n", c0);
    return 1;
  }
  return 0;
}
