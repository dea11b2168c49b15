//===- AttnToLoops.cpp - tiled attention to linalg, tensor and scf --------===//
//
// The convert-attn-to-loops pass: each attn tile op becomes the tensor
// computation it stands for (AttnTileOps.td gives the semantics this file
// implements). Loads are tensor.generate with bounds checks; contractions,
// masking, exponentials, reductions and votes are linalg.generic ops whose
// bodies spell out the formulas. The CPU pipeline bufferizes the result and
// lowers the linalg ops to loops. Numbers: every score, max, sum and
// accumulator is f32; P is rounded to V's element type before P·V, as on the
// tensor cores.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Conversion/Passes.h"
#include "skipattn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace skipattn {
#define GEN_PASS_DEF_CONVERTATTNTOLOOPS
#include "skipattn/Conversion/Passes.h.inc"
} // namespace skipattn

using namespace mlir;
using namespace skipattn::attn;

//===----------------------------------------------------------------------===//
// Builders
//===----------------------------------------------------------------------===//

namespace {
/// Small helpers around an OpBuilder for the formulas below.
struct Builder {
  OpBuilder &b;
  Location loc;

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value zeroOf(Type t) {
    return arith::ConstantOp::create(b, loc, b.getZeroAttr(t));
  }
  Value empty(ArrayRef<int64_t> shape, Type elt) {
    return tensor::EmptyOp::create(b, loc, shape, elt);
  }
  Value filled(ArrayRef<int64_t> shape, Type elt, Value value) {
    return linalg::FillOp::create(b, loc, value, empty(shape, elt))
        .getResult(0);
  }
  Value dim(Value v, int64_t d) {
    auto type = cast<RankedTensorType>(v.getType());
    if (!type.isDynamicDim(d))
      return index(type.getDimSize(d));
    return tensor::DimOp::create(b, loc, v, d);
  }
  /// f32 view of a float scalar.
  Value toF32(OpBuilder &nb, Value v) {
    if (v.getType().isF32())
      return v;
    return arith::ExtFOp::create(nb, loc, nb.getF32Type(), v);
  }
  Value fromF32(OpBuilder &nb, Value v, Type t) {
    if (t.isF32())
      return v;
    return arith::TruncFOp::create(nb, loc, t, v);
  }
  AffineMap map(unsigned numDims, ArrayRef<unsigned> results) {
    SmallVector<AffineExpr> exprs;
    for (unsigned r : results)
      exprs.push_back(b.getAffineDimExpr(r));
    return AffineMap::get(numDims, 0, exprs, b.getContext());
  }
  /// A linalg.generic with one output.
  Value generic(Value init, ValueRange inputs, ArrayRef<AffineMap> maps,
                ArrayRef<utils::IteratorType> iterators,
                function_ref<Value(OpBuilder &, ValueRange)> body) {
    auto op = linalg::GenericOp::create(
        b, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &nb, Location l, ValueRange args) {
          linalg::YieldOp::create(nb, l, body(nb, args));
        });
    return op.getResult(0);
  }
};

constexpr utils::IteratorType kPar = utils::IteratorType::parallel;
constexpr utils::IteratorType kRed = utils::IteratorType::reduction;

int64_t dimOf(Value v, int64_t d) {
  return cast<RankedTensorType>(v.getType()).getDimSize(d);
}
Type eltOf(Value v) { return getElementTypeOrSelf(v.getType()); }
} // namespace

//===----------------------------------------------------------------------===//
// Loads
//===----------------------------------------------------------------------===//

namespace {
using ElementFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

Value ult(OpBuilder &b, Location loc, Value a, Value c) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, a, c);
}

/// `read()` where `in` holds, else the constant `fill`: every tile load
/// reads only inside its source.
Value readOr(OpBuilder &b, Location loc, Value in, TypedAttr fill,
             function_ref<Value(OpBuilder &, Location)> read) {
  return scf::IfOp::create(
             b, loc, in,
             [&](OpBuilder &tb, Location tl) {
               scf::YieldOp::create(tb, tl, read(tb, tl));
             },
             [&](OpBuilder &eb, Location el) {
               scf::YieldOp::create(
                   eb, el, arith::ConstantOp::create(eb, el, fill).getResult());
             })
      .getResult(0);
}

