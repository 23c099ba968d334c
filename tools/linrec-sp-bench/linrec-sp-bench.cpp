//===- linrec-sp-bench.cpp - the sequence-parallel forward, timed ---------===//
//
//   mpirun -np N linrec-sp-bench [--models=gla,...] [--tokens=65536,...] [--heads=2]
//                                [--dim=64] [--repeats=3] [--json=FILE]
//
// Every rank makes its own part of random inputs (tokenPart of T: a rank holds only its
// part, as it would on a cluster) and runs runModelSequenceParallel with the outputs kept on
// the ranks (OutputPlacement::Local). Rank 0 prints, per model and T: the bytes each rank
// sends (summaries and halos; they do not grow with T), and the time of each phase, the
// slowest rank's (median over the repeats): deriving and compiling, the part's summary
// (local compute), the exchange, the combine, the part's forward from its starting state
// (local compute), and the whole call. With one rank it times the plain forward.
//
//===----------------------------------------------------------------------===//

#include "linrec/InitLinrec.h"
#include "linrec/Runtime/ConformanceCase.h"
#include "linrec/Runtime/Kernel.h"
#include "linrec/Runtime/MpiGroup.h"
#include "linrec/Runtime/SequenceParallel.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <random>

using namespace linrec;
namespace cl = llvm::cl;

static cl::list<std::string> models("models", cl::CommaSeparated,
                                    cl::desc("models (default: linear, simple_gla, gla, "
                                             "delta, gated_delta, kda, lolcats)"));
static cl::list<int64_t> tokensList("tokens", cl::CommaSeparated,
                                    cl::desc("sequence lengths (default 65536, 262144, "
                                             "1048576)"));
static cl::opt<int64_t> heads("heads", cl::desc("heads"), cl::init(2));
static cl::opt<int64_t> dim("dim", cl::desc("head dim (dk = dv)"), cl::init(64));
static cl::opt<int> repeats("repeats", cl::desc("timed runs after a warm-up"), cl::init(3));
static cl::opt<std::string> jsonFile("json", cl::desc("also write the rows as JSON"),
                                     cl::init(""));

