//===- CAPI.cpp - the C API of the linrec runtime -------------------------===//
//
// A function compiles as its kernels when it holds only kernel ops (arguments and results
// pass through without copies; tensor constants of the function, a lightning layer's decays,
// are materialized once), else on the CPU as one compiled layer (compileFunction). A backward
// is the one linrec-build-backward derives, compiled the same way.
//
//===----------------------------------------------------------------------===//

#include "linrec-c/Runtime.h"
#include "linrec/InitLinrec.h"
#include "linrec/Runtime/Backward.h"
#include "linrec/Runtime/Executable.h"
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
    loadLinrecDialects(context);
  }
};

struct linrec_function {
  Executable executable;
  size_t numArgs = 0, numResults = 0;
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
size_t linrec_function_num_args(const linrec_function *f) { return f ? f->numArgs : 0; }
size_t linrec_function_num_results(const linrec_function *f) { return f ? f->numResults : 0; }

/// Compiles @funcName of `module` (the backward derived for it when `backward`).
static linrec_function *compileModule(linrec_compiler *compiler, const char *moduleText,
                                      const char *funcName, const linrec_options *options,
                                      bool backward, char **error) {
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
  std::string name = funcName;
  if (backward) {
    llvm::Expected<OwningOpRef<ModuleOp>> derived =
        deriveBackward(*module, funcName, kernelOptions.target);
    if (!derived) {
      setError(error, llvm::toString(derived.takeError()));
      return nullptr;
    }
    module = std::move(*derived);
    name += "_backward";
  }
  auto func = module->lookupSymbol<func::FuncOp>(name);
  if (!func) {
    setError(error, "no function @" + name + " in the module");
    return nullptr;
  }
  function->numArgs = func.getNumArguments();
  function->numResults = func.getNumResults();
  auto compiled = compileFunction(compiler->compiler, *module, name, kernelOptions);
  if (!compiled) {
    setError(error, llvm::toString(compiled.takeError()) + diagnostics);
    return nullptr;
  }
  function->executable = *compiled;
  return function.release();
}

linrec_function *linrec_compile(linrec_compiler *compiler, const char *moduleText,
                                const char *funcName, const linrec_options *options,
                                char **error) {
  return compileModule(compiler, moduleText, funcName, options, /*backward=*/false, error);
}

linrec_function *linrec_compile_backward(linrec_compiler *compiler, const char *moduleText,
                                         const char *funcName, const linrec_options *options,
                                         char **error) {
  return compileModule(compiler, moduleText, funcName, options, /*backward=*/true, error);
}

/// The runtime's view of a C buffer, or an error for a dtype code linrec_dtype does not
/// have or a negative rank (taking them as f32 read garbage).
static llvm::Expected<BufferView> viewOf(const linrec_buffer &buffer, const char *what,
                                         size_t index) {
  BufferView view;
  view.data = buffer.data;
  // The code as an integer: a C caller may pass any int, and reading one outside the
  // enumerators as the enum type is undefined behaviour in C++ (UBSan: -fsanitize=enum).
  std::underlying_type_t<linrec_dtype> code;
  std::memcpy(&code, &buffer.dtype, sizeof(code));
  switch (code) {
  case LINREC_F32:
    view.dtype = DType::F32;
    break;
  case LINREC_F64:
    view.dtype = DType::F64;
    break;
  case LINREC_I32:
    view.dtype = DType::I32;
    break;
  default:
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "linrec_run: " + std::string(what) + " #" +
                                       std::to_string(index) + " has dtype code " +
                                       std::to_string(int(code)) +
                                       ", which is not a linrec_dtype");
  }
  if (buffer.rank < 0 || (buffer.rank > 0 && !buffer.shape))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "linrec_run: " + std::string(what) + " #" +
                                       std::to_string(index) + " has no valid rank and shape");
  if (buffer.rank > 0)
    view.shape.assign(buffer.shape, buffer.shape + buffer.rank);
  return view;
}

int linrec_run(const linrec_function *function, const linrec_buffer *args, size_t numArgs,
               const linrec_buffer *results, size_t numResults, char **error) {
  if (!function) {
    setError(error, "linrec_run: null function");
    return 1;
  }
  if ((function->numArgs && !args) || (function->numResults && !results)) {
    setError(error, "linrec_run: null argument or result array");
    return 1;
  }
  if (numArgs != function->numArgs || numResults != function->numResults) {
    setError(error, "linrec_run: the function takes " + std::to_string(function->numArgs) +
                        " arguments and " + std::to_string(function->numResults) +
                        " results, got " + std::to_string(numArgs) + " and " +
                        std::to_string(numResults));
    return 1;
  }
  std::vector<BufferView> argViews, resultViews;
  for (auto [buffers, count, views, what] :
       {std::tuple(args, numArgs, &argViews, "argument"),
        std::tuple(results, numResults, &resultViews, "result")})
    for (size_t i = 0; i < count; ++i) {
      llvm::Expected<BufferView> view = viewOf(buffers[i], what, i);
      if (!view) {
        setError(error, llvm::toString(view.takeError()));
        return 1;
      }
      views->push_back(std::move(*view));
    }
  if (llvm::Error e = function->executable.run(argViews, resultViews, function->threads)) {
    setError(error, llvm::toString(std::move(e)));
    return 1;
  }
  return 0;
}

} // extern "C"