/// readOr with the zero of `elt`.
Value readOrZero(OpBuilder &b, Location loc, Value in, Type elt,
                 function_ref<Value(OpBuilder &, Location)> read) {
  return readOr(b, loc, in, cast<TypedAttr>(b.getZeroAttr(elt)), read);
}

/// Replaces `op` (a tile load) by a tensor.generate of its result type whose
/// element at `ivs` is `element(ivs)`.
void replaceByGenerate(PatternRewriter &rewriter, Operation *op,
                       ElementFn element) {
  auto gen = tensor::GenerateOp::create(
      rewriter, op->getLoc(), op->getResult(0).getType(), ValueRange{},
      [&](OpBuilder &nb, Location l, ValueRange ivs) {
        tensor::YieldOp::create(nb, l, element(nb, l, ivs));
      });
  rewriter.replaceOp(op, gen.getResult());
}

/// Pattern: attn.load_tile => tensor.generate reading in-bounds rows, 0 past
/// the end.
struct LoadTileLowering : OpRewritePattern<LoadTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadTileOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Value src = op.getSource();
    Value rows = h.dim(src, 2);
    replaceByGenerate(rewriter, op, [&](OpBuilder &nb, Location l,
                                        ValueRange ivs) {
      Value r = arith::AddIOp::create(nb, l, op.getRow(), ivs[0]);
      return readOrZero(nb, l, ult(nb, l, r, rows), eltOf(src),
                        [&](OpBuilder &tb, Location tl) -> Value {
                          return tensor::ExtractOp::create(
                              tb, tl, src,
                              ValueRange{op.getBatch(), op.getHead(), r,
                                         ivs[1]});
                        });
    });
    return success();
  }
};

/// Pattern: attn.load_max_tile => tensor.generate reading in-bounds rows,
/// -inf past the end.
struct LoadMaxTileLowering : OpRewritePattern<LoadMaxTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadMaxTileOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Value src = op.getSource();
    Value rows = h.dim(src, 2);
    replaceByGenerate(
        rewriter, op, [&](OpBuilder &nb, Location l, ValueRange ivs) -> Value {
          Value r = arith::AddIOp::create(nb, l, op.getRow(), ivs[0]);
          return readOr(nb, l, ult(nb, l, r, rows),
                        nb.getF32FloatAttr(-INFINITY),
                        [&](OpBuilder &tb, Location tl) -> Value {
                          return tensor::ExtractOp::create(
                              tb, tl, src,
                              ValueRange{op.getBatch(), op.getHead(), r});
                        });
        });
    return success();
  }
};

/// Pattern: attn.load_packed_tile => tensor.generate reading row start + j
/// of the [T, H, D] source for j < limit (and inside the tensor), 0 else.
struct LoadPackedTileLowering : OpRewritePattern<LoadPackedTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadPackedTileOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Value src = op.getSource();
    Value tokens = h.dim(src, 0);
    replaceByGenerate(rewriter, op, [&](OpBuilder &nb, Location l,
                                        ValueRange ivs) {
      Value j = arith::AddIOp::create(nb, l, op.getRow(), ivs[0]);
      Value t = arith::AddIOp::create(nb, l, op.getStart(), j);
      Value in = arith::AndIOp::create(nb, l, ult(nb, l, j, op.getLimit()),
                                       ult(nb, l, t, tokens));
      return readOrZero(nb, l, in, eltOf(src),
                        [&](OpBuilder &tb, Location tl) -> Value {
                          return tensor::ExtractOp::create(
                              tb, tl, src, ValueRange{t, op.getHead(), ivs[1]});
                        });
    });
    return success();
  }
};

