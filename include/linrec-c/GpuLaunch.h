/*===- GpuLaunch.h - the GPU launch runtime of linrec kernels ----*- C -*-===//
 *
 * Host code lowered by gpu-to-llvm calls MLIR's mgpu* interface (module load, launch,
 * streams). linrec implements it here in plain C over the CUDA driver opened with dlopen, so
 * that both the JIT and ahead-of-time compiled kernel libraries (linrec-compile) use it and an
 * AOT library needs nothing but libc and, at run time, libcuda.so.1. The mgpu* functions cannot
 * return errors to generated code: the first failure is kept until linrecGpuTakeError.
 *
 *===----------------------------------------------------------------------===*/

#ifndef LINREC_C_GPULAUNCH_H
#define LINREC_C_GPULAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The first failure since the last call, copied into `buffer` (truncated to `size`) and
 * cleared; returns 1 if there was one, 0 otherwise. */
int linrecGpuTakeError(char *buffer, size_t size);

/* Launches of the calling thread go to `stream` (a CUstream of the device's primary context,
 * e.g. PyTorch's current stream) until it is set back to NULL: mgpuStreamCreate returns it
 * instead of creating one, and mgpuStreamSynchronize and mgpuStreamDestroy leave it alone, so
 * a kernel runs in order with the stream's other work and returns without waiting for it (a
 * failure inside the kernel then surfaces at the stream's next synchronization). */
void linrecGpuUseStream(void *stream);

/* MLIR's GPU launch interface (the calls gpu-to-llvm emits). */
void *mgpuModuleLoadJIT(void *ptx, int optLevel);
void *mgpuModuleLoad(void *data, size_t size);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void *mgpuStreamCreate(void);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamDestroy(void *stream);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t sharedBytes,
                      void *stream, void **params, void **extra, size_t paramsCount);
/* Device memory (a schedule's workspace); synchronous. */
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *pointer, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* LINREC_C_GPULAUNCH_H */
