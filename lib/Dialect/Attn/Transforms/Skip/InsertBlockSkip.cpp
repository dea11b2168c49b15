//===- InsertBlockSkip.cpp - insert the Skip-Softmax predicate ------------===//
//
// The attn-insert-block-skip pass. In each kv loop that attn-tile marked
// with `attn.skip`, it puts the softmax update and P·V of a kv-block (and the
// load of its V tile) behind the Skip-Softmax test, so that the predicate is
// one visible transformation that every lowering inherits. The threshold
// becomes a run-time argument of the enclosing function, and with `stats`
// the visited and skipped tiles are counted into another argument.
//
// A kv loop that may start past kv-block 0 (a part of a split kv range)
// gets the seed of docs/serving.md: the scores of block 0, computed before
// the loop by a clone of the loop's own score computation, start its running
// max, and every block but block 0 is subject to the vote.
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

#include "../RuntimeArgument.h"

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNINSERTBLOCKSKIP
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;

static constexpr StringLiteral kSkipAttr = "attn.skip";
static constexpr StringLiteral kStatsArg = "attn.skip_stats";

static StringRef thresholdArgName(SkipKind kind) {
  return kind == SkipKind::Threshold ? "attn.skip_threshold"
                                     : "attn.skip_scale_factor";
}

/// Adds `value` (index) to element `slot` of the stats buffer, atomically.
static void addToStats(OpBuilder &b, Location loc, Value stats, int64_t slot,
                       Value value) {
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), value);
  Value index = arith::ConstantIndexOp::create(b, loc, slot);
  memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi, i64, stats,
                              ValueRange{index});
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
};
} // namespace

static FailureOr<TiledLoop> analyze(scf::ForOp loop) {
  TiledLoop t{loop, {}, {}, {}, {}};
  for (Operation &op : *loop.getBody()) {
    if (auto u = dyn_cast<TileUpdateOp>(op)) {
      if (t.update)
        return loop.emitError("attn-insert-block-skip: a kv loop must hold "
                              "one attn.tile_update");
      t.update = u;
    }
  }
  if (!t.update)
    return loop.emitError("attn-insert-block-skip: a loop marked attn.skip "
                          "holds no attn.tile_update; run attn-tile first");
  t.rowMax = t.update.getTileMax().getDefiningOp<TileRowMaxOp>();
  t.scores = t.update.getScores().getDefiningOp<TileScoresOp>();
  t.valueLoad = t.update.getValue().getDefiningOp();
  if (!isa_and_nonnull<LoadTileOp, LoadPagedTileOp>(t.valueLoad))
    t.valueLoad = nullptr;
  if (!t.rowMax || !t.scores || !t.valueLoad ||
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

/// The query heads a packed q-block holds (tile_scores' packed_heads > 1):
/// its rows are [row, min(row + BM, G * Sq)), head p / Sq of the group for
/// row p. Null when the rows are one head's.
static Value packedHeadCount(OpBuilder &b, Location loc, TileScoresOp scores,
                             int64_t bm) {
  std::optional<int64_t> heads = scores.getPackedHeads();
  if (!heads || *heads <= 1)
    return Value();
  auto cst = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value row = scores.getRow(), qLen = scores.getQLen();
  Value end = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, row, cst(bm)),
      arith::MulIOp::create(b, loc, qLen, cst(*heads)));
  Value lastHead = arith::DivUIOp::create(
      b, loc, arith::SubIOp::create(b, loc, end, cst(1)), qLen);
  Value firstHead = arith::DivUIOp::create(b, loc, row, qLen);
  return arith::AddIOp::create(
      b, loc, arith::SubIOp::create(b, loc, lastHead, firstHead), cst(1));
}

static LogicalResult insertSkip(scf::ForOp loop, SkipAttr skip,
                                int64_t voteRows, bool stats) {
  FailureOr<TiledLoop> tiled = analyze(loop);
  if (failed(tiled))
    return failure();
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

  OpBuilder b(loop.getContext());
  RuntimeArgumentNames names{"attn-insert-block-skip", "threshold",
                             "skip-enabled attention"};
  FailureOr<Value> param = getOrAddRuntimeArgument(
      loop, thresholdArgName(skip.getKind()), b.getF32Type(), names);
  if (failed(param))
    return failure();
  Value statsBuf;
  if (stats) {
    names.what = "stats";
    FailureOr<Value> s = getOrAddRuntimeArgument(
        loop, kStatsArg, MemRefType::get({2}, b.getI64Type()), names);
    if (failed(s))
      return failure();
    statsBuf = *s;
  }

  Location loc = loop.getLoc();
  TileUpdateOp update = tiled->update;
  // A loop that may start past kv-block 0 is a part of a split kv range: it
  // is seeded, and needs lambda before it.
  bool split = !isConstantIntValue(loop.getLowerBound(), 0);
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
  // Each tile counts once per query head of its q-block.
  Value weight = packedHeadCount(b, loc, tiled->scores, bm);
  if (split) {
    seedRunningMax(b, loop, tiled->rowMax, lambda);
    b.setInsertionPointAfter(tiled->rowMax);
  }
  Value m = loop.getRegionIterArg(0);
  auto votesType = RankedTensorType::get({numGroups}, b.getI1Type());
  Value votes = SkipVoteOp::create(b, loc, votesType, tiled->rowMax, m, lambda,
                                   b.getI64IntegerAttr(group));
  // Block 0 is never skipped; every other block is, on the vote (a part
  // that starts past block 0 starts from its seed).
  Value first = split ? arith::ConstantIndexOp::create(b, loc, 0).getResult()
                      : loop.getLowerBound();
  Value notFirst = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                         loop.getInductionVar(), first);

  if (numGroups > 1) {
    // Each group keeps or updates its own rows.
    Value notFirstAll = tensor::SplatOp::create(b, loc, votesType, notFirst);
    Value groups = arith::AndIOp::create(b, loc, votes, notFirstAll);
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
      addToStats(b, loc, statsBuf, 0, n);
      addToStats(b, loc, statsBuf, 1, count.getResult(0));
    }
    return success();
  }

  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value vote = tensor::ExtractOp::create(b, loc, votes, ValueRange{c0});
  Value doSkip = arith::AndIOp::create(b, loc, notFirst, vote);
  if (statsBuf) {
    Value visited =
        weight ? weight : arith::ConstantIndexOp::create(b, loc, 1).getResult();
    addToStats(b, loc, statsBuf, 0, visited);
    Value skipped =
        arith::IndexCastUIOp::create(b, loc, b.getIndexType(), doSkip);
    if (weight)
      skipped = arith::MulIOp::create(b, loc, skipped, weight);
    addToStats(b, loc, statsBuf, 1, skipped);
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
          << voteRows;
      return signalPassFailure();
    }
    SmallVector<scf::ForOp> loops;
    getOperation().walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kSkipAttr))
        loops.push_back(loop);
    });
    for (scf::ForOp loop : loops) {
      auto skip = dyn_cast<SkipAttr>(loop->getAttr(kSkipAttr));
      if (!skip) {
        loop.emitError("attn-insert-block-skip: attn.skip must be an "
                       "#attn.skip attribute");
        return signalPassFailure();
      }
      if (failed(insertSkip(loop, skip, voteRows, stats)))
        return signalPassFailure();
      loop->removeAttr(kSkipAttr);
    }
  }
};
} // namespace
