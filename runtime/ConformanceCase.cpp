//===- ConformanceCase.cpp - run a conformance case directory -------------===//

#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/SequenceParallel.h"
#include "linrec/Builder/LayerBuilder.h"
#include "linrec/Builder/ModelInfo.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/Backward.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/InputChecks.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/KernelSource.h"
#include "linrec/Runtime/CudaDriver.h"
#include "linrec/Runtime/Npy.h"
#include "linrec/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <map>

using namespace mlir;
using llvm::Expected;
using llvm::StringRef;

namespace linrec {

static llvm::Error caseError(StringRef dir, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 (dir + ": " + message).str());
}

static std::string joinPath(StringRef dir, StringRef file) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, file);
  return std::string(path);
}

/// Whether `name` is a relative path with no ".." component: it names a file under the
/// directory it is joined to.
static bool staysInside(StringRef name) {
  if (name.empty() || llvm::sys::path::is_absolute(name))
    return false;
  for (StringRef part : llvm::make_range(llvm::sys::path::begin(name), llvm::sys::path::end(name)))
    if (part == "..")
      return false;
  return true;
}

/// The path of a file spec.json names (`what`: "inputs.q", ...) in the case directory `dir`:
/// inside it (no absolute path, no "..", no symbolic link out of it) and a regular file (not
/// /dev/zero, not a FIFO).
static Expected<std::string> caseFile(StringRef dir, StringRef name, const Twine &what) {
  if (!staysInside(name))
    return caseError(dir, what + " = '" + name + "' is not a file inside the case directory");
  std::string path = joinPath(dir, name);
  llvm::SmallString<256> realDir, realPath;
  if (llvm::sys::fs::real_path(dir, realDir) || llvm::sys::fs::real_path(path, realPath))
    return caseError(dir, what + " = '" + name + "': cannot read it");
  if (!StringRef(realPath).starts_with((realDir + llvm::sys::path::get_separator()).str()))
    return caseError(dir, what + " = '" + name + "' leads out of the case directory");
  if (!llvm::sys::fs::is_regular_file(realPath))
    return caseError(dir, what + " = '" + name + "' is not a regular file");
  return path;
}

/// The path an output named `name` is written to under `outDir` (no absolute path, no "..").
static Expected<std::string> outputFile(StringRef outDir, StringRef name, const Twine &what) {
  if (!staysInside(name))
    return caseError(outDir, what + " = '" + name + "' would be written outside --out");
  return joinPath(outDir, name);
}

/// An error when `outDir` is the case directory `dir`: writing there would replace the
/// expected outputs the run is checked against.
static llvm::Error checkOutDir(StringRef dir, StringRef outDir) {
  llvm::SmallString<256> realDir, realOut;
  if (!outDir.empty() && !llvm::sys::fs::real_path(dir, realDir) &&
      !llvm::sys::fs::real_path(outDir, realOut) && realDir == realOut)
    return caseError(dir, "--out is the case directory: the outputs would replace the "
                          "expected ones");
  return llvm::Error::success();
}

