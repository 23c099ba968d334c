//===- linrec-tune.cpp - tune a layer's schedule into the tuning database -===//
//
//   linrec-tune --model=NAME --params=JSON --shape=B=1,T=4096,H=8,dk=128 [--shape=...]
//               [--target=cpu|cuda] [--threads=N] [--budget=SECONDS]
//               [--max-candidates=N] [--min-seconds=0.2] [--db=PATH] [--no-save] [--json]
//               [SCHEDULE FLAGS: options kept fixed, not searched]
//   linrec-tune FILE.mlir [--func=NAME] [the options above but --model, --params, --shape]
//   linrec-tune --import=FILE [--db=PATH]     merge an exported database into PATH
//   linrec-tune --export=FILE [--db=PATH]     write PATH's entries to FILE
//
// For each shape (or the function of an .mlir file, at its static shapes, on random inputs
// that suit each argument's role): builds the model's layer (the conformance format's names and parameters;
// every dimension of its required inputs given by --shape, dv = dk unless given), searches the
// target's schedule space (Tuner.h: pruned by a cost model, timed with warm-up, repeats and a
// noise check, each candidate checked against the float64 reference), and records the winner
// in the tuning database (TuningDatabase.h: $LINREC_TUNING_DB or ~/.cache/linrec/tuning.json),
// which later compiles of the same kernel on this machine take for the options they are not
// given. With --target=cuda every candidate is first assembled by ptxas (spills and shared
// memory prune it) and, where there is no CUDA device, checked on the CPU and not timed:
// nothing is saved then. Progress goes to stderr (one updating line on a terminal); a summary table (or JSON)
// to stdout. Every problem is a message and exit code 1.
//
//===----------------------------------------------------------------------===//

#include "linrec/Builder/LayerBuilder.h"
#include "linrec/Builder/ModelInfo.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/KernelSource.h"
#include "linrec/Runtime/Tuner.h"
#include "linrec/Runtime/TuningDatabase.h"
#include "linrec/Tools/ToolOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <unistd.h>

using namespace mlir;
using namespace linrec;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("linrec-tune options");

static cl::opt<std::string> model("model", cl::desc("the model to tune (linrec.models())"),
                                  cl::cat(toolCategory));
static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("[an .mlir file: tune its function instead]"),
                                      cl::init(""), cl::cat(toolCategory));
static cl::opt<std::string> funcName("func",
                                     cl::desc("the function of the .mlir file to tune (default: "
                                              "its only one)"),
                                     cl::init(""), cl::cat(toolCategory));
static cl::opt<std::string> params("params",
                                   cl::desc("the model's parameters, a JSON object (every one "
                                            "the model uses, as in a case's spec.json)"),
                                   cl::init("{}"), cl::cat(toolCategory));
static cl::list<std::string> shapes("shape",
                                    cl::desc("NAME=VALUE,... for the dimensions of the model's "
                                             "inputs (B, T, H, dk, dv, ...); repeatable"),
                                    cl::cat(toolCategory));
static cl::opt<std::string> targetFlag("target",
                                       cl::desc("cpu, or cuda (candidates assembled by ptxas; "
                                                "timed where there is a CUDA device)"),
                                       cl::init("cpu"), cl::cat(toolCategory));
static cl::opt<double> budget("budget",
                              cl::desc("seconds per shape after which no new candidate starts "
                                       "(0: no limit)"),
                              cl::init(0), cl::cat(toolCategory));
static cl::opt<int64_t> maxCandidates("max-candidates",
                                      cl::desc("candidates per shape at most (0: all)"),
                                      cl::init(0), cl::cat(toolCategory));
static cl::opt<double> minSeconds("min-seconds", cl::desc("time per measurement"),
                                  cl::init(0.2), cl::cat(toolCategory));
static cl::opt<std::string> databasePath("db",
                                         cl::desc("the tuning database (default: "
                                                  "$LINREC_TUNING_DB or "
                                                  "~/.cache/linrec/tuning.json)"),
                                         cl::init(""), cl::cat(toolCategory));
