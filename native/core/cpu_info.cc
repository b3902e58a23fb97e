#include "backends.h"

namespace onelip {

const char* cpu_simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  static const char* level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
      return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
    return "portable";
  }();
  return level;
#else
  return "portable";
#endif
}

}  // namespace onelip
