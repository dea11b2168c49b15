//===- AttnToGPU.cpp - tiled attention to a GPU kernel launch -------------===//
//
// The convert-attn-to-gpu pass. It reads the tiled form (attn-tile's
// scf.forall, the tile ops and attn-insert-block-skip's predicate) into a
// KernelConfig, refuses what the kernels do not cover with a diagnostic,
// generates the kernel into `gpu.module @skipattn_kernels`, and replaces the
// loop nest by host code that launches it on device buffers.
//
// The generated gpu.func carries `skipattn.*` attributes (parameter names,
// block, shared memory, grid rule) so that skipattn-compile can describe the
// launch in a bundle manifest without re-deriving it.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"

#include "skipattn/Conversion/Passes.h"
#include "skipattn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

namespace skipattn {
#define GEN_PASS_DEF_CONVERTATTNTOGPU
#include "skipattn/Conversion/Passes.h.inc"
} // namespace skipattn

using namespace mlir;
using namespace skipattn::attn;
using skipattn::kernels::KernelConfig;

static constexpr StringLiteral kModuleName = "skipattn_kernels";

namespace {
/// A tiled attention as attn-tile (and attn-insert-block-skip) left it.
struct TiledAttention {
  scf::ForallOp forall;
  Value query, key, value;
  /// attn.paged_attention: the block table and the lengths.
  Value blockTable, seqLens;
  /// The mask operand, or null.
  Value mask;
  RankedTensorType resultType;
  Value skipParam; // the function argument with lambda or F
  Value stats;     // the function argument with the counters
  KernelConfig config;
};
} // namespace

template <typename OpTy> static OpTy findIn(Block *block) {
  for (Operation &op : *block)
    if (auto typed = dyn_cast<OpTy>(op))
      return typed;
  return nullptr;
}

/// Reads the tiled form, or explains what is missing.
static FailureOr<TiledAttention> analyze(scf::ForallOp forall,
                                         StringRef chip) {
  TiledAttention ta;
  ta.forall = forall;
  Block *body = forall.getBody();
  auto qLoad = findIn<LoadTileOp>(body);
  auto loop = findIn<scf::ForOp>(body);
  // The output, and with attn.attention's lse result the log-sum-exp.
  bool lse = findIn<TileLseOp>(body) != nullptr;
  if (!qLoad || !loop || forall.getNumResults() != (lse ? 2u : 1u))
    return forall.emitError("convert-attn-to-gpu: this loop is not the tiled "
                            "form attn-tile produces");
  TileScoresOp scores;
  TileUpdateOp update;
  SkipVoteOp vote;
  memref::AtomicRMWOp counter;
  loop.walk([&](Operation *op) {
    if (auto s = dyn_cast<TileScoresOp>(op))
      scores = s;
    if (auto u = dyn_cast<TileUpdateOp>(op))
      update = u;
    if (auto v = dyn_cast<SkipVoteOp>(op))
      vote = v;
    if (auto a = dyn_cast<memref::AtomicRMWOp>(op))
      counter = a;
  });
  if (!scores || !update)
    return forall.emitError("convert-attn-to-gpu: the kv loop holds no "
                            "attn.tile_scores / attn.tile_update");
  // The CPU-only tilings of the decode kernel's work split (docs/serving.md):
  // the GPU kernels pack GQA groups and split the kv range on their own.
  if (scores.getPackedHeads() || findIn<TileMergeOp>(loop.getBody()))
    return forall.emitError("convert-attn-to-gpu: attn-tile's pack-gqa and "
                            "kv-splits tilings are for the CPU lowering; the "
                            "GPU decode kernel packs and splits on its own "
                            "(decode-kernels)");
  if (loop->hasAttr("attn.skip"))
    return loop.emitError("convert-attn-to-gpu: this kv loop asks for "
                          "Skip-Softmax; run attn-insert-block-skip first");
  KernelConfig &c = ta.config;
  Operation *kDef = scores.getKey().getDefiningOp();
  Operation *vDef = update.getValue().getDefiningOp();
  if (auto kPaged = dyn_cast_or_null<LoadPagedTileOp>(kDef)) {
    // attn.paged_attention: K and V are page pools [num_pages, P, Hkv, D];
    // the kv length is L_b = seq_lens[b], read in the forall.
    auto vPaged = dyn_cast_or_null<LoadPagedTileOp>(vDef);
    auto len = kPaged.getLimit().getDefiningOp<arith::IndexCastOp>();
    auto clamp = len ? len.getIn().getDefiningOp<arith::MaxSIOp>() : nullptr;
    auto read =
        clamp ? clamp.getLhs().getDefiningOp<tensor::ExtractOp>() : nullptr;
    if (!vPaged || !read)
      return forall.emitError("convert-attn-to-gpu: this paged attention is "
                              "not the tiled form attn-tile produces");
    ta.key = kPaged.getPages();
    ta.value = vPaged.getPages();
    ta.blockTable = kPaged.getTable();
    ta.seqLens = read.getTensor();
    c.pageSize = cast<RankedTensorType>(ta.key.getType()).getDimSize(1);
  } else {
    auto kLoad = dyn_cast_or_null<LoadTileOp>(kDef);
    auto vLoad = dyn_cast_or_null<LoadTileOp>(vDef);
    if (!kLoad || !vLoad)
      return forall.emitError("convert-attn-to-gpu: K and V tiles must come "
                              "from attn.load_tile");
    ta.key = kLoad.getSource();
    ta.value = vLoad.getSource();
  }
  ta.query = qLoad.getSource();
  ta.resultType = cast<RankedTensorType>(forall.getResult(0).getType());

  auto qType = cast<RankedTensorType>(ta.query.getType());
  auto kType = cast<RankedTensorType>(ta.key.getType());
  auto vType = cast<RankedTensorType>(ta.value.getType());
  c.elementType = qType.getElementType();
  c.qHeads = qType.getDimSize(1);
  // [B, Hkv, Skv, D], or pages [num_pages, P, Hkv, D].
  c.kvHeads = kType.getDimSize(c.pageSize ? 2 : 1);
  c.headDim = qType.getDimSize(3);
  c.valueHeadDim = vType.getDimSize(3);
  c.causal = scores.getCausal();
  c.scale = scores.getScale().convertToFloat();
  c.blockM = cast<RankedTensorType>(qLoad.getType()).getDimSize(0);
  c.blockN = cast<RankedTensorType>(scores.getKey().getType()).getDimSize(0);
  c.lse = lse;

  // What the kernels cover.
  if (!c.elementType.isBF16() && !c.elementType.isF16())
    return forall.emitError()
           << "convert-attn-to-gpu: element type " << c.elementType
           << " has no tensor-core path; use bf16 or f16 "
              "(or the CPU pipeline)";
  if (c.headDim != 64 && c.headDim != 128)
    return forall.emitError() << "convert-attn-to-gpu: head dim " << c.headDim
                              << " is not supported (64 and 128 are)";
  if (c.valueHeadDim != c.headDim)
    return forall.emitError()
           << "convert-attn-to-gpu: value head dim " << c.valueHeadDim
           << " must equal the head dim " << c.headDim;
  if (Value maskTile = scores.getMask()) {
    auto load = maskTile.getDefiningOp<LoadMaskTileOp>();
    if (!load)
      return forall.emitError("convert-attn-to-gpu: the mask tile must come "
                              "from attn.load_mask_tile");
    ta.mask = load.getMask();
    Type maskElt = cast<RankedTensorType>(ta.mask.getType()).getElementType();
    c.mask = maskElt.isInteger(1) ? KernelConfig::Mask::Bool
                                  : KernelConfig::Mask::Additive;
  }
  if (c.blockM != 64 && c.blockM != 128)
    return forall.emitError() << "convert-attn-to-gpu: block-m " << c.blockM
                              << " is not supported (64 or 128: 16 rows per "
                                 "warp)";
  if (c.blockN != 32 && c.blockN != 64 && c.blockN != 128)
    return forall.emitError() << "convert-attn-to-gpu: block-n " << c.blockN
                              << " is not supported (32, 64 or 128)";

  if (vote) {
    c.skip = true;
    c.voteRows = vote.getGroupRows();
    if (c.voteRows != c.blockM && c.voteRows != 16)
      return vote.emitError()
             << "convert-attn-to-gpu: a vote group of " << c.voteRows
             << " rows is not supported (the q-block, or 16 "
                "rows: one warp)";
    // The threshold argument: lambda itself, or F with lambda = F / Skv.
    Value lambda = vote.getLambda();
    c.skipKind = SkipKind::Threshold;
    if (auto div = lambda.getDefiningOp<arith::DivFOp>()) {
      c.skipKind = SkipKind::ScaleFactor;
      lambda = div.getLhs();
    }
    if (!isa<BlockArgument>(lambda))
      return vote.emitError("convert-attn-to-gpu: the skip threshold must be "
                            "a function argument (attn-insert-block-skip "
                            "adds it)");
    ta.skipParam = lambda;
  }
  // The Hopper kernel gives each consumer warpgroup one 64-row q-block, and
  // its wgmma branches must be uniform per warpgroup: a warp vote cannot
  // skip on its own there, so that tiling keeps the mma.sync kernel.
  // The Hopper kernel does not write a log-sum-exp or read a mask yet: such
  // an attention keeps the mma.sync kernel.
  c.sm90 = chip == "sm_90a" && c.blockM == 64 &&
           (c.blockN == 64 || c.blockN == 128) &&
           (!c.skip || c.voteRows == c.blockM) && !c.lse &&
           c.mask == KernelConfig::Mask::None;
  if (counter) {
    c.stats = true;
    ta.stats = counter.getMemref();
    if (!isa<BlockArgument>(ta.stats))
      return counter.emitError("convert-attn-to-gpu: the counters must be a "
                               "function argument");
  }
  return ta;
}

