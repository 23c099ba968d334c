//===- LinrecModule.cpp - the Python extension of linrec ------------------===//
//
// `_linrec`: run any model of the conformance format by name with its parameters (a JSON
// object, the same vocabulary as spec.json) on named arrays, and run case directories. Arrays
// come in as NumPy arrays or any DLPack tensor on the CPU (PyTorch CPU tensors included) and
// are converted to float64 host arrays for the runtime; outputs come back as new NumPy arrays
// (float32 from the CPU kernels, float64 from the reference).
//
//===----------------------------------------------------------------------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/Builder/ModelInfo.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Runtime/Backward.h"
#include "linrec/Runtime/Executable.h"
#include "linrec/Runtime/InputChecks.h"
#include "linrec/Runtime/CompiledLayer.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/SequenceParallel.h"
#include "linrec/Runtime/Tuner.h"
#include "linrec/Runtime/TuningDatabase.h"
#include "linrec/Version.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>

namespace nb = nanobind;
using namespace linrec;

namespace {

/// A model built for one set of input names, dtypes and shapes, and how it runs on the CPU:
/// compiled (`executable`, on the callers' buffers), or, when it does not compile, op by op
/// through float64 host arrays.
struct PreparedLayer {
  PreparedModel model;
  std::optional<Executable> executable;
  std::vector<std::vector<int64_t>> resultShapes;
};

/// The backward linrec derives for a prepared layer, compiled on first use.
struct PreparedBackward {
  mlir::OwningOpRef<mlir::ModuleOp> module; // holds @layer_backward
  std::optional<Executable> executable;     // on the CPU
  std::vector<std::vector<int64_t>> resultShapes;
  std::vector<std::string> gradientNames; // the float inputs, in order
};

/// One MLIR context and kernel cache per process. Deliberately never destroyed: JIT-compiled
/// kernels must not be torn down after LLVM's static state during interpreter shutdown.
struct Session {
  mlir::MLIRContext context;
  KernelCompiler compiler;
  std::mutex mutex; // the context is used by one call at a time
  std::map<std::string, std::shared_ptr<const PreparedLayer>> layers;
  std::map<std::string, std::shared_ptr<const PreparedBackward>> backwards;
  std::map<std::string, std::vector<std::pair<std::string, std::vector<int64_t>>>> outputShapes;
  Session() {
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    linrec::loadLinrecDialects(context);
  }
};

Session &session() {
  static Session *instance = new Session();
  return *instance;
}

using CpuArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
using OutArray = nb::ndarray<float, nb::c_contig, nb::device::cpu>;

/// A float64 host copy of an input whose dtype and shape `info` holds (from dtypeOf).
Array toArray(const CpuArray &in, const TensorInfo &info) {
  Array out(info.dtype, info.shape);
  auto fill = [&](auto *data) {
    for (size_t i = 0; i < in.size(); ++i)
      out.data[i] = static_cast<double>(data[i]);
  };
  switch (info.dtype) {
  case DType::F64:
    fill(static_cast<const double *>(in.data()));
    break;
  case DType::I32:
    fill(static_cast<const int32_t *>(in.data()));
    break;
  case DType::I64:
    fill(static_cast<const int64_t *>(in.data()));
    break;
  default:
    fill(static_cast<const float *>(in.data()));
  }
  return out;
}

nb::object toNumpy(const Array &array, bool asDouble) {
  size_t n = array.data.size();
  std::vector<size_t> shape(array.shape.begin(), array.shape.end());
  auto make = [&](auto tag) -> nb::object {
    using T = decltype(tag);
    T *data = new T[n];
    for (size_t i = 0; i < n; ++i)
      data[i] = static_cast<T>(array.data[i]);
    nb::capsule owner(data, [](void *p) noexcept { delete[] static_cast<T *>(p); });
    return nb::cast(nb::ndarray<nb::numpy, T>(data, shape.size(), shape.data(), owner));
  };
  if (array.dtype == DType::I32 || array.dtype == DType::I64)
    return make(int64_t());
  return asDouble ? make(double()) : make(float());
}

Target targetNamed(const std::string &name) {
  std::optional<Target> target = parseTarget(name);
  if (!target)
    throw nb::value_error(("unknown target '" + name + "' (reference, cpu, gpu-schedule, cuda)").c_str());
  return *target;
}

DType dtypeOf(const std::string &name, const CpuArray &in) {
  nb::dlpack::dtype t = in.dtype();
  if (t == nb::dtype<float>())
    return DType::F32;
  if (t == nb::dtype<double>())
    return DType::F64;
  if (t == nb::dtype<int32_t>())
    return DType::I32;
  if (t == nb::dtype<int64_t>())
    return DType::I64;
  throw nb::type_error(("input '" + name +
                        "': linrec takes float32, float64, int32 or int64 arrays")
                           .c_str());
}

/// What a prepared layer is cached by: every schedule option (threads too: heads per work
/// item, fused norms) and the inputs' dtypes and shapes.
std::string layerKey(const std::string &model, const std::string &paramsJson, Target target,
                     const KernelOptions &options,
                     const std::map<std::string, TensorInfo> &infos) {
  std::string key = model + "|" + paramsJson + "|" + targetName(target).str() + "|" +
                    options.str();
  for (const auto &[name, info] : infos)
    key += "|" + name + ":" + dtypeName(info.dtype) + info.shapeString();
  return key;
}

/// The layer for these inputs, built (and compiled when it is one recurrence) on first use.
std::shared_ptr<const PreparedLayer>
prepareLayer(Session &s, const std::string &model, const std::string &paramsJson,
             const llvm::json::Object &params, const std::map<std::string, TensorInfo> &infos,
             Target target, const KernelOptions &options) {
  std::string key = layerKey(model, paramsJson, target, options, infos);
  if (auto it = s.layers.find(key); it != s.layers.end())
    return it->second;
  llvm::Expected<PreparedModel> prepared = prepareModel(s.context, model, params, infos, target);
  if (!prepared)
    throw nb::value_error(llvm::toString(prepared.takeError()).c_str());
  auto layer = std::make_shared<PreparedLayer>();
  layer->model = std::move(*prepared);
  auto func = layer->model.module->lookupSymbol<mlir::func::FuncOp>("layer");
  for (mlir::Type type : func.getResultTypes()) {
    auto shape = mlir::cast<mlir::RankedTensorType>(type).getShape();
    layer->resultShapes.emplace_back(shape.begin(), shape.end());
  }
  if (target == Target::CPU) {
    auto executable = compileFunction(s.compiler, *layer->model.module, "layer", options);
    if (executable)
      layer->executable = *executable;
    else if (getenv("LINREC_EXPLAIN")) // why the layer runs op by op
      llvm::errs() << "linrec: " << model << " runs op by op: "
                   << llvm::toString(executable.takeError()) << "\n";
    else
      llvm::consumeError(executable.takeError()); // the op-by-op path reports real errors
  }
  s.layers[key] = layer;
  return layer;
}

llvm::json::Value parseParams(const std::string &paramsJson) {
  llvm::Expected<llvm::json::Value> params = llvm::json::parse(paramsJson);
  if (!params || !params->getAsObject())
    throw nb::value_error(("params must be a JSON object: " +
                           (params ? std::string("got another value")
                                   : llvm::toString(params.takeError())))
                              .c_str());
  return std::move(*params);
}

/// The arrays of a dict of named CPU arrays (`what`: "input" or "cotangent", for errors).
void collectArrays(nb::dict arrays, const char *what, std::map<std::string, CpuArray> &tensors,
                   std::map<std::string, TensorInfo> &infos) {
  for (auto [key, value] : arrays) {
    std::string name = nb::cast<std::string>(key);
    CpuArray tensor;
    if (!nb::try_cast(value, tensor))
      throw nb::type_error((std::string(what) + " '" + name +
                            "' must be a C-contiguous CPU array (NumPy, or a DLPack tensor)")
                               .c_str());
    TensorInfo info{dtypeOf(name, tensor), {}};
    for (size_t d = 0; d < tensor.ndim(); ++d)
      info.shape.push_back(tensor.shape(d));
    infos[name] = info;
    tensors[name] = tensor;
  }
}

/// The schedule: the options of the target's pipeline (the CPU's for the reference).
KernelOptions optionsFor(Target target, const std::string &schedule) {
  KernelOptions options;
  options.target = target == Target::Reference ? Target::CPU : target;
  if (llvm::Error e = options.parseSchedule(schedule))
    throw nb::value_error(llvm::toString(std::move(e)).c_str());
  options.target = target;
  return options;
}

/// The derived backward of `layer` (a compiled target), derived and compiled on first use.
std::shared_ptr<const PreparedBackward> prepareBackward(Session &s, const std::string &key,
                                                        const PreparedLayer &layer,
                                                        Target target,
                                                        const KernelOptions &options) {
  if (auto it = s.backwards.find(key); it != s.backwards.end())
    return it->second;
  llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>> module =
      deriveBackward(*layer.model.module, "layer", target);
  if (!module)
    throw nb::value_error(llvm::toString(module.takeError()).c_str());
  auto backward = std::make_shared<PreparedBackward>();
  backward->module = std::move(*module);
  auto func = backward->module->lookupSymbol<mlir::func::FuncOp>("layer_backward");
  for (mlir::Type type : func.getResultTypes()) {
    auto shape = mlir::cast<mlir::RankedTensorType>(type).getShape();
    backward->resultShapes.emplace_back(shape.begin(), shape.end());
  }
  auto layerFunc = mlir::ModuleOp(*layer.model.module).lookupSymbol<mlir::func::FuncOp>("layer");
  for (auto [name, type] : llvm::zip(layer.model.inputNames, layerFunc.getArgumentTypes()))
    if (mlir::isa<mlir::FloatType>(mlir::cast<mlir::RankedTensorType>(type).getElementType()))
      backward->gradientNames.push_back(name);
  if (target == Target::CPU) {
    auto executable = compileFunction(s.compiler, *backward->module, "layer_backward", options);
    if (!executable)
      throw nb::value_error(llvm::toString(executable.takeError()).c_str());
    backward->executable = *executable;
  }
  s.backwards[key] = backward;
  return backward;
}

/// New float32 NumPy arrays of `shapes`, and views of them for a kernel to write.
std::vector<nb::object> newResultArrays(const std::vector<std::vector<int64_t>> &shapes,
                                        std::vector<BufferView> &views) {
  std::vector<nb::object> arrays;
  for (const std::vector<int64_t> &shape : shapes) {
    int64_t n = Array::numElementsOf(shape);
    float *data = new float[n];
    nb::capsule owner(data, [](void *p) noexcept { delete[] static_cast<float *>(p); });
    std::vector<size_t> dims(shape.begin(), shape.end());
    arrays.push_back(nb::cast(nb::ndarray<nb::numpy, float>(data, dims.size(), dims.data(), owner)));
    views.push_back(BufferView{data, DType::F32, shape});
  }
  return arrays;
}

/// Views of the caller's float32 arrays `out` (by name, one per entry of `names` with the
/// matching shape), for a kernel to write in place: PyTorch-allocated outputs.
std::vector<BufferView> callerResultViews(nb::dict out, const std::vector<std::string> &names,
                                          const std::vector<std::vector<int64_t>> &shapes,
                                          const char *what) {
  std::vector<BufferView> views;
  for (auto [name, shape] : llvm::zip(names, shapes)) {
    if (!out.contains(name.c_str()))
      throw nb::value_error(("out: no array for " + std::string(what) + " '" + name + "'").c_str());
    OutArray array;
    if (!nb::try_cast(out[name.c_str()], array))
      throw nb::type_error(("out['" + name +
                            "'] must be a writable C-contiguous float32 CPU array")
                               .c_str());
    std::vector<int64_t> got;
    for (size_t d = 0; d < array.ndim(); ++d)
      got.push_back(array.shape(d));
    if (got != shape)
      throw nb::value_error(("out['" + name + "'] must have shape " +
                             TensorInfo{DType::F32, shape}.shapeString() + ", got " +
                             TensorInfo{DType::F32, got}.shapeString())
                                .c_str());
    views.push_back(BufferView{array.data(), DType::F32, shape});
  }
  for (auto [key, value] : out)
    if (!llvm::is_contained(names, nb::cast<std::string>(key)))
      throw nb::value_error(("out: '" + nb::cast<std::string>(key) + "' is not a " + what +
                             " of this layer")
                                .c_str());
  return views;
}

/// A result computed op by op, as Python gets it: copied into the caller's array #i of
/// `callerOut` when there is one (float32, same shape), a new NumPy array otherwise (float64
/// from the reference).
nb::object resultObject(const Array &result, const std::string &name,
                        const std::optional<nb::dict> &callerOut,
                        const std::vector<BufferView> &callerViews, size_t i, Target target) {
  if (!callerOut)
    return toNumpy(result, target == Target::Reference);
  float *data = static_cast<float *>(callerViews[i].data);
  for (size_t j = 0; j < result.data.size(); ++j)
    data[j] = static_cast<float>(result.data[j]);
  return (*callerOut)[name.c_str()];
}

nb::dict runModelFromPython(const std::string &model, const std::string &paramsJson,
                            nb::dict inputs, const std::string &targetText,
                            const std::string &schedule, std::optional<nb::dict> callerOut,
                            bool check) {
  Target target = targetNamed(targetText);
  llvm::json::Value params = parseParams(paramsJson);
  std::map<std::string, CpuArray> tensors;
  std::map<std::string, TensorInfo> infos;
  collectArrays(inputs, "input", tensors, infos);
  KernelOptions options = optionsFor(target, schedule);
  options.checkInputValues = check;
  unsigned threads = unsigned(options.cpu.threads);
  Session &s = session();
  std::shared_ptr<const PreparedLayer> layer;
  {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    layer = prepareLayer(s, model, paramsJson, *params.getAsObject(), infos, target, options);
  }

  std::vector<BufferView> callerViews;
  if (callerOut)
    callerViews = callerResultViews(*callerOut, layer->model.outputNames, layer->resultShapes,
                                    "output");
  nb::dict out;
  if (layer->executable) {
    // The kernel reads the callers' buffers and writes new NumPy arrays (or the caller's
    // `out` arrays) in place.
    std::vector<BufferView> args, results;
    std::vector<ValueCheck> domains;
    for (const std::string &name : layer->model.inputNames) {
      const CpuArray &tensor = tensors.at(name);
      args.push_back(BufferView{const_cast<void *>(tensor.data()), infos.at(name).dtype,
                                infos.at(name).shape});
      domains.push_back(inputDomain(model, name, infos.at(name).dtype));
    }
    std::vector<nb::object> arrays;
    if (callerOut) {
      results = callerViews;
      for (const std::string &name : layer->model.outputNames)
        arrays.push_back((*callerOut)[name.c_str()]);
    } else {
      arrays = newResultArrays(layer->resultShapes, results);
    }
    llvm::Error error = llvm::Error::success();
    {
      nb::gil_scoped_release release;
      error = check ? layer->executable->runChecked(args, results, threads,
                                                    layer->model.inputNames, domains)
                    : layer->executable->run(args, results, threads);
    }
    if (error)
      throw nb::value_error((model + ": " + llvm::toString(std::move(error))).c_str());
    for (auto [name, array] : llvm::zip(layer->model.outputNames, arrays))
      out[name.c_str()] = array;
    return out;
  }

  std::map<std::string, Array> arrays;
  for (const auto &[name, tensor] : tensors)
    arrays[name] = toArray(tensor, infos.at(name));
  llvm::Expected<std::vector<Array>> results = [&] {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    std::vector<Array> args;
    for (const std::string &name : layer->model.inputNames)
      args.push_back(arrays.at(name));
    return runFunction(*layer->model.module, "layer", args, target, s.compiler, options);
  }();
  if (!results)
    throw nb::value_error((model + ": " + llvm::toString(results.takeError())).c_str());
  for (auto [i, name, array] : llvm::enumerate(layer->model.outputNames, *results))
    out[name.c_str()] = resultObject(array, name, callerOut, callerViews, i, target);
  return out;
}

/// The collectives of a sequence-parallel run from Python callables (linrec.distributed
/// passes torch.distributed's): all_gather(bytes) -> bytes of every rank's block in rank
/// order, gather_to_root(bytes) -> list of bytes on rank 0 (None elsewhere). Called with the
/// GIL taken again; a Python exception becomes the run's error.
FunctionGroup pythonGroup(nb::callable allGather, nb::callable gatherToRoot, int rank,
                          int size) {
  auto gathered = [allGather, size](llvm::ArrayRef<char> local,
                                    std::vector<char> &all) -> llvm::Error {
    nb::gil_scoped_acquire gil;
    try {
      nb::bytes result = nb::cast<nb::bytes>(allGather(nb::bytes(local.data(), local.size())));
      if (result.size() != local.size() * size)
        return llvm::createStringError("all_gather returned " + std::to_string(result.size()) +
                                       " bytes, not " + std::to_string(local.size() * size));
      all.assign(result.c_str(), result.c_str() + result.size());
    } catch (const std::exception &e) {
      return llvm::createStringError(std::string("all_gather: ") + e.what());
    }
    return llvm::Error::success();
  };
  auto toRoot = [gatherToRoot, rank](llvm::ArrayRef<char> local,
                                     std::vector<std::vector<char>> &all) -> llvm::Error {
    nb::gil_scoped_acquire gil;
    try {
      nb::object result = gatherToRoot(nb::bytes(local.data(), local.size()));
      all.clear();
      if (rank == 0)
        for (nb::handle block : nb::cast<nb::list>(result)) {
          nb::bytes b = nb::cast<nb::bytes>(block);
          all.emplace_back(b.c_str(), b.c_str() + b.size());
        }
    } catch (const std::exception &e) {
      return llvm::createStringError(std::string("gather_to_root: ") + e.what());
    }
    return llvm::Error::success();
  };
  return FunctionGroup(rank, size, gathered, toRoot);
}

nb::tuple runSequenceParallelFromPython(const std::string &model, const std::string &paramsJson,
                                        nb::dict inputs, nb::callable allGather,
                                        nb::callable gatherToRoot, int rank, int size,
                                        const std::string &targetText,
                                        const std::string &schedule, bool gather, bool check) {
  Target target = targetNamed(targetText);
  llvm::json::Value params = parseParams(paramsJson);
  std::map<std::string, CpuArray> tensors;
  std::map<std::string, TensorInfo> infos;
  collectArrays(inputs, "input", tensors, infos);
  KernelOptions options = optionsFor(target, schedule);
  options.checkInputValues = check;
  std::map<std::string, Array> arrays;
  for (const auto &[name, tensor] : tensors)
    arrays[name] = toArray(tensor, infos.at(name));
  FunctionGroup group = pythonGroup(std::move(allGather), std::move(gatherToRoot), rank, size);
  SequenceParallelStats stats;
  Session &s = session();
  llvm::Expected<std::vector<std::pair<std::string, Array>>> results = [&] {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    return runModelSequenceParallel(s.context, model, *params.getAsObject(), arrays, group,
                                    target, s.compiler, options, &stats,
                                    gather ? OutputPlacement::Rank0 : OutputPlacement::Local);
  }();
  if (!results)
    throw nb::value_error(llvm::toString(results.takeError()).c_str());
  nb::dict out;
  for (const auto &[name, array] : *results)
    out[name.c_str()] = toNumpy(array, target == Target::Reference);
  nb::dict times;
  times["compile"] = stats.compile;
  times["summary"] = stats.summary;
  times["communication"] = stats.communication;
  times["combine"] = stats.combine;
  times["resume"] = stats.resume;
  times["gather"] = stats.gather;
  times["summary_bytes"] = stats.summaryBytes;
  times["halo_bytes"] = stats.haloBytes;
  return nb::make_tuple(out, times);
}

nb::dict runModelBackwardFromPython(const std::string &model, const std::string &paramsJson,
                                    nb::dict inputs, nb::dict cotangents,
                                    const std::string &targetText, const std::string &schedule,
                                    std::optional<nb::dict> callerOut, bool check) {
  Target target = targetNamed(targetText);
  llvm::json::Value params = parseParams(paramsJson);
  std::map<std::string, CpuArray> inputTensors, cotangentTensors;
  std::map<std::string, TensorInfo> inputInfos, cotangentInfos;
  collectArrays(inputs, "input", inputTensors, inputInfos);
  collectArrays(cotangents, "cotangent", cotangentTensors, cotangentInfos);
  KernelOptions options = optionsFor(target, schedule);
  options.checkInputValues = check;
  Session &s = session();
  if (target != Target::Reference) {
    std::shared_ptr<const PreparedLayer> layer;
    std::shared_ptr<const PreparedBackward> backward;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(s.mutex);
      layer = prepareLayer(s, model, paramsJson, *params.getAsObject(), inputInfos, target,
                           options);
      backward = prepareBackward(s, layerKey(model, paramsJson, target, options, inputInfos),
                                 *layer, target, options);
    }
    for (const auto &[name, info] : cotangentInfos)
      if (!llvm::is_contained(layer->model.outputNames, name))
        throw nb::value_error(("cotangent for '" + name + "', which is not an output of '" +
                               model + "'").c_str());
    if (backward->executable) {
      // The inputs, then one cotangent per output (zeros where none is given), in place.
      std::vector<BufferView> args, results;
      // Cotangents are not checked: a NaN there rightly gives NaN gradients.
      std::vector<std::string> names = layer->model.inputNames;
      std::vector<ValueCheck> domains;
      for (const std::string &name : layer->model.inputNames) {
        args.push_back(BufferView{const_cast<void *>(inputTensors.at(name).data()),
                                  inputInfos.at(name).dtype, inputInfos.at(name).shape});
        domains.push_back(inputDomain(model, name, inputInfos.at(name).dtype));
      }
      std::deque<std::vector<float>> zeros;
      for (auto [name, shape] : llvm::zip(layer->model.outputNames, layer->resultShapes)) {
        auto it = cotangentTensors.find(name);
        if (it == cotangentTensors.end()) {
          zeros.emplace_back(Array::numElementsOf(shape), 0.0f);
          args.push_back(BufferView{zeros.back().data(), DType::F32, shape});
          names.push_back("d" + name);
          domains.push_back(ValueCheck::None);
          continue;
        }
        const TensorInfo &info = cotangentInfos.at(name);
        if (info.shape != shape || info.dtype != DType::F32)
          throw nb::value_error(("cotangent of '" + name + "' must be float32 " +
                                 TensorInfo{DType::F32, shape}.shapeString() + ", got " +
                                 dtypeName(info.dtype) + info.shapeString())
                                    .c_str());
        args.push_back(BufferView{const_cast<void *>(it->second.data()), DType::F32, shape});
        names.push_back("d" + name);
        domains.push_back(ValueCheck::None);
      }
      std::vector<nb::object> arrays;
      if (callerOut) {
        results = callerResultViews(*callerOut, backward->gradientNames, backward->resultShapes,
                                    "gradient");
        for (const std::string &name : backward->gradientNames)
          arrays.push_back((*callerOut)[name.c_str()]);
      } else {
        arrays = newResultArrays(backward->resultShapes, results);
      }
      llvm::Error error = llvm::Error::success();
      {
        nb::gil_scoped_release release;
        error = check ? backward->executable->runChecked(args, results,
                                                         unsigned(options.cpu.threads), names,
                                                         domains)
                      : backward->executable->run(args, results, unsigned(options.cpu.threads));
      }
      if (error)
        throw nb::value_error((model + ": " + llvm::toString(std::move(error))).c_str());
      nb::dict out;
      for (auto [name, array] : llvm::zip(backward->gradientNames, arrays))
        out[name.c_str()] = array;
      return out;
    }
  }
  std::map<std::string, Array> inputArrays, cotangentArrays;
  for (const auto &[name, tensor] : inputTensors)
    inputArrays[name] = toArray(tensor, inputInfos.at(name));
  for (const auto &[name, tensor] : cotangentTensors)
    cotangentArrays[name] = toArray(tensor, cotangentInfos.at(name));
  llvm::Expected<std::vector<std::pair<std::string, Array>>> gradients = [&] {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    return runModelBackward(s.context, model, *params.getAsObject(), inputArrays,
                            cotangentArrays, target, s.compiler, options);
  }();
  if (!gradients)
    throw nb::value_error(llvm::toString(gradients.takeError()).c_str());
  nb::dict out;
  std::vector<BufferView> callerViews;
  if (callerOut) {
    std::vector<std::string> names;
    std::vector<std::vector<int64_t>> shapes;
    for (const auto &[name, gradient] : *gradients) {
      names.push_back(name);
      shapes.push_back(gradient.shape);
    }
    callerViews = callerResultViews(*callerOut, names, shapes, "gradient");
  }
  for (auto [i, entry] : llvm::enumerate(*gradients))
    out[entry.first.c_str()] =
        resultObject(entry.second, entry.first, callerOut, callerViews, i, target);
  return out;
}

