// CUDA CPU emulator: the built-in vector types (dim3, uint3, float2, float4, ...) and make_* helpers,
// with the alignment CUDA gives them, so vectorised loads through reinterpret_cast behave the same.
#pragma once

// uint3 is an aggregate (threadIdx, blockIdx); dim3 defaults missing components to 1.
struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}  // NOLINT: implicit, as in CUDA
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

#define CUDA_EMU_VEC1(T, name, align)                                                  \
  struct alignas(align) name {                                                         \
    T x;                                                                               \
  };                                                                                   \
  inline constexpr name make_##name(T x) { return name{x}; }
#define CUDA_EMU_VEC2(T, name, align)                                                  \
  struct alignas(align) name {                                                         \
    T x, y;                                                                            \
  };                                                                                   \
  inline constexpr name make_##name(T x, T y) { return name{x, y}; }
#define CUDA_EMU_VEC3(T, name, align)                                                  \
  struct alignas(align) name {                                                         \
    T x, y, z;                                                                         \
  };                                                                                   \
  inline constexpr name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define CUDA_EMU_VEC4(T, name, align)                                                  \
  struct alignas(align) name {                                                         \
    T x, y, z, w;                                                                      \
  };                                                                                   \
  inline constexpr name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

CUDA_EMU_VEC2(signed char, char2, 2)
CUDA_EMU_VEC4(signed char, char4, 4)
CUDA_EMU_VEC2(unsigned char, uchar2, 2)
CUDA_EMU_VEC4(unsigned char, uchar4, 4)
CUDA_EMU_VEC2(short, short2, 4)
CUDA_EMU_VEC4(short, short4, 8)
CUDA_EMU_VEC2(unsigned short, ushort2, 4)
CUDA_EMU_VEC4(unsigned short, ushort4, 8)
CUDA_EMU_VEC1(int, int1, 4)
CUDA_EMU_VEC2(int, int2, 8)
CUDA_EMU_VEC3(int, int3, 4)
CUDA_EMU_VEC4(int, int4, 16)
CUDA_EMU_VEC1(unsigned int, uint1, 4)
CUDA_EMU_VEC2(unsigned int, uint2, 8)
CUDA_EMU_VEC4(unsigned int, uint4, 16)
CUDA_EMU_VEC2(long long, longlong2, 16)
CUDA_EMU_VEC2(unsigned long long, ulonglong2, 16)
CUDA_EMU_VEC1(float, float1, 4)
CUDA_EMU_VEC2(float, float2, 8)
CUDA_EMU_VEC3(float, float3, 4)
CUDA_EMU_VEC4(float, float4, 16)
CUDA_EMU_VEC1(double, double1, 8)
CUDA_EMU_VEC2(double, double2, 16)

#undef CUDA_EMU_VEC1
#undef CUDA_EMU_VEC2
#undef CUDA_EMU_VEC3
#undef CUDA_EMU_VEC4

inline constexpr uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }
