//===- MapToGPU.cpp - GPU schedules onto gpu.launch -----------------------===//
//
// The mechanical last step of a GPU schedule (see linrec-lower-gpu): blocks, threads,
// barriers and shared memory. Nothing here changes what is computed; the schedule before
// this pass is what runs (and is tested) on the CPU.
//
//===----------------------------------------------------------------------===//

#include "linrec/Conversion/Passes.h"
#include "linrec/Pipelines/ScheduleOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Conversion/VectorToGPU/VectorToGPU.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

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

/// Workgroup tiles start at multiples of this many bytes (tensor-core fragment loads).
constexpr int64_t kTileAlignment = 128;

namespace {
struct LinrecMapToGPUPass : linrec::impl::LinrecMapToGPUBase<LinrecMapToGPUPass>,
                            linrec::GpuBlockSchedule<linrec::PassOption> {
  LinrecMapToGPUPass() : GpuBlockSchedule(static_cast<Pass &>(*this)) {}
  LinrecMapToGPUPass(linrec::LinrecMapToGPUOptions options)
      : LinrecMapToGPUBase(std::move(options)), GpuBlockSchedule(static_cast<Pass &>(*this)) {}
  LinrecMapToGPUPass(const LinrecMapToGPUPass &other)
      : LinrecMapToGPUBase(other), GpuBlockSchedule(static_cast<Pass &>(*this)) {}

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

    // Shared memory: every workgroup tile gets a 128-byte aligned slice of one dynamic buffer.
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
      bytes = llvm::alignTo(bytes, kTileAlignment);
      tiles.push_back({alloca, bytes});
      bytes += type.getNumElements() * type.getElementTypeBitWidth() / 8;
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
    if (!tiles.empty())
      bytes += kTileAlignment; // room to align the dynamic buffer's start (see mapSharedMemory)
    if (bytes > sharedMemoryLimit) {
      auto kernel = loop->getParentOfType<func::FuncOp>();
      bool windows = kernel && kernel->hasAttr(linrec::kWindowReadsAttr);
      return loop.emitOpError("needs ")
             << bytes << " bytes of shared memory per block, over the limit of "
             << int64_t(sharedMemoryLimit) << " (use a smaller chunk size or value tile"
             << (windows ? ", or keep the window attention as its own kernel: fuse-windows=0"
                         : "")
             << ")";
    }
    Value sharedBytes = arith::ConstantIntOp::create(b, loc, b.getI32Type(), bytes);
    auto launch = gpu::LaunchOp::create(b, loc, count, one, one, threads, one, one, sharedBytes);
    launch->setAttr(linrec::kSharedMemoryBytesAttr, b.getI64IntegerAttr(bytes));
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
    SmallVector<linalg::MatmulOp> matmuls;
    launch->walk([&](linalg::MatmulOp matmul) { matmuls.push_back(matmul); });
    for (linalg::MatmulOp matmul : matmuls)
      if (failed(mapMatmul(matmul, launch)))
        return failure();
    return success();
  }

