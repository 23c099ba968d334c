//===- ModelInfo.h - what each model of the conformance format takes ------*- C++ -*-===//
//
// The description of every model the layer builder makes, for people and for tools: its
// parameters (name, kind, meaning, the value the modules default to), its input and output
// tensors (name, shape, dtype, meaning, whether optional). `linrec.model_info(name)` in
// Python and the `linrec.nn` modules read it; `unittests/ModelInfoTest.cpp` holds it to what
// the builder and the conformance cases do.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_BUILDER_MODELINFO_H
#define LINREC_BUILDER_MODELINFO_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace linrec {

struct ParameterInfo {
  std::string name;
  std::string kind; // "number", "integer", "bool", "choice" (of `choices`), "numbers"
  std::string meaning;
  /// What `linrec.nn` takes when the parameter is not given ("" : it must be given).
  /// "1/sqrt(dk)" for scales; the conformance format itself has no defaults.
  std::string moduleDefault;
  std::vector<std::string> choices;
};

struct TensorDescription {
  std::string name;
  std::string shape; // "[B, T, H, dk]"
  std::string dtype; // "float" (float32 in the kernels) or "int32"
  std::string meaning;
  /// Optional inputs, and inputs or outputs that only some parameter values have.
  bool optional = false;
  /// A log-decay: every value ≤ 0 (−∞ a full reset).
  bool logDecay = false;
};

struct ModelInfo {
  std::string name, summary;
  std::vector<ParameterInfo> parameters;
  std::vector<TensorDescription> inputs, outputs;
};

/// Every model, in layerKindNames()'s order.
llvm::ArrayRef<ModelInfo> modelInfos();
/// The model named `name`, or null.
const ModelInfo *modelInfo(llvm::StringRef name);

/// Whether input `input` of `model` is a log-decay.
bool isLogDecayInput(llvm::StringRef model, llvm::StringRef input);

} // namespace linrec

#endif // LINREC_BUILDER_MODELINFO_H
