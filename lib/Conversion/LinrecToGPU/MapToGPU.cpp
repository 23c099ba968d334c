//===- MapToGPU.cpp - GPU schedules onto gpu.launch -----------------------===//
//
// The mechanical last step of a GPU schedule (see linrec-lower-gpu): blocks, threads,
// barriers and shared memory. Nothing here changes what is computed; the schedule before
// this pass is what runs (and is tested) on the CPU.
//
//===----------------------------------------------------------------------===//

#include "linrec/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"

namespace linrec {
#define GEN_PASS_DEF_LINRECMAPTOGPU
#include "linrec/Conversion/Passes.h.inc"
} // namespace linrec

using namespace mlir;

/// The processor the single dimension of `loop` is mapped to, if any.
static std::optional<gpu::Processor> mappedProcessor(scf::ParallelOp loop) {
  auto mapping = loop->getAttrOfType<ArrayAttr>(gpu::getMappingAttrName());
  if (!mapping || mapping.size() != 1)
    return std::nullopt;
  auto dim = dyn_cast<gpu::ParallelLoopDimMappingAttr>(mapping[0]);
  if (!dim)
    return std::nullopt;
  return dim.getProcessor();
}

static bool isWorkgroupMemory(MemRefType type) {
  auto space = dyn_cast_or_null<gpu::AddressSpaceAttr>(type.getMemorySpace());
  return space && space.getValue() == gpu::AddressSpace::Workgroup;
}

/// Moves the ops of `from` (but its terminator) to the end of `to`, before `to`'s terminator
/// if it has one.
static void moveBody(Block &from, Block &to) {
  Block::iterator where = to.end();
  if (!to.empty() && to.back().hasTrait<OpTrait::IsTerminator>())
    where = Block::iterator(&to.back());
  to.getOperations().splice(where, from.getOperations(), from.begin(),
                            std::prev(from.end()));
}

namespace {
struct LinrecMapToGPUPass : linrec::impl::LinrecMapToGPUBase<LinrecMapToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (blockSize < 1 || blockSize > 1024) {
      getOperation().emitError("block size must be in [1, 1024], got ") << int64_t(blockSize);
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> programs;
    getOperation()->walk([&](scf::ParallelOp loop) {
      if (mappedProcessor(loop) == gpu::Processor::BlockX)
        programs.push_back(loop);
    });
    for (scf::ParallelOp loop : programs)
      if (failed(mapProgram(loop)))
        return signalPassFailure();
    moveAllocationsToDevice();
  }

  /// Host allocations that kernels read or write (a schedule's workspace) become device
  /// allocations.
  void moveAllocationsToDevice() {
    SmallVector<memref::AllocOp> allocations;
    getOperation()->walk([&](memref::AllocOp alloc) {
      if (alloc->getParentOfType<gpu::LaunchOp>())
        return;
      bool usedByKernel = llvm::any_of(alloc->getUsers(), [&](Operation *user) {
        return user->getParentOfType<gpu::LaunchOp>() != nullptr;
      });
      if (usedByKernel)
        allocations.push_back(alloc);
    });
    // On a stream of their own that is then waited for: the form gpu-to-llvm lowers (to
    // mgpuStreamCreate, mgpuMemAlloc/Free, mgpuStreamSynchronize/Destroy).
    auto token = gpu::AsyncTokenType::get(&getContext());
    for (memref::AllocOp alloc : allocations) {
      OpBuilder b(alloc);
      Location loc = alloc.getLoc();
      auto stream = gpu::WaitOp::create(b, loc, token, ValueRange{});
      auto device = gpu::AllocOp::create(b, loc, alloc.getType(), token,
                                         ValueRange{stream.getAsyncToken()},
                                         alloc.getDynamicSizes(), alloc.getSymbolOperands(),
                                         /*hostShared=*/false);
      gpu::WaitOp::create(b, loc, Type(), ValueRange{device.getAsyncToken()});
      for (Operation *user : llvm::make_early_inc_range(alloc->getUsers()))
        if (auto dealloc = dyn_cast<memref::DeallocOp>(user)) {
          OpBuilder at(dealloc);
          auto freeStream = gpu::WaitOp::create(at, dealloc.getLoc(), token, ValueRange{});
          auto free = gpu::DeallocOp::create(at, dealloc.getLoc(), token,
                                             ValueRange{freeStream.getAsyncToken()},
                                             device.getMemref());
          gpu::WaitOp::create(at, dealloc.getLoc(), Type(), ValueRange{free.getAsyncToken()});
          dealloc.erase();
        }
      alloc.getResult().replaceAllUsesWith(device.getMemref());
      alloc.erase();
    }
  }

