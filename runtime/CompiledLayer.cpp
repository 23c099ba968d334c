//===- CompiledLayer.cpp - a whole layer function JIT-compiled ------------===//

#include "linrec/Runtime/CompiledLayer.h"
#include "linrec/Runtime/JitEngine.h"
#include "linrec/Analysis/RecurrenceAnalysis.h"

#include <thread>
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Transforms/Passes.h"

#include "linrec/Conversion/Passes.h"

#include "mlir/Conversion/OpenMPToLLVM/ConvertOpenMPToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace linrec {

static llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

CompiledLayer::~CompiledLayer() = default;

/// `call @kernel(operands..., 0, work)` becomes `scf.parallel` over the work items, one call
/// each, which convert-scf-to-openmp spreads over threads.
static void parallelizeKernelCalls(func::FuncOp func) {
  SmallVector<func::CallOp> calls;
  func.walk([&](func::CallOp call) {
    if (call.getCallee().starts_with(kKernelPrefix))
      calls.push_back(call);
  });
  for (func::CallOp call : calls) {
    ImplicitLocOpBuilder b(call.getLoc(), call);
    SmallVector<Value> operands(call.getOperands());
    Value work = operands.back();
    operands.resize(operands.size() - 2);
    Value zero = arith::ConstantIndexOp::create(b, 0), one = arith::ConstantIndexOp::create(b, 1);
    scf::ParallelOp::create(b, ValueRange{zero}, ValueRange{work}, ValueRange{one},
                            [&](OpBuilder &nested, Location loc, ValueRange ivs) {
                              SmallVector<Value> args = operands;
                              args.push_back(ivs[0]);
                              args.push_back(arith::AddIOp::create(nested, loc, ivs[0], one));
                              func::CallOp::create(nested, loc, call.getCallee(), TypeRange{},
                                                   args);
                            });
    call.erase();
  }
}

llvm::Expected<std::shared_ptr<const CompiledLayer>>
CompiledLayer::compile(ModuleOp module, StringRef funcName, const KernelOptions &options) {
  MLIRContext *context = module.getContext();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(context, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal())
    return error("no function @" + funcName + " with a body");
  std::shared_ptr<CompiledLayer> layer(new CompiledLayer());
  auto specOf = [](Type type) -> llvm::Expected<Spec> {
    auto tensor = dyn_cast<RankedTensorType>(type);
    std::optional<DType> dtype = tensor ? elementDType(tensor.getElementType()) : std::nullopt;
    if (!tensor || !tensor.hasStaticShape() || !dtype)
      return error("a compiled layer takes and returns statically shaped tensors of f16, bf16, "
                   "f32, f64 or i32");
    return Spec{*dtype, std::vector<int64_t>(tensor.getShape().begin(), tensor.getShape().end())};
  };
  for (Type t : func.getArgumentTypes()) {
    auto spec = specOf(t);
    if (!spec)
      return spec.takeError();
    layer->argSpecs.push_back(*spec);
  }
  for (Type t : func.getResultTypes()) {
    auto spec = specOf(t);
    if (!spec)
      return spec.takeError();
    layer->resultSpecs.push_back(*spec);
  }

  // The arguments' and results' names (linrec.name) have no LLVM translation.
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    func.setArgAttrs(i, ArrayRef<NamedAttribute>{});
  for (unsigned i = 0; i < func.getNumResults(); ++i)
    func.setResultAttrs(i, ArrayRef<NamedAttribute>{});

  // Kernels first; then their calls spread over threads (OpenMP), one call per work item;
  // then the function body on buffers, results as out-params.
  // The exact scan, or the chunked product form, when asked for: named ops become
  // recurrences first, then each is marked; linrec-classify keeps the mark, and so do the
  // fusion passes.
  if (options.sequential || options.chunkedProducts) {
    PassManager normalize(context, ModuleOp::getOperationName());
    normalize.addPass(createLinrecNormalize());
    if (failed(normalize.run(module)))
      return error("normalizing the layer's linrec ops failed:\n" + diagnostics);
    module.walk([&](RecurrenceOp op) {
      if (options.sequential)
        op.setAlgorithmAttr(AlgorithmAttr::get(context, Algorithm::Sequential));
      else if (RecurrenceAnalysis::analyze(op).productChunkable)
        op.setAlgorithmAttr(AlgorithmAttr::get(context, Algorithm::ChunkedProduct));
    });
  }
  PassManager kernels(context, ModuleOp::getOperationName());
  buildCpuKernelPipeline(kernels, options);
  if (failed(kernels.run(module)))
    return error("lowering the layer's linrec ops to kernels failed:\n" + diagnostics);
  parallelizeKernelCalls(module.lookupSymbol<func::FuncOp>(funcName));
  PassManager pm(context, ModuleOp::getOperationName());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion = bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true; // the layer function is the public entry
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  pm.addPass(createLinrecCopiesToLinalg());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  if (failed(pm.run(module)))
    return error("lowering the layer to loops and kernels failed:\n" + diagnostics);

  // Free the intermediates of the layer function (the kernels free their own scratch).
  func = module.lookupSymbol<func::FuncOp>(funcName);
  if (func.getNumResults() != 0) // run() passes results as out-params
    return error("the layer's results did not become out-params");
  PassManager deallocate(context, func::FuncOp::getOperationName());
  bufferization::buildBufferDeallocationPipeline(deallocate,
                                                 bufferization::BufferDeallocationPipelineOptions());
  if (failed(deallocate.run(func)))
    return error("freeing the layer's intermediate buffers failed:\n" + diagnostics);
  func->setAttr("llvm.emit_c_interface", UnitAttr::get(context));

  PassManager toLLVM(context, ModuleOp::getOperationName());
  toLLVM.addPass(createConvertSCFToOpenMPPass());
  buildCpuToLLVMPipeline(toLLVM);
  toLLVM.addPass(createConvertOpenMPToLLVMPass());
  toLLVM.addPass(createReconcileUnrealizedCastsPass());
  if (failed(toLLVM.run(module)))
    return error("lowering the layer to LLVM failed:\n" + diagnostics);
  llvm::SetVector<StringRef> leftovers;
  module.walk([&](Operation *op) {
    StringRef ns = op->getDialect() ? op->getDialect()->getNamespace() : "";
    if (ns != "llvm" && ns != "omp" && !isa<ModuleOp>(op)) // omp ops translate directly
      leftovers.insert(op->getName().getStringRef());
  });
  if (!leftovers.empty())
    return error("no LLVM lowering for " + llvm::join(leftovers, ", "));
  auto engine = createJitEngine(module, /*openMP=*/true);
  if (!engine)
    return error(llvm::toString(engine.takeError()) + ":\n" + diagnostics);
  auto entry = (*engine)->lookupPacked(("_mlir_ciface_" + funcName).str());
  if (!entry)
    return entry.takeError();
  layer->entry = *entry;
  // The OpenMP runtime the JIT loaded: run() sets its thread count.
  if (auto setThreads = (*engine)->lookup("omp_set_num_threads"))
    layer->setThreads = reinterpret_cast<void (*)(int)>(*setThreads);
  else
    llvm::consumeError(setThreads.takeError());
  layer->engine = std::move(*engine);
  return std::shared_ptr<const CompiledLayer>(std::move(layer));
}