/// Reads the model's parameters from spec.json's "params" into a LayerConfig. Every
/// parameter the model uses must be present: the format has no hidden defaults.
static llvm::Error readParams(StringRef dir, const llvm::json::Object &params,
                              LayerConfig &config) {
  auto number = [&](StringRef key, auto &out) -> llvm::Error {
    std::optional<double> value = params.getNumber(key);
    if (!value)
      return caseError(dir, "params." + key + " is missing or not a number");
    out = static_cast<std::remove_reference_t<decltype(out)>>(*value);
    return llvm::Error::success();
  };
  // Hedgehog has no scale (it would cancel in the normalized read).
  if (config.kind != LayerKind::Hedgehog)
    if (llvm::Error e = number("scale", config.scale))
      return e;
  if (config.kind == LayerKind::Linear || config.kind == LayerKind::TransNormerNorm) {
    std::optional<bool> normalize = params.getBoolean("normalize");
    std::optional<StringRef> map = params.getString("feature_map");
    if (config.kind == LayerKind::TransNormerNorm)
      normalize = false; // the output norm replaces the denominator
    if (!normalize || !map)
      return caseError(dir, "linear needs params.normalize (bool) and params.feature_map");
    config.normalize = *normalize;
    if (llvm::Error e = number("eps", config.eps))
      return e;
    if (*map == "identity")
      config.featureMap = FeatureMapKind::Identity;
    else if (*map == "elu")
      config.featureMap = FeatureMapKind::Elu;
    else if (*map == "1+elu")
      config.featureMap = FeatureMapKind::EluPlusOne;
    else if (*map == "relu")
      config.featureMap = FeatureMapKind::Relu;
    else
      return caseError(dir, "unknown params.feature_map '" + *map +
                                "' (identity, elu, 1+elu, relu)");
  }
  auto integer = [&](StringRef key, int64_t &out) -> llvm::Error {
    std::optional<int64_t> value = params.getInteger(key);
    if (!value)
      return caseError(dir, "params." + key + " is missing or not an integer");
    out = *value;
    return llvm::Error::success();
  };
  auto choice = [&](StringRef key, ArrayRef<StringRef> options,
                    size_t &index) -> llvm::Error {
    std::optional<StringRef> value = params.getString(key);
    auto it = value ? llvm::find(options, *value) : options.end();
    if (it == options.end())
      return caseError(dir, "params." + key + " must be one of: " + llvm::join(options, ", "));
    index = it - options.begin();
    return llvm::Error::success();
  };
  if (config.kind == LayerKind::TransNormerDiag) {
    size_t variant;
    if (llvm::Error e = choice("variant", {"softmax", "relu"}, variant))
      return e;
    config.weighting = variant == 0 ? WindowWeighting::Softmax : WindowWeighting::Relu;
    if (llvm::Error e = integer("block", config.windowSize))
      return e;
    if (llvm::Error e = number("eps", config.eps))
      return e;
  }
  if (config.kind == LayerKind::LigerAttention) {
    size_t variant;
    if (llvm::Error e = choice("linear_variant", {"gla", "hgrn2"}, variant))
      return e;
    config.linearVariant = variant == 0 ? LayerKind::LigerGLA : LayerKind::LigerHGRN2;
    if (llvm::Error e = integer("window", config.windowSize))
      return e;
    for (auto [key, field] : {std::pair("gate_normalizer", &config.gateNormalizer),
                              std::pair("attn_scale", &config.attentionScale),
                              std::pair("mix_linear", &config.mixLinear),
                              std::pair("mix_attn", &config.mixAttention)})
      if (llvm::Error e = number(key, *field))
        return e;
  }
  if (config.kind == LayerKind::LoLCATs) {
    size_t window, feature;
    if (llvm::Error e = choice("window", {"sliding", "terraced"}, window))
      return e;
    config.window = window == 0 ? WindowKind::Sliding : WindowKind::Terraced;
    if (llvm::Error e = integer("window_size", config.windowSize))
      return e;
    if (llvm::Error e = number("linear_factor", config.linearFactor))
      return e;
    if (llvm::Error e = choice("feature", {"softmax", "exp"}, feature))
      return e;
    config.hedgehogFeature = feature == 0 ? FeatureMapKind::Softmax : FeatureMapKind::Exp;
  }
  if (config.kind == LayerKind::TensorAttention)
    if (llvm::Error e = integer("degree", config.degree))
      return e;
  if (config.kind == LayerKind::MixtureOfMemories) {
    if (llvm::Error e = integer("topk", config.topk))
      return e;
    std::optional<bool> shared = params.getBoolean("shared");
    if (!shared)
      return caseError(dir, "mom needs params.shared (bool)");
    config.sharedMemory = *shared;
  }
  if (config.kind == LayerKind::Hedgehog) {
    std::optional<StringRef> feature = params.getString("feature");
    if (!feature || (*feature != "softmax" && *feature != "exp"))
      return caseError(dir, "hedgehog needs params.feature: softmax or exp");
    config.hedgehogFeature = *feature == "softmax" ? FeatureMapKind::Softmax : FeatureMapKind::Exp;
    if (llvm::Error e = number("eps", config.eps))
      return e;
  }
  if (config.kind == LayerKind::LigerGLA)
    if (llvm::Error e = number("gate_normalizer", config.gateNormalizer))
      return e;
  if (config.kind == LayerKind::Lightning) {
    const llvm::json::Array *decays = params.getArray("log_decay");
    if (!decays)
      return caseError(dir, "lightning needs params.log_decay (one number per head)");
    for (const llvm::json::Value &d : *decays) {
      std::optional<double> value = d.getAsNumber();
      if (!value)
        return caseError(dir, "params.log_decay must hold numbers");
      config.logDecay.push_back(*value);
    }
  }
  return llvm::Error::success();
}

