//===- AttnToGPU.cpp - tiled attention to GPU kernels and their launch ----===//
//
// Two passes share this file, one per side of the program:
//
// - convert-attn-to-gpu (on a module) reads each tiled attention (attn-tile's
//   scf.forall, the tile ops and attn-insert-block-skip's predicate) into a
//   KernelConfig, refuses what the kernels do not cover with a diagnostic,
//   and generates the kernels into `gpu.module @skipattn_kernels` of the
//   module that holds the attention. With `launch` (the default) it also
//   does what the second pass does.
// - convert-attn-to-gpu-launch (on any op, a function in a pipeline) is the
//   host code: it replaces each tiled attention by the buffers, tensor maps
//   and gpu.launch_func of its kernel. It touches nothing outside the
//   function, so another compiler can launch the kernels its own way.
//
// Both read the same KernelConfig off the same IR, so the kernel the launch
// names is the kernel the first pass generated for it. The host rewrite
// keeps every user of the attention: the result is a tensor over the
// kernel's output buffer, or the kernel writes a memref that the result was
// materialized into; an unused result's buffer is freed after the launch.
//
// Each generated gpu.func carries an `attn.kernel = #attn.kernel<...>`
// (role, parameter names, threads, shared memory, block sizes) so that
// skipattn-compile can describe the launch in a bundle manifest without
// re-deriving it.
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
#define GEN_PASS_DEF_CONVERTATTNTOGPULAUNCH
#include "skipattn/Conversion/Passes.h.inc"
} // namespace skipattn

using namespace mlir;
using namespace skipattn::attn;
using skipattn::kernels::KernelConfig;

static constexpr StringLiteral kModuleName = "skipattn_kernels";
static constexpr StringLiteral kTensorMapFn = "mgpuSkipattnTensorMapEncode";

//===----------------------------------------------------------------------===//
// Reading the tiled form
//===----------------------------------------------------------------------===//