static Value toI32(OpBuilder &b, Location loc, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
}

/// The device address of a buffer as i64.
static Value addressOf(OpBuilder &b, Location loc, Value buffer) {
  Value index = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
}

static Value bufferOf(OpBuilder &b, Location loc, Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto memref = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, loc, memref, tensor,
                                           /*readOnly=*/true);
}

static constexpr StringLiteral kTensorMapFn = "mgpuSkipattnTensorMapEncode";

/// The CUtensorMap of a [outer, rows, inner] view of `buffer` with boxes of
/// 64 x boxRows, from libskipattn_runtime's mgpuSkipattnTensorMapEncode(address,
/// dtype (0 f16, 1 bf16), inner, rows, outer, boxRows), which returns the
/// device address of the map (0 on failure, which the kernel launch then
/// reports as an invalid address).
static Value tensorMap(OpBuilder &b, Location loc, ModuleOp module,
                       Value buffer, Type elt, int64_t inner, Value rows,
                       Value outer, int64_t boxRows) {
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  auto fn = module.lookupSymbol<func::FuncOp>(kTensorMapFn);
  if (!fn) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    fn = func::FuncOp::create(
        b, loc, kTensorMapFn,
        b.getFunctionType({i64, i32, i64, i64, i64, i32}, {i64}));
    fn.setPrivate();
  }
  auto toI64 = [&](Value index) -> Value {
    return arith::IndexCastOp::create(b, loc, i64, index);
  };
  auto i32c = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  };
  Value args[] = {addressOf(b, loc, buffer),
                  i32c(elt.isBF16() ? 1 : 0),
                  arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(inner)),
                  toI64(rows),
                  toI64(outer),
                  i32c(boxRows)};
  return func::CallOp::create(b, loc, fn, args).getResult(0);
}

static gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module) {
  if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kModuleName))
    return existing;
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  b.getUnitAttr());
  return gpu::GPUModuleOp::create(b, module.getLoc(), kModuleName);
}

/// Records how to launch a kernel, for bundle manifests.
static void describe(OpBuilder &b, gpu::GPUFuncOp func, StringRef role,
                     ArrayRef<StringRef> params, int64_t threads,
                     int64_t sharedBytes) {
  func->setAttr("skipattn.role", b.getStringAttr(role));
  func->setAttr("skipattn.params", b.getStrArrayAttr(params));
  func->setAttr("skipattn.threads", b.getI64IntegerAttr(threads));
  func->setAttr("skipattn.shared_bytes", b.getI64IntegerAttr(sharedBytes));
}

static SmallVector<StringRef> withSkipParams(SmallVector<StringRef> names,
                                             const KernelConfig &c) {
  if (c.skip)
    names.push_back(c.skipKind == SkipKind::Threshold ? "threshold"
                                                      : "scale_factor");
  if (c.stats)
    names.push_back("stats");
  return names;
}

/// The parameters of a kernel that writes the output rows, with the lse
/// output last when the attention has one.
static SmallVector<StringRef> withLseParam(SmallVector<StringRef> names,
                                           const KernelConfig &c) {
  if (c.lse)
    names.push_back("lse");
  return names;
}

/// The parameters of a kernel that reads the scores, with the mask and its
/// extents last when the attention has one.
static SmallVector<StringRef> withMaskParams(SmallVector<StringRef> names,
                                             const KernelConfig &c) {
  if (c.mask != KernelConfig::Mask::None)
    names.append({"mask", "mask_batch", "mask_heads", "mask_q_len",
                  "mask_kv_len"});
  return names;
}

/// Whether `into` writes a tensor of `type` into a row-major memref of the
/// same element type and a compatible shape, defined before the launch
/// that replaces `forall`, which the kernel can then address as its output.
static bool writesIdentityMemRef(bufferization::MaterializeInDestinationOp into,
                                 scf::ForallOp forall, RankedTensorType type) {
  auto dest = dyn_cast<MemRefType>(into.getDest().getType());
  return dest && DominanceInfo().properlyDominates(into.getDest(), forall) &&
         dest.getLayout().isIdentity() &&
         dest.getElementType() == type.getElementType() &&
         succeeded(verifyCompatibleShape(dest.getShape(), type.getShape()));
}