static Type elementTypeOf(MLIRContext &ctx, DType dtype) {
  switch (dtype) {
  case DType::F16:
    return Float16Type::get(&ctx);
  case DType::BF16:
    return BFloat16Type::get(&ctx);
  case DType::F64:
    return Float64Type::get(&ctx);
  default:
    return Float32Type::get(&ctx);
  }
}

/// Why `--target=cuda` cannot run (no driver or GPU: the driver's own reason), if it cannot.
static llvm::Error cudaUnavailable() {
  Expected<CudaDriver &> driver = CudaDriver::get();
  if (!driver)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "target 'cuda': " + llvm::toString(driver.takeError()));
  return llvm::Error::success();
}

Expected<std::vector<Array>> runFunction(ModuleOp module, StringRef funcName,
                                         llvm::ArrayRef<Array> args, Target target,
                                         KernelCompiler &compiler,
                                         const KernelOptions &options) {
  if (target == Target::Reference)
    return interpretFunction(module, funcName, args);
  KernelOptions targetOptions = options;
  targetOptions.target = target; // kernels on the target, tensor ops around them on the host
  if (target == Target::CUDA)
    if (llvm::Error e = cudaUnavailable())
      return std::move(e);
  // The GPU kernels read along the key axis only: a state read transposed gets a transposed
  // copy in its recurrence, whose initial state the function then computes.
  OwningOpRef<ModuleOp> transposed;
  auto func = module.lookupSymbol<func::FuncOp>(funcName);
  if (target != Target::CPU && func && hasTransposedReads(func)) {
    transposed = module.clone();
    PassManager pm(module.getContext(), func::FuncOp::getOperationName());
    pm.addPass(createLinrecTransposeReads());
    if (failed(pm.run(transposed->lookupSymbol<func::FuncOp>(funcName))))
      return llvm::createStringError("linrec-transpose-reads failed on @" + funcName);
    module = *transposed;
  }
  // The whole function compiled when it can be; otherwise op by op (kernels for the
  // recurrences and windows, the reference for the tensor ops around them).
  Expected<std::optional<std::vector<Array>>> compiled =
      runCompiledFunction(compiler, module, funcName, args, targetOptions);
  if (!compiled)
    return compiled.takeError();
  if (*compiled)
    return std::move(**compiled);
  return evaluateFunction(
      module, funcName, args,
      [&](RecurrenceOp op, llvm::ArrayRef<Array> operands) {
        return runKernelOp(compiler, op, operands, targetOptions);
      },
      /*fuse=*/true,
      [&](WindowAttentionOp op, llvm::ArrayRef<Array> operands) {
        return runKernelOp(compiler, op, operands, targetOptions);
      });
}

