// Stand-ins for what NVRTC provides built in, so clang can check the CUDA
// translation of the kernel source without a CUDA toolkit.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __attribute__((always_inline))
#include "__clang_cuda_builtin_vars.h"
struct uint4 { unsigned int x, y, z, w; };
struct float4 { float x, y, z, w; };
__device__ float expf(float);
__device__ float logf(float);
__device__ float sqrtf(float);
__device__ float sinf(float);
__device__ float cosf(float);
__device__ float tanhf(float);
__device__ float erff(float);
__device__ float powf(float, float);
__device__ float fabsf(float);
__device__ float fmaxf(float, float);
__device__ float fminf(float, float);
__device__ float fmaf(float, float, float);
__device__ int min(int, int);
__device__ unsigned int min(unsigned int, unsigned int);
__device__ bool isnan(float);
__device__ float __uint_as_float(unsigned int);
__device__ unsigned int __float_as_uint(float);
__device__ float __int_as_float(int);
__device__ float __shfl_xor_sync(unsigned int, float, int);
__device__ float __shfl_sync(unsigned int, float, int);
__device__ int __shfl_sync(unsigned int, int, int);
__device__ void __syncthreads();
__device__ void __syncwarp(unsigned int mask = 0xffffffffu);