namespace {
/// A tiled attention as attn-tile (and attn-insert-block-skip) left it.
struct TiledAttention {
  scf::ForallOp forall;
  Value query, key, value;
  /// attn.paged_attention: the block table and the lengths.
  Value blockTable, seqLens;
  /// attn.varlen_attention: the cumulative lengths.
  Value cuSeqlensQ, cuSeqlensK;
  /// The mask operand, or null.
  Value mask;
  /// attn.attention's init_max operand (the carry of a ring), or null.
  Value initMax;
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

/// The scf.forall ops under `root` that attn-tile built: the ones whose body
/// loads a query tile.
static SmallVector<scf::ForallOp> collectTiledAttentions(Operation *root) {
  SmallVector<scf::ForallOp> loops;
  root->walk([&](scf::ForallOp forall) {
    if (findIn<LoadTileOp>(forall.getBody()) ||
        findIn<LoadPackedTileOp>(forall.getBody()))
      loops.push_back(forall);
  });
  return loops;
}

/// Fails on the first attn.attention under `root`, which must be tiled first.
static LogicalResult checkTiled(Operation *root, StringRef pass) {
  WalkResult untiled = root->walk([&](Operation *op) {
    if (!isa<AttentionOp, PagedAttentionOp, VarlenAttentionOp>(op))
      return WalkResult::advance();
    op->emitError() << pass << ": " << op->getName()
                    << " must be tiled first; run attn-tile";
    return WalkResult::interrupt();
  });
  return failure(untiled.wasInterrupted());
}

/// Kernels are launched from host code: a tiled attention inside device code
/// (a gpu.module, gpu.func or gpu.launch body) has nowhere to go.
static LogicalResult checkHostContext(scf::ForallOp forall, StringRef pass) {
  Operation *device = forall->getParentOfType<gpu::GPUModuleOp>();
  if (!device)
    device = forall->getParentOfType<gpu::GPUFuncOp>();
  if (!device)
    device = forall->getParentOfType<gpu::LaunchOp>();
  if (device)
    return forall.emitError()
           << pass << ": tiled attention inside device code ('"
           << device->getName()
           << "') cannot launch a kernel; convert it from host code";
  if (!forall->getParentOfType<ModuleOp>())
    return forall.emitError() << pass
                              << ": tiled attention must be inside a module, "
                                 "which receives its kernels";
  return success();
}

/// Whether the forall writes a kv loop's running max as a result: the max
/// result of attn.attention, a row slice of the loop's final max.
static bool writesRunningMax(scf::ForallOp forall) {
  for (Operation &op : forall.getTerminator().getYieldingOps()) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(op);
    auto rows = insert
                    ? insert.getSource().getDefiningOp<tensor::ExtractSliceOp>()
                    : nullptr;
    if (rows && rows.getSource().getDefiningOp<scf::ForOp>())
      return true;
  }
  return false;
}

/// Reads the tiled form, or explains what is missing.
static FailureOr<TiledAttention> analyze(scf::ForallOp forall, StringRef chip) {
  TiledAttention ta;
  ta.forall = forall;
  Block *body = forall.getBody();
  // The Q tile: attn.load_tile, or (varlen) attn.load_packed_tile.
  Operation *qLoad = findIn<LoadTileOp>(body);
  if (!qLoad)
    qLoad = findIn<LoadPackedTileOp>(body);
  auto loop = findIn<scf::ForOp>(body);
  // The carry of a ring (docs/distributed.md): init_max starts the running
  // max and the max result is its final value. The prefill kernel takes
  // both, or neither.
  auto initMaxLoad = findIn<LoadMaxTileOp>(body);
  bool carry = static_cast<bool>(initMaxLoad);
  if (carry != writesRunningMax(forall))
    return forall.emitError("convert-attn-to-gpu: the GPU kernels take "
                            "attn.attention's init_max and max together "
                            "(the carry of a ring); this attention has only "
                            "one of them");
  // The output, and with attn.attention's lse result the log-sum-exp.
  bool lse = findIn<TileLseOp>(body) != nullptr;
  if (!qLoad || !loop || forall.getNumResults() != 1u + lse + carry)
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
  if (update.getSkipRequestAttr())
    return update.emitError("convert-attn-to-gpu: this kv loop asks for "
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
  } else if (auto kPacked = dyn_cast_or_null<LoadPackedTileOp>(kDef)) {
    // attn.varlen_attention: packed [T, H, D] tensors; each load starts at
    // its sequence's first token, index_cast(cu_seqlens[b]).
    auto vPacked = dyn_cast_or_null<LoadPackedTileOp>(vDef);
    auto cuOf = [](Value start) -> Value {
      auto cast = start.getDefiningOp<arith::IndexCastOp>();
      auto read = cast ? cast.getIn().getDefiningOp<tensor::ExtractOp>()
                       : nullptr;
      return read ? read.getTensor() : Value();
    };
    auto qPacked = dyn_cast<LoadPackedTileOp>(qLoad);
    if (!vPacked || !qPacked || !cuOf(qPacked.getStart()) ||
        !cuOf(kPacked.getStart()))
      return forall.emitError("convert-attn-to-gpu: this varlen attention is "
                              "not the tiled form attn-tile produces");
    ta.key = kPacked.getSource();
    ta.value = vPacked.getSource();
    ta.cuSeqlensQ = cuOf(qPacked.getStart());
    ta.cuSeqlensK = cuOf(kPacked.getStart());
    c.varlen = true;
  } else {
    auto kLoad = dyn_cast_or_null<LoadTileOp>(kDef);
    auto vLoad = dyn_cast_or_null<LoadTileOp>(vDef);
    if (!kLoad || !vLoad)
      return forall.emitError("convert-attn-to-gpu: K and V tiles must come "
                              "from attn.load_tile");
    ta.key = kLoad.getSource();
    ta.value = vLoad.getSource();
  }
  ta.query = qLoad->getOperand(0);
  if (!c.varlen && !isa<LoadTileOp>(qLoad))
    return forall.emitError("convert-attn-to-gpu: the Q tile must come from "
                            "attn.load_tile");
  ta.resultType = cast<RankedTensorType>(forall.getResult(0).getType());

  auto qType = cast<RankedTensorType>(ta.query.getType());
  auto kType = cast<RankedTensorType>(ta.key.getType());
  auto vType = cast<RankedTensorType>(ta.value.getType());
  c.elementType = qType.getElementType();
  c.qHeads = qType.getDimSize(1);
  // [B, Hkv, Skv, D], or pages [num_pages, P, Hkv, D].
  c.kvHeads = kType.getDimSize(c.pageSize ? 2 : 1);
  // The head dim is the last dim ([B, H, S, D], or varlen [T, H, D]).
  c.headDim = qType.getDimSize(qType.getRank() - 1);
  c.valueHeadDim = vType.getDimSize(vType.getRank() - 1);
  c.causal = scores.getCausal();
  c.scale = scores.getScale().convertToFloat();
  c.blockM = cast<RankedTensorType>(qLoad->getResult(0).getType()).getDimSize(0);
  c.blockN = cast<RankedTensorType>(scores.getKey().getType()).getDimSize(0);
  c.lse = lse;
  c.initMax = carry;
  if (carry)
    ta.initMax = initMaxLoad.getSource();

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
    // The run-time parameter, as the vote's criterion says: lambda itself,
    // or F with lambda = F / Skv, which the kernel divides itself.
    SkipAttr criterion = vote.getCriterionAttr();
    if (!criterion)
      return vote.emitError("convert-attn-to-gpu: the skip vote has no "
                            "criterion (attn-insert-block-skip sets it)");
    c.skipKind = criterion.getKind();
    Value param = vote.getLambda();
    if (c.skipKind == SkipKind::ScaleFactor) {
      auto div = param.getDefiningOp<arith::DivFOp>();
      param = div ? div.getLhs() : Value();
    }
    if (!param || !isa<BlockArgument>(param))
      return vote.emitError()
             << "convert-attn-to-gpu: the skip "
             << (c.skipKind == SkipKind::Threshold ? "threshold"
                                                   : "scale factor")
             << " must be a function argument (attn-insert-block-skip adds "
                "it)";
    ta.skipParam = param;
  }
  // The Hopper kernel gives each consumer warpgroup one 64-row q-block, and
  // its wgmma branches must be uniform per warpgroup: a warp vote cannot
  // skip on its own there, so that tiling keeps the mma.sync kernel.
  // The Hopper kernel does not write a log-sum-exp, carry the running max
  // or read a mask yet: such an attention keeps the mma.sync kernel.
  c.sm90 = chip == "sm_90a" && c.blockM == 64 &&
           (c.blockN == 64 || c.blockN == 128) &&
           (!c.skip || c.voteRows == c.blockM) && !c.lse && !c.initMax &&
           c.mask == KernelConfig::Mask::None;
  if (counter) {
    c.stats = true;
    ta.stats = counter.getMemref();
    if (!isa<BlockArgument>(ta.stats))
      return counter.emitError("convert-attn-to-gpu: the counters must be a "
                               "function argument");
  }
  if (c.pageSize && c.group() > 16)
    return forall.emitError()
           << "convert-attn-to-gpu: paged attention needs the decode kernels, "
              "which take at most 16 query heads per kv head, got "
           << c.group();
  return ta;
}