Expected<PreparedModel> prepareModel(MLIRContext &context, StringRef model,
                                     const llvm::json::Object &params,
                                     const std::map<std::string, TensorInfo> &inputs,
                                     Target target) {
  StringRef dir = model; // errors name the model
  std::map<std::string, TensorInfo> arrays = inputs;
  LayerConfig config;
  std::optional<LayerKind> kind = parseLayerKind(model);
  if (!kind)
    return caseError(dir, "model '" + model + "' is not supported yet");
  config.kind = *kind;
  // Every parameter given is one of the model's (a misspelt one would be silently unused).
  if (const ModelInfo *info = modelInfo(model))
    for (const auto &entry : params) {
      llvm::StringRef key = entry.first;
      if (!llvm::any_of(info->parameters, [&](const ParameterInfo &p) { return p.name == key; })) {
        std::vector<std::string> names;
        for (const ParameterInfo &p : info->parameters)
          names.push_back(p.name);
        return caseError(dir, "params." + key.str() + " is not a parameter of model '" +
                                  model + "' (it has: " + llvm::join(names, ", ") + ")");
      }
    }
  if (llvm::Error e = readParams(dir, params, config))
    return std::move(e);
  // cu_seqlens are offsets: an integer array (a float one would be truncated).
  if (auto it = arrays.find("cu_seqlens"); it != arrays.end()) {
    DType d = it->second.dtype;
    if (d != DType::I32 && d != DType::I64)
      return caseError(dir, std::string("cu_seqlens must be int32 or int64, got ") +
                                dtypeName(d));
  }
  if (target == Target::CUDA)
    if (llvm::Error e = cudaUnavailable())
      return std::move(e);
  config.initialState = arrays.count("initial_state");
  config.initialZ = arrays.count("initial_z");
  config.valueGate = arrays.count("gv");
  config.varlen = arrays.count("cu_seqlens");
  config.stateIndices = arrays.count("state_indices");
  config.queryBias = arrays.count("bq");
  config.keyBias = arrays.count("bk");
  config.initialStateShared = arrays.count("initial_state_shared");
  if (config.kind == LayerKind::MixtureOfMemories) {
    const TensorInfo &k = arrays["k"];
    if (k.rank() != 5)
      return caseError(dir, "mom's k must be [M, B, T, H, dk], got " + k.shapeString());
    config.memories = k.shape[0];
  }

  std::vector<std::string> argNames = layerInputNames(config);
  for (const auto &[name, array] : arrays)
    if (!llvm::is_contained(argNames, name))
      return caseError(dir, "input '" + name + "' is not an input of model '" + model + "'");
  for (const std::string &name : argNames)
    if (!arrays.count(name))
      return caseError(dir, "model '" + model + "' needs input '" + name + "'");

  const TensorInfo &q = arrays["q"];
  // mom's values lead with the memory dim: [M, B, T, H, dv].
  TensorInfo v = arrays[config.kind == LayerKind::TensorAttention ? "v1" : "v"];
  if (config.kind == LayerKind::MixtureOfMemories && v.rank() == 5)
    v.shape.erase(v.shape.begin());
  if (q.rank() != 4 || v.rank() != 4)
    return caseError(dir, "q and v must be [B, T, H, D], got " + q.shapeString() + " and " +
                              v.shapeString());
  LayerShapes shapes;
  shapes.batch = q.shape[0];
  shapes.tokens = q.shape[1];
  shapes.heads = q.shape[2];
  shapes.keyDim = q.shape[3];
  shapes.valueDim = v.shape[3];
  shapes.elementType = elementTypeOf(context, q.dtype);
  if (config.kind == LayerKind::LigerAttention) {
    const TensorInfo &qAttn = arrays["q_attn"];
    if (qAttn.rank() != 4)
      return caseError(dir, "q_attn must be [B, T, H, da], got " + qAttn.shapeString());
    shapes.attentionDim = qAttn.shape[3];
  }
  if (config.kind == LayerKind::Hedgehog || config.kind == LayerKind::LoLCATs) {
    const TensorInfo &wq = arrays["Wq"];
    if (wq.rank() != 3)
      return caseError(dir, "Wq must be [H, dk, F], got " + wq.shapeString());
    shapes.features = wq.shape[2];
  }
  if (config.varlen) {
    const TensorInfo &cu = arrays["cu_seqlens"];
    if (cu.rank() != 1 || cu.shape[0] < 1)
      return caseError(dir, "cu_seqlens must be a non-empty 1-D array");
    shapes.sequences = cu.shape[0] - 1;
  }
  if (config.stateIndices) {
    const TensorInfo &indices = arrays["state_indices"];
    if (indices.dtype != DType::I32 && indices.dtype != DType::I64)
      return caseError(dir, std::string("state_indices must be int32 or int64, got ") +
                                dtypeName(indices.dtype));
    int64_t sequences = config.varlen ? shapes.sequences : shapes.batch;
    if (indices.rank() != 1 || indices.shape[0] != sequences)
      return caseError(dir, "state_indices must hold one slot per sequence: [" +
                                std::to_string(sequences) + "], got " + indices.shapeString());
    const TensorInfo &pool = arrays["initial_state"];
    if (pool.rank() < 1)
      return caseError(dir, "initial_state must be a pool [P, H, dk, dv] with state_indices");
    shapes.stateSlots = pool.shape[0];
    // A pool keeps its states in its own float type (bf16 halves a decode step's traffic);
    // the kernels compute in f32.
    if (pool.dtype == DType::BF16 || pool.dtype == DType::F16)
      shapes.stateType = elementTypeOf(context, pool.dtype);
  }

  OpBuilder builder(&context);
  OwningOpRef<ModuleOp> module = ModuleOp::create(builder.getUnknownLoc());
  Expected<func::FuncOp> func = buildLayerFunction(*module, "layer", config, shapes);
  if (!func)
    return caseError(dir, llvm::toString(func.takeError()));

  PreparedModel prepared;
  prepared.module = std::move(module);
  prepared.inputNames = argNames;
  prepared.outputNames = layerOutputNames(config);
  return prepared;
}

