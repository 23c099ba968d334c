//===- CudaDriver.h - the CUDA driver API, loaded at run time ---*- C++ -*-===//
//
// linrec builds and runs its CPU paths on machines without CUDA: the driver (libcuda.so.1) is
// opened with dlopen when a CUDA target is first used, and a missing driver or GPU is an error
// value with a message, never a crash. Only the handful of driver entry points the runtime
// needs are resolved; their types are declared here, so no CUDA header is needed to build.
// This is the C++ side: devices and buffers. Modules, launches and streams are the plain-C
// launch runtime's (linrec-c/GpuLaunch.h), which compiled kernels' host code calls.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_CUDADRIVER_H
#define LINREC_RUNTIME_CUDADRIVER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace linrec {

/// A GPU as the runtime sees it.
struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int computeMajor = 0, computeMinor = 0;
  int multiprocessors = 0;
  int64_t sharedMemoryPerBlockOptin = 0; // bytes
  /// The architecture kernels are compiled for: sm_XY, sm_90 with its arch-specific sm_90a
  /// features.
  std::string chip() const {
    return "sm_" + std::to_string(computeMajor) + std::to_string(computeMinor) +
           (computeMajor == 9 ? "a" : "");
  }
};

class CudaDriver {
public:
  /// The process-wide driver: loads libcuda.so.1 and calls cuInit once. Fails, with the reason,
  /// when the library is missing, an entry point is missing, initialization fails or there is
  /// no GPU. Thread-safe.
  static llvm::Expected<CudaDriver &> get();

  /// The driver's version (e.g. 13000), for messages and logs.
  int driverVersion() const { return version; }
  const std::vector<CudaDeviceInfo> &devices() const { return deviceInfos; }

  /// A device allocation; freed by the destructor.
  class Buffer {
  public:
    Buffer() = default;
    Buffer(Buffer &&other) noexcept;
    Buffer &operator=(Buffer &&other) noexcept;
    ~Buffer();
    uint64_t address() const { return pointer; }
    size_t size() const { return bytes; }

  private:
    friend class CudaDriver;
    const CudaDriver *driver = nullptr;
    uint64_t pointer = 0;
    size_t bytes = 0;
  };

  llvm::Expected<Buffer> allocate(size_t bytes) const;
  llvm::Error copyToDevice(const Buffer &to, const void *from, size_t bytes) const;
  llvm::Error copyToHost(void *to, const Buffer &from, size_t bytes) const;

  struct Api; // the resolved entry points

private:
  CudaDriver() = default;
  llvm::Error check(int result, llvm::StringRef call) const;

  std::unique_ptr<Api> api;
  void *context = nullptr;
  int version = 0;
  std::vector<CudaDeviceInfo> deviceInfos;
};

} // namespace linrec

#endif // LINREC_RUNTIME_CUDADRIVER_H