/// Checks the chip option, that nothing is left untiled, and that every
/// tiled attention under `root` can be converted, before anything is
/// rewritten. Returns the tiled attentions; each is read again right before
/// its rewrite, since an earlier rewrite may replace its inputs (an
/// attention that reads another's result).
static FailureOr<SmallVector<scf::ForallOp>>
checkAll(Operation *root, StringRef chip, StringRef pass) {
  if (!skipattn::isSupportedGPUChip(chip))
    return root->emitError()
           << pass << ": chip must be " << skipattn::kSupportedGPUChips
           << ", got '" << chip << "'";
  if (failed(checkTiled(root, pass)))
    return failure();
  SmallVector<scf::ForallOp> all = collectTiledAttentions(root);
  for (scf::ForallOp forall : all)
    if (failed(checkHostContext(forall, pass)) || failed(analyze(forall, chip)))
      return failure();
  return all;
}

//===----------------------------------------------------------------------===//
// The kernels
//===----------------------------------------------------------------------===//

static gpu::GPUModuleOp getOrCreateKernelModule(ModuleOp module) {
  if (auto existing = module.lookupSymbol<gpu::GPUModuleOp>(kModuleName))
    return existing;
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  b.getUnitAttr());
  return gpu::GPUModuleOp::create(b, module.getLoc(), kModuleName);
}

/// Declares libskipattn_runtime's mgpuSkipattnTensorMapEncode in `module`
/// once (see tensorMap below).
static void declareTensorMapFunction(ModuleOp module) {
  if (module.lookupSymbol(kTensorMapFn))
    return;
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToStart(module.getBody());
  Type i64 = b.getI64Type(), i32 = b.getI32Type();
  auto fn = func::FuncOp::create(
      b, module.getLoc(), kTensorMapFn,
      b.getFunctionType({i64, i32, i64, i64, i64, i32}, {i64}));
  fn.setPrivate();
}

