//===- InsertBlockSkip.cpp - insert the Skip-Softmax predicate ------------===//
//
// The attn-insert-block-skip pass. For each attn.tile_update that attn-tile
// marked with a skip request, it puts the softmax update and P·V of a
// kv-block (and the load of its V tile) behind the Skip-Softmax test, so
// that the predicate is one visible transformation that every lowering
// inherits. The threshold becomes a run-time argument of the enclosing
// function, and with `stats` the visited and skipped tiles of each (batch,
// query head) are counted into another argument, a [B, Hq, 2] buffer.
//
// The request travels on the update op and the criterion on the vote op
// (attn.skip_vote's `criterion`): dialect attributes of dialect ops, which
// survive whatever rewrites the surrounding loops. The new arguments carry
// no marker; the attentions of one function that this pass predicates
// share them.
//
// A kv loop that may start past kv-block 0 (a part of a split kv range)
// gets the seed of docs/serving.md: the scores of block 0, computed before
// the loop by a clone of the loop's own score computation, start its running
// max, and every block but block 0 is subject to the vote.
//
// A kv loop whose running max starts from anything but the constant -inf
// (attn.attention's init_max, loaded by attn.load_max_tile) votes every
// block, the first included: a row at -inf keeps any block where it has a
// score, and a row that starts from a carried max skips against it.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNINSERTBLOCKSKIP
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;

namespace {
/// The run-time arguments the pass added to one function: one threshold
/// per skip kind, and the counters.
struct SkipArguments {
  Value threshold, scaleFactor, stats;
};
} // namespace

/// `slot`, or a new trailing argument of `func` of `type` stored in it.
/// Fails if the argument in `slot` has another type.
static FailureOr<Value> getOrAddArgument(FunctionOpInterface func, Value &slot,
                                         Type type) {
  if (slot) {
    if (slot.getType() != type)
      return failure();
    return slot;
  }
  unsigned index = func.getNumArguments();
  if (failed(func.insertArgument(index, type, DictionaryAttr(), func.getLoc())))
    return failure();
  slot = func.getArgument(index);
  return slot;
}

/// Adds `value` (index) to counter `slot` (0: visited, 1: skipped) of
/// (batch, head) in the [B, Hq, 2] stats buffer, atomically: the tiles of
/// one head run in parallel.
static void addToStats(OpBuilder &b, Location loc, Value stats, Value batch,
                       Value head, int64_t slot, Value value) {
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), value);
  Value index = arith::ConstantIndexOp::create(b, loc, slot);
  memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi, i64, stats,
                              ValueRange{batch, head, index});
}

namespace {
/// The pieces of one tiled kv loop that the predicate needs.
struct TiledLoop {
  scf::ForOp loop;
  TileScoresOp scores;
  TileRowMaxOp rowMax;
  TileUpdateOp update;
  /// attn.load_tile, or attn.load_paged_tile of a paged cache.
  Operation *valueLoad;
  /// The query tile's load, attn.load_tile or (varlen) attn.load_packed_tile;
  /// its batch (or sequence) and head index the counters.
  Operation *queryLoad;
  Value batch, head;
};
} // namespace

static FailureOr<TiledLoop> analyze(TileUpdateOp update) {
  auto loop = dyn_cast<scf::ForOp>(update->getParentOp());
  if (!loop)
    return update.emitError("attn-insert-block-skip: an update with a skip "
                            "request must be in the kv loop (scf.for) that "
                            "attn-tile builds");
  TiledLoop t{loop, {}, {}, update, {}, {}, {}, {}};
  for (Operation &op : *loop.getBody())
    if (isa<TileUpdateOp>(op) && &op != update.getOperation())
      return loop.emitError("attn-insert-block-skip: a kv loop must hold "
                            "one attn.tile_update");
  t.rowMax = t.update.getTileMax().getDefiningOp<TileRowMaxOp>();
  t.scores = t.update.getScores().getDefiningOp<TileScoresOp>();
  t.valueLoad = t.update.getValue().getDefiningOp();
  if (!isa_and_nonnull<LoadTileOp, LoadPagedTileOp, LoadPackedTileOp>(
          t.valueLoad))
    t.valueLoad = nullptr;
  if (t.scores)
    t.queryLoad = t.scores.getQuery().getDefiningOp();
  if (auto q = dyn_cast_or_null<LoadTileOp>(t.queryLoad)) {
    t.batch = q.getBatch();
    t.head = q.getHead();
  } else if (auto q = dyn_cast_or_null<LoadPackedTileOp>(t.queryLoad)) {
    // A varlen sequence: the forall's first index is the sequence.
    auto forall = loop->getParentOfType<scf::ForallOp>();
    if (forall && forall.getRank() == 3) {
      t.batch = forall.getInductionVar(0);
      t.head = q.getHead();
    }
  }
  if (!t.batch)
    t.queryLoad = nullptr;
  if (!t.rowMax || !t.scores || !t.valueLoad || !t.queryLoad ||
      t.valueLoad->getBlock() != loop.getBody() || !t.valueLoad->hasOneUse() ||
      t.update.getSkipGroups())
    return loop.emitError("attn-insert-block-skip: the kv loop is not in "
                          "the form attn-tile produces");
  if (t.update.getMax() != loop.getRegionIterArg(0) ||
      t.update.getSum() != loop.getRegionIterArg(1) ||
      t.update.getAcc() != loop.getRegionIterArg(2))
    return loop.emitError("attn-insert-block-skip: the update must read the "
                          "loop's (max, sum, acc)");
  return t;
}