/// The outputs' names and shapes of `model` for inputs of these dtypes ("float32", "int32",
/// ...) and shapes, from the layer it builds (nothing compiled, nothing run): what PyTorch's
/// fake (meta) implementations return.
std::vector<std::pair<std::string, std::vector<int64_t>>>
outputShapesFromPython(const std::string &model, const std::string &paramsJson,
                       const std::map<std::string, std::pair<std::string, std::vector<int64_t>>>
                           &inputs) {
  llvm::json::Value params = parseParams(paramsJson);
  std::map<std::string, TensorInfo> infos;
  for (const auto &[name, entry] : inputs) {
    std::optional<DType> dtype;
    for (DType d : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I32, DType::I64})
      if (entry.first == dtypeName(d))
        dtype = d;
    if (!dtype)
      throw nb::type_error(("input '" + name + "': unknown dtype '" + entry.first + "'").c_str());
    infos[name] = TensorInfo{*dtype, entry.second};
  }
  Session &s = session();
  nb::gil_scoped_release release;
  std::lock_guard<std::mutex> lock(s.mutex);
  std::string key = layerKey(model, paramsJson, Target::Reference, KernelOptions(), infos);
  auto it = s.outputShapes.find(key);
  if (it == s.outputShapes.end()) {
    llvm::Expected<PreparedModel> prepared =
        prepareModel(s.context, model, *params.getAsObject(), infos, Target::Reference);
    if (!prepared) {
      nb::gil_scoped_acquire acquire;
      throw nb::value_error(llvm::toString(prepared.takeError()).c_str());
    }
    auto func = prepared->module->lookupSymbol<mlir::func::FuncOp>("layer");
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    for (auto [name, type] : llvm::zip(prepared->outputNames, func.getResultTypes())) {
      auto shape = mlir::cast<mlir::RankedTensorType>(type).getShape();
      shapes.emplace_back(name, std::vector<int64_t>(shape.begin(), shape.end()));
    }
    it = s.outputShapes.emplace(key, std::move(shapes)).first;
  }
  return it->second;
}