llvm::Error CompiledLayer::run(llvm::ArrayRef<BufferView> args,
                               llvm::ArrayRef<BufferView> results, unsigned threads) const {
  if (args.size() != argSpecs.size() || results.size() != resultSpecs.size())
    return error("the layer takes " + llvm::Twine(argSpecs.size()) + " arguments and " +
                 llvm::Twine(resultSpecs.size()) + " results, got " + llvm::Twine(args.size()) +
                 " and " + llvm::Twine(results.size()));
  auto check = [](const BufferView &b, const Spec &spec, const llvm::Twine &what) -> llvm::Error {
    if (b.dtype != spec.dtype)
      return error(what + " must be " + dtypeName(spec.dtype) + ", got " + dtypeName(b.dtype));
    if (b.shape != spec.shape)
      return error(what + " has another shape than the layer was compiled for");
    if (!b.data && Array::numElementsOf(b.shape) > 0)
      return error(what + " is a null buffer");
    return llvm::Error::success();
  };
  // Descriptors of the arguments, then of the results (the out-params).
  std::vector<MemRefDescriptor> descriptors;
  for (size_t i = 0; i < args.size(); ++i) {
    if (llvm::Error e = check(args[i], argSpecs[i], "argument #" + llvm::Twine(i)))
      return e;
    descriptors.emplace_back(args[i]);
  }
  for (size_t i = 0; i < results.size(); ++i) {
    if (llvm::Error e = check(results[i], resultSpecs[i], "result #" + llvm::Twine(i)))
      return e;
    descriptors.emplace_back(results[i]);
  }
  std::vector<void *> pointers, packed;
  for (MemRefDescriptor &d : descriptors)
    pointers.push_back(d.words.data());
  for (void *&p : pointers)
    packed.push_back(&p);
  if (setThreads)
    setThreads(static_cast<int>(threads ? threads : std::max(1u, std::thread::hardware_concurrency())));
  entry(packed.data());
  return llvm::Error::success();
}

} // namespace linrec
