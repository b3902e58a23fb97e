// The optional benchmark reference of `onelip bench kernels` (native/bind/bench_ref.cc).
#pragma once
#include <napi.h>

namespace onelip {

/// Adds benchReferenceSgemm(n, reps, threads[, kind]) to the addon's exports.
void register_bench_exports(Napi::Env env, Napi::Object exports);

}  // namespace onelip