/// `linrec.model_info(name)`: the model's parameters and tensors (ModelInfo.h) as dicts.
nb::dict modelInfoFromPython(const std::string &model) {
  const ModelInfo *info = modelInfo(model);
  if (!info)
    throw nb::value_error(("unknown model '" + model + "'; linrec knows: " +
                           llvm::join(layerKindNames(), ", "))
                              .c_str());
  nb::list parameters, inputs, outputs;
  for (const ParameterInfo &p : info->parameters) {
    nb::dict d;
    d["name"] = p.name;
    d["kind"] = p.kind;
    d["meaning"] = p.meaning;
    d["default"] = p.moduleDefault.empty() ? nb::none() : nb::cast(p.moduleDefault);
    d["choices"] = p.choices;
    parameters.append(d);
  }
  auto tensors = [](const std::vector<TensorDescription> &list, nb::list &out) {
    for (const TensorDescription &t : list) {
      nb::dict d;
      d["name"] = t.name;
      d["shape"] = t.shape;
      d["dtype"] = t.dtype;
      d["meaning"] = t.meaning;
      d["optional"] = t.optional;
      out.append(d);
    }
  };
  tensors(info->inputs, inputs);
  tensors(info->outputs, outputs);
  nb::dict out;
  out["name"] = info->name;
  out["summary"] = info->summary;
  out["parameters"] = parameters;
  out["inputs"] = inputs;
  out["outputs"] = outputs;
  return out;
}

