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

// CUdevice_attribute values used here.
constexpr int kMultiprocessorCount = 16;
constexpr int kComputeCapabilityMajor = 75;
constexpr int kComputeCapabilityMinor = 76;
constexpr int kMaxSharedMemoryPerBlockOptin = 97;
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
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);

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
    LINREC_RESOLVE(cuMemAlloc, "cuMemAlloc_v2")
    LINREC_RESOLVE(cuMemFree, "cuMemFree_v2")
    LINREC_RESOLVE(cuMemcpyHtoD, "cuMemcpyHtoD_v2")
    LINREC_RESOLVE(cuMemcpyDtoH, "cuMemcpyDtoH_v2")
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

} // namespace linrec