static LogicalResult lower(TiledAttention &ta, ModuleOp module,
                           bool decodeKernels, bool kernelsOnly) {
  const KernelConfig &c = ta.config;
  // Paged attention has decode kernels only, whose split count the runtime
  // picks: no host launch.
  bool paged = c.pageSize != 0;
  if (paged && !kernelsOnly)
    return ta.forall.emitError(
        "convert-attn-to-gpu: paged attention has no host launch (its "
        "decode kernels take a split count that the runtime picks); compile "
        "it into a kernel bundle (skipattn-compile), which uses "
        "kernels-only");
  if (paged && c.group() > 16)
    return ta.forall.emitError()
           << "convert-attn-to-gpu: paged attention needs the decode kernels, "
              "which take at most 16 query heads per kv head, got "
           << c.group();
  gpu::GPUModuleOp kernels = getOrCreateKernelModule(module);
  OpBuilder b(ta.forall);
  std::string name = c.name("prefill");
  auto func = kernels.lookupSymbol<gpu::GPUFuncOp>(name);
  if (!func && !paged) {
    // The Hopper kernel reads q, k and v through TMA tensor maps.
    SmallVector<StringRef> operands = {"q", "k", "v"};
    if (c.sm90)
      operands = {"tmap_q", "tmap_k", "tmap_v"};
    func = c.sm90 ? skipattn::kernels::buildSm90PrefillKernel(b, kernels, c)
                  : skipattn::kernels::buildPrefillKernel(b, kernels, c);
    operands.append({"out", "batch", "q_len", "kv_len"});
    describe(b, func, "prefill",
             withMaskParams(withLseParam(withSkipParams(operands, c), c), c),
             c.prefillThreads(), c.prefillSharedBytes());
    func->setAttr("skipattn.block_m", b.getI64IntegerAttr(c.prefillCtaRows()));
  }
  if ((decodeKernels || paged) && c.group() <= 16 &&
      !kernels.lookupSymbol(c.name("decode"))) {
    skipattn::kernels::DecodeKernels decode =
        skipattn::kernels::buildDecodeKernels(b, kernels, c);
    auto describeDecode = [&](gpu::GPUFuncOp func, StringRef role,
                              int64_t warps) {
      SmallVector<StringRef> params = {
          "q", "k", "v", "workspace", "batch", "q_len", "kv_len", "num_splits"};
      if (paged)
        params.append({"block_table", "seq_lens", "max_pages"});
      describe(b, func, role, withMaskParams(withSkipParams(params, c), c),
               32 * warps, c.decodeSharedBytes(warps));
      func->setAttr("skipattn.max_q_len",
                    b.getI64IntegerAttr(c.decodeMaxQueryLen(warps)));
      func->setAttr("skipattn.block_n", b.getI64IntegerAttr(c.decodeBlockN()));
    };
    describeDecode(decode.decode, "decode", 1);
    if (decode.wide)
      describeDecode(decode.wide, "decode_wide", c.decodeWideWarps());
    gpu::GPUFuncOp combine = decode.combine;
    describe(
        b, combine, "combine",
        withLseParam({"workspace", "out", "batch", "q_len", "num_splits"}, c),
        c.valueHeadDim, 0);
  }

  Location loc = ta.forall.getLoc();
  b.setInsertionPoint(ta.forall);
  if (kernelsOnly) {
    // The runtime launches the kernels; the host computes nothing.
    for (OpResult result : ta.forall.getResults())
      result.replaceAllUsesWith(
          ub::PoisonOp::create(b, loc, result.getType()).getResult());
    ta.forall.erase();
    return success();
  }
  Value batch = tensor::DimOp::create(b, loc, ta.query, 0);
  Value sq = tensor::DimOp::create(b, loc, ta.query, 2);
  Value skv = tensor::DimOp::create(b, loc, ta.key, 2);
  Value q = bufferOf(b, loc, ta.query);
  Value k = bufferOf(b, loc, ta.key);
  Value v = bufferOf(b, loc, ta.value);
  SmallVector<Value> dyn;
  if (ta.resultType.isDynamicDim(0))
    dyn.push_back(batch);
  if (ta.resultType.isDynamicDim(2))
    dyn.push_back(sq);
  // A result materialized into a memref (a host function on memrefs) is
  // written there by the kernel; that memref must be device memory, as the
  // inputs must. Otherwise the result gets a gpu.alloc of its own. The
  // lse result, [B, Hq, Sq], has the output's dynamic extents.
  SmallVector<bufferization::MaterializeInDestinationOp> intos;
  SmallVector<Value> outs;
  for (OpResult result : ta.forall.getResults()) {
    auto type = cast<RankedTensorType>(result.getType());
    auto into = dyn_cast<bufferization::MaterializeInDestinationOp>(
        result.hasOneUse() ? *result.getUsers().begin() : nullptr);
    if (into && !writesIdentityMemRef(into, ta.forall, type))
      into = nullptr;
    intos.push_back(into);
    if (into) {
      outs.push_back(into.getDest());
      continue;
    }
    auto bufferType = MemRefType::get(type.getShape(), type.getElementType());
    outs.push_back(gpu::AllocOp::create(b, loc, bufferType,
                                        /*asyncToken=*/Type(), ValueRange{},
                                        dyn, ValueRange{})
                       .getMemref());
  }
  Value out = outs[0];

  SmallVector<Value> args;
  if (c.sm90) {
    Value hkv = arith::ConstantIndexOp::create(b, loc, c.kvHeads);
    Value hq = arith::ConstantIndexOp::create(b, loc, c.qHeads);
    args = {tensorMap(b, loc, module, q, c.elementType, c.headDim, sq,
                      arith::MulIOp::create(b, loc, batch, hq), c.blockM),
            tensorMap(b, loc, module, k, c.elementType, c.headDim, skv,
                      arith::MulIOp::create(b, loc, batch, hkv), c.blockN),
            tensorMap(b, loc, module, v, c.elementType, c.valueHeadDim, skv,
                      arith::MulIOp::create(b, loc, batch, hkv), c.blockN)};
  } else {
    args = {addressOf(b, loc, q), addressOf(b, loc, k), addressOf(b, loc, v)};
  }
  args.append({addressOf(b, loc, out), toI32(b, loc, batch), toI32(b, loc, sq),
               toI32(b, loc, skv)});
  if (c.skip)
    args.push_back(ta.skipParam);
  if (c.stats)
    args.push_back(addressOf(b, loc, ta.stats));
  if (c.lse)
    args.push_back(addressOf(b, loc, outs[1]));
  if (ta.mask) {
    args.push_back(addressOf(b, loc, bufferOf(b, loc, ta.mask)));
    for (int64_t d = 0; d < 4; ++d)
      args.push_back(
          toI32(b, loc, tensor::DimOp::create(b, loc, ta.mask, d)));
  }

  Value bm = arith::ConstantIndexOp::create(b, loc, c.prefillCtaRows());
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  gpu::KernelDim3 grid = {arith::CeilDivUIOp::create(b, loc, sq, bm),
                          arith::ConstantIndexOp::create(b, loc, c.qHeads),
                          batch};
  gpu::KernelDim3 block = {
      arith::ConstantIndexOp::create(b, loc, c.prefillThreads()), one, one};
  Value smem = arith::ConstantOp::create(
      b, loc, b.getI32IntegerAttr(c.prefillSharedBytes()));
  gpu::LaunchFuncOp::create(b, loc, func, grid, block, smem, args);
  for (auto [result, into, buffer] :
       llvm::zip(ta.forall.getResults(), intos, outs)) {
    if (into) {
      into.erase();
      continue;
    }
    Value tensor = bufferization::ToTensorOp::create(
        b, loc, result.getType(), buffer, /*restrict=*/true, /*writable=*/true);
    result.replaceAllUsesWith(tensor);
  }
  ta.forall.erase();
  return success();
}

