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
#include "linrec/Runtime/CompiledFunction.h"
#include "linrec/Runtime/Kernel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstring>

using namespace mlir;
using namespace linrec;

struct linrec_compiler {
  MLIRContext context;
  KernelCompiler compiler;
  linrec_compiler() {
    DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }
};

struct linrec_function {
  std::shared_ptr<const CompiledFunction> function;
  unsigned threads = 0;
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
size_t linrec_function_num_args(const linrec_function *f) {
  return f ? f->function->numArgs() : 0;
}
size_t linrec_function_num_results(const linrec_function *f) {
  return f ? f->function->numResults() : 0;
}

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
  KernelOptions kernelOptions;
  auto function = std::make_unique<linrec_function>();
  if (options && options->target) {
    std::optional<Target> target = parseTarget(options->target);
    if (!target || *target == Target::Reference) {
      setError(error, "unknown target '" + std::string(options->target) +
                          "' (cpu, gpu-schedule, cuda)");
      return nullptr;
    }
    kernelOptions.target = *target;
  }
  if (options && options->schedule)
    if (llvm::Error e = kernelOptions.parseSchedule(options->schedule)) {
      setError(error, llvm::toString(std::move(e)));
      return nullptr;
    }
  function->threads = unsigned(kernelOptions.cpu.threads);
  auto compiled = CompiledFunction::compile(compiler->compiler, *module, funcName, kernelOptions);
  if (!compiled) {
    setError(error, llvm::toString(compiled.takeError()) + diagnostics);
    return nullptr;
  }
  function->function = *compiled;
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
  if ((function->function->numArgs() && !args) || (function->function->numResults() && !results)) {
    setError(error, "linrec_run: null argument or result array");
    return 1;
  }
  std::vector<BufferView> argViews, resultViews;
  for (size_t i = 0; i < numArgs; ++i)
    argViews.push_back(viewOf(args[i]));
  for (size_t i = 0; i < numResults; ++i)
    resultViews.push_back(viewOf(results[i]));
  if (llvm::Error e = function->function->run(argViews, resultViews, function->threads)) {
    setError(error, llvm::toString(std::move(e)));
    return 1;
  }
  return 0;
}

} // extern "C"