nb::dict scheduleOptionsFromPython(const std::string &targetText) {
  KernelOptions options;
  options.target = targetNamed(targetText);
  if (options.target == Target::Reference)
    options.target = Target::CPU;
  llvm::StringMap<std::string> defaults = scheduleOptionValues(
      usesGpuSchedule(options.target) ? options.gpu.str() : options.cpu.str());
  nb::dict out;
  auto add = [&](const llvm::cl::Option &option) {
    out[option.ArgStr.str().c_str()] =
        nb::make_tuple(defaults.lookup(option.ArgStr), option.HelpStr.str());
  };
  if (usesGpuSchedule(options.target))
    options.gpu.forEachOption(add);
  else
    options.cpu.forEachOption(add);
  return out;
}

nb::dict runCaseFromPython(const std::string &dir, const std::string &targetName) {
  Target target = targetNamed(targetName);
  Session &s = session();
  llvm::Expected<CaseReport> report = [&] {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(s.mutex);
    return runConformanceCase(s.context, dir, target, "", s.compiler, KernelOptions());
  }();
  if (!report)
    throw nb::value_error(llvm::toString(report.takeError()).c_str());
  nb::dict errors;
  for (const OutputCheck &o : report->outputs)
    errors[o.name.c_str()] = o.compared ? nb::cast(o.error) : nb::none();
  nb::dict out;
  out["model"] = report->model;
  out["passed"] = report->passed();
  out["errors"] = errors;
  return out;
}