/// Whether `m` is the constant splat -inf, the running max of a loop that
/// starts from nothing.
static bool isMinusInfinity(Value m) {
  DenseFPElementsAttr attr;
  return matchPattern(m, m_Constant(&attr)) && attr.isSplat() &&
         attr.getSplatValue<APFloat>().isInfinity() &&
         attr.getSplatValue<APFloat>().isNegative();
}

/// Whether 0 < lambda < 1: skipping is on.
static Value skippingOn(OpBuilder &b, Location loc, Value lambda) {
  auto f32 = [&](double v) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  };
  Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                         lambda, f32(0.0));
  Value belowOne = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                         lambda, f32(1.0));
  return arith::AndIOp::create(b, loc, positive, belowOne);
}

/// Before `loop`, the row max of kv-block 0 when the loop starts past it
/// and skipping is on (the seed), else the loop's initial max; the loop
/// then starts from it. The scores are a clone of the loop's own
/// computation of `rowMax` with the block index at 0.
static void seedRunningMax(OpBuilder &b, scf::ForOp loop, TileRowMaxOp rowMax,
                           Value lambda) {
  Location loc = loop.getLoc();
  Block *body = loop.getBody();
  // The ops of the loop body that the row max depends on, in order.
  llvm::SetVector<Operation *> slice;
  SmallVector<Operation *> worklist = {rowMax};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    if (!slice.insert(op))
      continue;
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        if (def->getBlock() == body)
          worklist.push_back(def);
  }
  SmallVector<Operation *> ordered(slice.begin(), slice.end());
  llvm::sort(ordered,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });

  b.setInsertionPoint(loop);
  Value lb = loop.getLowerBound(), ub = loop.getUpperBound();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value pastFirst =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, lb, zero);
  Value hasBlocks =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, lb, ub);
  Value seeded = arith::AndIOp::create(
      b, loc, skippingOn(b, loc, lambda),
      arith::AndIOp::create(b, loc, pastFirst, hasBlocks));
  Value initMax = loop.getInitArgs()[0];
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{initMax.getType()}, seeded,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    IRMapping map;
    map.map(loop.getInductionVar(), zero);
    for (Operation *op : ordered)
      b.clone(*op, map);
    scf::YieldOp::create(b, loc, map.lookup(rowMax.getResult()));
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, initMax);
  }
  loop.getInitArgsMutable()[0].assign(ifOp.getResult(0));
}

