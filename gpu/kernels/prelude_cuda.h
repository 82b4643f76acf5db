// prelude_cuda.h: the macro layer that maps the shared kernel source
// (kernels.inc) onto CUDA C++ as NVRTC compiles it. Every CUDA-only spelling
// lives here; kernels.inc uses only the names defined below and in
// prelude_metal.h.
#define GP_CUDA 1

typedef unsigned int uint;
typedef unsigned short ushort;
typedef unsigned char uchar;

#define KERNEL(name) extern "C" __global__ void name
// KERNEL_IDS ends a kernel's parameter list; CUDA reads ids from builtins.
#define KERNEL_IDS
#define ARG(i)
#define PARAMS_ARG(i) const Params p
#define GLOBAL(T) T*
#define GLOBAL_CONST(T) const T*
#define SHARED __shared__
#define SHARED_PTR(T) T*
#define THREAD_PTR(T) T*
#define CAST_GLOBAL(T, p) ((T*)(p))
#define CAST_GLOBAL_CONST(T, p) ((const T*)(p))
#define DEVICE_FN static __device__ __forceinline__
#define CONSTANT_DATA __constant__ const

#define GROUP_ID_X blockIdx.x
#define GROUP_ID_Y blockIdx.y
#define GROUP_ID_Z blockIdx.z
#define NUM_GROUPS_X gridDim.x
#define LOCAL_ID threadIdx.x
#define LOCAL_SIZE blockDim.x
#define LANE (threadIdx.x & 31u)
#define WARP_ID (threadIdx.x >> 5)

#define BARRIER() __syncthreads()
// WARP_BARRIER orders shared-memory accesses among one warp's lanes.
#define WARP_BARRIER() __syncwarp()

// Programmatic dependent launch (sm_90): a kernel launched with the
// runtime's PDL attribute may start while the kernel before it still runs.
// GRID_DEP_WAIT blocks until that kernel has finished and its writes are
// visible; every kernel calls it before it touches memory an earlier kernel
// writes or reads (weights, written once at load, may be read before it).
// GRID_DEP_LAUNCH lets the next kernel start early. Without the attribute,
// or before sm_90, both do nothing.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define GRID_DEP_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
#define GRID_DEP_LAUNCH() asm volatile("griddepcontrol.launch_dependents;" :::)
#else
#define GRID_DEP_WAIT()
#define GRID_DEP_LAUNCH()
#endif

DEVICE_FN float warp_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 16);
  v += __shfl_xor_sync(0xffffffffu, v, 8);
  v += __shfl_xor_sync(0xffffffffu, v, 4);
  v += __shfl_xor_sync(0xffffffffu, v, 2);
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v;
}
DEVICE_FN float warp_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 16));
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 8));
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 4));
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return v;
}
// warp_bcast returns lane src's v to every lane.
DEVICE_FN float warp_bcast(float v, uint src) { return __shfl_sync(0xffffffffu, v, src); }
DEVICE_FN int warp_bcast_int(int v, uint src) { return __shfl_sync(0xffffffffu, v, src); }

DEVICE_FN float bits_to_float(uint u) { return __uint_as_float(u); }
DEVICE_FN uint float_to_bits(float f) { return __float_as_uint(f); }
DEVICE_FN float half_bits_to_float(ushort h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
DEVICE_FN float round_to_half(float x) {
  ushort h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return half_bits_to_float(h);
}

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
#define F_ISNAN(x) isnan(x)
#define FLT_MAX_VALUE 3.402823466e+38f
#define F_INF __int_as_float(0x7f800000)

// Vector loads used by the bandwidth-bound kernels: 16 bytes per thread.
DEVICE_FN uint4 load_u4(GLOBAL_CONST(uint) p, uint word) { return *((const uint4*)(p + word)); }
DEVICE_FN float4 load_f4(GLOBAL_CONST(float) p, uint i) { return *((const float4*)(p + i)); }
// load_u4_stream reads 16 bytes of read-only data used once (weights)
// without keeping them in L1, which holds what is read again (x).
DEVICE_FN uint4 load_u4_stream(GLOBAL_CONST(uint) p, uint word) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p + word));
  return r;
}
// load_sf4 reads 4 floats of shared memory (i % 4 == 0, 16-byte aligned array).
DEVICE_FN float4 load_sf4(SHARED_PTR(float) p, uint i) { return *((const float4*)(p + i)); }
#define CAST_SHARED(T, p) ((T*)(p))
