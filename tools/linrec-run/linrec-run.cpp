//===- linrec-run.cpp - run linrec functions and conformance cases --------===//
//
//   linrec-run FILE.mlir [--fn NAME] [--input NAME=FILE.npy | FILE.npy]... [--random]
//              [--seed N] [--out DIR] [--target=reference|cpu|gpu-schedule|cuda]
//              [--no-check] [--tolerance X] [SCHEDULE FLAGS]
//   linrec-run --case DIR... [--all-cases ROOT] [--target=...] [--out DIR] [--backward]
//   mpirun -np N linrec-run --case DIR... --sequence-parallel [--target=...] [--out DIR]
//
// Inputs bind to the function's arguments in order, or by name (the `linrec.name` argument
// attribute, or argN). --random makes inputs that suit each argument's role in the
// recurrence (log-decays <= 0, betas in (0, 1), unit-norm delta-rule keys). Outputs are
// summarized, and written as .npy into --out; a compiled target is also run through the
// float64 reference and its relative RMS error printed (exit 1 over --tolerance). Every
// problem is a message and exit code 1. The schedule flags are the options of the target's
// pipeline (linrec-to-cpu, linrec-to-nvvm: --chunk-size, --value-tiles, --heads-per-item,
// --threads, --sequential, --two-phase, ...; --help lists them).
//
//===----------------------------------------------------------------------===//

#include "linrec/Dialect/LinrecOps.h"
#include "linrec/InitLinrec.h"
#include "linrec/Pipelines/ScheduleFlags.h"
#include "linrec/Reference/Interpreter.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/Npy.h"
#include "linrec/Runtime/RandomInputs.h"
#include "linrec/Runtime/SequenceParallel.h"
#ifdef LINREC_HAVE_MPI
#include "linrec/Runtime/MpiGroup.h"
#include <mpi.h>
#endif
#include "linrec/Tools/ToolOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>
#include <random>

using namespace mlir;
using namespace linrec;
namespace cl = llvm::cl;

static cl::OptionCategory toolCategory("linrec-run options");

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<module.mlir>"), cl::init(""),
                                      cl::cat(toolCategory));
static cl::list<std::string> inputArrays(cl::Positional, cl::desc("[inputs.npy...]"),
                                         cl::cat(toolCategory));
static cl::opt<std::string> funcName("fn", cl::desc("function to run (default: the first)"),
                                     cl::init(""), cl::cat(toolCategory));
static cl::list<std::string> namedInputs("input",
                                         cl::desc("NAME=FILE.npy: bind an argument by name"),
                                         cl::cat(toolCategory));
static cl::opt<bool> randomInputs("random", cl::desc("run on random inputs"),
                                  cl::cat(toolCategory));
static cl::opt<unsigned> seed("seed", cl::desc("seed of --random"), cl::init(0),
                              cl::cat(toolCategory));
static cl::opt<std::string> outDir("out", cl::desc("write outputs as .npy into this dir"),
                                   cl::init(""), cl::cat(toolCategory));
static cl::opt<std::string> targetFlag("target", cl::desc("reference | cpu | gpu-schedule | cuda"),
                                       cl::init("reference"), cl::cat(toolCategory));
static cl::opt<bool> noCheck("no-check",
                             cl::desc("do not compare a compiled target with the reference"),
                             cl::cat(toolCategory));
static cl::opt<double> tolerance("tolerance",
                                 cl::desc("largest relative RMS error against the reference"),
                                 cl::init(1e-5), cl::cat(toolCategory));
static cl::opt<bool> gpuSchedule("gpu-schedule",
                                 cl::desc("with --target=cpu: run the GPU schedule (before it "
                                          "is mapped onto blocks and threads) on the CPU; the "
                                          "same as --target=gpu-schedule"),
                                 cl::cat(toolCategory));
static cl::opt<bool> backward("backward",
                              cl::desc("with --case/--all-cases: run the backward of conformance "
                                       "README §6 (the cotangents spec.json lists) and write every "
                                       "gradient it names into --out; compiled targets run the derived backward and check it against the reference adjoint"),
                              cl::cat(toolCategory));
static cl::opt<bool> sequenceParallel(
    "sequence-parallel",
    cl::desc("with --case/--all-cases under mpirun: split the tokens over the MPI ranks "
             "(contiguous parts, uneven when they do not divide), exchange the parts' state "
             "summaries with one MPI_Allgather and run each part from its combined initial "
             "state (LASP-2); rank 0 writes and checks the whole outputs"),
    cl::cat(toolCategory));
static cl::list<std::string> caseDirs("case", cl::desc("run a conformance case directory"),
                                      cl::cat(toolCategory));
static cl::opt<bool> emitMlir("emit-mlir",
                              cl::desc("with --case: print the layer the case builds, do not run"),
                              cl::cat(toolCategory));