/// linrec.tune: linrec-tune's search for one shape, in a compiler and context of its own
/// (the session's compiler takes tuned schedules; the search must compile exactly what it
/// asks for). Saves the winner in `db` (empty: nothing saved).
nb::dict tuneFromPython(const std::string &model, const std::string &paramsJson,
                        const std::map<std::string, int64_t> &dims, const std::string &targetText,
                        const std::string &schedule, double budget, int64_t maxCandidates,
                        double minSeconds, const std::string &db) {
  KernelOptions base = optionsFor(targetNamed(targetText), schedule);
  llvm::Expected<llvm::json::Value> params = llvm::json::parse(paramsJson);
  if (!params || !params->getAsObject())
    throw nb::value_error("params must be a JSON object");
  TuneRequest request;
  request.base = base;
  request.budgetSeconds = budget;
  request.maxCandidates = maxCandidates;
  request.minSeconds = minSeconds;
  llvm::Expected<TuneResult> result = [&]() -> llvm::Expected<TuneResult> {
    nb::gil_scoped_release release;
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    mlir::MLIRContext context(registry);
    loadLinrecDialects(context);
    KernelCompiler compiler;
    compiler.setTuningDatabase("");
    auto tuned = tuneModel(context, compiler, model, *params->getAsObject(), dims,
                           std::move(request));
    if (!tuned || db.empty() || tuned->entries.empty())
      return tuned;
    TuningDatabase found;
    for (const TuningEntry &entry : tuned->entries)
      found.record(entry);
    if (llvm::Error e = found.save(db))
      return std::move(e);
    return tuned;
  }();
  if (!result)
    throw nb::value_error(llvm::toString(result.takeError()).c_str());
  nb::list candidates;
  for (const TuneCandidate &c : result->candidates) {
    nb::dict candidate;
    candidate["schedule"] = c.schedule;
    candidate["ms"] = c.seconds * 1e3;
    candidate["spread"] = c.spread;
    candidate["error"] = c.error;
    candidate["outcome"] = c.outcome;
    candidate["resources"] = c.resources;
    candidates.append(candidate);
  }
  nb::dict out;
  out["shape"] = describeDims(completeDims(dims));
  out["default_ms"] = result->defaultSeconds * 1e3;
  out["tuned_ms"] = result->bestSeconds * 1e3;
  out["schedule"] = result->bestSchedule;
  out["timed"] = result->timed;
  out["candidates"] = candidates;
  return out;
}

} // namespace

