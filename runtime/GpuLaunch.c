/*===- GpuLaunch.c - mgpu* over the CUDA driver, in plain C ---------------===//
 *
 * See include/linrec-c/GpuLaunch.h. The driver is opened once (dlopen of libcuda.so.1); the
 * primary context of device 0 is made current on the calling thread before each call, the
 * same context the C++ runtime's CudaDriver uses.
 *
 *===----------------------------------------------------------------------===*/

#include "linrec-c/GpuLaunch.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef int CUresult;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream;

enum {
  kSuccess = 0,
  kMaxDynamicSharedSizeBytes = 8, /* CUfunction_attribute */
  kDefaultDynamicSharedLimit = 48 * 1024,
};

static struct {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGet)(int *, int);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, int);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void **, void **);
  CUresult (*cuMemAlloc)(unsigned long long *, size_t);
  CUresult (*cuMemFree)(unsigned long long);
  CUcontext context;
  char failure[512]; /* why the driver is unusable; empty when it is */
} driver;

static pthread_once_t driverOnce = PTHREAD_ONCE_INIT;
static pthread_mutex_t errorMutex = PTHREAD_MUTEX_INITIALIZER;
static char firstError[1024];

static void record(const char *message) {
  pthread_mutex_lock(&errorMutex);
  if (!firstError[0])
    snprintf(firstError, sizeof(firstError), "%s", message);
  pthread_mutex_unlock(&errorMutex);
}

int linrecGpuTakeError(char *buffer, size_t size) {
  pthread_mutex_lock(&errorMutex);
  int had = firstError[0] != 0;
  if (had && buffer && size)
    snprintf(buffer, size, "%s", firstError);
  firstError[0] = 0;
  pthread_mutex_unlock(&errorMutex);
  return had;
}

static void openDriver(void) {
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    snprintf(driver.failure, sizeof(driver.failure),
             "no CUDA driver: cannot open libcuda.so.1 (%s)", dlerror());
    return;
  }
#define RESOLVE(field, name)                                                                  \
  if (!(*(void **)&driver.field = dlsym(library, name))) {                                    \
    snprintf(driver.failure, sizeof(driver.failure), "the CUDA driver lacks %s", name);       \
    return;                                                                                   \
  }
  RESOLVE(cuInit, "cuInit")
  RESOLVE(cuGetErrorString, "cuGetErrorString")
  RESOLVE(cuDeviceGet, "cuDeviceGet")
  RESOLVE(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
  RESOLVE(cuCtxSetCurrent, "cuCtxSetCurrent")
  RESOLVE(cuModuleLoadData, "cuModuleLoadData")
  RESOLVE(cuModuleUnload, "cuModuleUnload")
  RESOLVE(cuModuleGetFunction, "cuModuleGetFunction")
  RESOLVE(cuFuncSetAttribute, "cuFuncSetAttribute")
  RESOLVE(cuStreamCreate, "cuStreamCreate")
  RESOLVE(cuStreamSynchronize, "cuStreamSynchronize")
  RESOLVE(cuStreamDestroy, "cuStreamDestroy_v2")
  RESOLVE(cuLaunchKernel, "cuLaunchKernel")
  RESOLVE(cuMemAlloc, "cuMemAlloc_v2")
  RESOLVE(cuMemFree, "cuMemFree_v2")
#undef RESOLVE
  int device = 0;
  if (driver.cuInit(0) != kSuccess || driver.cuDeviceGet(&device, 0) != kSuccess ||
      driver.cuDevicePrimaryCtxRetain(&driver.context, device) != kSuccess) {
    snprintf(driver.failure, sizeof(driver.failure),
             "no CUDA device: the driver is present but sees no usable GPU");
    return;
  }
}

/* 1 when the driver is usable and its context current; records why not otherwise. */
static int ready(void) {
  pthread_once(&driverOnce, openDriver);
  if (driver.failure[0]) {
    record(driver.failure);
    return 0;
  }
  return driver.cuCtxSetCurrent(driver.context) == kSuccess;
}

/* 1 on success; records "`call` failed: <driver message>" otherwise. */
static int check(CUresult result, const char *call) {
  if (result == kSuccess)
    return 1;
  const char *text = NULL;
  driver.cuGetErrorString(result, &text);
  char message[512];
  snprintf(message, sizeof(message), "%s failed: %s", call, text ? text : "CUDA error");
  record(message);
  return 0;
}

void *mgpuModuleLoadJIT(void *ptx, int optLevel) {
  (void)optLevel;
  CUmodule module = NULL;
  if (!ready() || !check(driver.cuModuleLoadData(&module, ptx), "cuModuleLoadData"))
    return NULL;
  return module;
}

void *mgpuModuleLoad(void *data, size_t size) {
  (void)size; /* a cubin carries its own size */
  return mgpuModuleLoadJIT(data, 0);
}

void mgpuModuleUnload(void *module) {
  if (module && ready())
    check(driver.cuModuleUnload(module), "cuModuleUnload");
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction function = NULL;
  if (!module || !ready() ||
      !check(driver.cuModuleGetFunction(&function, module, name), "cuModuleGetFunction"))
    return NULL;
  return function;
}

/* The caller's stream (linrecGpuUseStream), per thread: NULL when the launches make their
 * own. */
static _Thread_local void *borrowedStream;

void linrecGpuUseStream(void *stream) { borrowedStream = stream; }

void *mgpuStreamCreate(void) {
  if (borrowedStream)
    return borrowedStream;
  CUstream stream = NULL;
  if (!ready() || !check(driver.cuStreamCreate(&stream, 0), "cuStreamCreate"))
    return NULL;
  return stream;
}

void mgpuStreamSynchronize(void *stream) {
  if (stream && stream == borrowedStream)
    return; /* the owner synchronizes */
  if (ready())
    check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize (the kernel failed)");
}

void mgpuStreamDestroy(void *stream) {
  if (stream && stream == borrowedStream)
    return;
  if (stream && ready())
    check(driver.cuStreamDestroy(stream), "cuStreamDestroy");
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                      intptr_t blockX, intptr_t blockY, intptr_t blockZ, int32_t sharedBytes,
                      void *stream, void **params, void **extra, size_t paramsCount) {
  (void)paramsCount;
  if (!function || !ready())
    return; /* the module did not load: already recorded */
  if (extra) {
    record("GPU launches with `extra` arguments are not supported");
    return;
  }
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return; /* no work items */
  /* Over 48 KiB of dynamic shared memory is opt-in, per function. */
  if (sharedBytes > kDefaultDynamicSharedLimit &&
      !check(driver.cuFuncSetAttribute(function, kMaxDynamicSharedSizeBytes, sharedBytes),
             "cuFuncSetAttribute (max dynamic shared memory)"))
    return;
  check(driver.cuLaunchKernel(function, (unsigned)gridX, (unsigned)gridY, (unsigned)gridZ,
                              (unsigned)blockX, (unsigned)blockY, (unsigned)blockZ,
                              (unsigned)sharedBytes, stream, params, NULL),
        "cuLaunchKernel");
}

void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared) {
  (void)stream;
  unsigned long long pointer = 0;
  if (isHostShared) {
    record("host-shared GPU allocations are not supported");
    return NULL;
  }
  if (!ready() || !check(driver.cuMemAlloc(&pointer, sizeBytes ? sizeBytes : 1), "cuMemAlloc"))
    return NULL;
  return (void *)(uintptr_t)pointer;
}

void mgpuMemFree(void *pointer, void *stream) {
  (void)stream;
  if (pointer && ready())
    check(driver.cuMemFree((unsigned long long)(uintptr_t)pointer), "cuMemFree");
}
