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
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

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
  LoadTileOp valueLoad;
  LoadTileOp queryLoad; // its (batch, head) index the counters
};
} // namespace

static FailureOr<TiledLoop> analyze(TileUpdateOp update) {
  auto loop = dyn_cast<scf::ForOp>(update->getParentOp());
  if (!loop)
    return update.emitError("attn-insert-block-skip: an update with a skip "
                            "request must be in the kv loop (scf.for) that "
                            "attn-tile builds");
  TiledLoop t{loop, {}, {}, update, {}, {}};
  for (Operation &op : *loop.getBody())
    if (isa<TileUpdateOp>(op) && &op != update.getOperation())
      return loop.emitError("attn-insert-block-skip: a kv loop must hold "
                            "one attn.tile_update");
  t.rowMax = t.update.getTileMax().getDefiningOp<TileRowMaxOp>();
  t.scores = t.update.getScores().getDefiningOp<TileScoresOp>();
  t.valueLoad = t.update.getValue().getDefiningOp<LoadTileOp>();
  if (t.scores)
    t.queryLoad = t.scores.getQuery().getDefiningOp<LoadTileOp>();
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
  LoadTileOp qLoad = tiled->queryLoad;
  if (stats) {
    // [B, Hq, 2]: the batch and query heads of the attention's Q.
    auto qType = cast<RankedTensorType>(qLoad.getSource().getType());
    auto statsType = MemRefType::get(
        {qType.getDimSize(0), qType.getDimSize(1), 2}, b.getI64Type());
    FailureOr<Value> s = getOrAddArgument(func, args.stats, statsType);
    if (failed(s))
      return loop.emitError()
             << "attn-insert-block-skip: cannot add the stats argument "
             << statsType
             << "; the skip-enabled attentions of one function share it, so "
                "they must have the same batch and query heads";
    statsBuf = *s;
  }
  Value bIdx = qLoad.getBatch(), hIdx = qLoad.getHead();

  Location loc = loop.getLoc();
  TileUpdateOp update = tiled->update;
  b.setInsertionPointAfter(tiled->rowMax);
  // lambda: the threshold, or scale_factor / Skv.
  Value lambda = *param;
  if (skip.getKind() == SkipKind::ScaleFactor) {
    Value kvLen = arith::IndexCastUIOp::create(b, loc, b.getI64Type(),
                                               tiled->scores.getKvLen());
    Value kvLenF = arith::UIToFPOp::create(b, loc, b.getF32Type(), kvLen);
    lambda = arith::DivFOp::create(b, loc, lambda, kvLenF);
  }
  Value m = loop.getRegionIterArg(0);
  auto votesType = RankedTensorType::get({numGroups}, b.getI1Type());
  Value votes = SkipVoteOp::create(b, loc, votesType, tiled->rowMax, m, lambda,
                                   b.getI64IntegerAttr(group), skip);
  update.removeSkipRequestAttr();
  // The first visited block is never skipped.
  Value notFirst =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                            loop.getInductionVar(), loop.getLowerBound());

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
      addToStats(b, loc, statsBuf, bIdx, hIdx, 0, n);
      addToStats(b, loc, statsBuf, bIdx, hIdx, 1, count.getResult(0));
    }
    return success();
  }

  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value vote = tensor::ExtractOp::create(b, loc, votes, ValueRange{c0});
  Value doSkip = arith::AndIOp::create(b, loc, notFirst, vote);
  if (statsBuf) {
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
    map.map(tiled->valueLoad.getResult(), v->getResult(0));
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
