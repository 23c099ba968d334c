//===- ConformanceCase.h - run a conformance case directory -----*- C++ -*-===//
//
// A case directory holds spec.json, the inputs as .npy and the float64 expected outputs
// (../shared/conformance/README.md). Running one builds the model spec.json names with the
// layer builder, runs it on a target, optionally writes the outputs, and compares them.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_RUNTIME_CONFORMANCECASE_H
#define LINREC_RUNTIME_CONFORMANCECASE_H

#include "linrec/Reference/Array.h"
#include "linrec/Runtime/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <map>
#include <string>
#include <vector>

namespace linrec {

class KernelCompiler;
struct KernelOptions;
class SequenceGroup;

/// Runs `func.func @funcName` of `module` on `target`: the reference interpreter, or kernels
/// for `target` from `compiler` (compiled on first use with `options`, whose target `target`
/// replaces, and cached there).
llvm::Expected<std::vector<Array>> runFunction(mlir::ModuleOp module, llvm::StringRef funcName,
                                               llvm::ArrayRef<Array> args, Target target,
                                               KernelCompiler &compiler,
                                               const KernelOptions &options);

/// The dtype and shape of a named input: all that building a layer needs of it.
struct TensorInfo {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  std::string shapeString() const { return linrec::shapeString(shape); }
};

/// A model built for given input shapes: `module` holds func.func @layer, whose arguments are
/// the inputs named `inputNames` and whose results are `outputNames`, in order.
struct PreparedModel {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::vector<std::string> inputNames, outputNames;
};

/// Builds the model of the conformance format named `model` with `params` (the spec.json
/// "params" object: every parameter the model uses, no defaults) for inputs of these dtypes and
/// shapes (by tensor name).
llvm::Expected<PreparedModel> prepareModel(mlir::MLIRContext &context, llvm::StringRef model,
                                           const llvm::json::Object &params,
                                           const std::map<std::string, TensorInfo> &inputs,
                                           Target target);

/// The layer that the case in `caseDir` runs, built for its inputs' shapes (its function is
/// @layer; `linrec-run --case DIR --emit-mlir` prints it).
llvm::Expected<PreparedModel> prepareCase(mlir::MLIRContext &context, llvm::StringRef caseDir);

/// Runs the model of the conformance format named `model` with `params` (the spec.json
/// "params" object: every parameter the model uses, no defaults) on `inputs` (by tensor name).
/// Builds the layer for the inputs' shapes and returns its outputs by name, in the model's
/// order. The one definition of the model vocabulary, shared by cases and the Python API.
llvm::Expected<std::vector<std::pair<std::string, Array>>>
runModel(mlir::MLIRContext &context, llvm::StringRef model, const llvm::json::Object &params,
         const std::map<std::string, Array> &inputs, Target target, KernelCompiler &compiler,
         const KernelOptions &options);

/// The backward of runModel for L = Σ ⟨cotangents[name], output name⟩ (an output without a
/// cotangent counts as zero): ∂L/∂x for every float input by name, in the model's order.
/// The reference target runs the float64 adjoint, the others the derived backward
/// (runFunctionBackward); a model whose layer has no derived backward yet is an error that
/// names the op.
llvm::Expected<std::vector<std::pair<std::string, Array>>>
runModelBackward(mlir::MLIRContext &context, llvm::StringRef model,
                 const llvm::json::Object &params, const std::map<std::string, Array> &inputs,
                 const std::map<std::string, Array> &cotangents, Target target,
                 KernelCompiler &compiler, const KernelOptions &options);

struct OutputCheck {
  std::string name;
  bool compared = false; // an expected output was present
  double error = 0;      // relative RMS error
  double tolerance = 0;
  std::string problem;   // non-empty when the output fails (shape, NaN, over tolerance)
  bool passed() const { return problem.empty(); }
};

struct CaseReport {
  std::string model;
  std::vector<OutputCheck> outputs;
  bool passed() const {
    for (const OutputCheck &o : outputs)
      if (!o.passed())
        return false;
    return true;
  }
};

/// Runs the case in `caseDir` on `target`. Writes every output spec.json names into
/// `outDir` when it is non-empty. An error is returned for what prevents running the case
/// (missing files, an unsupported model, bad parameters); a wrong answer is a failing report.
/// With a `group` of several ranks, the tokens are split over them (runModelSequenceParallel:
/// each rank its tokenPart); rank 0 writes and compares the outputs, the other ranks return
/// a report without outputs.
llvm::Expected<CaseReport> runConformanceCase(mlir::MLIRContext &context,
                                              llvm::StringRef caseDir, Target target,
                                              llvm::StringRef outDir, KernelCompiler &compiler,
                                              const KernelOptions &options,
                                              SequenceGroup *group = nullptr);

/// One gradient of a backward run: the file spec.json names, the array, and for a compiled
/// target its relative RMS error against the float64 reference adjoint.
struct GradientCheck {
  std::string input, file;
  Array gradient;
  bool compared = false;
  double error = 0;
  double tolerance = 0;
  bool passed() const { return !compared || error <= tolerance; }
};

/// The backward of the case in `caseDir` (README §6): L = Σ ⟨cotangent, output⟩ over the
/// cotangents spec.json lists, and ∂L/∂x for every input named in its `gradients`, written
/// into `outDir` when it is non-empty. The reference target runs the float64 adjoint
/// (interpretFunctionGradient); the others run the backward linrec-build-backward derives,
/// compiled for the target, and check each gradient against the reference adjoint (relative
/// RMS within tolerance.f32 of spec.json, ten times that for log-decays and betas).
llvm::Expected<std::vector<GradientCheck>>
runConformanceCaseBackward(mlir::MLIRContext &context, llvm::StringRef caseDir, Target target,
                           llvm::StringRef outDir, KernelCompiler &compiler,
                           const KernelOptions &options);

} // namespace linrec

#endif // LINREC_RUNTIME_CONFORMANCECASE_H