/// The model's layer for these arrays, and the arrays in its argument order.
static Expected<std::pair<PreparedModel, std::vector<Array>>>
prepareModelFor(MLIRContext &context, StringRef model, const llvm::json::Object &params,
                const std::map<std::string, Array> &inputs, Target target) {
  std::map<std::string, TensorInfo> infos;
  for (const auto &[name, array] : inputs)
    infos[name] = TensorInfo{array.dtype, array.shape};
  Expected<PreparedModel> prepared = prepareModel(context, model, params, infos, target);
  if (!prepared)
    return prepared.takeError();
  std::vector<Array> args;
  for (const std::string &name : prepared->inputNames)
    args.push_back(inputs.at(name));
  return std::make_pair(std::move(*prepared), std::move(args));
}

/// The checked mode for arrays: they are converted for the kernels anyway, so a scan before
/// the run costs little beside that (the kernels need not check them again: uncheckedOptions).
static llvm::Error checkInputs(StringRef model, const std::map<std::string, Array> &inputs,
                         const KernelOptions &options) {
  if (options.checkInputValues)
    for (const auto &[name, array] : inputs)
      if (std::optional<std::string> why = checkInputValues(model, name, array))
        return caseError(model, "input " + *why);
  return llvm::Error::success();
}

static KernelOptions uncheckedOptions(const KernelOptions &options) {
  KernelOptions unchecked = options;
  unchecked.checkInputValues = false;
  return unchecked;
}

Expected<std::vector<std::pair<std::string, Array>>>
runModel(MLIRContext &context, StringRef model, const llvm::json::Object &params,
         const std::map<std::string, Array> &inputs, Target target, KernelCompiler &compiler,
         const KernelOptions &options) {
  auto preparedArgs = prepareModelFor(context, model, params, inputs, target);
  if (!preparedArgs)
    return preparedArgs.takeError();
  PreparedModel &prepared = preparedArgs->first;
  std::vector<Array> &args = preparedArgs->second;
  if (llvm::Error e = checkInputs(model, inputs, options))
    return std::move(e);
  Expected<std::vector<Array>> results =
      runFunction(*prepared.module, "layer", args, target, compiler, uncheckedOptions(options));
  if (!results)
    return caseError(model, llvm::toString(results.takeError()));
  std::vector<std::pair<std::string, Array>> named;
  for (auto [name, array] : llvm::zip(prepared.outputNames, *results))
    named.emplace_back(name, std::move(array));
  return named;
}