static cl::opt<bool> checkInputs(
    "check-inputs",
    cl::desc("refuse inputs outside their domain before running: NaN or ±inf anywhere, a "
             "positive or NaN log-decay (-inf is a full reset); on by default "
             "(include/linrec/Runtime/InputChecks.h)"),
    cl::init(true), cl::cat(toolCategory));
static cl::opt<std::string> allCases("all-cases",
                                     cl::desc("run every case directory under this root; "
                                              "models not supported yet are skipped"),
                                     cl::init(""), cl::cat(toolCategory));

/// The target and schedule the compiled targets run with (main sets them from the flags).
static KernelOptions kernelOptions;

static int fail(const llvm::Twine &message) {
  llvm::errs() << "linrec-run: error: " << message << "\n";
  return 1;
}

//===----------------------------------------------------------------------===//
// Conformance cases
//===----------------------------------------------------------------------===//

/// Prints a case that did not run: SKIP in a sweep when `message` says what linrec cannot do
/// yet (`notYet`), FAIL otherwise. Returns whether it was skipped.
static bool reportFailure(llvm::StringRef name, llvm::StringRef message,
                          llvm::StringRef notYet) {
  bool skip = !allCases.empty() && message.contains(notYet);
  llvm::outs() << (skip ? "SKIP " : "FAIL ") << name << ": " << message << "\n";
  return skip;
}

static int runCases(MLIRContext &context, Target target, KernelCompiler &compiler,
                    SequenceGroup *group) {
  // Under mpirun only rank 0 reports (every rank reports its own errors).
  bool reports = !group || group->rank() == 0;
  std::vector<std::string> dirs(caseDirs.begin(), caseDirs.end());
  if (!allCases.empty()) {
    std::error_code ec;
    std::vector<std::string> found;
    for (llvm::sys::fs::directory_iterator it(allCases, ec), end; it != end && !ec;
         it.increment(ec))
      if (llvm::sys::fs::exists(it->path() + "/spec.json"))
        found.push_back(it->path());
    if (ec)
      return fail(allCases + ": " + ec.message());
    llvm::sort(found);
    llvm::append_range(dirs, found);
  }
  int passed = 0, failed = 0, skipped = 0;
  for (const std::string &dir : dirs) {
    std::string name = llvm::sys::path::filename(dir).str();
    std::string caseOut;
    if (!outDir.empty())
      caseOut = dirs.size() > 1 ? outDir + "/" + name : outDir.getValue();
    if (emitMlir) {
      llvm::Expected<PreparedModel> prepared = prepareCase(context, dir);
      if (!prepared) {
        llvm::errs() << "linrec-run: error: " << llvm::toString(prepared.takeError()) << "\n";
        ++failed;
        continue;
      }
      prepared->module->print(llvm::outs());
      ++passed;
      continue;
    }
    if (backward) {
      // README §6: the gradients of L = Σ ⟨cotangent, output⟩, written into --out.
      auto gradients =
          runConformanceCaseBackward(context, dir, target, caseOut, compiler, kernelOptions);
      if (!gradients) {
        // In a sweep, a layer linrec derives no backward for yet is skipped, not failed.
        ++(reportFailure(name, llvm::toString(gradients.takeError()),
                         "has no derived backward yet")
               ? skipped
               : failed);
        continue;
      }
      bool ok = llvm::all_of(*gradients, [](const GradientCheck &g) { return g.passed(); });
      llvm::outs() << (ok ? "PASS " : "FAIL ") << name << " (backward)";
      for (const GradientCheck &g : *gradients) {
        double norm = 0;
        for (double v : g.gradient.data)
          norm += v * v;
        llvm::outs() << "  " << g.file << (caseOut.empty() ? "" : " written")
                     << llvm::format(" |g|=%.3e", std::sqrt(norm));
        if (g.compared)
          llvm::outs() << llvm::format(" rel_rms=%.3e", g.error) << (g.passed() ? "" : " FAIL");
      }
      llvm::outs() << "\n";
      ++(ok ? passed : failed);
      continue;
    }
    llvm::Expected<CaseReport> report =
        runConformanceCase(context, dir, target, caseOut, compiler, kernelOptions, group);
    if (!report) {
      // In a sweep, a model that linrec cannot express yet is skipped, not failed.
      std::string message = llvm::toString(report.takeError());
      if (!reports) { // every rank fails together; rank 0 reports it
        ++failed;
        continue;
      }
      ++(reportFailure(name, message, "is not supported yet") ? skipped : failed);
      continue;
    }
    if (!reports) {
      ++passed;
      continue;
    }
    llvm::outs() << (report->passed() ? "PASS " : "FAIL ") << name << " (" << report->model
                 << ")";
    for (const OutputCheck &o : report->outputs) {
      llvm::outs() << "  " << o.name << ": ";
      if (!o.compared)
        llvm::outs() << "written";
      else
        llvm::outs() << llvm::format("rel_rms=%.3e", o.error) << (o.passed() ? "" : " ")
                     << o.problem;
    }
    llvm::outs() << "\n";
    ++(report->passed() ? passed : failed);
  }
  if (!emitMlir && reports) // the printed modules are the whole output
    llvm::outs() << "cases: " << passed << " passed, " << failed << " failed, " << skipped
                 << " skipped (target " << targetFlag << ")\n";
  return failed == 0 && passed > 0 ? 0 : 1;
}