/// Pattern: attn.load_paged_tile => tensor.generate reading row j of the
/// sequence from page table[b, j / P], slot j mod P; 0 at and past the
/// limit, and for a table entry that is not a page of the pool.
struct LoadPagedTileLowering : OpRewritePattern<LoadPagedTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadPagedTileOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Value pages = op.getPages(), table = op.getTable();
    int64_t pageSize = dimOf(pages, 1);
    Value numPages = h.dim(pages, 0), width = h.dim(table, 1);
    replaceByGenerate(rewriter, op, [&](OpBuilder &nb, Location l,
                                        ValueRange ivs) {
      Value j = arith::AddIOp::create(nb, l, op.getRow(), ivs[0]);
      Value column = arith::DivUIOp::create(nb, l, j, h.index(pageSize));
      Value inRange = arith::AndIOp::create(
          nb, l, ult(nb, l, j, op.getLimit()), ult(nb, l, column, width));
      // The table is read only for rows in range; a negative entry is a
      // huge unsigned index and reads 0 like any other bad one.
      auto page = scf::IfOp::create(
          nb, l, inRange,
          [&](OpBuilder &tb, Location tl) {
            Value entry = tensor::ExtractOp::create(
                tb, tl, table, ValueRange{op.getBatch(), column});
            scf::YieldOp::create(
                tb, tl,
                arith::IndexCastOp::create(tb, tl, tb.getIndexType(), entry)
                    .getResult());
          },
          [&](OpBuilder &eb, Location el) {
            scf::YieldOp::create(eb, el, numPages);
          });
      Value p = page.getResult(0);
      return readOrZero(nb, l, ult(nb, l, p, numPages), eltOf(pages),
                        [&](OpBuilder &tb, Location tl) -> Value {
                          Value slot = arith::RemUIOp::create(
                              tb, tl, j, h.index(pageSize));
                          return tensor::ExtractOp::create(
                              tb, tl, pages,
                              ValueRange{p, slot, op.getHead(), ivs[1]});
                        });
    });
    return success();
  }
};

/// Pattern: attn.load_mask_tile => tensor.generate with broadcasting of
/// extent-1 dims; entries outside the mask read as 0 / false.
struct LoadMaskTileLowering : OpRewritePattern<LoadMaskTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LoadMaskTileOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Value mask = op.getMask();
    Location loc = op.getLoc();
    Value extents[4], unit[4];
    for (int d = 0; d < 4; ++d) {
      extents[d] = h.dim(mask, d);
      unit[d] = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq,
                                      extents[d], h.index(1));
    }
    Value zero = h.index(0);
    Value packedQLen = op.getPackedQLen();
    replaceByGenerate(rewriter, op, [&](OpBuilder &nb, Location l,
                                        ValueRange ivs) {
      Value row = arith::AddIOp::create(nb, l, op.getRow(), ivs[0]);
      Value head = op.getHead();
      if (packedQLen) {
        // Packed row p: query p mod Sq of the group's head p / Sq.
        head = arith::AddIOp::create(
            nb, l, head, arith::DivUIOp::create(nb, l, row, packedQLen));
        row = arith::RemUIOp::create(nb, l, row, packedQLen);
      }
      Value base[4] = {op.getBatch(), head, row,
                       arith::AddIOp::create(nb, l, op.getCol(), ivs[1])};
      SmallVector<Value> idx;
      Value in = arith::ConstantOp::create(nb, l, nb.getBoolAttr(true));
      for (int d = 0; d < 4; ++d) {
        idx.push_back(arith::SelectOp::create(nb, l, unit[d], zero, base[d]));
        in = arith::AndIOp::create(nb, l, in,
                                   ult(nb, l, idx.back(), extents[d]));
      }
      return readOrZero(nb, l, in, eltOf(mask),
                        [&](OpBuilder &tb, Location tl) -> Value {
                          return tensor::ExtractOp::create(tb, tl, mask, idx);
                        });
    });
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Scores and row max
//===----------------------------------------------------------------------===//

