//===- Kernel.cpp - checking buffers and running a compiled kernel --------===//

#include "FlushSubnormals.h"
#include "RuntimeError.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/KernelDiskCache.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinTypes.h"

#include <omp.h>

#include <cstring>
#include <thread>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace linrec {

std::optional<DType> elementDType(Type type) {
  if (type.isF32())
    return DType::F32;
  if (type.isF64())
    return DType::F64;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isInteger(32))
    return DType::I32;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// KernelOptions
//===----------------------------------------------------------------------===//

const mlir::detail::PassOptions &KernelOptions::schedule() const {
  if (usesGpuSchedule(target))
    return gpu;
  return cpu;
}

mlir::detail::PassOptions &KernelOptions::schedule() {
  if (usesGpuSchedule(target))
    return gpu;
  return cpu;
}

int64_t KernelOptions::chunkSize() const {
  return usesGpuSchedule(target) ? int64_t(gpu.chunkSize) : int64_t(cpu.chunkSize);
}

Error KernelOptions::parseSchedule(llvm::StringRef text) {
  return parseScheduleOptions(schedule(), text);
}

std::string KernelOptions::str() const {
  std::string text = targetName(target).str();
  llvm::raw_string_ostream os(text);
  schedule().print(os);
  // The checked mode compiles CPU kernels that check values (KernelCompiler::compile).
  if (checkInputValues && target == Target::CPU)
    os << " checked";
  // A tuning database fills the tunable options a caller leaves unset: an option set to its
  // default and one left unset compile differently there.
  if (std::string given = explicitTunableOptions(*this); !given.empty())
    os << " explicit(" << given << ")";
  return text;
}

//===----------------------------------------------------------------------===//
// Kernel
//===----------------------------------------------------------------------===//

Kernel::~Kernel() = default;

Error Kernel::check(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                       int64_t &numWork) const {
  if (operands.size() != operandSpecs.size() || results.size() != resultSpecs.size())
    return runtimeError("the kernel takes " + llvm::Twine(operandSpecs.size()) +
                        " operands and " + llvm::Twine(resultSpecs.size()) + " results, got " +
                        llvm::Twine(operands.size()) + " and " + llvm::Twine(results.size()));
  auto checkOne = [](const BufferView &buffer, const ArgSpec &spec,
                     const llvm::Twine &what) -> Error {
    if (buffer.dtype != spec.dtype)
      return runtimeError(what + " must be " + dtypeName(spec.dtype) + ", got " +
                          dtypeName(buffer.dtype));
    bool ok = buffer.shape.size() == spec.shape.size();
    for (size_t d = 0; ok && d < spec.shape.size(); ++d)
      ok = buffer.shape[d] >= 0 && (spec.shape[d] < 0 || spec.shape[d] == buffer.shape[d]);
    if (!ok)
      return runtimeError(what + " has shape " + shapeString(buffer.shape) + " but the kernel takes " +
                          shapeString(spec.shape));
    if (!buffer.data && Array::numElementsOf(buffer.shape) > 0)
      return runtimeError(what + " is a null buffer");
    return Error::success();
  };
  for (size_t i = 0; i < operands.size(); ++i)
    if (Error e = checkOne(operands[i], operandSpecs[i], "operand #" + llvm::Twine(i)))
      return e;
  for (size_t i = 0; i < results.size(); ++i)
    if (Error e = checkOne(results[i], resultSpecs[i], "result #" + llvm::Twine(i)))
      return e;

  // B, T, H from input #0; every other buffer must agree (the kernel trusts them).
  const std::vector<int64_t> &first = operands[0].shape;
  int64_t batch = first[0], tokens = first[1], heads = first[2], rows = batch;
  auto expectDims = [&](const BufferView &buffer, std::vector<int64_t> dims,
                        const llvm::Twine &what) -> Error {
    for (size_t d = 0; d < dims.size(); ++d)
      if (buffer.shape[d] != dims[d])
        return runtimeError(what + " has shape " + shapeString(buffer.shape) +
                            " but its leading dims must be " + shapeString(dims));
    return Error::success();
  };
  for (unsigned i = 1; i < numInputs; ++i)
    if (Error e = expectDims(operands[i], {batch, tokens, heads}, "input #" + llvm::Twine(i)))
      return e;
  for (unsigned i = 0; i < numParams; ++i)
    if (Error e = expectDims(operands[numInputs + i], {heads}, "param #" + llvm::Twine(i)))
      return e;
  if (varlen) {
    const BufferView &cu = operands[numInputs + numParams + numInits];
    if (batch != 1)
      return runtimeError("with cu_seqlens the inputs are packed as [1, total_T, H, D], got B = " +
                          llvm::Twine(batch));
    const auto *offsets = static_cast<const int32_t *>(cu.data);
    int64_t n = cu.shape[0];
    if (n < 1 || offsets[0] != 0 || offsets[n - 1] != tokens)
      return runtimeError("cu_seqlens must start at 0 and end at total_T = " + llvm::Twine(tokens));
    for (int64_t i = 1; i < n; ++i)
      if (offsets[i] < offsets[i - 1])
        return runtimeError("cu_seqlens must not decrease (entry " + llvm::Twine(i) + ")");
    rows = n - 1;
  }
  // State pools: P slots, one index per sequence.
  int64_t stateRows = rows;
  if (statePools) {
    stateRows = operands[numInputs + numParams].shape[0];
    const BufferView &indices = operands.back();
    if (indices.shape[0] != rows)
      return runtimeError("state_indices has " + llvm::Twine(indices.shape[0]) +
                          " entries for " + llvm::Twine(rows) + " sequences");
    if (Error e = checkStateIndices(indices, stateRows))
      return e;
  }
  for (unsigned i = 0; i < numInits; ++i)
    if (Error e = expectDims(operands[numInputs + numParams + i], {stateRows, heads},
                             "initial state #" + llvm::Twine(i)))
      return e;
  for (unsigned i = 0; i < results.size(); ++i) {
    bool isOutput = i < numOutputs;
    if (Error e = expectDims(results[i],
                             isOutput ? std::vector<int64_t>{batch, tokens, heads}
                                      : std::vector<int64_t>{stateRows, heads},
                             "result #" + llvm::Twine(i)))
      return e;
  }
  numWork = rows * ((heads + headsPerItem_ - 1) / headsPerItem_) * valueTiles_;
  if (tokenBlock_ > 0)
    numWork *= (tokens + tokenBlock_ - 1) / tokenBlock_;
  return Error::success();
}