Expected<std::vector<std::pair<std::string, Array>>>
runModelBackward(MLIRContext &context, StringRef model, const llvm::json::Object &params,
                 const std::map<std::string, Array> &inputs,
                 const std::map<std::string, Array> &cotangents, Target target,
                 KernelCompiler &compiler, const KernelOptions &options) {
  auto preparedArgs = prepareModelFor(context, model, params, inputs, target);
  if (!preparedArgs)
    return preparedArgs.takeError();
  PreparedModel &prepared = preparedArgs->first;
  std::vector<Array> &args = preparedArgs->second;
  if (llvm::Error e = checkInputs(model, inputs, options))
    return std::move(e);
  for (const auto &[name, array] : cotangents)
    if (!llvm::is_contained(prepared.outputNames, name))
      return caseError(model, "cotangent for '" + name + "', which is not an output of '" +
                                  model + "'");
  // A missing cotangent is zero (README §6 sums over the outputs given one).
  auto layer = prepared.module->lookupSymbol<func::FuncOp>("layer");
  std::vector<Array> seeds;
  for (auto [name, type] : llvm::zip(prepared.outputNames, layer.getResultTypes())) {
    auto shape = cast<RankedTensorType>(type).getShape();
    Array zeros(DType::F32, std::vector<int64_t>(shape.begin(), shape.end()));
    auto it = cotangents.find(name);
    if (it == cotangents.end()) {
      seeds.push_back(std::move(zeros));
      continue;
    }
    if (it->second.shape != zeros.shape)
      return caseError(model, "cotangent of '" + name + "' has shape " +
                                  it->second.shapeString() + " but the output has " +
                                  zeros.shapeString());
    seeds.push_back(it->second);
  }
  Expected<std::vector<Array>> gradients = runFunctionBackward(
      *prepared.module, "layer", args, seeds, target, compiler, uncheckedOptions(options));
  if (!gradients)
    return caseError(model, llvm::toString(gradients.takeError()));
  std::vector<std::pair<std::string, Array>> named;
  size_t next = 0;
  for (auto [name, arg] : llvm::zip(prepared.inputNames, args))
    if (arg.dtype == DType::F32 || arg.dtype == DType::F64)
      named.emplace_back(name, std::move((*gradients)[next++]));
  return named;
}

namespace {
/// A case directory's spec.json and its input arrays by name.
struct CaseSpec {
  // Owns what the pointers below point into (on the heap: a json::Value holds its object
  // inline, so moving one would leave them dangling).
  std::unique_ptr<llvm::json::Value> spec;
  std::string model;
  const llvm::json::Object *root = nullptr, *params = nullptr, *outputs = nullptr;
  std::map<std::string, Array> arrays;
};
} // namespace

static Expected<CaseSpec> readCaseSpec(StringRef dir) {
  auto specBuffer = llvm::MemoryBuffer::getFile(joinPath(dir, "spec.json"));
  if (!specBuffer)
    return caseError(dir, "cannot read spec.json: " + specBuffer.getError().message());
  Expected<llvm::json::Value> spec = llvm::json::parse((*specBuffer)->getBuffer());
  if (!spec)
    return caseError(dir, "spec.json is not valid JSON: " + llvm::toString(spec.takeError()));
  CaseSpec c;
  c.spec = std::make_unique<llvm::json::Value>(std::move(*spec));
  c.root = c.spec->getAsObject();
  if (!c.root)
    return caseError(dir, "spec.json must hold an object");
  std::optional<StringRef> model = c.root->getString("model");
  c.params = c.root->getObject("params");
  c.outputs = c.root->getObject("outputs");
  const llvm::json::Object *inputs = c.root->getObject("inputs");
  if (!model || !c.params || !inputs || !c.outputs)
    return caseError(dir, "spec.json needs model, params, inputs and outputs");
  c.model = model->str();
  for (const auto &[name, file] : *inputs) {
    std::optional<StringRef> fileName = file.getAsString();
    if (!fileName)
      return caseError(dir, "inputs." + name.str() + " must be a file name");
    Expected<std::string> path = caseFile(dir, *fileName, "inputs." + name.str());
    if (!path)
      return path.takeError();
    Expected<Array> array = readNpy(*path);
    if (!array)
      return array.takeError();
    c.arrays[name.str()] = std::move(*array);
  }
  return c;
}

/// The layer of a read case, built for its inputs' shapes.
static Expected<PreparedModel> prepareCaseSpec(MLIRContext &context, StringRef dir,
                                               const CaseSpec &c) {
  std::map<std::string, TensorInfo> infos;
  for (const auto &[name, array] : c.arrays)
    infos[name] = TensorInfo{array.dtype, array.shape};
  Expected<PreparedModel> prepared =
      prepareModel(context, c.model, *c.params, infos, Target::CPU);
  if (!prepared)
    return caseError(dir, llvm::toString(prepared.takeError()));
  return prepared;
}

Expected<PreparedModel> prepareCase(MLIRContext &context, StringRef dir) {
  Expected<CaseSpec> c = readCaseSpec(dir);
  if (!c)
    return c.takeError();
  return prepareCaseSpec(context, dir, *c);
}