/// Pattern: attn.tile_scores => Q·K^T contraction in f32, then one generic
/// that scales, adds or applies the mask and writes -inf out of bounds.
struct TileScoresLowering : OpRewritePattern<TileScoresOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TileScoresOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Location loc = op.getLoc();
    int64_t bm = dimOf(op.getQuery(), 0), bn = dimOf(op.getKey(), 0);
    Type f32 = rewriter.getF32Type();
    Value zero = h.filled({bm, bn}, f32, h.f32(0.0));
    // qk[i, j] = sum_d q[i, d] * k[j, d], loops (i, j, d).
    Value qk = h.generic(zero, ValueRange{op.getQuery(), op.getKey()},
                         {h.map(3, {0, 2}), h.map(3, {1, 2}), h.map(3, {0, 1})},
                         {kPar, kPar, kRed},
                         [&](OpBuilder &nb, ValueRange a) -> Value {
                           Value prod = arith::MulFOp::create(
                               nb, loc, h.toF32(nb, a[0]), h.toF32(nb, a[1]));
                           return arith::AddFOp::create(nb, loc, a[2], prod);
                         });

    Value scale = h.f32(op.getScale().convertToDouble());
    Value ninf = h.f32(-INFINITY);
    int64_t packedHeads = op.getPackedHeads().value_or(1);
    SmallVector<Value> inputs = {qk};
    SmallVector<AffineMap> maps = {h.map(2, {0, 1})};
    Value mask = op.getMask();
    if (mask) {
      inputs.push_back(mask);
      maps.push_back(h.map(2, {0, 1}));
    }
    maps.push_back(h.map(2, {0, 1}));
    Value result = h.generic(
        h.empty({bm, bn}, f32), inputs, maps, {kPar, kPar},
        [&](OpBuilder &nb, ValueRange a) -> Value {
          Value gi = arith::AddIOp::create(nb, loc, op.getRow(),
                                           linalg::IndexOp::create(nb, loc, 0));
          Value gj = arith::AddIOp::create(nb, loc, op.getCol(),
                                           linalg::IndexOp::create(nb, loc, 1));
          Value rowEnd = op.getQLen();
          if (packedHeads > 1) {
            // Packed rows: G heads x Sq queries; the causal test uses the
            // query index.
            rowEnd =
                arith::MulIOp::create(nb, loc, rowEnd, h.index(packedHeads));
          }
          Value rowIn = arith::CmpIOp::create(
              nb, loc, arith::CmpIPredicate::ult, gi, rowEnd);
          if (packedHeads > 1)
            gi = arith::RemUIOp::create(nb, loc, gi, op.getQLen());
          Value colIn = arith::CmpIOp::create(
              nb, loc, arith::CmpIPredicate::ult, gj, op.getKvLen());
          Value valid = arith::AndIOp::create(nb, loc, rowIn, colIn);
          if (op.getCausal()) {
            // j <= i + Skv - Sq, as j + Sq <= i + Skv without negatives.
            Value lhs = arith::AddIOp::create(nb, loc, gj, op.getQLen());
            Value rhs = arith::AddIOp::create(nb, loc, gi, op.getKvLen());
            valid = arith::AndIOp::create(
                nb, loc, valid,
                arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::ule, lhs,
                                      rhs));
          }
          Value v = arith::MulFOp::create(nb, loc, a[0], scale);
          if (mask && eltOf(mask).isInteger(1))
            valid = arith::AndIOp::create(nb, loc, valid, a[1]);
          else if (mask)
            v = arith::AddFOp::create(nb, loc, v, h.toF32(nb, a[1]));
          return arith::SelectOp::create(nb, loc, valid, v, ninf);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Pattern: attn.tile_row_max => max-reduction over the columns, from -inf.
struct TileRowMaxLowering : OpRewritePattern<TileRowMaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TileRowMaxOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    int64_t bm = dimOf(op.getScores(), 0);
    Value init = h.filled({bm}, rewriter.getF32Type(), h.f32(-INFINITY));
    Value max = h.generic(
        init, op.getScores(), {h.map(2, {0, 1}), h.map(2, {0})}, {kPar, kRed},
        [&](OpBuilder &nb, ValueRange a) -> Value {
          return arith::MaximumFOp::create(nb, op.getLoc(), a[0], a[1]);
        });
    rewriter.replaceOp(op, max);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The skip vote
//===----------------------------------------------------------------------===//

/// Pattern: attn.skip_vote => per-row votes, then an AND over each group.
struct SkipVoteLowering : OpRewritePattern<SkipVoteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SkipVoteOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Location loc = op.getLoc();
    int64_t bm = dimOf(op.getTileMax(), 0);
    int64_t group = op.getGroupRows();
    Type i1 = rewriter.getI1Type();
    Value lambda = op.getLambda();
    // Skipping is on only for 0 < lambda < 1.
    Value positive = arith::CmpFOp::create(
        rewriter, loc, arith::CmpFPredicate::OGT, lambda, h.f32(0.0));
    Value belowOne = arith::CmpFOp::create(
        rewriter, loc, arith::CmpFPredicate::OLT, lambda, h.f32(1.0));
    Value enabled = arith::AndIOp::create(rewriter, loc, positive, belowOne);
    Value logLambda = math::LogOp::create(rewriter, loc, lambda);
    Value ninf = h.f32(-INFINITY);
    Value rowVotes =
        h.generic(h.empty({bm}, i1), ValueRange{op.getTileMax(), op.getMax()},
                  {h.map(1, {0}), h.map(1, {0}), h.map(1, {0})}, {kPar},
                  [&](OpBuilder &nb, ValueRange a) -> Value {
                    // A row votes yes if its tile is all -inf or far below its
                    // max.
                    Value empty = arith::CmpFOp::create(
                        nb, loc, arith::CmpFPredicate::OEQ, a[0], ninf);
                    Value gap = arith::SubFOp::create(nb, loc, a[0], a[1]);
                    Value far = arith::CmpFOp::create(
                        nb, loc, arith::CmpFPredicate::OLT, gap, logLambda);
                    Value yes = arith::OrIOp::create(nb, loc, empty, far);
                    return arith::AndIOp::create(nb, loc, enabled, yes);
                  });
    int64_t numGroups = bm / group;
    Value grouped = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({numGroups, group}, i1), rowVotes,
        ArrayRef<ReassociationIndices>{{0, 1}});
    Value init = h.filled(
        {numGroups}, i1,
        arith::ConstantOp::create(rewriter, loc, rewriter.getBoolAttr(true)));
    Value votes =
        h.generic(init, grouped, {h.map(2, {0, 1}), h.map(2, {0})},
                  {kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
                    return arith::AndIOp::create(nb, loc, a[0], a[1]);
                  });
    rewriter.replaceOp(op, votes);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// The online-softmax update and the epilogue