Error Kernel::checkStateIndices(const BufferView &indices, int64_t slots) const {
  const auto *index = static_cast<const int32_t *>(indices.data);
  int64_t n = indices.shape[0];
  // Distinct slots: two sequences on one slot would race for it. A bitmap kept per thread
  // (no allocation per decode step once it has grown), cleared as it was set.
  thread_local std::vector<uint64_t> taken;
  if (taken.size() * 64 < size_t(slots))
    taken.resize((slots + 63) / 64);
  Error error = Error::success();
  int64_t checked = 0;
  for (; checked < n; ++checked) {
    int64_t slot = index[checked];
    if (slot < 0 || slot >= slots) {
      error = runtimeError("state_indices[" + llvm::Twine(checked) + "] = " +
                           llvm::Twine(slot) + " is outside the state pool's " +
                           llvm::Twine(slots) + " slots");
      break;
    }
    uint64_t bit = uint64_t(1) << (slot % 64);
    if (taken[slot / 64] & bit) {
      error = runtimeError("state_indices[" + llvm::Twine(checked) + "] = " +
                           llvm::Twine(slot) +
                           " repeats a slot: two sequences cannot share a state");
      break;
    }
    taken[slot / 64] |= bit;
  }
  for (int64_t i = 0; i < checked; ++i)
    taken[index[i] / 64] = 0;
  return error;
}

void Kernel::copyStatePools(llvm::ArrayRef<BufferView> operands,
                            llvm::ArrayRef<BufferView> results) const {
  for (unsigned i = 0; i < numInits; ++i) {
    const BufferView &pool = operands[numInputs + numParams + i];
    const BufferView &final = results[numOutputs + i];
    if (pool.data != final.data)
      std::memcpy(final.data, pool.data,
                  Array::numElementsOf(pool.shape) * dtypeBytes(pool.dtype));
  }
}

int64_t Kernel::finalStateRows(llvm::function_ref<int64_t(unsigned)> leadingDim) const {
  if (statePools)
    return leadingDim(numInputs + numParams);
  if (varlen)
    return leadingDim(numInputs + numParams + numInits) - 1;
  return leadingDim(0);
}

MemRefDescriptor::MemRefDescriptor(const BufferView &buffer) {
  size_t rank = buffer.shape.size();
  words.assign(3 + 2 * rank, 0);
  auto pointer = reinterpret_cast<int64_t>(buffer.data);
  words[0] = words[1] = pointer;
  int64_t stride = 1;
  for (size_t d = rank; d-- > 0;) {
    words[3 + d] = buffer.shape[d];
    words[3 + rank + d] = stride;
    stride *= buffer.shape[d];
  }
}

Error Kernel::run(llvm::ArrayRef<BufferView> operands, llvm::ArrayRef<BufferView> results,
                  unsigned threads, uint32_t *valueStatus) const {
  int64_t numWork = 0;
  if (Error e = check(operands, results, numWork))
    return e;
  if (statePools)
    copyStatePools(operands, results);
  if (numWork == 0)
    return Error::success();
  if (target_ == Target::CUDA)
    return runOnCuda(operands, results, numWork);

  std::vector<MemRefDescriptor> descriptors;
  for (const BufferView &b : operands)
    descriptors.emplace_back(b);
  for (const BufferView &b : results)
    descriptors.emplace_back(b);
  // The status word the kernel's value checks OR into (atomically: every thread's share).
  int32_t status = 0;
  if (!valueChecks_.empty())
    descriptors.emplace_back(BufferView{&status, DType::I32, {1}});
  std::vector<void *> descriptorPointers;
  for (MemRefDescriptor &d : descriptors)
    descriptorPointers.push_back(d.words.data());

  if (threads == 0)
    threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<int64_t>(threads, numWork));
  auto work = [&](int64_t begin, int64_t end) {
    ScopedFlushSubnormals flush; // on this worker, for its share
    std::vector<void *> args;
    for (void *&p : descriptorPointers)
      args.push_back(&p);
    args.push_back(&begin);
    args.push_back(&end);
    entry(args.data());
  };
  // Equal ranges of work items on OpenMP's threads: the pool the compiled layers' kernel calls
  // run on too, started once and kept (a decode step's few microseconds of work would not pay
  // for starting threads).
  if (threads == 1) {
    work(0, numWork);
  } else {
    int n = int(threads);
#pragma omp parallel for num_threads(n) schedule(static, 1)
    for (int t = 0; t < n; ++t)
      work(numWork * t / n, numWork * (t + 1) / n);
  }
  if (valueStatus)
    *valueStatus |= uint32_t(status);
  return Error::success();
}

} // namespace linrec
