//===- CudaDriver.cpp - the CUDA driver API, loaded at run time -----------===//

#include "linrec/Runtime/CudaDriver.h"

#include "llvm/ADT/Twine.h"

#include <dlfcn.h>
#include <mutex>

namespace linrec {

namespace {
// The driver API's types, as the ABI has them (cuda.h is not needed to build).
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;

// CUdevice_attribute values used here.
constexpr int kMultiprocessorCount = 16;
constexpr int kComputeCapabilityMajor = 75;
constexpr int kComputeCapabilityMinor = 76;
constexpr int kMaxSharedMemoryPerBlockOptin = 97;
// CUfunction_attribute: the dynamic shared memory a launch may ask for (default 48 KiB).
constexpr int kMaxDynamicSharedSizeBytes = 8;
constexpr unsigned kDefaultDynamicSharedLimit = 48 * 1024;
constexpr CUresult kSuccess = 0;
constexpr CUresult kNoDevice = 100;

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}
} // namespace

struct CudaDriver::Api {
  void *library = nullptr;
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDriverGetVersion)(int *);
  CUresult (*cuGetErrorString)(CUresult, const char **);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void **, void **);

  /// Opens the library and resolves every entry point (versioned names where the header
  /// maps the plain name to one).
  llvm::Error load() {
    library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library)
      return error("no CUDA driver: cannot open libcuda.so.1 (" + llvm::Twine(dlerror()) +
                   "); the CUDA target needs an NVIDIA GPU and its driver");
    auto resolve = [&](auto &entry, const char *name) -> llvm::Error {
      void *symbol = dlsym(library, name);
      if (!symbol)
        return error("the CUDA driver lacks " + llvm::Twine(name) + " (driver too old?)");
      entry = reinterpret_cast<std::remove_reference_t<decltype(entry)>>(symbol);
      return llvm::Error::success();
    };
#define LINREC_RESOLVE(field, name)                                                          \
  if (llvm::Error e = resolve(field, name))                                                    \
    return e;
    LINREC_RESOLVE(cuInit, "cuInit")
    LINREC_RESOLVE(cuDriverGetVersion, "cuDriverGetVersion")
    LINREC_RESOLVE(cuGetErrorString, "cuGetErrorString")
    LINREC_RESOLVE(cuDeviceGetCount, "cuDeviceGetCount")
    LINREC_RESOLVE(cuDeviceGet, "cuDeviceGet")
    LINREC_RESOLVE(cuDeviceGetName, "cuDeviceGetName")
    LINREC_RESOLVE(cuDeviceGetAttribute, "cuDeviceGetAttribute")
    LINREC_RESOLVE(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")
    LINREC_RESOLVE(cuCtxSetCurrent, "cuCtxSetCurrent")
    LINREC_RESOLVE(cuCtxSynchronize, "cuCtxSynchronize")
    LINREC_RESOLVE(cuMemAlloc, "cuMemAlloc_v2")
    LINREC_RESOLVE(cuMemFree, "cuMemFree_v2")
    LINREC_RESOLVE(cuMemcpyHtoD, "cuMemcpyHtoD_v2")
    LINREC_RESOLVE(cuMemcpyDtoH, "cuMemcpyDtoH_v2")
    LINREC_RESOLVE(cuModuleLoadData, "cuModuleLoadData")
    LINREC_RESOLVE(cuModuleUnload, "cuModuleUnload")
    LINREC_RESOLVE(cuModuleGetFunction, "cuModuleGetFunction")
    LINREC_RESOLVE(cuFuncSetAttribute, "cuFuncSetAttribute")
    LINREC_RESOLVE(cuStreamCreate, "cuStreamCreate")
    LINREC_RESOLVE(cuStreamSynchronize, "cuStreamSynchronize")
    LINREC_RESOLVE(cuStreamDestroy, "cuStreamDestroy_v2")
    LINREC_RESOLVE(cuLaunchKernel, "cuLaunchKernel")
#undef LINREC_RESOLVE
    return llvm::Error::success();
  }
};