//===----------------------------------------------------------------------===//

/// Pattern: attn.tile_update => new max, exp of the shifted scores, rescaled
/// sum and accumulator, P·V; rows of skipping groups keep their state.
struct TileUpdateLowering : OpRewritePattern<TileUpdateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TileUpdateOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Location loc = op.getLoc();
    int64_t bm = dimOf(op.getScores(), 0), bn = dimOf(op.getScores(), 1);
    int64_t dv = dimOf(op.getValue(), 1);
    Type f32 = rewriter.getF32Type();
    Type vElt = eltOf(op.getValue());
    Value ninf = h.f32(-INFINITY);
    AffineMap row = h.map(1, {0});

    // m' = max(m, mt); c = m' == -inf ? 0 : m' (the shift for exp);
    // alpha = exp(m - c).
    Value newMax = h.generic(
        h.empty({bm}, f32), ValueRange{op.getMax(), op.getTileMax()},
        {row, row, row}, {kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
          return arith::MaximumFOp::create(nb, loc, a[0], a[1]);
        });
    Value shift = h.generic(
        h.empty({bm}, f32), newMax, {row, row}, {kPar},
        [&](OpBuilder &nb, ValueRange a) -> Value {
          Value isNinf = arith::CmpFOp::create(
              nb, loc, arith::CmpFPredicate::OEQ, a[0], ninf);
          return arith::SelectOp::create(nb, loc, isNinf, h.f32(0.0), a[0]);
        });
    Value alpha = h.generic(
        h.empty({bm}, f32), ValueRange{op.getMax(), shift}, {row, row, row},
        {kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
          return math::ExpOp::create(
              nb, loc, arith::SubFOp::create(nb, loc, a[0], a[1]));
        });
    // p = exp(s - c).
    Value p =
        h.generic(h.empty({bm, bn}, f32), ValueRange{op.getScores(), shift},
                  {h.map(2, {0, 1}), h.map(2, {0}), h.map(2, {0, 1})},
                  {kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
                    return math::ExpOp::create(
                        nb, loc, arith::SubFOp::create(nb, loc, a[0], a[1]));
                  });
    // l' = alpha * l + sum_j p.
    Value rowSum = h.generic(
        h.filled({bm}, f32, h.f32(0.0)), p, {h.map(2, {0, 1}), h.map(2, {0})},
        {kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
          return arith::AddFOp::create(nb, loc, a[0], a[1]);
        });
    Value newSum = h.generic(
        h.empty({bm}, f32), ValueRange{alpha, op.getSum(), rowSum},
        {row, row, row, row}, {kPar},
        [&](OpBuilder &nb, ValueRange a) -> Value {
          return arith::AddFOp::create(
              nb, loc, arith::MulFOp::create(nb, loc, a[0], a[1]), a[2]);
        });
    // pv = round(p) · v in f32, loops (i, d, j).
    Value pv = h.generic(
        h.filled({bm, dv}, f32, h.f32(0.0)), ValueRange{p, op.getValue()},
        {h.map(3, {0, 2}), h.map(3, {2, 1}), h.map(3, {0, 1})},
        {kPar, kPar, kRed}, [&](OpBuilder &nb, ValueRange a) -> Value {
          Value pr = h.toF32(nb, h.fromF32(nb, a[0], vElt));
          Value prod = arith::MulFOp::create(nb, loc, pr, h.toF32(nb, a[1]));
          return arith::AddFOp::create(nb, loc, a[2], prod);
        });
    // acc' = alpha * acc + pv.
    Value newAcc = h.generic(
        h.empty({bm, dv}, f32), ValueRange{alpha, op.getAcc(), pv},
        {h.map(2, {0}), h.map(2, {0, 1}), h.map(2, {0, 1}), h.map(2, {0, 1})},
        {kPar, kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
          return arith::AddFOp::create(
              nb, loc, arith::MulFOp::create(nb, loc, a[0], a[1]), a[2]);
        });

    if (Value groups = op.getSkipGroups()) {
      int64_t group = bm / dimOf(groups, 0);
      Value groupRows = h.index(group);
      // Keep the old value in the rows of groups that voted to skip.
      auto keep = [&](Value fresh, Value old, int64_t rank) {
        AffineMap id = rank == 1 ? row : h.map(2, {0, 1});
        SmallVector<utils::IteratorType> its(rank, kPar);
        return h.generic(
            h.empty(cast<RankedTensorType>(old.getType()).getShape(), f32),
            ValueRange{fresh, old}, {id, id, id}, its,
            [&](OpBuilder &nb, ValueRange a) -> Value {
              Value g = arith::DivUIOp::create(
                  nb, loc, linalg::IndexOp::create(nb, loc, 0), groupRows);
              Value skip = tensor::ExtractOp::create(nb, loc, groups, g);
              return arith::SelectOp::create(nb, loc, skip, a[1], a[0]);
            });
      };
      newMax = keep(newMax, op.getMax(), 1);
      newSum = keep(newSum, op.getSum(), 1);
      newAcc = keep(newAcc, op.getAcc(), 2);
    }
    rewriter.replaceOp(op, ValueRange{newMax, newSum, newAcc});
    return success();
  }
};

