//===- CompiledLayer.cpp - a whole layer function JIT-compiled ------------===//

#include "linrec/Runtime/CompiledLayer.h"
#include "FlushSubnormals.h"
#include "linrec/Pipelines/Pipelines.h"
#include "linrec/Runtime/JitEngine.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"

#include <omp.h>

#include <thread>

using namespace mlir;

namespace linrec {

static llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message.str());
}

CompiledLayer::~CompiledLayer() = default;

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

  // The layer function is the entry: C interface, results as out-params.
  func->setAttr("llvm.emit_c_interface", UnitAttr::get(context));
  // A compiled layer's kernels take no status word: the checked mode scans its inputs before
  // it runs (Executable::runChecked).
  CpuPipelineOptions cpu = options.cpu;
  cpu.valueChecks = false;
  PassManager pm(context, ModuleOp::getOperationName());
  buildLayerToCpuPipeline(pm, cpu);
  if (failed(pm.run(module)))
    return error("lowering the layer (linrec-layer-to-cpu) failed:\n" + diagnostics);
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
  // The kernel calls' scf.parallel loops run on the OpenMP runtime the runtime itself runs
  // kernels on (Kernel::run): one pool, sized by the calling thread's request.
  omp_set_num_threads(
      static_cast<int>(threads ? threads : std::max(1u, std::thread::hardware_concurrency())));
  ScopedFlushSubnormals flush; // the workers take it at each parallel region
  entry(packed.data());
  return llvm::Error::success();
}

} // namespace linrec