  /// One block per iteration of `loop`.
  LogicalResult mapProgram(scf::ParallelOp loop) {
    if (loop->getParentOfType<gpu::LaunchOp>())
      return loop.emitOpError("is mapped to blocks but nested in a launch");
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    Value lb = loop.getLowerBound()[0], ub = loop.getUpperBound()[0];
    Value step = loop.getStep()[0];
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value count = arith::CeilDivUIOp::create(b, loc, arith::SubIOp::create(b, loc, ub, lb), step);
    Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);

    // Shared memory: every workgroup tile gets a 16-byte aligned slice of one dynamic buffer.
    SmallVector<std::pair<memref::AllocaOp, int64_t>> tiles;
    int64_t bytes = 0;
    WalkResult walk = loop->walk([&](memref::AllocaOp alloca) {
      MemRefType type = alloca.getType();
      if (!isWorkgroupMemory(type))
        return WalkResult::advance();
      if (!type.hasStaticShape() || !type.getLayout().isIdentity()) {
        alloca.emitOpError("workgroup tiles must have a static shape and identity layout");
        return WalkResult::interrupt();
      }
      bytes = llvm::alignTo(bytes, 16);
      tiles.push_back({alloca, bytes});
      bytes += type.getNumElements() * type.getElementTypeBitWidth() / 8;
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    if (bytes > sharedMemoryLimit)
      return loop.emitOpError("needs ")
             << bytes << " bytes of shared memory per block, over the limit of "
             << int64_t(sharedMemoryLimit) << " (use a smaller chunk size or value tile)";
    Value sharedBytes = arith::ConstantIntOp::create(b, loc, b.getI32Type(), bytes);
    auto launch = gpu::LaunchOp::create(b, loc, count, one, one, threads, one, one, sharedBytes);
    launch->setAttr("linrec.shared_memory_bytes", b.getI64IntegerAttr(bytes));
    Block &body = launch.getBody().front();
    b.setInsertionPointToStart(&body);
    gpu::TerminatorOp::create(b, loc);
    b.setInsertionPointToStart(&body);
    Value iv = arith::AddIOp::create(
        b, loc, lb, arith::MulIOp::create(b, loc, launch.getBlockIds().x, step));
    loop.getInductionVars()[0].replaceAllUsesWith(iv);
    moveBody(*loop.getBody(), body);
    loop.erase();

    mapSharedMemory(launch, tiles);
    SmallVector<scf::ParallelOp> phases;
    launch->walk([&](scf::ParallelOp phase) { phases.push_back(phase); });
    for (scf::ParallelOp phase : phases)
      if (failed(mapPhase(phase, launch)))
        return failure();
    return success();
  }

  void mapSharedMemory(gpu::LaunchOp launch,
                       ArrayRef<std::pair<memref::AllocaOp, int64_t>> tiles) {
    if (tiles.empty())
      return;
    Block &body = launch.getBody().front();
    OpBuilder b(&body, body.begin());
    Location loc = launch.getLoc();
    auto space = gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
    auto bytesType = MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                                     MemRefLayoutAttrInterface{}, space);
    Value base = gpu::DynamicSharedMemoryOp::create(b, loc, bytesType);
    for (auto [alloca, offset] : tiles) {
      Value at = arith::ConstantIndexOp::create(b, loc, offset);
      Value view = memref::ViewOp::create(b, loc, alloca.getType(), base, at, ValueRange{});
      alloca.getResult().replaceAllUsesWith(view);
      alloca.erase();
    }
  }

  /// A thread phase: thread t takes iterations t, t + blockDim, ..., then every thread waits
  /// at a barrier, so the next phase sees all of this phase's writes.
  LogicalResult mapPhase(scf::ParallelOp phase, gpu::LaunchOp launch) {
    if (mappedProcessor(phase) != gpu::Processor::ThreadX || phase.getNumLoops() != 1)
      return phase.emitOpError("in a GPU program must be a 1-D loop mapped to thread_x");
    if (phase->getParentOfType<scf::ParallelOp>())
      return phase.emitOpError("thread loops cannot nest");
    OpBuilder b(phase);
    Location loc = phase.getLoc();
    Value step = phase.getStep()[0];
    Value first = arith::AddIOp::create(
        b, loc, phase.getLowerBound()[0],
        arith::MulIOp::create(b, loc, launch.getThreadIds().x, step));
    Value stride = arith::MulIOp::create(b, loc, launch.getBlockSizeX(), step);
    auto loop = scf::ForOp::create(b, loc, first, phase.getUpperBound()[0], stride);
    phase.getInductionVars()[0].replaceAllUsesWith(loop.getInductionVar());
    moveBody(*phase.getBody(), *loop.getBody());
    gpu::BarrierOp::create(b, loc);
    phase.erase();
    return success();
  }
};
} // namespace