namespace {
struct ConvertAttnToGPUPass
    : public skipattn::impl::ConvertAttnToGPUBase<ConvertAttnToGPUPass> {
  using ConvertAttnToGPUBase::ConvertAttnToGPUBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!skipattn::isSupportedGPUChip(chip)) {
      module.emitError() << "convert-attn-to-gpu: chip must be "
                         << skipattn::kSupportedGPUChips << ", got '" << chip
                         << "'";
      return signalPassFailure();
    }
    WalkResult untiled = module.walk([](Operation *op) {
      if (!isa<AttentionOp, PagedAttentionOp>(op))
        return WalkResult::advance();
      op->emitError() << "convert-attn-to-gpu: " << op->getName()
                      << " must be tiled first; run attn-tile";
      return WalkResult::interrupt();
    });
    if (untiled.wasInterrupted())
      return signalPassFailure();
    SmallVector<scf::ForallOp> loops;
    module.walk([&](scf::ForallOp forall) {
      if (findIn<LoadTileOp>(forall.getBody()))
        loops.push_back(forall);
    });
    for (scf::ForallOp forall : loops) {
      FailureOr<TiledAttention> ta = analyze(forall, chip);
      if (failed(ta) || failed(lower(*ta, module, decodeKernels, kernelsOnly)))
        return signalPassFailure();
    }
  }
};
} // namespace