static cl::opt<bool> noSave("no-save", cl::desc("search and report; write nothing"),
                            cl::cat(toolCategory));
static cl::opt<bool> jsonOutput("json", cl::desc("print the results as JSON"),
                                cl::cat(toolCategory));
static cl::opt<std::string> importFile("import",
                                       cl::desc("merge this exported database into --db"),
                                       cl::init(""), cl::cat(toolCategory));
static cl::opt<std::string> exportFile("export", cl::desc("write --db's entries to this file"),
                                       cl::init(""), cl::cat(toolCategory));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "linrec-tune: " << message << "\n";
  return 1;
}

/// "B=1,T=4096,H=8,dk=128" as a map (completeDims: dv defaults to dk).
static llvm::Expected<std::map<std::string, int64_t>> parseShape(llvm::StringRef text) {
  std::map<std::string, int64_t> dims;
  llvm::SmallVector<llvm::StringRef> parts;
  text.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef part : parts) {
    auto [name, value] = part.split('=');
    int64_t n = 0;
    if (name.trim().empty() || value.trim().getAsInteger(10, n) || n < 1)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "--shape takes NAME=POSITIVE_INTEGER,...; got '" + part +
                                         "' in '" + text + "'");
    dims[name.trim().str()] = n;
  }
  return completeDims(std::move(dims));
}

/// Progress on stderr: one line rewritten in place on a terminal, a line per candidate else.
static void printProgress(const TuneProgress &p) {
  static const bool terminal = isatty(STDERR_FILENO);
  auto clock = [](double s) {
    return llvm::formatv("{0}:{1:2}", int64_t(s) / 60, int64_t(s) % 60).str();
  };
  std::string best = p.bestSeconds > 0
                         ? llvm::formatv("{0:F3} ms ({1})", p.bestSeconds * 1e3, p.bestSchedule)
                               .str()
                         : "none yet";
  std::string line =
      llvm::formatv("[{0}/{1}] best {2}; elapsed {3}, about {4} left", p.done, p.total, best,
                    clock(p.elapsedSeconds), clock(p.remainingSeconds))
          .str();
  if (terminal) {
    llvm::errs() << "\r\x1b[K" << line.substr(0, 160);
    if (p.done == p.total)
      llvm::errs() << "\n";
  } else {
    llvm::errs() << line << "; " << p.lastSchedule << ": " << p.lastOutcome << "\n";
  }
}

/// The .mlir file's module and the function to tune (--func, else its only one with a body).
static llvm::Expected<OwningOpRef<ModuleOp>> loadFunction(MLIRContext &context,
                                                          std::string &name) {
  auto error = [](const llvm::Twine &message) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
  };
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diagnostics += (diagnostics.empty() ? "" : "; ") + d.str();
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(inputFile, &context);
  if (!module)
    return error(inputFile + ": " + (diagnostics.empty() ? "cannot read it" : diagnostics));
  std::vector<std::string> names;
  module->walk([&](func::FuncOp f) {
    if (!f.isExternal())
      names.push_back(f.getName().str());
  });
  if (!funcName.empty()) {
    if (!llvm::is_contained(names, funcName.getValue()))
      return error(inputFile + " has no function @" + funcName + " with a body");
    name = funcName;
  } else if (names.size() == 1) {
    name = names.front();
  } else {
    return error(inputFile + " has " + llvm::Twine(names.size()) +
                 " functions: name one with --func (" + llvm::join(names, ", ") + ")");
  }
  return module;
}

/// A GPU search's candidates: what ptxas reported and what became of each.
static void printGpuCandidates(const TuneResult &result) {
  llvm::outs() << "\n| GPU candidate | ptxas | ms | outcome |\n|---|---|---|---|\n";
  for (const TuneCandidate &c : result.candidates) {
    if (c.outcome.rfind("skipped", 0) == 0)
      continue; // by the budget
    llvm::outs() << "| " << (c.schedule.empty() ? "(default)" : c.schedule) << " | "
                 << (c.resources.empty() ? "—" : c.resources) << " | "
                 << (c.seconds > 0 ? llvm::formatv("{0:F3}", c.seconds * 1e3).str() : "—")
                 << " | " << c.outcome << " |\n";
  }
  llvm::outs() << "\n";
}