/// Pattern: attn.tile_merge => the log-sum-exp merge of two (m, l, acc).
struct TileMergeLowering : OpRewritePattern<TileMergeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TileMergeOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Location loc = op.getLoc();
    int64_t bm = dimOf(op.getMax(), 0), dv = dimOf(op.getAcc(), 1);
    Type f32 = rewriter.getF32Type();
    Value ninf = h.f32(-INFINITY);
    AffineMap row = h.map(1, {0});
    // m' = max(m1, m2); c = m' == -inf ? 0 : m'; a1, a2 = exp(m1 - c),
    // exp(m2 - c).
    Value newMax = h.generic(
        h.empty({bm}, f32), ValueRange{op.getMax(), op.getOtherMax()},
        {row, row, row}, {kPar}, [&](OpBuilder &nb, ValueRange a) -> Value {
          return arith::MaximumFOp::create(nb, loc, a[0], a[1]);
        });
    auto weight = [&](Value m) {
      return h.generic(
          h.empty({bm}, f32), ValueRange{m, newMax}, {row, row, row}, {kPar},
          [&](OpBuilder &nb, ValueRange a) -> Value {
            Value isNinf = arith::CmpFOp::create(
                nb, loc, arith::CmpFPredicate::OEQ, a[1], ninf);
            Value c =
                arith::SelectOp::create(nb, loc, isNinf, h.f32(0.0), a[1]);
            return math::ExpOp::create(nb, loc,
                                       arith::SubFOp::create(nb, loc, a[0], c));
          });
    };
    Value a1 = weight(op.getMax()), a2 = weight(op.getOtherMax());
    auto combine = [&](OpBuilder &nb, ValueRange a) -> Value {
      return arith::AddFOp::create(nb, loc,
                                   arith::MulFOp::create(nb, loc, a[0], a[1]),
                                   arith::MulFOp::create(nb, loc, a[2], a[3]));
    };
    Value newSum = h.generic(h.empty({bm}, f32),
                             ValueRange{a1, op.getSum(), a2, op.getOtherSum()},
                             {row, row, row, row, row}, {kPar}, combine);
    AffineMap full = h.map(2, {0, 1}), rowOf = h.map(2, {0});
    Value newAcc =
        h.generic(h.empty({bm, dv}, f32),
                  ValueRange{a1, op.getAcc(), a2, op.getOtherAcc()},
                  {rowOf, full, rowOf, full, full}, {kPar, kPar}, combine);
    rewriter.replaceOp(op, ValueRange{newMax, newSum, newAcc});
    return success();
  }
};