  /// C += A · B on workgroup tiles, by the whole block. f16 A and B, f32 C and dims that are
  /// multiples of 16 go to the tensor cores: each warp takes 16 x 16 tiles of C and runs
  /// m16n8k16 MMAs over K (warp-level vector.contract, converted here to ldmatrix + mma.sync).
  /// Anything else: a thread per element of C.
  LogicalResult mapMatmul(linalg::MatmulOp matmul, gpu::LaunchOp launch) {
    if (!matmul.hasPureBufferSemantics() || matmul.getNumDpsInputs() != 2)
      return matmul.emitOpError("in a GPU program must be a matmul on buffers");
    Value a = matmul.getDpsInputs()[0], bMatrix = matmul.getDpsInputs()[1];
    Value c = matmul.getDpsInits()[0];
    auto aType = cast<MemRefType>(a.getType()), bType = cast<MemRefType>(bMatrix.getType());
    auto cType = cast<MemRefType>(c.getType());
    if (!aType.hasStaticShape() || !bType.hasStaticShape() || !cType.hasStaticShape())
      return matmul.emitOpError("in a GPU program must have static shapes");
    int64_t m = aType.getDimSize(0), k = aType.getDimSize(1), n = bType.getDimSize(1);
    OpBuilder b(matmul);
    Location loc = matmul.getLoc();
    auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    Value tid = launch.getThreadIds().x;
    SmallVector<scf::IfOp> regions;
    bool tensorCores = aType.getElementType().isF16() && bType.getElementType().isF16() &&
                       cType.getElementType().isF32() && m % 16 == 0 && n % 16 == 0 &&
                       k % 16 == 0 && blockSize % 32 == 0;
    if (tensorCores) {
      // Per warp, 16 x 16 tiles of C, each as two 16 x 8 halves: K in steps of 16 as
      // vector.contract on warp-sized vectors read from the tiles, which
      // convert-vector-to-gpu{use-nvgpu} turns into ldmatrix + mma.sync m16n8k16.
      Value warp = arith::DivUIOp::create(b, loc, tid, index(32));
      auto vectorOf = [&](int64_t rows, int64_t cols, Type element) {
        return VectorType::get({rows, cols}, element);
      };
      MLIRContext *context = b.getContext();
      AffineExpr dm, dn, dk;
      bindDims(context, dm, dn, dk);
      auto maps = b.getAffineMapArrayAttr(
          {AffineMap::get(3, 0, {dm, dk}, context), AffineMap::get(3, 0, {dk, dn}, context),
           AffineMap::get(3, 0, {dm, dn}, context)});
      auto iterators = b.getArrayAttr(
          {vector::IteratorTypeAttr::get(context, vector::IteratorType::parallel),
           vector::IteratorTypeAttr::get(context, vector::IteratorType::parallel),
           vector::IteratorTypeAttr::get(context, vector::IteratorType::reduction)});
      auto inBounds = b.getBoolArrayAttr({true, true});
      auto zeroF16 = [&] { return arith::ConstantOp::create(b, loc, b.getF16FloatAttr(0.0)); };
      auto zeroF32 = [&] { return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0)); };
      auto read = [&](Value memref, Value row, Value col, VectorType type, auto padding) {
        return vector::TransferReadOp::create(
                   b, loc, type, memref, ValueRange{row, col},
                   AffineMapAttr::get(AffineMap::getMultiDimIdentityMap(2, context)), padding(),
                   /*mask=*/Value(), inBounds)
            .getResult();
      };
      // The tiles are dealt to the warps statically: tile t is warp (t mod warps)'s, under a
      // warp-uniform condition, with constant indices inside (the MMA conversion below runs on
      // each such region and wants nothing but the vector ops and their constants there).
      int64_t warps = blockSize / 32, tilesN = n / 16;
      for (int64_t t = 0; t < (m / 16) * tilesN; ++t) {
        Value mine = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, warp,
                                           index(t % warps));
        auto owner = scf::IfOp::create(b, loc, mine, /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(owner.thenBlock()->getTerminator());
        Value i0 = index(t / tilesN * 16);
        for (int64_t half = 0; half < 16; half += 8) {
          Value j = index(t % tilesN * 16 + half);
          Value acc = read(c, i0, j, vectorOf(16, 8, b.getF32Type()), zeroF32);
          for (int64_t kk = 0; kk < k; kk += 16) {
            Value aTile = read(a, i0, index(kk), vectorOf(16, 16, b.getF16Type()), zeroF16);
            Value bTile = read(bMatrix, index(kk), j, vectorOf(16, 8, b.getF16Type()), zeroF16);
            acc = vector::ContractionOp::create(b, loc, aTile, bTile, acc, maps, iterators);
          }
          vector::TransferWriteOp::create(
              b, loc, acc, c, ValueRange{i0, j},
              AffineMapAttr::get(AffineMap::getMultiDimIdentityMap(2, context)),
              /*mask=*/Value(), inBounds);
        }
        regions.push_back(owner);
      }
    } else {
      auto elements = scf::ForOp::create(b, loc, tid, index(m * n), launch.getBlockSizeX());
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(elements.getBody());
      Value e = elements.getInductionVar();
      Value i = arith::DivUIOp::create(b, loc, e, index(n));
      Value j = arith::RemUIOp::create(b, loc, e, index(n));
      auto toF32 = [&](Value x) -> Value {
        return x.getType().isF32() ? x : arith::ExtFOp::create(b, loc, b.getF32Type(), x);
      };
      Value init = memref::LoadOp::create(b, loc, c, ValueRange{i, j});
      auto dot = scf::ForOp::create(b, loc, index(0), index(k), index(1), ValueRange{toF32(init)});
      {
        OpBuilder::InsertionGuard inner(b);
        b.setInsertionPointToStart(dot.getBody());
        Value kk = dot.getInductionVar();
        Value x = toF32(memref::LoadOp::create(b, loc, a, ValueRange{i, kk}));
        Value y = toF32(memref::LoadOp::create(b, loc, bMatrix, ValueRange{kk, j}));
        Value sum = arith::AddFOp::create(b, loc, dot.getRegionIterArgs()[0],
                                          arith::MulFOp::create(b, loc, x, y));
        scf::YieldOp::create(b, loc, sum);
      }
      memref::StoreOp::create(b, loc, dot.getResult(0), c, ValueRange{i, j});
    }
    b.setInsertionPointAfter(matmul);
    gpu::BarrierOp::create(b, loc);
    matmul.erase();
    // Each warp's contractions → ldmatrix + mma.sync m16n8k16 (nvgpu).
    IRRewriter rewriter(b.getContext());
    for (scf::IfOp region : regions) {
      RewritePatternSet prepare(b.getContext());
      populatePrepareVectorToMMAPatterns(prepare, /*useNvGpu=*/true);
      if (failed(applyPatternsGreedily(region, std::move(prepare))) ||
          failed(convertVectorToNVVMCompatibleMMASync(rewriter, region)))
        return launch.emitOpError("cannot give a tile matmul to the tensor cores");
    }
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
    // The buffer is only declared 16-byte aligned; tensor-core fragments want more: start the
    // tiles at the first 128-byte boundary in it.
    Value address = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, base);
    Value alignment = arith::ConstantIndexOp::create(b, loc, kTileAlignment);
    Value misalignment = arith::RemUIOp::create(b, loc, address, alignment);
    Value start = arith::RemUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, alignment, misalignment), alignment);
    for (auto [alloca, offset] : tiles) {
      Value at = arith::AddIOp::create(b, loc, start,
                                       arith::ConstantIndexOp::create(b, loc, offset));
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