/// Records how to launch a kernel (#attn.kernel), for bundle manifests.
static void describe(OpBuilder &b, gpu::GPUFuncOp func, StringRef role,
                     ArrayRef<StringRef> params, int64_t threads,
                     int64_t sharedBytes, int64_t blockM = 0,
                     int64_t blockN = 0, int64_t maxQueryLen = 0,
                     bool persistent = false) {
  func->setAttr(KernelAttr::getAttrName(),
                KernelAttr::get(b.getContext(), role, b.getStrArrayAttr(params),
                                threads, sharedBytes, blockM, blockN,
                                maxQueryLen, persistent));
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

/// The prefill kernel's carry (init_max in, max out), after the lse.
static SmallVector<StringRef> withCarryParams(SmallVector<StringRef> names,
                                              const KernelConfig &c) {
  if (c.initMax)
    names.append({"init_max", "max"});
  return names;
}

/// The parameters of a kernel that reads the scores, with the mask and its
/// extents last when the attention has one.
static SmallVector<StringRef> withMaskParams(SmallVector<StringRef> names,
                                             const KernelConfig &c) {
  if (c.mask != KernelConfig::Mask::None)
    names.append(
        {"mask", "mask_batch", "mask_heads", "mask_q_len", "mask_kv_len"});
  return names;
}

/// The varlen prefill kernel's cumulative lengths, after the operands above
/// (the Hopper kernel's tile counter follows).
static SmallVector<StringRef> withVarlenParams(SmallVector<StringRef> names,
                                               const KernelConfig &c) {
  if (c.varlen)
    names.append({"cu_seqlens_q", "cu_seqlens_k"});
  return names;
}

/// Generates the prefill kernel of `ta` (and with `decodeKernels` the decode
/// kernels) into the kernel module of the module that holds it,
/// unless a kernel of the same configuration is already there. Paged
/// attention gets the decode kernels only. The decode kernels do not carry
/// the running max (init_max): such an attention gets the prefill kernel
/// alone, which serves every query length.
static void generateKernels(TiledAttention &ta, bool decodeKernels) {
  const KernelConfig &c = ta.config;
  bool paged = c.pageSize != 0;
  auto host = ta.forall->getParentOfType<ModuleOp>();
  gpu::GPUModuleOp kernels = getOrCreateKernelModule(host);
  if (c.sm90 && !paged)
    declareTensorMapFunction(host);
  OpBuilder b(kernels.getBodyRegion());
  if (!paged && !kernels.lookupSymbol(c.name("prefill"))) {
    // The Hopper kernel reads q, k and v through TMA tensor maps.
    SmallVector<StringRef> operands = {"q", "k", "v"};
    if (c.sm90)
      operands = {"tmap_q", "tmap_k", "tmap_v"};
    gpu::GPUFuncOp func =
        c.sm90 ? skipattn::kernels::buildSm90PrefillKernel(b, kernels, c)
               : skipattn::kernels::buildPrefillKernel(b, kernels, c);
    operands.append({"out", "batch", "q_len", "kv_len"});
    SmallVector<StringRef> params = withVarlenParams(
        withMaskParams(
            withCarryParams(withLseParam(withSkipParams(operands, c), c), c),
            c),
        c);
    // The Hopper kernel is persistent: it walks the tiles of any grid, and
    // its CTAs take them from a counter, the zeroed workspace of the call.
    if (c.sm90)
      params.push_back("workspace_zeroed");
    describe(b, func, "prefill", params,
             c.prefillThreads(), c.prefillSharedBytes(), c.prefillCtaRows(),
             /*blockN=*/0, /*maxQueryLen=*/0, /*persistent=*/c.sm90);
  }
  if ((decodeKernels || paged) && !c.varlen && !c.initMax && c.group() <= 16 &&
      !kernels.lookupSymbol(c.name("decode"))) {
    skipattn::kernels::DecodeKernels decode =
        skipattn::kernels::buildDecodeKernels(b, kernels, c);
    auto describeDecode = [&](gpu::GPUFuncOp func, StringRef role,
                              int64_t warps) {
      SmallVector<StringRef> params = {"q",     "k",      "v",         "out",
                                       "workspace_zeroed", "batch", "q_len",
                                       "kv_len", "num_splits"};
      if (paged)
        params.append({"block_table", "seq_lens", "max_pages"});
      describe(b, func, role,
               withMaskParams(withLseParam(withSkipParams(params, c), c), c),
               32 * warps, c.decodeSharedBytes(warps), /*blockM=*/0,
               c.decodeBlockN(), c.decodeMaxQueryLen(warps));
    };
    describeDecode(decode.decode, "decode", 1);
    if (decode.wide)
      describeDecode(decode.wide, "decode_wide", c.decodeWideWarps());
  }
}

/// Paged attention has decode kernels only, whose split count the runtime
/// picks: it has no host launch.
static LogicalResult checkLaunchable(scf::ForallOp forall, StringRef chip) {
  FailureOr<TiledAttention> ta = analyze(forall, chip);
  if (failed(ta))
    return failure();
  if (ta->config.varlen)
    return forall.emitError(
        "convert-attn-to-gpu: varlen attention has no host launch (its grid "
        "comes from the longest sequence, which the runtime is told); "
        "compile it into a kernel bundle (skipattn-compile), or generate its "
        "kernels with convert-attn-to-gpu{launch=false}");
  if (ta->config.pageSize)
    return forall.emitError(
        "convert-attn-to-gpu: paged attention has no host launch (its "
        "decode kernels take a split count that the runtime picks); compile "
        "it into a kernel bundle (skipattn-compile), or generate its kernels "
        "with convert-attn-to-gpu{launch=false}");
  return success();
}

//===----------------------------------------------------------------------===//
// The host code
//===----------------------------------------------------------------------===//

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

/// The CUtensorMap of a [outer, rows, inner] view of `buffer` with boxes of
/// 64 x boxRows, from libskipattn_runtime's
/// mgpuSkipattnTensorMapEncode(address, dtype (0 f16, 1 bf16), inner, rows,
/// outer, boxRows), which returns the device address of the map (0 on failure,
/// which the kernel launch then reports as an invalid address).
/// convert-attn-to-gpu declares it.
static Value tensorMap(OpBuilder &b, Location loc, Value buffer, Type elt,
                       int64_t inner, Value rows, Value outer,
                       int64_t boxRows) {
  Type i64 = b.getI64Type();
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
  return func::CallOp::create(b, loc, kTensorMapFn, TypeRange{i64}, args)
      .getResult(0);
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

/// The materialization the kernel can write directly: the only use of
/// `result`, into a suitable memref. Null otherwise.
static bufferization::MaterializeInDestinationOp
directDestination(TiledAttention &ta, OpResult result) {
  if (!result.hasOneUse())
    return nullptr;
  auto into = dyn_cast<bufferization::MaterializeInDestinationOp>(
      *result.getUsers().begin());
  auto type = cast<RankedTensorType>(result.getType());
  if (!into || !writesIdentityMemRef(into, ta.forall, type))
    return nullptr;
  return into;
}

/// Replaces the tiled attention by the launch of its prefill kernel on
/// device buffers. The result's users read a tensor over the kernel's
/// output.
static LogicalResult launch(TiledAttention &ta) {
  const KernelConfig &c = ta.config;
  Location loc = ta.forall.getLoc();
  OpBuilder b(ta.forall);
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
    bufferization::MaterializeInDestinationOp into =
        directDestination(ta, result);
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
    args = {tensorMap(b, loc, q, c.elementType, c.headDim, sq,
                      arith::MulIOp::create(b, loc, batch, hq), c.blockM),
            tensorMap(b, loc, k, c.elementType, c.headDim, skv,
                      arith::MulIOp::create(b, loc, batch, hkv), c.blockN),
            tensorMap(b, loc, v, c.elementType, c.valueHeadDim, skv,
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
  if (c.initMax) {
    args.push_back(addressOf(b, loc, bufferOf(b, loc, ta.initMax)));
    args.push_back(addressOf(b, loc, outs.back()));
  }
  if (ta.mask) {
    args.push_back(addressOf(b, loc, bufferOf(b, loc, ta.mask)));
    for (int64_t d = 0; d < 4; ++d)
      args.push_back(
          toI32(b, loc, tensor::DimOp::create(b, loc, ta.mask, d)));
  }
  // The Hopper kernel's tile counter, zeroed. gpu-to-llvm converts only
  // the async forms of gpu.alloc and gpu.memset; the wait makes the zero
  // land before the (synchronous) launch.
  Value tileCounter;
  auto tokenType = gpu::AsyncTokenType::get(b.getContext());
  if (c.sm90) {
    Value start = gpu::WaitOp::create(b, loc, tokenType, ValueRange{})
                      .getAsyncToken();
    auto alloc = gpu::AllocOp::create(
        b, loc, MemRefType::get({1}, b.getI32Type()), tokenType,
        ValueRange{start}, ValueRange{}, ValueRange{});
    tileCounter = alloc.getMemref();
    Value zeroed =
        gpu::MemsetOp::create(
            b, loc, tokenType, ValueRange{alloc.getAsyncToken()}, tileCounter,
            arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)))
            .getAsyncToken();
    gpu::WaitOp::create(b, loc, Type(), ValueRange{zeroed});
    args.push_back(addressOf(b, loc, tileCounter));
  }

  Value bm = arith::ConstantIndexOp::create(b, loc, c.prefillCtaRows());
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value qTiles = arith::CeilDivUIOp::create(b, loc, sq, bm);
  Value heads = arith::ConstantIndexOp::create(b, loc, c.qHeads);
  gpu::KernelDim3 grid = {qTiles, heads, batch};
  // The Hopper kernel is persistent: it takes any grid of x CTAs. The
  // runtime's bundles launch one per SM; here, one per tile.
  if (c.sm90)
    grid = {arith::MulIOp::create(
                b, loc, arith::MulIOp::create(b, loc, qTiles, heads), batch),
            one, one};
  gpu::KernelDim3 block = {
      arith::ConstantIndexOp::create(b, loc, c.prefillThreads()), one, one};
  Value smem = arith::ConstantOp::create(
      b, loc, b.getI32IntegerAttr(c.prefillSharedBytes()));
  auto kernel = SymbolRefAttr::get(
      b.getStringAttr(kModuleName),
      {FlatSymbolRefAttr::get(b.getStringAttr(c.name("prefill")))});
  gpu::LaunchFuncOp::create(b, loc, kernel, grid, block, smem, args,
                            /*asyncObject=*/Value());
  if (tileCounter) {
    Value start = gpu::WaitOp::create(b, loc, tokenType, ValueRange{})
                      .getAsyncToken();
    Value freed = gpu::DeallocOp::create(b, loc, tokenType, ValueRange{start},
                                         tileCounter)
                      .getAsyncToken();
    gpu::WaitOp::create(b, loc, Type(), ValueRange{freed});
  }

  for (auto [result, into, buffer] :
       llvm::zip(ta.forall.getResults(), intos, outs)) {
    if (into) {
      into.erase();
      continue;
    }
    if (result.use_empty()) {
      // Launched for its counters only; the launch has completed when the
      // synchronous gpu.launch_func returns.
      gpu::DeallocOp::create(b, loc, /*asyncToken=*/Type(), ValueRange{},
                             buffer);
      continue;
    }
    Value tensor = bufferization::ToTensorOp::create(
        b, loc, result.getType(), buffer, /*restrict=*/true, /*writable=*/true);
    result.replaceAllUsesWith(tensor);
  }
  ta.forall.erase();
  return success();
}

//===----------------------------------------------------------------------===//
// The passes
//===----------------------------------------------------------------------===//

namespace {
struct ConvertAttnToGPUPass
    : public skipattn::impl::ConvertAttnToGPUBase<ConvertAttnToGPUPass> {
  using ConvertAttnToGPUBase::ConvertAttnToGPUBase;
  void runOnOperation() override {
    FailureOr<SmallVector<scf::ForallOp>> all =
        checkAll(getOperation(), chip, "convert-attn-to-gpu");
    if (failed(all))
      return signalPassFailure();
    for (scf::ForallOp forall : *all)
      if (launchKernels && failed(checkLaunchable(forall, chip)))
        return signalPassFailure();
    for (scf::ForallOp forall : *all) {
      FailureOr<TiledAttention> ta = analyze(forall, chip);
      if (failed(ta))
        return signalPassFailure();
      ta->config.decodeSharedMax = decodeSharedMax;
      generateKernels(*ta, decodeKernels);
      if (launchKernels && failed(launch(*ta)))
        return signalPassFailure();
    }
  }
};

struct ConvertAttnToGPULaunchPass
    : public skipattn::impl::ConvertAttnToGPULaunchBase<
          ConvertAttnToGPULaunchPass> {
  using ConvertAttnToGPULaunchBase::ConvertAttnToGPULaunchBase;
  void runOnOperation() override {
    FailureOr<SmallVector<scf::ForallOp>> all =
        checkAll(getOperation(), chip, "convert-attn-to-gpu-launch");
    if (failed(all))
      return signalPassFailure();
    for (scf::ForallOp forall : *all)
      if (failed(checkLaunchable(forall, chip)))
        return signalPassFailure();
    for (scf::ForallOp forall : *all) {
      FailureOr<TiledAttention> ta = analyze(forall, chip);
      if (failed(ta))
        return signalPassFailure();
      if (failed(launch(*ta)))
        return signalPassFailure();
    }
  }
};
} // namespace