/// Pattern: attn.tile_lse => m + log(l), -inf where l is 0.
struct TileLseLowering : OpRewritePattern<TileLseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TileLseOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Location loc = op.getLoc();
    AffineMap row = h.map(1, {0});
    Value lse =
        h.generic(h.empty({dimOf(op.getMax(), 0)}, rewriter.getF32Type()),
                  ValueRange{op.getMax(), op.getSum()}, {row, row, row}, {kPar},
                  [&](OpBuilder &nb, ValueRange a) -> Value {
                    Value none = arith::CmpFOp::create(
                        nb, loc, arith::CmpFPredicate::OEQ, a[1], h.f32(0.0));
                    Value value = arith::AddFOp::create(
                        nb, loc, a[0], math::LogOp::create(nb, loc, a[1]));
                    return arith::SelectOp::create(nb, loc, none,
                                                   h.f32(-INFINITY), value);
                  });
    rewriter.replaceOp(op, lse);
    return success();
  }
};

/// Pattern: attn.tile_finalize => acc / l (0 where l is 0), in the output
/// element type.
struct TileFinalizeLowering : OpRewritePattern<TileFinalizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(TileFinalizeOp op,
                                PatternRewriter &rewriter) const override {
    Builder h{rewriter, op.getLoc()};
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    Type elt = type.getElementType();
    Value out = h.generic(
        h.empty(type.getShape(), elt), ValueRange{op.getAcc(), op.getSum()},
        {h.map(2, {0, 1}), h.map(2, {0}), h.map(2, {0, 1})}, {kPar, kPar},
        [&](OpBuilder &nb, ValueRange a) -> Value {
          Value zero = h.f32(0.0);
          Value none = arith::CmpFOp::create(nb, loc, arith::CmpFPredicate::OEQ,
                                             a[1], zero);
          Value q = arith::DivFOp::create(nb, loc, a[0], a[1]);
          Value v = arith::SelectOp::create(nb, loc, none, zero, q);
          return h.fromF32(nb, v, elt);
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};
} // namespace

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct ConvertAttnToLoopsPass
    : public skipattn::impl::ConvertAttnToLoopsBase<ConvertAttnToLoopsPass> {
  void runOnOperation() override {
    Operation *root = getOperation();
    WalkResult untiled = root->walk([&](Operation *op) {
      if (isa<AttentionOp, PagedAttentionOp, VarlenAttentionOp>(op)) {
        op->emitError() << "convert-attn-to-loops: " << op->getName()
                        << " must be tiled first; run attn-tile";
        return WalkResult::interrupt();
      }
      if (auto update = dyn_cast<TileUpdateOp>(op);
          update && update.getSkipRequestAttr()) {
        op->emitError("convert-attn-to-loops: this kv loop asks for "
                      "Skip-Softmax; run attn-insert-block-skip first");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (untiled.wasInterrupted())
      return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    patterns
        .add<LoadTileLowering, LoadMaxTileLowering, LoadPagedTileLowering,
             LoadPackedTileLowering, LoadMaskTileLowering, TileScoresLowering,
             TileRowMaxLowering, SkipVoteLowering, TileUpdateLowering,
             TileMergeLowering, TileLseLowering, TileFinalizeLowering>(
            &getContext());
    GreedyRewriteConfig config;
    config.enableFolding(false);
    if (failed(applyPatternsGreedily(root, std::move(patterns), config)))
      return signalPassFailure();
    WalkResult left = root->walk([&](Operation *op) {
      if (isa<AttnDialect>(op->getDialect())) {
        op->emitError("convert-attn-to-loops: no lowering for this op");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
