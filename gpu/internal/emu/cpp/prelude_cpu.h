// prelude_cpu.h: the macro layer that maps the shared kernel source
// (kernels.inc) onto plain C++ for the emulator (harness.cc): every
// threadgroup runs its threads as cooperative fibers on one OS thread, so
// barriers and warp operations are exact and deterministic. Warp
// reductions use the butterfly order of the CUDA prelude's shuffles.
#include <cmath>
#include <cstdint>
#include <cstring>
#define GP_CPU 1

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;
struct uint4 { uint x, y, z, w; };
struct float4 { float x, y, z, w; };

struct EmuIDs {
  uint gid[3], ngroups[3], tid, bdim;
};
extern thread_local EmuIDs emu_ids;
void emu_barrier();
void emu_warp_barrier();
float emu_warp_reduce(float v, int op);  // 0 sum, 1 max
float emu_warp_bcast(float v, uint src);
int emu_warp_bcast_int(int v, uint src);

#define KERNEL(name) extern "C" void name
#define KERNEL_IDS
#define ARG(i)
#define PARAMS_ARG(i) const Params p
#define GLOBAL(T) T*
#define GLOBAL_CONST(T) const T*
// One threadgroup runs at a time, so a function-local static is exactly
// one threadgroup's shared memory.
#define SHARED static
#define SHARED_PTR(T) T*
#define THREAD_PTR(T) T*
#define CAST_GLOBAL(T, p) ((T*)(p))
#define CAST_GLOBAL_CONST(T, p) ((const T*)(p))
#define DEVICE_FN static inline
#define CONSTANT_DATA const

#define GROUP_ID_X emu_ids.gid[0]
#define GROUP_ID_Y emu_ids.gid[1]
#define GROUP_ID_Z emu_ids.gid[2]
#define NUM_GROUPS_X emu_ids.ngroups[0]
#define LOCAL_ID emu_ids.tid
#define LOCAL_SIZE emu_ids.bdim
#define LANE (emu_ids.tid & 31u)
#define WARP_ID (emu_ids.tid >> 5)

#define BARRIER() emu_barrier()
#define WARP_BARRIER() emu_warp_barrier()
#define GRID_DEP_WAIT()
#define GRID_DEP_LAUNCH()

static inline float warp_sum(float v) { return emu_warp_reduce(v, 0); }
static inline float warp_max(float v) { return emu_warp_reduce(v, 1); }
static inline float warp_bcast(float v, uint src) { return emu_warp_bcast(v, src); }
static inline int warp_bcast_int(int v, uint src) { return emu_warp_bcast_int(v, src); }

static inline float bits_to_float(uint u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint float_to_bits(float f) { uint u; memcpy(&u, &f, 4); return u; }
// IEEE half conversions in software (round to nearest even).
static inline float half_bits_to_float(ushort h) {
  uint sign = (uint)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0 && man == 0) return bits_to_float(sign);
  if (exp == 0) {
    uint e = 127 - 15 + 1;
    while ((man & 0x400u) == 0) { man <<= 1; e--; }
    return bits_to_float(sign | e << 23 | (man & 0x3ffu) << 13);
  }
  if (exp == 0x1f) return bits_to_float(sign | 0xffu << 23 | man << 13);
  return bits_to_float(sign | (exp + 127 - 15) << 23 | man << 13);
}
static inline ushort float_to_half_bits(float f) {
  uint u = float_to_bits(f);
  ushort sign = (ushort)((u >> 16) & 0x8000u);
  int exp = (int)((u >> 23) & 0xffu) - 127 + 15;
  uint man = u & 0x7fffffu;
  if ((u & 0x7fffffffu) > 0x7f800000u) return sign | 0x7e00u;
  if (exp >= 0x1f) return sign | 0x7c00u;
  if (exp <= 0) {
    if (exp < -10) return sign;
    man |= 0x800000u;
    uint shift = (uint)(14 - exp), half = 1u << (shift - 1), r = man >> shift, rem = man & ((1u << shift) - 1u);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return (ushort)(sign | r);
  }
  uint r = (uint)exp << 10 | man >> 13, rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
  return (ushort)(sign | r);
}
static inline float round_to_half(float x) { return half_bits_to_float(float_to_half_bits(x)); }

static inline int min(int a, int b) { return a < b ? a : b; }
static inline uint min(uint a, uint b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline uint max(uint a, uint b) { return a > b ? a : b; }

#define F_EXP(x) expf(x)
#define F_LOG(x) logf(x)
#define F_SQRT(x) sqrtf(x)
#define F_RSQRT(x) (1.0f / sqrtf(x))
#define F_SIN(x) sinf(x)
#define F_COS(x) cosf(x)
#define F_TANH(x) tanhf(x)
#define F_ERF(x) erff(x)
#define F_POW(a, b) powf(a, b)
#define F_ABS(x) fabsf(x)
#define F_MAX(a, b) fmaxf(a, b)
#define F_MIN(a, b) fminf(a, b)
#define F_FMA(a, b, c) fmaf(a, b, c)
#define F_ISNAN(x) std::isnan(x)
#define FLT_MAX_VALUE 3.402823466e+38f
#define F_INF INFINITY

void emu_check_align(const void* p, const char* what);
static inline uint4 load_u4(const uint* p, uint word) { emu_check_align(p + word, "load_u4"); uint4 r; memcpy(&r, p + word, 16); return r; }
static inline float4 load_f4(const float* p, uint i) { emu_check_align(p + i, "load_f4"); float4 r; memcpy(&r, p + i, 16); return r; }
static inline uint4 load_u4_stream(const uint* p, uint word) { return load_u4(p, word); }
static inline float4 load_sf4(float* p, uint i) { emu_check_align(p + i, "load_sf4"); float4 r; memcpy(&r, p + i, 16); return r; }
#define CAST_SHARED(T, p) ((T*)(p))