llvm::Error CudaDriver::check(int result, llvm::StringRef call) const {
  if (result == kSuccess)
    return llvm::Error::success();
  const char *text = nullptr;
  if (api && api->cuGetErrorString)
    api->cuGetErrorString(result, &text);
  return error(call + " failed: " + (text ? text : "CUDA error " + llvm::Twine(result)));
}

llvm::Expected<CudaDriver &> CudaDriver::get() {
  // Initialization runs once; its outcome (the driver, or why there is none) is kept.
  static std::once_flag once;
  static CudaDriver *driver = nullptr;
  static std::string failure;
  std::call_once(once, [] {
    auto candidate = std::unique_ptr<CudaDriver>(new CudaDriver());
    candidate->api = std::make_unique<Api>();
    auto fail = [&](llvm::Error e) { failure = llvm::toString(std::move(e)); };
    if (llvm::Error e = candidate->api->load())
      return fail(std::move(e));
    Api &api = *candidate->api;
    CUresult init = api.cuInit(0);
    if (init == kNoDevice)
      return fail(error("no CUDA device: the driver is present but sees no GPU"));
    if (llvm::Error e = candidate->check(init, "cuInit"))
      return fail(std::move(e));
    if (llvm::Error e = candidate->check(api.cuDriverGetVersion(&candidate->version),
                                         "cuDriverGetVersion"))
      return fail(std::move(e));
    int count = 0;
    if (llvm::Error e = candidate->check(api.cuDeviceGetCount(&count), "cuDeviceGetCount"))
      return fail(std::move(e));
    if (count == 0)
      return fail(error("no CUDA device: the driver is present but sees no GPU"));
    for (int i = 0; i < count; ++i) {
      CUdevice device;
      if (llvm::Error e = candidate->check(api.cuDeviceGet(&device, i), "cuDeviceGet"))
        return fail(std::move(e));
      CudaDeviceInfo info;
      info.ordinal = i;
      char name[256] = {0};
      api.cuDeviceGetName(name, sizeof(name) - 1, device);
      info.name = name;
      int value = 0;
      api.cuDeviceGetAttribute(&info.computeMajor, kComputeCapabilityMajor, device);
      api.cuDeviceGetAttribute(&info.computeMinor, kComputeCapabilityMinor, device);
      api.cuDeviceGetAttribute(&info.multiprocessors, kMultiprocessorCount, device);
      api.cuDeviceGetAttribute(&value, kMaxSharedMemoryPerBlockOptin, device);
      info.sharedMemoryPerBlockOptin = value;
      candidate->deviceInfos.push_back(info);
    }
    // Device 0's primary context, current on the calling thread.
    CUdevice device0;
    if (llvm::Error e = candidate->check(api.cuDeviceGet(&device0, 0), "cuDeviceGet"))
      return fail(std::move(e));
    if (llvm::Error e = candidate->check(api.cuDevicePrimaryCtxRetain(&candidate->context, device0),
                                         "cuDevicePrimaryCtxRetain"))
      return fail(std::move(e));
    driver = candidate.release(); // lives for the process
  });
  if (!driver)
    return error(failure);
  if (llvm::Error e = driver->check(driver->api->cuCtxSetCurrent(driver->context),
                                    "cuCtxSetCurrent"))
    return std::move(e);
  return *driver;
}

CudaDriver::Buffer::Buffer(Buffer &&other) noexcept
    : driver(other.driver), pointer(other.pointer), bytes(other.bytes) {
  other.pointer = 0;
}

CudaDriver::Buffer &CudaDriver::Buffer::operator=(Buffer &&other) noexcept {
  std::swap(driver, other.driver);
  std::swap(pointer, other.pointer);
  std::swap(bytes, other.bytes);
  return *this;
}

CudaDriver::Buffer::~Buffer() {
  if (driver && pointer)
    driver->api->cuMemFree(pointer);
}

llvm::Expected<CudaDriver::Buffer> CudaDriver::allocate(size_t bytes) const {
  Buffer buffer;
  buffer.driver = this;
  buffer.bytes = bytes;
  CUdeviceptr pointer = 0;
  if (llvm::Error e = check(api->cuMemAlloc(&pointer, bytes ? bytes : 1), "cuMemAlloc"))
    return std::move(e);
  buffer.pointer = pointer;
  return buffer;
}

