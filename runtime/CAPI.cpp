//===- CAPI.cpp - the C API of the linrec runtime -------------------------===//
//
// A function compiles to its recurrence's CPU kernel plus a map from the function's
// arguments and results to the kernel's operands and results: arguments and results pass
// through without copies; tensor constants of the function (a lightning layer's decays) are
// materialized once.
//
//===----------------------------------------------------------------------===//

#include "linrec-c/Runtime.h"
#include "linrec/InitLinrec.h"
#include "linrec/Runtime/CpuRuntime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstring>

using namespace mlir;
using namespace linrec;

struct linrec_compiler {
  MLIRContext context;
  CpuCompiler compiler;
  linrec_compiler() {
    DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }
};

struct linrec_function {
  std::shared_ptr<const CpuKernel> kernel;
  unsigned threads = 0;
  size_t numArgs = 0, numResults = 0;
  /// For each kernel operand: the function argument it is, or -1 for a constant.
  std::vector<int> operandArg;
  std::vector<std::vector<double>> constants; // per operand, when a constant (f64 or f32)
  std::vector<std::vector<float>> constantsF32;
  std::vector<std::vector<int64_t>> constantShapes;
  /// For each kernel result: the function result it is.
  std::vector<int> resultIndex;
};

static char *copyMessage(const std::string &message) {
  char *out = static_cast<char *>(std::malloc(message.size() + 1));
  std::memcpy(out, message.c_str(), message.size() + 1);
  return out;
}

static void setError(char **error, const std::string &message) {
  if (error)
    *error = copyMessage(message);
}

extern "C" {

linrec_compiler *linrec_compiler_create(void) { return new linrec_compiler(); }
void linrec_compiler_destroy(linrec_compiler *compiler) { delete compiler; }
void linrec_free_error(char *error) { std::free(error); }
void linrec_function_destroy(linrec_function *function) { delete function; }
size_t linrec_function_num_args(const linrec_function *f) { return f ? f->numArgs : 0; }
size_t linrec_function_num_results(const linrec_function *f) { return f ? f->numResults : 0; }

linrec_function *linrec_compile(linrec_compiler *compiler, const char *moduleText,
                                const char *funcName, const linrec_options *options,
                                char **error) {
  if (!compiler || !moduleText || !funcName) {
    setError(error, "linrec_compile: null compiler, module text or function name");
    return nullptr;
  }
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&compiler->context, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(moduleText, &compiler->context);
  if (!module) {
    setError(error, "the module does not parse:\n" + diagnostics);
    return nullptr;
  }
  PassManager pm(&compiler->context, ModuleOp::getOperationName());
  pm.addPass(createLinrecNormalize());
  if (failed(pm.run(*module))) {
    setError(error, "linrec-normalize failed:\n" + diagnostics);
    return nullptr;
  }
  auto func = module->lookupSymbol<func::FuncOp>(funcName);
  if (!func || func.isExternal()) {
    setError(error, std::string("no function @") + funcName + " with a body");
    return nullptr;
  }
  SmallVector<RecurrenceOp> recurrences(func.getOps<RecurrenceOp>());
  if (recurrences.size() != 1) {
    setError(error, "the C API runs functions whose body is one recurrence (found " +
                        std::to_string(recurrences.size()) + ")");
    return nullptr;
  }
  RecurrenceOp op = recurrences.front();

  auto function = std::make_unique<linrec_function>();
  function->numArgs = func.getNumArguments();
  function->numResults = func.getNumResults();
  for (Value operand : op->getOperands()) {
    if (auto arg = dyn_cast<BlockArgument>(operand)) {
      function->operandArg.push_back(static_cast<int>(arg.getArgNumber()));
      function->constants.emplace_back();
      function->constantsF32.emplace_back();
      function->constantShapes.emplace_back();
      continue;
    }
    auto constant = operand.getDefiningOp<arith::ConstantOp>();
    auto dense = constant ? dyn_cast<DenseFPElementsAttr>(constant.getValue()) : nullptr;
    if (!dense) {
      setError(error, "a recurrence operand is neither a function argument nor a float "
                      "tensor constant");
      return nullptr;
    }
    function->operandArg.push_back(-1);
    std::vector<double> values;
    for (APFloat v : dense.getValues<APFloat>())
      values.push_back(v.convertToDouble());
    function->constantsF32.emplace_back(values.begin(), values.end());
    function->constants.push_back(std::move(values));
    auto shape = dense.getType().getShape();
    function->constantShapes.emplace_back(shape.begin(), shape.end());
  }
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (Value result : op->getResults()) {
    int index = -1;
    for (auto [i, returned] : llvm::enumerate(ret.getOperands()))
      if (returned == result)
        index = static_cast<int>(i);
    if (index < 0) {
      setError(error, "the function must return every result of its recurrence");
      return nullptr;
    }
    function->resultIndex.push_back(index);
  }
  for (Value returned : ret.getOperands())
    if (returned.getDefiningOp() != op.getOperation()) {
      setError(error, "every result of the function must be a result of its recurrence");
      return nullptr;
    }

  CpuKernelOptions kernelOptions;
  if (options) {
    if (options->chunk_size > 0)
      kernelOptions.chunkSize = options->chunk_size;
    kernelOptions.sequential = options->sequential != 0;
    function->threads = options->threads;
  }
  auto kernel = compiler->compiler.compile(op, kernelOptions);
  if (!kernel) {
    setError(error, llvm::toString(kernel.takeError()) + "\n" + diagnostics);
    return nullptr;
  }
  function->kernel = *kernel;
  return function.release();
}

static BufferView viewOf(const linrec_buffer &buffer) {
  BufferView view;
  view.data = buffer.data;
  view.dtype = buffer.dtype == LINREC_F64 ? DType::F64
               : buffer.dtype == LINREC_I32 ? DType::I32
                                            : DType::F32;
  if (buffer.shape && buffer.rank > 0)
    view.shape.assign(buffer.shape, buffer.shape + buffer.rank);
  return view;
}

int linrec_run(const linrec_function *function, const linrec_buffer *args, size_t numArgs,
               const linrec_buffer *results, size_t numResults, char **error) {
  if (!function) {
    setError(error, "linrec_run: null function");
    return 1;
  }
  if (numArgs != function->numArgs || numResults != function->numResults ||
      (numArgs && !args) || (numResults && !results)) {
    setError(error, "the function takes " + std::to_string(function->numArgs) +
                        " arguments and " + std::to_string(function->numResults) +
                        " results, got " + std::to_string(numArgs) + " and " +
                        std::to_string(numResults));
    return 1;
  }
  std::vector<BufferView> operands;
  for (size_t i = 0; i < function->operandArg.size(); ++i) {
    int arg = function->operandArg[i];
    if (arg >= 0) {
      operands.push_back(viewOf(args[arg]));
    } else {
      // A constant keeps the element type of its tensor (the kernel checks it).
      BufferView view;
      view.shape = function->constantShapes[i];
      view.dtype = function->kernel->operandDType(i);
      view.data = view.dtype == DType::F64
                      ? static_cast<void *>(const_cast<double *>(function->constants[i].data()))
                      : static_cast<void *>(const_cast<float *>(function->constantsF32[i].data()));
      operands.push_back(view);
    }
  }
  std::vector<BufferView> kernelResults;
  for (int index : function->resultIndex)
    kernelResults.push_back(viewOf(results[index]));
  if (llvm::Error e = function->kernel->run(operands, kernelResults, function->threads)) {
    setError(error, llvm::toString(std::move(e)));
    return 1;
  }
  return 0;
}

} // extern "C"
