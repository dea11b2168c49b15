//===- AttnTile.cpp - attn.attention to the flash loop --------------------===//
//
// The attn-tile pass: rewrites attn.attention into the FlashAttention loop
// over (batch, head, q-block) and kv-blocks, with the tile-level math as
// attn tile ops (see the pass description in Passes.td). Everything that
// depends on the run-time lengths (the number of q-blocks, the causal bound
// of the kv loop, the rows of the last q-block) is computed in IR, so one
// tiled function serves every length.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNTILE
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;

/// The extent of dim `d` of `v` as an index value.
static Value dimValue(OpBuilder &b, Location loc, Value v, int64_t d) {
  auto type = cast<RankedTensorType>(v.getType());
  if (!type.isDynamicDim(d))
    return arith::ConstantIndexOp::create(b, loc, type.getDimSize(d));
  return tensor::DimOp::create(b, loc, v, d);
}

static Value cst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

static Value splat(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                   float value) {
  auto type = RankedTensorType::get(shape, b.getF32Type());
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, b.getF32FloatAttr(value)));
}

/// The number of kv-blocks the q-block starting at `q0` visits.
static Value numKVBlocks(OpBuilder &b, Location loc, AttentionOp op, Value q0,
                         Value sq, Value skv, int64_t bm, int64_t bn) {
  Value all = arith::CeilDivUIOp::create(b, loc, skv, cst(b, loc, bn));
  if (!op.getCausal())
    return all;
  // Row i keeps keys j <= i + Skv - Sq; the last valid row of the q-block is
  // min(q0 + BM, Sq) - 1, so the blocks up to key min(q0 + BM, Sq) + Skv - Sq
  // (exclusive) hold every unmasked entry.
  Value rowsEnd = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, q0, cst(b, loc, bm)), sq);
  Value keysEnd = arith::SubIOp::create(
      b, loc, arith::AddIOp::create(b, loc, rowsEnd, skv), sq);
  Value blocks = arith::CeilDivSIOp::create(b, loc, keysEnd, cst(b, loc, bn));
  Value clamped = arith::MinSIOp::create(b, loc, blocks, all);
  return arith::MaxSIOp::create(b, loc, clamped, cst(b, loc, 0));
}

static LogicalResult tileAttention(AttentionOp op, int64_t bm, int64_t bn) {
  Location loc = op.getLoc();
  IRRewriter b(op);
  auto qType = op.getQuery().getType();
  Type elt = qType.getElementType();
  int64_t hq = op.getNumQueryHeads();
  int64_t group = hq / op.getNumKVHeads();
  int64_t d = op.getHeadDim(), dv = op.getValueHeadDim();
  Type f32 = b.getF32Type();

  Value batch = dimValue(b, loc, op.getQuery(), 0);
  Value sq = dimValue(b, loc, op.getQuery(), 2);
  Value skv = dimValue(b, loc, op.getKey(), 2);
  Value numQBlocks = arith::CeilDivUIOp::create(b, loc, sq, cst(b, loc, bm));

  // The loop writes the attention's destination.
  Value init = op.getInit();

  SmallVector<OpFoldResult> ubs = {batch, b.getIndexAttr(hq), numQBlocks};
  auto forall = scf::ForallOp::create(b, loc, ubs, ValueRange{init},
                                      /*mapping=*/std::nullopt);
  Block *body = forall.getBody();
  Value ib = body->getArgument(0), ih = body->getArgument(1),
        iqb = body->getArgument(2), out = body->getArgument(3);

  b.setInsertionPoint(body->getTerminator());
  Value kvh =
      group == 1
          ? ih
          : arith::DivUIOp::create(b, loc, ih, cst(b, loc, group)).getResult();
  Value q0 = arith::MulIOp::create(b, loc, iqb, cst(b, loc, bm));
  Value qt = LoadTileOp::create(b, loc, RankedTensorType::get({bm, d}, elt),
                                op.getQuery(), ib, ih, q0);
  Value numKV = numKVBlocks(b, loc, op, q0, sq, skv, bm, bn);
  Value m0 = splat(b, loc, {bm}, -INFINITY);
  Value l0 = splat(b, loc, {bm}, 0.0f);
  Value acc0 = splat(b, loc, {bm, dv}, 0.0f);

  auto loop = scf::ForOp::create(b, loc, cst(b, loc, 0), numKV, cst(b, loc, 1),
                                 ValueRange{m0, l0, acc0});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    Value m = loop.getRegionIterArg(0), l = loop.getRegionIterArg(1),
          acc = loop.getRegionIterArg(2);
    Value k0 = arith::MulIOp::create(b, loc, j, cst(b, loc, bn));
    Value kt = LoadTileOp::create(b, loc, RankedTensorType::get({bn, d}, elt),
                                  op.getKey(), ib, kvh, k0);
    Value maskTile;
    if (Value mask = op.getMask()) {
      Type maskElt = cast<RankedTensorType>(mask.getType()).getElementType();
      maskTile = LoadMaskTileOp::create(
          b, loc, RankedTensorType::get({bm, bn}, maskElt), mask, ib, ih, q0,
          k0);
    }
    Value s = TileScoresOp::create(
        b, loc, RankedTensorType::get({bm, bn}, f32), qt, kt, maskTile, q0, k0,
        sq, skv, b.getF32FloatAttr(op.getScaleValue()),
        op.getCausal() ? b.getUnitAttr() : UnitAttr());
    Value mt =
        TileRowMaxOp::create(b, loc, RankedTensorType::get({bm}, f32), s);
    Value vt = LoadTileOp::create(b, loc, RankedTensorType::get({bn, dv}, elt),
                                  op.getValue(), ib, kvh, k0);
    // A skip request waits on the update for attn-insert-block-skip.
    auto update = TileUpdateOp::create(
        b, loc, m.getType(), l.getType(), acc.getType(), s, mt, vt, m, l, acc,
        /*skipGroups=*/Value(), op.getSkipAttr());
    scf::YieldOp::create(b, loc, update.getResults());
  }

  Value ot =
      TileFinalizeOp::create(b, loc, RankedTensorType::get({bm, dv}, elt),
                             loop.getResult(2), loop.getResult(1));
  // The last q-block may hold fewer than BM valid rows.
  Value left = arith::SubIOp::create(b, loc, sq, q0);
  Value rows = arith::MinUIOp::create(b, loc, cst(b, loc, bm), left);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  Value valid = tensor::ExtractSliceOp::create(
      b, loc, ot, ArrayRef<OpFoldResult>{zero, zero},
      ArrayRef<OpFoldResult>{rows, b.getIndexAttr(dv)},
      ArrayRef<OpFoldResult>{one, one});
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      b, loc, valid, out, ArrayRef<OpFoldResult>{ib, ih, q0, zero},
      ArrayRef<OpFoldResult>{one, one, rows, b.getIndexAttr(dv)},
      ArrayRef<OpFoldResult>{one, one, one, one});

  b.replaceOp(op, forall.getResults());
  return success();
}

namespace {
struct AttnTilePass : public skipattn::attn::impl::AttnTileBase<AttnTilePass> {
  using AttnTileBase::AttnTileBase;

  void runOnOperation() override {
    if (blockM <= 0 || blockN <= 0) {
      // The options' values, not the options: a diagnostic streams a
      // cl::opt<int64_t> as a character.
      getOperation()->emitError()
          << "attn-tile: block-m and block-n must be positive, got "
          << blockM.getValue() << " and " << blockN.getValue();
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    getOperation()->walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      if (failed(tileAttention(op, blockM, blockN)))
        return signalPassFailure();
  }
};
} // namespace