llvm::Error CudaDriver::copyToDevice(const Buffer &to, const void *from, size_t bytes) const {
  if (bytes > to.size())
    return error("copy of " + llvm::Twine(bytes) + " bytes into a device buffer of " +
                 llvm::Twine(to.size()));
  return check(api->cuMemcpyHtoD(to.address(), from, bytes), "cuMemcpyHtoD");
}

llvm::Error CudaDriver::copyToHost(void *to, const Buffer &from, size_t bytes) const {
  if (bytes > from.size())
    return error("copy of " + llvm::Twine(bytes) + " bytes out of a device buffer of " +
                 llvm::Twine(from.size()));
  return check(api->cuMemcpyDtoH(to, from.address(), bytes), "cuMemcpyDtoH");
}

llvm::Expected<void *> CudaDriver::loadModule(llvm::StringRef image) const {
  // cuModuleLoadData reads PTX up to its terminating NUL (a cubin carries its own size).
  std::string copy = image.str();
  CUmodule module = nullptr;
  if (llvm::Error e = check(api->cuModuleLoadData(&module, copy.c_str()), "cuModuleLoadData"))
    return std::move(e);
  return module;
}

llvm::Error CudaDriver::unloadModule(void *module) const {
  return check(api->cuModuleUnload(module), "cuModuleUnload");
}

llvm::Expected<void *> CudaDriver::function(void *module, llvm::StringRef name) const {
  CUfunction function = nullptr;
  if (llvm::Error e = check(api->cuModuleGetFunction(&function, module, name.str().c_str()),
                            "cuModuleGetFunction(" + name.str() + ")"))
    return std::move(e);
  return function;
}

llvm::Expected<CudaDriver::Kernel> CudaDriver::loadKernel(llvm::StringRef image,
                                                         llvm::StringRef name) const {
  Kernel kernel;
  auto module = loadModule(image);
  if (!module)
    return module.takeError();
  kernel.module = *module;
  auto entry = function(kernel.module, name);
  if (!entry)
    return entry.takeError();
  kernel.function = *entry;
  return kernel;
}

llvm::Expected<void *> CudaDriver::createStream() const {
  CUstream stream = nullptr;
  if (llvm::Error e = check(api->cuStreamCreate(&stream, 0), "cuStreamCreate"))
    return std::move(e);
  return stream;
}

llvm::Error CudaDriver::synchronize(void *stream) const {
  return check(api->cuStreamSynchronize(stream), "cuStreamSynchronize");
}

llvm::Error CudaDriver::destroyStream(void *stream) const {
  return check(api->cuStreamDestroy(stream), "cuStreamDestroy");
}

llvm::Error CudaDriver::launchAsync(void *function, const LaunchShape &shape, void *stream,
                                    void **args) const {
  // Over 48 KiB of dynamic shared memory is opt-in, per function.
  if (shape.sharedBytes > kDefaultDynamicSharedLimit)
    if (llvm::Error e = check(api->cuFuncSetAttribute(function, kMaxDynamicSharedSizeBytes,
                                                      int(shape.sharedBytes)),
                              "cuFuncSetAttribute(max dynamic shared memory " +
                                  std::to_string(shape.sharedBytes) + " bytes)"))
      return e;
  return check(api->cuLaunchKernel(function, shape.grid[0], shape.grid[1], shape.grid[2],
                                   shape.block[0], shape.block[1], shape.block[2],
                                   shape.sharedBytes, stream, args, nullptr),
               "cuLaunchKernel");
}

llvm::Error CudaDriver::launch(const Kernel &kernel, unsigned gridX, unsigned gridY,
                               unsigned gridZ, unsigned blockX, unsigned blockY, unsigned blockZ,
                               unsigned sharedBytes, llvm::ArrayRef<void *> args) const {
  std::vector<void *> params(args.begin(), args.end());
  LaunchShape shape{{gridX, gridY, gridZ}, {blockX, blockY, blockZ}, sharedBytes};
  if (llvm::Error e = launchAsync(kernel.function, shape, nullptr, params.data()))
    return e;
  return check(api->cuCtxSynchronize(), "cuCtxSynchronize");
}

} // namespace linrec