Expected<CaseReport> runConformanceCase(MLIRContext &context, StringRef dir, Target target,
                                        StringRef outDir, KernelCompiler &compiler,
                                        const KernelOptions &options, SequenceGroup *group) {
  Expected<CaseSpec> c = readCaseSpec(dir);
  if (!c)
    return c.takeError();
  CaseReport report;
  report.model = c->model;
  const llvm::json::Object *root = c->root, *outputs = c->outputs;
  Expected<std::vector<std::pair<std::string, Array>>> results =
      group ? runModelSequenceParallel(
                  context, c->model, *c->params,
                  partOfInputs(c->model, c->arrays, group->rank(), group->size()), *group,
                  target, compiler, options)
            : runModel(context, c->model, *c->params, c->arrays, target, compiler, options);
  if (!results)
    return caseError(dir, llvm::toString(results.takeError()));
  if (group && group->rank() != 0)
    return report; // rank 0 writes and compares the whole outputs

  double tolerance = 0;
  if (const llvm::json::Object *tol = root->getObject("tolerance"))
    tolerance = tol->getNumber(target == Target::Reference ? "f64" : "f32").value_or(0);
  if (tolerance <= 0)
    return caseError(dir, "spec.json needs tolerance.f64 and tolerance.f32");

  if (llvm::Error e = checkOutDir(dir, outDir))
    return std::move(e);
  if (!outDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
      return caseError(outDir, "cannot create the output directory: " + ec.message());
  for (const auto &[name, file] : *outputs) {
    OutputCheck check;
    check.name = name.str();
    check.tolerance = tolerance;
    auto it = llvm::find_if(*results, [&](const auto &r) { return r.first == check.name; });
    if (it == results->end())
      return caseError(dir, "model '" + c->model + "' has no output '" + check.name + "'");
    const Array &produced = it->second;
    std::string fileName = file.getAsString().value_or(check.name + ".npy").str();
    if (!staysInside(fileName))
      return caseError(dir, "outputs." + check.name + " = '" + fileName +
                                "' is not a file inside the case directory");
    if (!outDir.empty()) {
      Expected<std::string> path = outputFile(outDir, fileName, "outputs." + check.name);
      if (!path)
        return path.takeError();
      if (llvm::Error e = writeNpy(*path, produced))
        return std::move(e);
    }
    if (llvm::sys::fs::exists(joinPath(dir, fileName))) {
      Expected<std::string> expectedPath = caseFile(dir, fileName, "outputs." + check.name);
      if (!expectedPath)
        return expectedPath.takeError();
      Expected<Array> expected = readNpy(*expectedPath);
      if (!expected)
        return expected.takeError();
      check.compared = true;
      if (expected->shape != produced.shape)
        check.problem = "shape " + produced.shapeString() + ", expected " +
                        expected->shapeString();
      else if (hasNonFinite(produced))
        check.problem = "holds NaN or Inf";
      else if ((check.error = relativeRmsError(produced, *expected)) > tolerance)
        check.problem = "over tolerance";
    }
    report.outputs.push_back(std::move(check));
  }
  return report;
}

Expected<std::vector<GradientCheck>>
runConformanceCaseBackward(MLIRContext &context, StringRef dir, Target target, StringRef outDir,
                           KernelCompiler &compiler, const KernelOptions &options) {
  Expected<CaseSpec> c = readCaseSpec(dir);
  if (!c)
    return c.takeError();
  const llvm::json::Object *cotangentFiles = c->root->getObject("cotangents");
  const llvm::json::Object *gradientFiles = c->root->getObject("gradients");
  if (!cotangentFiles || !gradientFiles)
    return caseError(dir, "spec.json needs cotangents and gradients for a backward run");
  double tolerance = 0;
  if (const llvm::json::Object *tol = c->root->getObject("tolerance"))
    tolerance = tol->getNumber("f32").value_or(0);
  if (target != Target::Reference && tolerance <= 0)
    return caseError(dir, "spec.json needs tolerance.f32");
  if (target == Target::CUDA)
    if (llvm::Error e = cudaUnavailable())
      return std::move(e);
  Expected<PreparedModel> prepared = prepareCaseSpec(context, dir, *c);
  if (!prepared)
    return prepared.takeError();
  std::vector<Array> args;
  for (const std::string &name : prepared->inputNames)
    args.push_back(c->arrays.at(name));
  Expected<std::vector<Array>> outputs = interpretFunction(*prepared->module, "layer", args);
  if (!outputs)
    return caseError(dir, llvm::toString(outputs.takeError()));
  // L = Σ ⟨cotangent, output⟩ over the outputs spec.json gives a cotangent (README §6).
  std::vector<Array> cotangents;
  for (auto [name, output] : llvm::zip(prepared->outputNames, *outputs)) {
    std::optional<StringRef> file = cotangentFiles->getString(name);
    if (!file) {
      cotangents.emplace_back(DType::F64, output.shape);
      continue;
    }
    Expected<std::string> path = caseFile(dir, *file, "cotangents." + name);
    if (!path)
      return path.takeError();
    Expected<Array> cotangent = readNpy(*path);
    if (!cotangent)
      return cotangent.takeError();
    if (cotangent->shape != output.shape)
      return caseError(dir, "cotangent of '" + name + "' has shape " +
                                cotangent->shapeString() + " but the output has " +
                                output.shapeString());
    cotangents.push_back(std::move(*cotangent));
  }
  Expected<std::vector<Array>> gradients =
      interpretFunctionGradient(*prepared->module, "layer", args, cotangents);
  if (!gradients)
    return caseError(dir, llvm::toString(gradients.takeError()));
  // The derived backward returns the float arguments' gradients only (not cu_seqlens').
  std::vector<Array> derived;
  std::vector<bool> gates;
  if (target != Target::Reference) {
    Expected<OwningOpRef<ModuleOp>> backward = deriveBackward(*prepared->module, "layer", target);
    if (!backward)
      return caseError(dir, llvm::toString(backward.takeError()));
    gates = gateGradients(**backward, "layer");
    Expected<std::vector<Array>> run =
        runDerivedBackward(**backward, "layer", args, cotangents, target, compiler, options);
    if (!run)
      return caseError(dir, llvm::toString(run.takeError()));
    derived = std::move(*run);
  }
  // Errors of the derived gradients, in float-argument order (cu_seqlens is the only other).
  std::vector<double> errors;
  if (target != Target::Reference) {
    std::vector<Array> floatArgs, expected;
    for (auto [i, name] : llvm::enumerate(prepared->inputNames))
      if (name != "cu_seqlens") {
        floatArgs.push_back(args[i]);
        expected.push_back((*gradients)[i]);
      }
    errors = gradientErrors(derived, expected, floatArgs);
  }
  if (llvm::Error e = checkOutDir(dir, outDir))
    return std::move(e);
  if (!outDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
      return caseError(outDir, "cannot create the output directory: " + ec.message());
  std::vector<GradientCheck> checks;
  for (const auto &[name, file] : *gradientFiles) {
    auto it = llvm::find(prepared->inputNames, name.str());
    std::optional<StringRef> fileName = file.getAsString();
    if (it == prepared->inputNames.end() || !fileName || name == "cu_seqlens")
      return caseError(dir, "gradients." + name.str() + " names no float input of model '" +
                                c->model + "'");
    size_t index = it - prepared->inputNames.begin();
    GradientCheck check;
    check.input = name.str();
    check.file = fileName->str();
    Array expected = (*gradients)[index];
    expected.dtype = DType::F64;
    if (target == Target::Reference) {
      check.gradient = std::move(expected);
    } else {
      // Float arguments before this one (cu_seqlens is the only other kind).
      size_t position = llvm::count_if(llvm::ArrayRef(prepared->inputNames).take_front(index),
                                       [](const std::string &n) { return n != "cu_seqlens"; });
      check.gradient = derived.at(position);
      check.compared = true;
      check.tolerance = gates.at(position) ? 10 * tolerance : tolerance;
      check.error = hasNonFinite(check.gradient) ? INFINITY : errors.at(position);
    }
    if (!outDir.empty()) {
      Expected<std::string> path = outputFile(outDir, check.file, "gradients." + check.input);
      if (!path)
        return path.takeError();
      if (llvm::Error e = writeNpy(*path, check.gradient))
        return std::move(e);
    }
    checks.push_back(std::move(check));
  }
  return checks;
}

} // namespace linrec
