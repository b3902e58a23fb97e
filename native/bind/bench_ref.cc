// Benchmark reference for `onelip bench kernels`: OpenBLAS, loaded with dlopen at run time when the
// machine has it, so the bench can print its GEMM beside ours in the same process and run. OpenBLAS is
// never a dependency: without it benchReferenceSgemm returns null.
#include "bench_ref.h"
#include <dlfcn.h>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>
#include "../core/error.h"
#include "js_errors.h"

namespace onelip {
namespace {

// CBLAS enums: row-major 101, no transpose 111, transpose 112, lower 122.
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*,
                         int);
using SsyrkFn = void (*)(int, int, int, int, int, float, const float*, int, float, float*, int);
using SetThreadsFn = void (*)(int);
using StringFn = char* (*)();

struct OpenBlas {
  std::string path;
  SgemmFn sgemm = nullptr;
  DgemmFn dgemm = nullptr;
  SsyrkFn ssyrk = nullptr;
  SetThreadsFn set_threads = nullptr;
  StringFn corename = nullptr;
  StringFn config = nullptr;
};

/// OpenBLAS if a copy loads (once per process), else null.
const OpenBlas* openblas() {
  static const OpenBlas* ob = []() -> const OpenBlas* {
    const char* names[] = {"libopenblas.so.0", "libopenblas.so",
                           "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"};
    for (const char* name : names) {
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) continue;
      auto* o = new OpenBlas();
      o->path = name;
      o->sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
      o->dgemm = reinterpret_cast<DgemmFn>(dlsym(h, "cblas_dgemm"));
      o->ssyrk = reinterpret_cast<SsyrkFn>(dlsym(h, "cblas_ssyrk"));
      o->set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
      o->corename = reinterpret_cast<StringFn>(dlsym(h, "openblas_get_corename"));
      o->config = reinterpret_cast<StringFn>(dlsym(h, "openblas_get_config"));
      if (o->sgemm && o->set_threads) return o;
      delete o;
      dlclose(h);
    }
    return nullptr;
  }();
  return ob;
}

int int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int lo, int hi) {
  if (info.Length() <= i || !info[i].IsNumber())
    fail(code::kArgument, "benchReferenceSgemm: '", name, "' must be an integer in ", lo, "..", hi);
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= lo && v <= hi) || v != static_cast<int>(v))
    fail(code::kArgument, "benchReferenceSgemm: '", name, "' must be an integer in ", lo, "..", hi, ", got ", v);
  return static_cast<int>(v);
}

template <class T>
std::vector<T> random_matrix(size_t count, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<T> v(count);
  for (T& x : v) x = static_cast<T>(d(g));
  return v;
}

/// Seconds of each of `reps` timed calls of f, after one untimed warm-up call.
template <class F>
std::vector<double> time_calls(int reps, F f) {
  f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return t;
}

/// benchReferenceSgemm(n, reps, threads, kind = "sgemm"): times OpenBLAS on n×n×n row-major products of
/// random matrices with `threads` OpenBLAS threads: kind "sgemm" (C = A·B, float32), "dgemm" (float64) or
/// "ssyrk" (C = A·Aᵀ, lower triangle, float32). Returns { library, corename, config, threads, kind, n,
/// seconds: [one per rep] } (warm-up excluded), or null when OpenBLAS is not installed.
Napi::Value bench_reference_sgemm(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const int n = int_arg(info, 0, "n", 1, 4096);
    const int reps = int_arg(info, 1, "reps", 1, 1000);
    const int threads = int_arg(info, 2, "threads", 1, 256);
    // At most ~2·10¹² flops (10-20 s on 2 cores) per call.
    if (2.0 * n * n * n * (reps + 1.0) > 2e12)
      fail(code::kArgument, "benchReferenceSgemm: n = ", n, " with reps = ", reps, " is too much work; use fewer reps");
    std::string kind = "sgemm";
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      if (!info[3].IsString()) fail(code::kArgument, "benchReferenceSgemm: 'kind' must be 'sgemm', 'dgemm' or 'ssyrk'");
      kind = info[3].As<Napi::String>().Utf8Value();
    }
    if (kind != "sgemm" && kind != "dgemm" && kind != "ssyrk")
      fail(code::kArgument, "benchReferenceSgemm: 'kind' must be 'sgemm', 'dgemm' or 'ssyrk', got '", kind, "'");
    const OpenBlas* ob = openblas();
    if (!ob || (kind == "dgemm" && !ob->dgemm) || (kind == "ssyrk" && !ob->ssyrk)) return env.Null();
    ob->set_threads(threads);
    const size_t count = static_cast<size_t>(n) * n;
    std::vector<double> seconds;
    if (kind == "dgemm") {
      auto a = random_matrix<double>(count, 1), b = random_matrix<double>(count, 2);
      std::vector<double> c(count);
      seconds = time_calls(reps, [&] {
        ob->dgemm(101, 111, 111, n, n, n, 1.0, a.data(), n, b.data(), n, 0.0, c.data(), n);
      });
    } else if (kind == "ssyrk") {
      auto a = random_matrix<float>(count, 1);
      std::vector<float> c(count);
      seconds = time_calls(reps, [&] { ob->ssyrk(101, 122, 111, n, n, 1.0f, a.data(), n, 0.0f, c.data(), n); });
    } else {
      auto a = random_matrix<float>(count, 1), b = random_matrix<float>(count, 2);
      std::vector<float> c(count);
      seconds = time_calls(reps, [&] {
        ob->sgemm(101, 111, 111, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
      });
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("library", ob->path);
    out.Set("corename", ob->corename ? std::string(ob->corename()) : std::string("unknown"));
    out.Set("config", ob->config ? std::string(ob->config()) : std::string("unknown"));
    out.Set("threads", threads);
    out.Set("kind", kind);
    out.Set("n", n);
    Napi::Array arr = Napi::Array::New(env, seconds.size());
    for (size_t i = 0; i < seconds.size(); ++i) arr.Set(static_cast<uint32_t>(i), seconds[i]);
    out.Set("seconds", arr);
    return out;
  });
}

}  // namespace

void register_bench_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("benchReferenceSgemm", Napi::Function::New(env, bench_reference_sgemm, "benchReferenceSgemm"));
}

}  // namespace onelip
