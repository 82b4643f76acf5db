// prelude_metal.h: the macro layer that maps the shared kernel source
// (kernels.inc) onto the Metal Shading Language.
//
// Target: MSL 2.4 (MTLLanguageVersion2_4: macOS 12 and later). What the
// source needs, per Apple's MSL specification: simd_sum and simd_max need
// MSL 2.1 on macOS; simd_shuffle, [[thread_index_in_simdgroup]] and
// [[simdgroup_index_in_threadgroup]] need 2.0; bf16 is read as raw 16-bit
// words and widened by shifting, so MSL 3.1's bfloat is not needed. The
// runtime pins the version (metal/metal_darwin.go) so compiler defaults do
// not drift with the OS; 2.4 is the last MSL 2 release. Only macOS 11 on an
// M1 is left out: MTLLanguageVersion2_3 would admit it with no source change.
// The SIMD-group reductions also need an Apple7 (M1) or newer GPU, which the
// runtime checks with supportsFamily: before compiling.
#include <metal_stdlib>
using namespace metal;
#define GP_METAL 1

#define KERNEL(name) kernel void name
// KERNEL_IDS ends every kernel's parameter list: Metal passes the ids as
// attributed parameters. Threadgroups are one-dimensional (x); grids use x,
// y, z. The spec requires the grid-shaped attributes
// ([[threadgroup_position_in_grid]], [[threadgroups_per_grid]],
// [[threads_per_threadgroup]]) to have vector types of one component count,
// so all three are uint3; the per-thread indices are scalars.
#define KERNEL_IDS , uint3 gp_tgid [[threadgroup_position_in_grid]], \
  uint3 gp_ngroups [[threadgroups_per_grid]], \
  uint3 gp_tsize [[threads_per_threadgroup]], \
  uint gp_tid [[thread_index_in_threadgroup]], \
  uint gp_lane [[thread_index_in_simdgroup]], \
  uint gp_warp [[simdgroup_index_in_threadgroup]]
#define ARG(i) [[buffer(i)]]
#define PARAMS_ARG(i) constant Params& p [[buffer(i)]]
#define GLOBAL(T) device T*
#define GLOBAL_CONST(T) const device T*
#define SHARED threadgroup
#define SHARED_PTR(T) threadgroup T*
#define THREAD_PTR(T) thread T*
#define CAST_GLOBAL(T, p) ((device T*)(p))
#define CAST_GLOBAL_CONST(T, p) ((const device T*)(p))
#define DEVICE_FN static inline
#define CONSTANT_DATA constant

#define GROUP_ID_X gp_tgid.x
#define GROUP_ID_Y gp_tgid.y
#define GROUP_ID_Z gp_tgid.z
#define NUM_GROUPS_X gp_ngroups.x
#define LOCAL_ID gp_tid
#define LOCAL_SIZE gp_tsize.x
#define LANE gp_lane
#define WARP_ID gp_warp

#define BARRIER() threadgroup_barrier(mem_flags::mem_threadgroup)
#define WARP_BARRIER() simdgroup_barrier(mem_flags::mem_threadgroup)
// Metal runs a command encoder's dispatches one after another: no
// programmatic dependent launch, so these are empty (prelude_cuda.h).
#define GRID_DEP_WAIT()
#define GRID_DEP_LAUNCH()

DEVICE_FN float warp_sum(float v) { return simd_sum(v); }
DEVICE_FN float warp_max(float v) { return simd_max(v); }
DEVICE_FN float warp_bcast(float v, uint src) { return simd_shuffle(v, (ushort)src); }
DEVICE_FN int warp_bcast_int(int v, uint src) { return simd_shuffle(v, (ushort)src); }

DEVICE_FN float bits_to_float(uint u) { return as_type<float>(u); }
DEVICE_FN uint float_to_bits(float f) { return as_type<uint>(f); }
DEVICE_FN float half_bits_to_float(ushort h) { return float(as_type<half>(h)); }
DEVICE_FN float round_to_half(float x) { return float(half(x)); }

// Metal has no erf. |x| < 0.5: its Taylor series to x^11 (error < 2e-8);
// otherwise Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7).
DEVICE_FN float gp_erf(float x) {
  float ax = fabs(x);
  if (ax < 0.5f) {
    float z = x * x;
    float s = 1.0f + z * (-1.0f / 3.0f + z * (1.0f / 10.0f + z * (-1.0f / 42.0f + z * (1.0f / 216.0f + z * (-1.0f / 1320.0f)))));
    return 1.1283791670955126f * x * s;
  }
  float t = 1.0f / (1.0f + 0.3275911f * ax);
  float y = 1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t * precise::exp(-ax * ax);
  return x >= 0.0f ? y : -y;
}

#define F_EXP(x) precise::exp(x)
#define F_LOG(x) precise::log(x)
#define F_SQRT(x) precise::sqrt(x)
#define F_RSQRT(x) (1.0f / precise::sqrt(x))
#define F_SIN(x) precise::sin(x)
#define F_COS(x) precise::cos(x)
#define F_TANH(x) precise::tanh(x)
#define F_ERF(x) gp_erf(x)
#define F_POW(a, b) precise::pow(a, b)
#define F_ABS(x) fabs(x)
#define F_MAX(a, b) fmax(a, b)
#define F_MIN(a, b) fmin(a, b)
#define F_FMA(a, b, c) fma(a, b, c)
#define F_ISNAN(x) isnan(x)
#define FLT_MAX_VALUE 3.402823466e+38f
#define F_INF INFINITY

DEVICE_FN uint4 load_u4(GLOBAL_CONST(uint) p, uint word) { return *((const device uint4*)(p + word)); }
DEVICE_FN float4 load_f4(GLOBAL_CONST(float) p, uint i) { return *((const device float4*)(p + i)); }
DEVICE_FN uint4 load_u4_stream(GLOBAL_CONST(uint) p, uint word) { return load_u4(p, word); }
DEVICE_FN float4 load_sf4(SHARED_PTR(float) p, uint i) { return *((threadgroup float4*)(p + i)); }
#define CAST_SHARED(T, p) ((threadgroup T*)(p))