namespace {
struct ModelSetup {
  llvm::json::Object params;
  std::map<std::string, Array> inputs;
};

Array randomArray(std::mt19937_64 &rng, std::vector<int64_t> shape, double scale = 1.0) {
  std::normal_distribution<double> normal;
  Array a(DType::F32, std::move(shape));
  for (double &x : a.data)
    x = static_cast<float>(scale * normal(rng));
  return a;
}

void normalizeRows(Array &a) {
  int64_t d = a.shape.back();
  for (int64_t r = 0; r < a.numElements() / d; ++r) {
    double norm = 0;
    for (int64_t i = 0; i < d; ++i)
      norm += a.data[r * d + i] * a.data[r * d + i];
    for (int64_t i = 0; i < d; ++i)
      a.data[r * d + i] = static_cast<float>(a.data[r * d + i] / std::sqrt(norm));
  }
}

/// The part of `tokens` tokens of this rank: random inputs of `model` (log-decays ≤ 0,
/// β in (0, 1), unit delta-rule keys).
ModelSetup setUp(llvm::StringRef model, int64_t tokens, unsigned seed) {
  std::mt19937_64 rng(seed);
  int64_t H = heads, d = dim;
  ModelSetup s;
  double scale = 1 / std::sqrt(static_cast<double>(d));
  s.params["scale"] = scale;
  auto &in = s.inputs;
  in["q"] = randomArray(rng, {1, tokens, H, d});
  in["k"] = randomArray(rng, {1, tokens, H, d});
  in["v"] = randomArray(rng, {1, tokens, H, d});
  auto logDecay = [&](std::vector<int64_t> shape) {
    Array g = randomArray(rng, std::move(shape), 0.05);
    for (double &x : g.data)
      x = -std::abs(x);
    return g;
  };
  auto beta = [&] {
    Array b = randomArray(rng, {1, tokens, H});
    for (double &x : b.data)
      x = static_cast<float>(1 / (1 + std::exp(-x)));
    return b;
  };
  if (model == "linear") {
    s.params["normalize"] = false;
    s.params["eps"] = 1e-6;
    s.params["feature_map"] = "identity";
  } else if (model == "simple_gla") {
    in["g"] = logDecay({1, tokens, H});
  } else if (model == "gla") {
    in["gk"] = logDecay({1, tokens, H, d});
  } else if (model == "delta" || model == "gated_delta" || model == "kda") {
    normalizeRows(in["k"]);
    in["beta"] = beta();
    if (model == "gated_delta")
      in["g"] = logDecay({1, tokens, H});
    if (model == "kda")
      in["gk"] = logDecay({1, tokens, H, d});
  } else if (model == "lolcats") {
    std::mt19937_64 weights(7); // the same weights on every rank
    in["Wq"] = randomArray(weights, {H, d, d}, scale);
    in["Wk"] = randomArray(weights, {H, d, d}, scale);
    in["window_logit"] = randomArray(weights, {H});
    s.params = llvm::json::Object{{"window", "sliding"},  {"window_size", 64},
                                  {"scale", scale},       {"linear_factor", 1.0},
                                  {"feature", "softmax"}};
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  MPI_Init(&argc, &argv);
  cl::ParseCommandLineOptions(argc, argv, "linrec-sp-bench: the sequence-parallel forward\n");
  std::vector<std::string> modelNames(models.begin(), models.end());
  if (modelNames.empty())
    modelNames = {"linear", "simple_gla", "gla", "delta", "gated_delta", "kda", "lolcats"};
  std::vector<int64_t> tokenCounts(tokensList.begin(), tokensList.end());
  if (tokenCounts.empty())
    tokenCounts = {65536, 262144, 1048576};

  int status = 0;
  {
    MpiGroup group;
    int rank = group.rank(), ranks = group.size();
    mlir::DialectRegistry registry;
    linrec::registerAllDialects(registry);
    mlir::MLIRContext context(registry);
    context.loadAllAvailableDialects();
    KernelCompiler compiler;
    KernelOptions options;
    llvm::json::Array rows;
    if (rank == 0)
      llvm::outs() << llvm::format("%d ranks, H = %lld, dk = dv = %lld, B = 1, f32; times: the "
                                   "slowest rank, median of %d runs\n",
                                   ranks, (long long)heads, (long long)dim, (int)repeats)
                   << "| model | T | bytes/rank (summary + halo) | compile s | summary ms | "
                      "exchange ms | combine ms | part forward ms | total ms |\n"
                   << "|---|---|---|---|---|---|---|---|---|\n";
    for (const std::string &model : modelNames)
      for (int64_t T : tokenCounts) {
        TokenPart part = tokenPart(T, rank, ranks);
        ModelSetup setup = setUp(model, part.size(), 1000 + rank);
        // Phases per run (the first compiles), the slowest rank's.
        std::vector<double> summary, exchange, combine, resume, total;
        double compile = 0;
        int64_t bytes = 0;
        for (int run = 0; run <= repeats && status == 0; ++run) {
          SequenceParallelStats stats;
          MPI_Barrier(MPI_COMM_WORLD);
          auto start = std::chrono::steady_clock::now();
          auto result = runModelSequenceParallel(context, model, setup.params, setup.inputs,
                                                 group, Target::CPU, compiler, options, &stats,
                                                 OutputPlacement::Local);
          double wall =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          if (!result) {
            llvm::errs() << "linrec-sp-bench: rank " << rank << ": "
                         << llvm::toString(result.takeError()) << "\n";
            status = 1;
            break;
          }
          double mine[7] = {stats.compile, stats.summary, stats.communication, stats.combine,
                            stats.resume, wall,
                            static_cast<double>(stats.summaryBytes + stats.haloBytes)};
          double slowest[7];
          MPI_Allreduce(mine, slowest, 7, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
          if (run == 0) {
            compile = slowest[0];
            continue;
          }
          summary.push_back(slowest[1] * 1e3);
          exchange.push_back(slowest[2] * 1e3);
          combine.push_back(slowest[3] * 1e3);
          resume.push_back(slowest[4] * 1e3);
          total.push_back(slowest[5] * 1e3);
          bytes = static_cast<int64_t>(slowest[6]);
        }
        if (status)
          break;
        if (rank == 0) {
          llvm::outs() << llvm::format(
              "| %s | %lld | %lld | %.2f | %.1f | %.2f | %.2f | %.1f | %.1f |\n", model.c_str(),
              (long long)T, (long long)bytes, compile, median(summary), median(exchange),
              median(combine), median(resume), median(total));
          llvm::outs().flush();
          rows.push_back(llvm::json::Object{{"model", model},
                                            {"tokens", T},
                                            {"ranks", ranks},
                                            {"heads", (int64_t)heads},
                                            {"dim", (int64_t)dim},
                                            {"bytes_per_rank", bytes},
                                            {"compile_s", compile},
                                            {"summary_ms", median(summary)},
                                            {"exchange_ms", median(exchange)},
                                            {"combine_ms", median(combine)},
                                            {"part_forward_ms", median(resume)},
                                            {"total_ms", median(total)}});
        }
      }
    if (rank == 0 && !jsonFile.empty() && status == 0) {
      std::error_code ec;
      llvm::raw_fd_ostream os(jsonFile, ec);
      if (ec) {
        llvm::errs() << "linrec-sp-bench: " << jsonFile << ": " << ec.message() << "\n";
        status = 1;
      } else {
        os << llvm::formatv("{0:2}", llvm::json::Value(std::move(rows))) << "\n";
      }
    }
  }
  if (status)
    MPI_Abort(MPI_COMM_WORLD, status);
  MPI_Finalize();
  return status;
}