static int importOrExport(const std::string &path) {
  if (!importFile.empty()) {
    auto imported = TuningDatabase::load(importFile);
    if (!imported)
      return fail(llvm::toString(imported.takeError()));
    if (llvm::Error e = imported->save(path))
      return fail(llvm::toString(std::move(e)));
    llvm::outs() << "imported " << imported->entries().size() << " entries into " << path
                 << "\n";
  }
  if (!exportFile.empty()) {
    auto database = TuningDatabase::load(path);
    if (!database)
      return fail(llvm::toString(database.takeError()));
    if (llvm::sys::fs::exists(exportFile.getValue()))
      return fail("--export: " + exportFile + " exists (the export never merges into or "
                                               "replaces a file)");
    if (llvm::Error e = database->save(exportFile))
      return fail(llvm::toString(std::move(e)));
    llvm::outs() << "exported " << database->entries().size() << " entries to " << exportFile
                 << "\n";
  }
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  ScheduleFlags scheduleFlags(toolCategory, /*withGpu=*/true);
  setUpToolOptions("linrec-tune", toolCategory);
  cl::ParseCommandLineOptions(argc, argv, "linrec-tune: tune a layer's schedule\n");

  std::string path = databasePath.empty() ? TuningDatabase::pathFromEnvironment() : databasePath;
  if (path.empty() && !noSave)
    return fail("no tuning database: give --db=PATH (LINREC_TUNING_DB turns the default off)");
  if (!importFile.empty() || !exportFile.empty())
    return importOrExport(path);

  std::optional<Target> target = parseTarget(targetFlag);
  if (!target || (*target != Target::CPU && *target != Target::CUDA))
    return fail("--target=" + targetFlag + ": linrec-tune searches the cpu and cuda targets");
  if (!inputFile.empty() && (!model.empty() || !shapes.empty()))
    return fail("an .mlir file is tuned at its own shapes: give it, or --model and --shape, not "
                "both");
  if (model.empty() && inputFile.empty())
    return fail("give --model=NAME (one of: " + llvm::join(layerKindNames(), ", ") +
                ") or an .mlir file");
  const ModelInfo *info = modelInfo(model);
  if (!info && inputFile.empty())
    return fail("unknown model '" + model + "' (one of: " + llvm::join(layerKindNames(), ", ") +
                ")");
  if (shapes.empty() && inputFile.empty())
    return fail("give at least one --shape=B=...,T=...,H=...,dk=...");
  llvm::Expected<llvm::json::Value> paramsJson = llvm::json::parse(params);
  if (!paramsJson || !paramsJson->getAsObject())
    return fail("--params must be a JSON object" +
                (paramsJson ? std::string() : ": " + llvm::toString(paramsJson.takeError())));

  KernelOptions base;
  base.target = *target;
  if (llvm::Error e = scheduleFlags.apply(base.schedule(), "--target=" + targetFlag))
    return fail(llvm::toString(std::move(e)));

  DialectRegistry registry;
  linrec::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  KernelCompiler compiler; // destroyed before InitLLVM shuts LLVM down
  compiler.setTuningDatabase(""); // the search compiles exactly what it asks for

  // The file's function, read before anything is printed.
  OwningOpRef<ModuleOp> file;
  std::string fileFunc;
  if (!inputFile.empty()) {
    auto loaded = loadFunction(context, fileFunc);
    if (!loaded)
      return fail(llvm::toString(loaded.takeError()));
    file = std::move(*loaded);
  }
  TuningDatabase found;
  llvm::json::Array jsonResults;
  std::string device = tuningDevice(base);
  if (device.empty())
    device = "no CUDA device";
  if (!jsonOutput)
    llvm::outs() << "| " << (!inputFile.empty() ? inputFile.getValue() : model.getValue())
                 << " (" << targetFlag << ", " << device
                 << ") | default ms | tuned ms | speed-up | schedule | timed / pruned |\n"
                 << "|---|---|---|---|---|---|\n";
  // One search per shape of the model, or one of the file's function.
  std::vector<std::string> jobs(shapes.begin(), shapes.end());
  if (file)
    jobs = {""};
  for (const std::string &shapeText : jobs) {
    TuneRequest request;
    request.base = base;
    request.budgetSeconds = budget;
    request.maxCandidates = maxCandidates;
    request.minSeconds = minSeconds;
    request.progress = printProgress;
    std::string label;
    llvm::Expected<TuneResult> result = TuneResult();
    if (file) {
      label = "@" + fileFunc;
      request.module = *file;
      request.funcName = fileFunc;
      request.description = (llvm::sys::path::filename(inputFile) + " @" + fileFunc).str();
      llvm::errs() << "linrec-tune: " << request.description << "\n";
      result = tuneOnRandomInputs(compiler, std::move(request));
    } else {
      auto dims = parseShape(shapeText);
      if (!dims)
        return fail(llvm::toString(dims.takeError()));
      label = describeDims(*dims);
      llvm::errs() << "linrec-tune: " << model << " " << label << "\n";
      result = tuneModel(context, compiler, model, *paramsJson->getAsObject(), *dims,
                         std::move(request));
    }
    if (!result)
      return fail(llvm::toString(result.takeError()));

    int64_t timed = llvm::count_if(result->candidates, [](const TuneCandidate &c) {
      return c.seconds > 0;
    });
    std::string schedule = result->bestSchedule.empty() ? "(default)" : result->bestSchedule;
    if (!result->timed)
      schedule = "(not timed: no CUDA device)";
    if (!jsonOutput && !result->timed)
      llvm::outs() << llvm::formatv("| {0} | — | — | — | {1} | 0 / {2} |\n", label,
                                    schedule, result->pruned);
    else if (!jsonOutput)
      llvm::outs() << llvm::formatv("| {0} | {1:F3} | {2:F3} | {3:F2}x | {4} | {5} / {6} |\n",
                                    label, result->defaultSeconds * 1e3,
                                    result->bestSeconds * 1e3,
                                    result->defaultSeconds / result->bestSeconds, schedule, timed,
                                    result->pruned);
    if (*target == Target::CUDA && !jsonOutput)
      printGpuCandidates(*result);
    llvm::json::Array candidates;
    for (const TuneCandidate &c : result->candidates)
      candidates.push_back(llvm::json::Object{{"schedule", c.schedule},
                                              {"ms", c.seconds * 1e3},
                                              {"spread", c.spread},
                                              {"error", c.error},
                                              {"outcome", c.outcome},
                                              {"resources", c.resources}});
    jsonResults.push_back(llvm::json::Object{{"shape", label},
                                             {"default_ms", result->defaultSeconds * 1e3},
                                             {"tuned_ms", result->bestSeconds * 1e3},
                                             {"schedule", result->bestSchedule},
                                             {"timed", result->timed},
                                             {"candidates", std::move(candidates)}});
    for (TuningEntry &entry : result->entries)
      found.record(std::move(entry));
  }
  if (jsonOutput)
    llvm::outs() << llvm::formatv(
        "{0:2}\n", llvm::json::Value(llvm::json::Object{{"model", inputFile.empty()
                                                                        ? model.getValue()
                                                                        : inputFile.getValue()},
                                                         {"target", targetFlag},
                                                         {"device", device},
                                                         {"results", std::move(jsonResults)}}));
  // (An untimed GPU search found nothing to save: the file is not touched.)
  if (noSave || found.entries().empty())
    return 0;
  if (llvm::Error e = found.save(path))
    return fail(llvm::toString(std::move(e)));
  llvm::errs() << "linrec-tune: " << found.entries().size() << " entries saved in " << path
               << "\n";
  return 0;
}
