//===- CudaKernel.cpp - running a kernel on the GPU through the CUDA driver -===//
//
// A CUDA kernel's entry is JIT-compiled host code that launches the GPU kernel (its PTX or
// cubin loaded by the module's constructors) and synchronizes its stream; run() hands it
// device copies of the buffers.
//
//===----------------------------------------------------------------------===//

#include "RuntimeError.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/CudaDriver.h"
#include "linrec/Runtime/GpuLaunchRuntime.h"

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

Error Kernel::runOnCuda(llvm::ArrayRef<BufferView> operands,
                          llvm::ArrayRef<BufferView> results, int64_t numWork) const {
  auto driver = CudaDriver::get();
  if (!driver)
    return driver.takeError();
  auto bytesOf = [](const BufferView &b) {
    return size_t(Array::numElementsOf(b.shape) * dtypeBytes(b.dtype));
  };
  // Device copies; the host code takes memref descriptors of device pointers.
  std::vector<CudaDriver::Buffer> device;
  std::vector<BufferView> views;
  auto addBuffer = [&](const BufferView &host, bool copyIn) -> Error {
    auto buffer = driver->allocate(bytesOf(host));
    if (!buffer)
      return buffer.takeError();
    if (copyIn)
      if (Error e = driver->copyToDevice(*buffer, host.data, bytesOf(host)))
        return e;
    BufferView view = host;
    view.data = reinterpret_cast<void *>(buffer->address());
    views.push_back(view);
    device.push_back(std::move(*buffer));
    return Error::success();
  };
  for (const BufferView &b : operands)
    if (Error e = addBuffer(b, /*copyIn=*/true))
      return e;
  // A final-state pool starts as its initial state (run() copied it on the host): the
  // kernel writes its sequences' slots only.
  for (auto [i, b] : llvm::enumerate(results))
    if (Error e = addBuffer(b, /*copyIn=*/statePools && i >= numOutputs))
      return e;
  std::vector<MemRefDescriptor> descriptors(views.begin(), views.end());
  std::vector<void *> descriptorPointers;
  for (MemRefDescriptor &d : descriptors)
    descriptorPointers.push_back(d.words.data());
  std::vector<void *> args;
  for (void *&p : descriptorPointers)
    args.push_back(&p);
  int64_t begin = 0, end = numWork;
  args.push_back(&begin);
  args.push_back(&end);
  entry(args.data()); // launches, then synchronizes its stream
  if (Error e = takeGpuLaunchError())
    return e;
  for (size_t i = 0; i < results.size(); ++i)
    if (Error e = driver->copyToHost(results[i].data, device[operands.size() + i],
                                     bytesOf(results[i])))
      return e;
  return Error::success();
}

} // namespace linrec