NB_MODULE(_linrec, m) {
  m.doc() = "linrec: compiled linear-attention recurrences (the extension module)";
  m.attr("__version__") = LINREC_VERSION;
  m.def("models", [] { return layerKindNames(); },
        "The model names linrec builds (the conformance format's vocabulary).");
  m.def("run_model", &runModelFromPython, nb::arg("model"), nb::arg("params_json"),
        nb::arg("inputs"), nb::arg("target") = "cpu", nb::arg("schedule") = "",
        nb::arg("out") = nb::none(), nb::arg("check") = true,
        "Runs a model on named arrays; returns its outputs by name (new NumPy arrays, or the "
        "writable float32 arrays of `out`, by output name, written in place).");
  m.def("run_model_backward", &runModelBackwardFromPython, nb::arg("model"),
        nb::arg("params_json"), nb::arg("inputs"), nb::arg("cotangents"),
        nb::arg("target") = "cpu", nb::arg("schedule") = "", nb::arg("out") = nb::none(),
        nb::arg("check") = true,
        "The gradients of L = Σ ⟨cotangent, output⟩ for every float input, by name (new "
        "NumPy arrays, or the writable float32 arrays of `out`, written in place).");
  m.def("run_sequence_parallel", &runSequenceParallelFromPython, nb::arg("model"),
        nb::arg("params_json"), nb::arg("inputs"), nb::arg("all_gather"),
        nb::arg("gather_to_root"), nb::arg("rank"), nb::arg("size"), nb::arg("target") = "cpu",
        nb::arg("schedule") = "", nb::arg("gather") = false, nb::arg("check") = true,
        "The sequence-parallel forward of this rank's part of the tokens, its collectives "
        "from the callables; returns (outputs by name, the phases' seconds and bytes sent).");
  m.def("model_info", &modelInfoFromPython, nb::arg("model"),
        "A model's parameters (name, kind, meaning, default of linrec.nn, choices) and its "
        "input and output tensors (name, shape, dtype, meaning, optional).");
  m.def("output_shapes", &outputShapesFromPython, nb::arg("model"), nb::arg("params_json"),
        nb::arg("inputs"),
        "The outputs' (name, shape) of a model for inputs given by name as (dtype, shape).");
  m.def("schedule_options", &scheduleOptionsFromPython, nb::arg("target") = "cpu",
        "The schedule options of a target's pipeline: name -> (default, help).");
  m.def("tune", &tuneFromPython, nb::arg("model"), nb::arg("params_json"), nb::arg("dims"),
        nb::arg("target") = "cpu", nb::arg("schedule") = "", nb::arg("budget") = 0.0,
        nb::arg("max_candidates") = 0, nb::arg("min_seconds") = 0.2, nb::arg("db") = "",
        "linrec-tune's search for one shape; saves the winner in `db` (empty: not saved).");
  m.def("tuning_db_path", &TuningDatabase::pathFromEnvironment,
        "The tuning database the environment names ('' when turned off).");
  m.def("run_case", &runCaseFromPython, nb::arg("case_dir"), nb::arg("target") = "cpu",
        "Runs a conformance case directory; returns model, passed and the error per output.");
}