/// Adds `visited` and `skipped` (index) to the counters of (batch, h) for
/// every query head h whose rows a packed q-block holds: tile_scores packs
/// the G heads of a GQA group (rows [row, min(row + BM, G * Sq)), head
/// p / Sq of the group for row p), each packed head kvHead * G + p / Sq
/// counts the tile once.
static void countPackedTile(OpBuilder &b, Location loc, Value stats,
                            Value batch, Value kvHead, TileScoresOp scores,
                            int64_t bm, Value visited, Value skipped) {
  int64_t heads = *scores.getPackedHeads();
  auto cst = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value row = scores.getRow(), qLen = scores.getQLen();
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, row, cst(bm)),
      arith::MulIOp::create(b, loc, qLen, cst(heads)));
  Value first = arith::DivUIOp::create(b, loc, row, qLen);
  Value last = arith::DivUIOp::create(
      b, loc, arith::SubIOp::create(b, loc, end, cst(1)), qLen);
  Value base = arith::MulIOp::create(b, loc, kvHead, cst(heads));
  auto each = scf::ForOp::create(
      b, loc, first, arith::AddIOp::create(b, loc, last, cst(1)), cst(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(each.getBody());
  Value h = arith::AddIOp::create(b, loc, base, each.getInductionVar());
  addToStats(b, loc, stats, batch, h, 0, visited);
  addToStats(b, loc, stats, batch, h, 1, skipped);
}

static LogicalResult
insertSkip(TileUpdateOp request, int64_t voteRows, bool stats,
           DenseMap<Operation *, SkipArguments> &arguments) {
  SkipAttr skip = request.getSkipRequestAttr();
  FailureOr<TiledLoop> tiled = analyze(request);
  if (failed(tiled))
    return failure();
  scf::ForOp loop = tiled->loop;
  auto func = loop->getParentOfType<FunctionOpInterface>();
  if (!func)
    return loop.emitError("attn-insert-block-skip: tiled attention must be "
                          "inside a function, which receives the threshold");
  auto module = func->getParentOfType<ModuleOp>();
  if (module && !SymbolTable::symbolKnownUseEmpty(func, module))
    return func.emitError()
           << "attn-insert-block-skip: cannot add the run-time threshold "
              "argument to @"
           << SymbolTable::getSymbolName(func).getValue()
           << ": it has callers; skip-enabled attention must sit in an "
              "entry function";

  int64_t bm = cast<RankedTensorType>(tiled->rowMax.getType()).getDimSize(0);
  int64_t group = voteRows == 0 ? bm : voteRows;
  if (group <= 0 || bm % group != 0)
    return loop.emitError() << "attn-insert-block-skip: vote=" << voteRows
                            << " must divide the block rows (" << bm << ")";
  int64_t numGroups = bm / group;
  std::optional<int64_t> packed = tiled->scores.getPackedHeads();
  if (numGroups > 1 && packed && *packed > 1)
    return loop.emitError() << "attn-insert-block-skip: vote=" << voteRows
                            << " splits a q-block of packed GQA heads; a "
                               "packed q-block votes as a whole";

  OpBuilder b(func.getContext());
  SkipArguments &args = arguments[func.getOperation()];
  FailureOr<Value> param = getOrAddArgument(
      func,
      skip.getKind() == SkipKind::Threshold ? args.threshold : args.scaleFactor,
      b.getF32Type());
  if (failed(param))
    return loop.emitError("attn-insert-block-skip: cannot add the threshold "
                          "argument");
  Value statsBuf;
  Operation *qLoad = tiled->queryLoad;
  if (stats) {
    // [B, Hq, 2]: the batch and query heads of the attention's Q (whose
    // packed view is [B, Hkv, G * Sq, D]).
    // A varlen Q [Tq, Hq, D] has a run-time number of sequences.
    auto qType = cast<RankedTensorType>(qLoad->getOperand(0).getType());
    int64_t heads = qType.getDimSize(1) * (packed ? *packed : 1);
    int64_t batch = isa<LoadPackedTileOp>(qLoad) ? ShapedType::kDynamic
                                                  : qType.getDimSize(0);
    auto statsType = MemRefType::get({batch, heads, 2}, b.getI64Type());
    FailureOr<Value> s = getOrAddArgument(func, args.stats, statsType);
    if (failed(s))
      return loop.emitError()
             << "attn-insert-block-skip: cannot add the stats argument "
             << statsType
             << "; the skip-enabled attentions of one function share it, so "
                "they must have the same batch and query heads";
    statsBuf = *s;
  }
  Value bIdx = tiled->batch, hIdx = tiled->head;

  Location loc = loop.getLoc();
  TileUpdateOp update = tiled->update;
  // A loop that may start past kv-block 0 is a part of a split kv range: it
  // is seeded, and needs lambda before it.
  bool split = !isConstantIntValue(loop.getLowerBound(), 0);
  // A loop that starts from a given max (init_max) votes its first block.
  bool voteFirst = !split && !isMinusInfinity(loop.getInitArgs()[0]);
  if (split)
    b.setInsertionPoint(loop);
  else
    b.setInsertionPointAfter(tiled->rowMax);
  // lambda: the threshold, or scale_factor / Skv.
  Value lambda = *param;
  if (skip.getKind() == SkipKind::ScaleFactor) {
    Value kvLen = arith::IndexCastUIOp::create(b, loc, b.getI64Type(),
                                               tiled->scores.getKvLen());
    Value kvLenF = arith::UIToFPOp::create(b, loc, b.getF32Type(), kvLen);
    lambda = arith::DivFOp::create(b, loc, lambda, kvLenF);
  }
  if (split) {
    seedRunningMax(b, loop, tiled->rowMax, lambda);
    b.setInsertionPointAfter(tiled->rowMax);
  }
  Value m = loop.getRegionIterArg(0);
  auto votesType = RankedTensorType::get({numGroups}, b.getI1Type());
  Value votes = SkipVoteOp::create(b, loc, votesType, tiled->rowMax, m, lambda,
                                   b.getI64IntegerAttr(group), skip);
  update.removeSkipRequestAttr();
  // Block 0 is never skipped; every other block is, on the vote (a part
  // that starts past block 0 starts from its seed). A loop that starts from
  // init_max votes block 0 too.
  Value notFirst;
  if (!voteFirst) {
    Value first = split ? arith::ConstantIndexOp::create(b, loc, 0).getResult()
                        : loop.getLowerBound();
    notFirst = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                     loop.getInductionVar(), first);
  }

  if (numGroups > 1) {
    // Each group keeps or updates its own rows.
    Value groups = votes;
    if (notFirst)
      groups = arith::AndIOp::create(
          b, loc, votes, tensor::SplatOp::create(b, loc, votesType, notFirst));
    update.getSkipGroupsMutable().assign(groups);
    if (statsBuf) {
      Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
      Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
      Value n = arith::ConstantIndexOp::create(b, loc, numGroups);
      auto count = scf::ForOp::create(b, loc, c0, n, c1, ValueRange{c0});
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(count.getBody());
        Value bit =
            tensor::ExtractOp::create(b, loc, groups, count.getInductionVar());
        Value one = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), bit);
        scf::YieldOp::create(b, loc,
                             ValueRange{arith::AddIOp::create(
                                 b, loc, count.getRegionIterArg(0), one)});
      }
      addToStats(b, loc, statsBuf, bIdx, hIdx, 0, n);
      addToStats(b, loc, statsBuf, bIdx, hIdx, 1, count.getResult(0));
    }
    return success();
  }

  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value vote = tensor::ExtractOp::create(b, loc, votes, ValueRange{c0});
  Value doSkip = notFirst
                     ? arith::AndIOp::create(b, loc, notFirst, vote).getResult()
                     : vote;
  if (statsBuf && packed && *packed > 1) {
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value skipped =
        arith::IndexCastUIOp::create(b, loc, b.getIndexType(), doSkip);
    countPackedTile(b, loc, statsBuf, bIdx, hIdx, tiled->scores, bm, one,
                    skipped);
  } else if (statsBuf) {
    addToStats(b, loc, statsBuf, bIdx, hIdx, 0,
               arith::ConstantIndexOp::create(b, loc, 1));
    addToStats(b, loc, statsBuf, bIdx, hIdx, 1,
               arith::IndexCastUIOp::create(b, loc, b.getIndexType(), doSkip));
  }

  // scf.if %skip { keep (m, l, acc) } else { load V; update }.
  b.setInsertionPoint(update);
  auto ifOp = scf::IfOp::create(b, loc, update->getResultTypes(), doSkip,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(
        b, loc, ValueRange{update.getMax(), update.getSum(), update.getAcc()});
    b.setInsertionPointToStart(ifOp.elseBlock());
    IRMapping map;
    Operation *v = b.clone(*tiled->valueLoad, map);
    map.map(tiled->valueLoad->getResult(0), v->getResult(0));
    Operation *u = b.clone(*update, map);
    scf::YieldOp::create(b, loc, u->getResults());
  }
  update->replaceAllUsesWith(ifOp.getResults());
  update->erase();
  tiled->valueLoad->erase();
  return success();
}

namespace {
struct AttnInsertBlockSkipPass
    : public skipattn::attn::impl::AttnInsertBlockSkipBase<
          AttnInsertBlockSkipPass> {
  using AttnInsertBlockSkipBase::AttnInsertBlockSkipBase;

  void runOnOperation() override {
    if (voteRows < 0) {
      getOperation().emitError()
          << "attn-insert-block-skip: vote must be 0 or positive, got "
          << voteRows.getValue();
      return signalPassFailure();
    }
    SmallVector<TileUpdateOp> requests;
    getOperation().walk([&](TileUpdateOp update) {
      if (update.getSkipRequestAttr())
        requests.push_back(update);
    });
    DenseMap<Operation *, SkipArguments> arguments;
    for (TileUpdateOp update : requests)
      if (failed(insertSkip(update, voteRows, stats, arguments)))
        return signalPassFailure();
  }
};
} // namespace
