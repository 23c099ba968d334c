//===- ModelInfoTest.cpp - the model descriptions against the builder -----===//
//
// `linrec::modelInfos()` describes what each model takes; these tests hold it to what the
// layer builder requires and what the public conformance cases use: every case's parameters
// are exactly its model's, each of them required (a case without it does not build); every
// case's tensors are among the model's, the required ones always present.
//
//===----------------------------------------------------------------------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/Builder/ModelInfo.h"
#include "linrec/InitLinrec.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Npy.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

using namespace linrec;

namespace {

TEST(ModelInfo, DescribesEveryModelInOrder) {
  std::vector<std::string> names;
  for (const ModelInfo &info : modelInfos()) {
    names.push_back(info.name);
    EXPECT_FALSE(info.summary.empty()) << info.name;
    EXPECT_FALSE(info.inputs.empty()) << info.name;
    EXPECT_EQ(info.outputs.front().name, "o") << info.name;
    for (const ParameterInfo &p : info.parameters)
      EXPECT_EQ(p.kind == "choice", !p.choices.empty()) << info.name << "." << p.name;
  }
  EXPECT_EQ(names, layerKindNames());
  EXPECT_EQ(modelInfo("not_a_model"), nullptr);
}

struct Case {
  std::string dir, model;
  llvm::json::Object params;
  std::map<std::string, TensorInfo> inputs;
  std::vector<std::string> outputs;
};

std::vector<Case> readCases() {
  std::vector<Case> cases;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(LINREC_CONFORMANCE_DIR, ec), end; it != end && !ec;
       it.increment(ec)) {
    auto buffer = llvm::MemoryBuffer::getFile(it->path() + "/spec.json");
    if (!buffer)
      continue;
    llvm::Expected<llvm::json::Value> spec = llvm::json::parse((*buffer)->getBuffer());
    if (!spec) {
      ADD_FAILURE() << it->path() << ": " << llvm::toString(spec.takeError());
      continue;
    }
    const llvm::json::Object &root = *spec->getAsObject();
    Case c{it->path(), root.getString("model")->str(), *root.getObject("params"), {}, {}};
    for (const auto &[name, file] : *root.getObject("inputs")) {
      llvm::Expected<Array> array = readNpy(it->path() + "/" + file.getAsString()->str());
      EXPECT_TRUE(bool(array)) << it->path();
      if (array)
        c.inputs[name.str()] = TensorInfo{array->dtype, array->shape};
      else
        llvm::consumeError(array.takeError());
    }
    for (const auto &[name, file] : *root.getObject("outputs"))
      c.outputs.push_back(name.str());
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(ModelInfo, MatchesTheConformanceCasesAndTheBuilder) {
  if (!llvm::sys::fs::is_directory(LINREC_CONFORMANCE_DIR))
    GTEST_SKIP() << "no conformance cases at " << LINREC_CONFORMANCE_DIR;
  mlir::DialectRegistry registry;
  linrec::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  std::vector<Case> cases = readCases();
  ASSERT_FALSE(cases.empty());
  for (const Case &c : cases) {
    std::string name = llvm::sys::path::filename(c.dir).str();
    const ModelInfo *info = modelInfo(c.model);
    ASSERT_NE(info, nullptr) << name << ": " << c.model;
    // Parameters: the case's are exactly the model's, and the builder needs each one.
    llvm::StringSet<> described;
    for (const ParameterInfo &p : info->parameters)
      described.insert(p.name);
    llvm::StringSet<> given;
    for (const auto &[key, value] : c.params)
      given.insert(key);
    for (const auto &key : given)
      EXPECT_TRUE(described.contains(key.getKey())) << name << ": params." << key.getKey().str();
    for (const ParameterInfo &p : info->parameters) {
      EXPECT_TRUE(given.contains(p.name)) << name << ": no params." << p.name;
      llvm::json::Object without = c.params;
      without.erase(p.name);
      llvm::Expected<PreparedModel> built =
          prepareModel(context, c.model, without, c.inputs, Target::Reference);
      EXPECT_FALSE(bool(built)) << name << ": builds without params." << p.name;
      if (!built)
        llvm::consumeError(built.takeError());
    }
    // Tensors: the case's are among the model's; the required ones are there.
    auto check = [&](const std::vector<TensorDescription> &tensors,
                     const std::vector<std::string> &used, const char *what) {
      for (const std::string &n : used)
        EXPECT_TRUE(llvm::any_of(tensors, [&](auto &t) { return t.name == n; }))
            << name << ": " << what << " " << n << " is not described";
      for (const TensorDescription &t : tensors)
        if (!t.optional)
          EXPECT_TRUE(llvm::is_contained(used, t.name))
              << name << ": required " << what << " " << t.name << " missing";
    };
    std::vector<std::string> inputs;
    for (const auto &[n, i] : c.inputs)
      inputs.push_back(n);
    check(info->inputs, inputs, "input");
    check(info->outputs, c.outputs, "output");
  }
}

} // namespace