//===----------------------------------------------------------------------===//
// Functions of a .mlir file
//===----------------------------------------------------------------------===//

static DType dtypeOf(Type type) {
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isF64())
    return DType::F64;
  if (type.isInteger(32))
    return DType::I32;
  if (type.isInteger(64))
    return DType::I64;
  return DType::F32;
}

static std::string argName(func::FuncOp func, unsigned i) {
  if (auto name = func.getArgAttrOfType<StringAttr>(i, "linrec.name"))
    return name.str();
  return "arg" + std::to_string(i);
}

static std::string resultName(func::FuncOp func, unsigned i) {
  if (auto name = func.getResultAttrOfType<StringAttr>(i, "linrec.name"))
    return name.str();
  return "result" + std::to_string(i);
}


static void printSummary(StringRef name, const Array &a) {
  double sum = 0, sumSq = 0, lo = INFINITY, hi = -INFINITY;
  int64_t nonFinite = 0;
  for (double x : a.data) {
    if (!std::isfinite(x)) {
      ++nonFinite;
      continue;
    }
    sum += x;
    sumSq += x * x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  double n = std::max<double>(1, static_cast<double>(a.data.size() - nonFinite));
  double mean = sum / n;
  llvm::outs() << llvm::format("  %-12s %-20s mean=% .4e std=%.4e min=% .4e max=% .4e rms=%.4e",
                               name.str().c_str(), a.shapeString().c_str(), mean,
                               std::sqrt(std::max(0.0, sumSq / n - mean * mean)), lo, hi,
                               std::sqrt(sumSq / n));
  if (nonFinite)
    llvm::outs() << "  NON-FINITE=" << nonFinite;
  llvm::outs() << "\n";
}

static int runFunction(MLIRContext &context, Target target, KernelCompiler &compiler) {
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(inputFile, sourceMgr, &context);
  if (!module)
    return fail("cannot parse " + inputFile);

  func::FuncOp func;
  for (auto f : module->getOps<func::FuncOp>())
    if (!f.isExternal() && (funcName.empty() || f.getSymName() == funcName)) {
      func = f;
      break;
    }
  if (!func)
    return fail(funcName.empty() ? "no function in " + inputFile
                                 : "no function @" + funcName + " in " + inputFile);

  unsigned numArgs = func.getNumArguments();
  std::vector<std::optional<Array>> args(numArgs);
  std::map<std::string, unsigned> argIndex;
  for (unsigned i = 0; i < numArgs; ++i) {
    argIndex[argName(func, i)] = i;
    argIndex["arg" + std::to_string(i)] = i;
  }
  if (inputArrays.size() > numArgs)
    return fail("@" + func.getSymName() + " takes " + llvm::Twine(numArgs) + " arguments, got " +
                llvm::Twine(inputArrays.size()) + " input files");
  for (auto [i, path] : llvm::enumerate(inputArrays)) {
    llvm::Expected<Array> array = readNpy(path);
    if (!array)
      return fail(llvm::toString(array.takeError()));
    args[i] = std::move(*array);
  }
  for (const std::string &binding : namedInputs) {
    auto [name, path] = StringRef(binding).split('=');
    auto it = argIndex.find(name.str());
    if (path.empty() || it == argIndex.end())
      return fail("--input " + binding + ": expected NAME=FILE.npy with NAME an argument of @" +
                  func.getSymName());
    llvm::Expected<Array> array = readNpy(path);
    if (!array)
      return fail(llvm::toString(array.takeError()));
    args[it->second] = std::move(*array);
  }

  if (randomInputs) {
    auto roles = argumentRoles(*module, func.getSymName());
    if (!roles)
      return fail(llvm::toString(roles.takeError()));
    std::mt19937_64 rng(seed);
    int64_t tokens = argumentTokens(func.getArgumentTypes());
    for (unsigned i = 0; i < numArgs; ++i) {
      if (args[i])
        continue;
      auto type = dyn_cast<RankedTensorType>(func.getArgumentTypes()[i]);
      if (!type || !type.hasStaticShape())
        return fail("--random needs static shapes; argument " + argName(func, i) + " is " +
                    llvm::Twine(type ? "dynamic" : "not a tensor"));
      args[i] = randomArgument(type, roles->count(i) ? roles->at(i) : ArgumentRole::Plain, rng,
                               tokens);
    }
  }

  std::vector<Array> bound;
  for (unsigned i = 0; i < numArgs; ++i) {
    if (!args[i])
      return fail("no input for argument " + argName(func, i) + " of @" + func.getSymName() +
                  " (give FILE.npy, --input NAME=FILE.npy or --random)");
    auto type = dyn_cast<RankedTensorType>(func.getArgumentTypes()[i]);
    if (type && dtypeOf(type.getElementType()) != args[i]->dtype)
      return fail("argument " + argName(func, i) + " takes " +
                  dtypeName(dtypeOf(type.getElementType())) + " but the input holds " +
                  dtypeName(args[i]->dtype));
    bound.push_back(std::move(*args[i]));
  }

  llvm::Expected<std::vector<Array>> results =
      runFunction(*module, func.getSymName(), bound, target, compiler, kernelOptions);
  if (!results)
    return fail(llvm::toString(results.takeError()));

  llvm::outs() << "@" << func.getSymName() << " on target " << targetFlag
               << (target == Target::Reference ? " (float64)\n" : "\n");
  for (unsigned i = 0; i < numArgs; ++i)
    printSummary(argName(func, i), bound[i]);
  llvm::outs() << " ->\n";
  if (!outDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
      return fail(outDir + ": " + ec.message());
  for (auto [i, result] : llvm::enumerate(*results)) {
    std::string name = resultName(func, i);
    printSummary(name, result);
    if (!outDir.empty())
      if (llvm::Error e = writeNpy(outDir + "/" + name + ".npy", result))
        return fail(llvm::toString(std::move(e)));
  }
  if (target == Target::Reference || noCheck)
    return 0;

  // A compiled target is checked against the float64 reference on the same inputs.
  llvm::Expected<std::vector<Array>> reference =
      runFunction(*module, func.getSymName(), bound, Target::Reference, compiler, kernelOptions);
  if (!reference)
    return fail("reference: " + llvm::toString(reference.takeError()));
  bool passed = true;
  llvm::outs() << "error against the float64 reference (tolerance " << tolerance << "):\n";
  for (auto [i, result] : llvm::enumerate(*results)) {
    double error = relativeRmsError(result, (*reference)[i]);
    bool ok = !hasNonFinite(result) && error <= tolerance;
    passed &= ok;
    llvm::outs() << llvm::format("  %-12s rel_rms=%.3e %s\n", resultName(func, i).c_str(), error,
                                 ok ? "ok" : "FAIL");
  }
  return passed ? 0 : 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  ScheduleFlags scheduleFlags(toolCategory, /*withGpu=*/true);
  setUpToolOptions("linrec-run", toolCategory);
  cl::ParseCommandLineOptions(argc, argv, "linrec-run: run linrec functions and cases\n");
  std::optional<Target> target = parseTarget(targetFlag);
  if (!target)
    return fail("unknown --target=" + targetFlag + " (reference, cpu, gpu-schedule, cuda)");
  if (gpuSchedule && *target == Target::CPU) // --gpu-schedule is --target=gpu-schedule
    target = Target::GPUScheduleOnCPU;
  // Schedule flags set the options of the compiled target's pipeline (the CPU's for the
  // reference, which only compiles when it checks nothing).
  kernelOptions.target = *target == Target::Reference ? Target::CPU : *target;
  if (llvm::Error e = scheduleFlags.apply(kernelOptions.schedule(),
                                          "--target=" + targetName(kernelOptions.target).str()))
    return fail(llvm::toString(std::move(e)));
  kernelOptions.checkInputValues = checkInputs;

  DialectRegistry registry;
  linrec::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Destroyed before InitLLVM shuts LLVM down: its JIT-compiled kernels must go first.
  KernelCompiler compiler;

  if (!caseDirs.empty() || !allCases.empty()) {
    if (!inputFile.empty())
      return fail("give either a .mlir file or --case/--all-cases, not both");
    if (!sequenceParallel)
      return runCases(context, *target, compiler, nullptr);
    if (backward || emitMlir)
      return fail("--sequence-parallel runs the forward (not --backward or --emit-mlir)");
#ifdef LINREC_HAVE_MPI
    MPI_Init(&argc, &argv);
    int status;
    {
      MpiGroup group;
      status = runCases(context, *target, compiler, &group);
    }
    MPI_Finalize();
    return status;
#else
    return fail("--sequence-parallel needs MPI: this linrec-run was built without it "
                "(install libopenmpi-dev and reconfigure)");
#endif
  }
  if (sequenceParallel)
    return fail("--sequence-parallel runs conformance cases (--case/--all-cases)");
  if (inputFile.empty())
    return fail("no input: give a .mlir file or --case DIR (see --help)");
  return runFunction(context, *target, compiler);
}
