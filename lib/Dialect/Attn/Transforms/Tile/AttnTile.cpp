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

#include "../RuntimeArgument.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNTILE
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;

static constexpr StringLiteral kKvSplitsArg = "attn.kv_splits";

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

/// The number of kv-blocks a q-block visits. Unpacked, its rows are the
/// queries [q0, min(q0 + BM, Sq)) of one head; packed (`heads` > 1), they
/// are the packed rows [q0, min(q0 + BM, heads * Sq)) of a GQA group, whose
/// largest query index is Sq - 1 when they reach a head's last query or
/// cross into the next head.
static Value numKVBlocks(OpBuilder &b, Location loc, bool causal, Value q0,
                         Value sq, Value skv, int64_t bm, int64_t bn,
                         int64_t heads) {
  Value all = arith::CeilDivUIOp::create(b, loc, skv, cst(b, loc, bn));
  if (!causal)
    return all;
  // Row i keeps keys j <= i + Skv - Sq, so the blocks up to key
  // (largest query + 1) + Skv - Sq (exclusive) hold every unmasked entry.
  Value one = cst(b, loc, 1);
  Value rowsEnd = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, q0, cst(b, loc, bm)),
      heads > 1
          ? arith::MulIOp::create(b, loc, sq, cst(b, loc, heads)).getResult()
          : sq);
  Value queryEnd = rowsEnd;
  if (heads > 1) {
    Value last = arith::SubIOp::create(b, loc, rowsEnd, one);
    Value sameHead =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                              arith::DivUIOp::create(b, loc, q0, sq),
                              arith::DivUIOp::create(b, loc, last, sq));
    Value within = arith::AddIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, last, sq), one);
    queryEnd = arith::SelectOp::create(b, loc, sameHead, within, sq);
  }
  Value keysEnd = arith::SubIOp::create(
      b, loc, arith::AddIOp::create(b, loc, queryEnd, skv), sq);
  Value blocks = arith::CeilDivSIOp::create(b, loc, keysEnd, cst(b, loc, bn));
  Value clamped = arith::MinSIOp::create(b, loc, blocks, all);
  return arith::MaxSIOp::create(b, loc, clamped, cst(b, loc, 0));
}

/// Sequence b of a varlen batch: its first token cu[b] and its length
/// cu[b + 1] - cu[b], read as indices (a decreasing pair counts as empty).
static std::pair<Value, Value> sequenceExtent(OpBuilder &b, Location loc,
                                              Value cu, Value seq) {
  auto read = [&](Value i) -> Value {
    Value x = tensor::ExtractOp::create(b, loc, cu, ValueRange{i});
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  };
  Value start = read(seq);
  Value end = read(arith::AddIOp::create(b, loc, seq, cst(b, loc, 1)));
  Value len = arith::MaxSIOp::create(
      b, loc, arith::SubIOp::create(b, loc, end, start), cst(b, loc, 0));
  return {start, len};
}

/// The longest sequence of a varlen batch of `batch` sequences.
static Value longestSequence(OpBuilder &b, Location loc, Value cu,
                             Value batch) {
  auto loop = scf::ForOp::create(b, loc, cst(b, loc, 0), batch, cst(b, loc, 1),
                                 ValueRange{cst(b, loc, 0)});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value len = sequenceExtent(b, loc, cu, loop.getInductionVar()).second;
  scf::YieldOp::create(
      b, loc,
      ValueRange{arith::MaxSIOp::create(b, loc, loop.getRegionIterArg(0), len)
                     .getResult()});
  return loop.getResult(0);
}

/// The reassociations that split dim `d` of a rank-`rank` tensor in two,
/// and that merge dims `d` and `d + 1` of the result back.
static SmallVector<ReassociationIndices> splitDim(int64_t rank, int64_t d) {
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0, out = 0; i < rank; ++i) {
    groups.push_back({out++});
    if (i == d)
      groups.back().push_back(out++);
  }
  return groups;
}

/// [B, Hq, S(, D)] viewed as [B, Hkv, G * S(, D)]: the rows of a GQA
/// group's heads one after another (G = Hq / Hkv).
static Value packHeads(OpBuilder &b, Location loc, Value x, int64_t hkv,
                       int64_t group) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank(), s = type.getDimSize(2);
  SmallVector<int64_t> expandedShape = {type.getDimSize(0), hkv, group, s};
  SmallVector<OpFoldResult> shape = {getAsOpFoldResult(dimValue(b, loc, x, 0)),
                                     b.getIndexAttr(hkv), b.getIndexAttr(group),
                                     getAsOpFoldResult(dimValue(b, loc, x, 2))};
  SmallVector<int64_t> packedShape = {
      type.getDimSize(0), hkv,
      ShapedType::isDynamic(s) ? ShapedType::kDynamic : group * s};
  for (int64_t i = 3; i < rank; ++i) {
    expandedShape.push_back(type.getDimSize(i));
    shape.push_back(b.getIndexAttr(type.getDimSize(i)));
    packedShape.push_back(type.getDimSize(i));
  }
  Value expanded = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(expandedShape, type.getElementType()), x,
      splitDim(rank, 1), shape);
  return tensor::CollapseShapeOp::create(
      b, loc, RankedTensorType::get(packedShape, type.getElementType()),
      expanded, splitDim(rank, 2));
}

/// The inverse of packHeads: [B, Hkv, G * S(, D)] back to `type`, [B, Hq,
/// S(, D)], with S the value `sq`.
static Value unpackHeads(OpBuilder &b, Location loc, Value x,
                         RankedTensorType type, int64_t group, Value sq) {
  auto packed = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank(), hkv = packed.getDimSize(1);
  SmallVector<int64_t> expandedShape = {type.getDimSize(0), hkv, group,
                                        type.getDimSize(2)};
  SmallVector<OpFoldResult> shape = {getAsOpFoldResult(dimValue(b, loc, x, 0)),
                                     b.getIndexAttr(hkv), b.getIndexAttr(group),
                                     getAsOpFoldResult(sq)};
  for (int64_t i = 3; i < rank; ++i) {
    expandedShape.push_back(type.getDimSize(i));
    shape.push_back(b.getIndexAttr(type.getDimSize(i)));
  }
  Value expanded = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(expandedShape, type.getElementType()), x,
      splitDim(rank, 2), shape);
  return tensor::CollapseShapeOp::create(b, loc, type, expanded,
                                         splitDim(rank, 1));
}

namespace {
/// attn.attention and attn.paged_attention as attn-tile sees them: the
/// same loop nest, with K/V tiles read from [B, Hkv, Skv, D] tensors or from
/// pages, and one kv length or one per sequence.
struct AttentionView {
  Operation *op;
  Value query, key, value, mask;
  /// Paged: the block table and the lengths; null otherwise.
  Value blockTable, seqLens;
  /// Varlen: the cumulative lengths of the packed sequences; null otherwise.
  Value cuSeqlensQ, cuSeqlensK;
  bool causal;
  float scale;
  SkipAttr skip;
  Value lse;
  /// attn.attention's init_max operand and max result; null otherwise.
  Value initMax, max;
  /// attn.attention's destinations (outs); null for paged attention.
  Value init, lseInit, maxInit;
  int64_t hq, hkv, d, dv;

  explicit AttentionView(AttentionOp a)
      : op(a), query(a.getQuery()), key(a.getKey()), value(a.getValue()),
        mask(a.getMask()), causal(a.getCausal()), scale(a.getScaleValue()),
        skip(a.getSkipAttr()), lse(a.getLse()), initMax(a.getInitMax()),
        max(a.getMax()), init(a.getInit()), lseInit(a.getLseInit()),
        maxInit(a.getMaxInit()), hq(a.getNumQueryHeads()),
        hkv(a.getNumKVHeads()), d(a.getHeadDim()), dv(a.getValueHeadDim()) {}
  explicit AttentionView(PagedAttentionOp a)
      : op(a), query(a.getQuery()), key(a.getKey()), value(a.getValue()),
        blockTable(a.getBlockTable()), seqLens(a.getSeqLens()),
        causal(a.getCausal()), scale(a.getScaleValue()), skip(a.getSkipAttr()),
        lse(a.getLse()), hq(a.getNumQueryHeads()), hkv(a.getNumKVHeads()),
        d(a.getHeadDim()), dv(a.getValueHeadDim()) {}
  explicit AttentionView(VarlenAttentionOp a)
      : op(a), query(a.getQuery()), key(a.getKey()), value(a.getValue()),
        cuSeqlensQ(a.getCuSeqlensQ()), cuSeqlensK(a.getCuSeqlensK()),
        causal(a.getCausal()), scale(a.getScaleValue()), skip(a.getSkipAttr()),
        hq(a.getNumQueryHeads()), hkv(a.getNumKVHeads()), d(a.getHeadDim()),
        dv(a.getValueHeadDim()) {}

  RankedTensorType resultType() const {
    return cast<RankedTensorType>(op->getResult(0).getType());
  }
  Type elementType() const { return resultType().getElementType(); }
};

/// What tileAttention builds around the kv loop.
struct Tiling {
  int64_t bm, bn;
  bool packGQA;
  /// The number of kv parts (index), or null for one kv loop.
  Value numSplits;
};
} // namespace

static LogicalResult tileAttention(const AttentionView &op,
                                   const Tiling &tiling) {
  Location loc = op.op->getLoc();
  IRRewriter b(op.op);
  int64_t bm = tiling.bm, bn = tiling.bn;
  RankedTensorType resultType = op.resultType();
  Type elt = op.elementType();
  int64_t hq = op.hq, hkv = op.hkv;
  int64_t group = hq / hkv;
  // Packing a group of one head changes nothing.
  int64_t packed = tiling.packGQA && group > 1 ? group : 1;
  int64_t d = op.d, dv = op.dv;
  Type f32 = b.getF32Type();

  // A part of a split kv range starts from its own seed (docs/serving.md);
  // combining that with an initial max is not built.
  if (op.initMax && tiling.numSplits)
    return op.op->emitError("attn-tile: init_max is not supported with "
                            "kv-splits");
  bool varlen = static_cast<bool>(op.cuSeqlensQ);
  if (varlen && packed > 1)
    return op.op->emitError("attn-tile: pack-gqa does not apply to "
                            "attn.varlen_attention");
  // Varlen: B = len(cu_seqlens) - 1 sequences; the q-blocks run over the
  // longest one, and each sequence's lengths are read in the forall.
  Value batch =
      varlen ? arith::MaxSIOp::create(
                   b, loc,
                   arith::SubIOp::create(b, loc,
                                         dimValue(b, loc, op.cuSeqlensQ, 0),
                                         cst(b, loc, 1)),
                   cst(b, loc, 0))
                   .getResult()
             : dimValue(b, loc, op.query, 0);
  Value sq = varlen ? longestSequence(b, loc, op.cuSeqlensQ, batch)
                    : dimValue(b, loc, op.query, 2);
  // One kv length, or (paged, varlen) each sequence's, read in the forall.
  Value skv = op.blockTable || varlen ? Value() : dimValue(b, loc, op.key, 2);
  // The rows the q-blocks run over: Sq queries of a head, or G * Sq packed
  // rows of a group.
  Value query = op.query;
  Value rowsTotal = sq;
  RankedTensorType outType = resultType;
  if (packed > 1) {
    query = packHeads(b, loc, query, hkv, packed);
    rowsTotal = arith::MulIOp::create(b, loc, sq, cst(b, loc, packed));
    int64_t s = resultType.getDimSize(2);
    outType = RankedTensorType::get(
        {resultType.getDimSize(0), hkv,
         ShapedType::isDynamic(s) ? ShapedType::kDynamic : packed * s, dv},
        elt);
  }
  Value numQBlocks =
      arith::CeilDivUIOp::create(b, loc, rowsTotal, cst(b, loc, bm));

  // The loop writes the attention's destinations (attn.attention's outs,
  // viewed as packed rows when the heads are packed); attn.paged_attention
  // has none and gets new tensors.
  SmallVector<Value> dynSizes;
  if (varlen) {
    // [Tq, Hq, Dv]: rows no sequence covers stay as tensor.empty left them.
    if (outType.isDynamicDim(0))
      dynSizes.push_back(dimValue(b, loc, op.query, 0));
  } else {
    if (outType.isDynamicDim(0))
      dynSizes.push_back(batch);
    if (outType.isDynamicDim(2))
      dynSizes.push_back(rowsTotal);
  }
  auto destination = [&](Value init, RankedTensorType type) -> Value {
    if (!init)
      return tensor::EmptyOp::create(b, loc, type, dynSizes);
    return packed > 1 ? packHeads(b, loc, init, hkv, packed) : init;
  };
  SmallVector<Value> inits = {destination(op.init, outType)};
  // The log-sum-exp of each row: [B, heads, rows] in f32.
  RankedTensorType lseType;
  if (op.lse) {
    lseType = RankedTensorType::get(outType.getShape().drop_back(), f32);
    inits.push_back(destination(op.lseInit, lseType));
  }
  // The final running max of each row: [B, heads, rows] in f32.
  RankedTensorType maxType;
  if (op.max) {
    maxType = RankedTensorType::get(outType.getShape().drop_back(), f32);
    inits.push_back(destination(op.maxInit, maxType));
  }
  // The initial running max, viewed as packed rows with the heads.
  Value initMax = op.initMax;
  if (initMax && packed > 1)
    initMax = packHeads(b, loc, initMax, hkv, packed);

  int64_t heads = packed > 1 ? hkv : hq;
  SmallVector<OpFoldResult> ubs = {batch, b.getIndexAttr(heads), numQBlocks};
  auto forall = scf::ForallOp::create(b, loc, ubs, inits,
                                      /*mapping=*/std::nullopt);
  Block *body = forall.getBody();
  Value ib = body->getArgument(0), ih = body->getArgument(1),
        iqb = body->getArgument(2), out = body->getArgument(3);

  b.setInsertionPoint(body->getTerminator());
  // The kv head, and the query head of the tile's first row (for the mask).
  Value kvh = ih, qHead = ih;
  if (packed > 1)
    qHead = arith::MulIOp::create(b, loc, ih, cst(b, loc, packed));
  else if (group > 1)
    kvh = arith::DivUIOp::create(b, loc, ih, cst(b, loc, group));
  Value q0 = arith::MulIOp::create(b, loc, iqb, cst(b, loc, bm));
  // Varlen: the sequence's first query and key tokens; sq and skv become
  // its own lengths.
  Value startQ, startK;
  if (varlen) {
    std::tie(startQ, sq) = sequenceExtent(b, loc, op.cuSeqlensQ, ib);
    std::tie(startK, skv) = sequenceExtent(b, loc, op.cuSeqlensK, ib);
    rowsTotal = sq;
  }
  Value qt =
      varlen ? LoadPackedTileOp::create(b, loc,
                                        RankedTensorType::get({bm, d}, elt),
                                        query, startQ, ih, q0, sq)
                   .getResult()
             : LoadTileOp::create(b, loc, RankedTensorType::get({bm, d}, elt),
                                  query, ib, ih, q0)
                   .getResult();
  if (op.seqLens) {
    // L_b, read as a non-negative index.
    Value len = tensor::ExtractOp::create(b, loc, op.seqLens, ValueRange{ib});
    len = arith::MaxSIOp::create(
        b, loc, len, arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)));
    skv = arith::IndexCastOp::create(b, loc, b.getIndexType(), len);
  }
  Value numKV = numKVBlocks(b, loc, op.causal, q0, sq, skv, bm, bn, packed);
  // Varlen: a q-block past its sequence's queries visits nothing.
  if (varlen)
    numKV = arith::SelectOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, q0, sq),
        numKV, cst(b, loc, 0));
  // The running max starts at -inf, or at init_max (rows past the end at
  // -inf).
  Value m0 =
      initMax ? LoadMaxTileOp::create(b, loc, RankedTensorType::get({bm}, f32),
                                      initMax, ib, ih, q0)
                    .getResult()
              : splat(b, loc, {bm}, -INFINITY);
  Value l0 = splat(b, loc, {bm}, 0.0f);
  Value acc0 = splat(b, loc, {bm, dv}, 0.0f);

  // One kv loop over [lb, ub) from (-inf, 0, 0).
  auto kvLoop = [&](Value lb, Value ub) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, cst(b, loc, 1),
                                   ValueRange{m0, l0, acc0});
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    Value m = loop.getRegionIterArg(0), l = loop.getRegionIterArg(1),
          acc = loop.getRegionIterArg(2);
    Value k0 = arith::MulIOp::create(b, loc, j, cst(b, loc, bn));
    // A K or V tile: rows of a [B, Hkv, Skv, D] tensor, or of the pages.
    auto loadKV = [&](Value source, int64_t width) -> Value {
      auto type = RankedTensorType::get({bn, width}, elt);
      if (op.blockTable)
        return LoadPagedTileOp::create(b, loc, type, source, op.blockTable, ib,
                                       kvh, k0, skv);
      if (varlen)
        return LoadPackedTileOp::create(b, loc, type, source, startK, kvh, k0,
                                        skv);
      return LoadTileOp::create(b, loc, type, source, ib, kvh, k0);
    };
    Value kt = loadKV(op.key, d);
    Value maskTile;
    if (Value mask = op.mask) {
      Type maskElt = cast<RankedTensorType>(mask.getType()).getElementType();
      maskTile = LoadMaskTileOp::create(
          b, loc, RankedTensorType::get({bm, bn}, maskElt), mask, ib, qHead, q0,
          k0, packed > 1 ? sq : Value());
    }
    Value s = TileScoresOp::create(
        b, loc, RankedTensorType::get({bm, bn}, f32), qt, kt, maskTile, q0, k0,
        sq, skv, b.getF32FloatAttr(op.scale),
        op.causal ? b.getUnitAttr() : UnitAttr(),
        packed > 1 ? b.getI64IntegerAttr(packed) : IntegerAttr());
    Value mt =
        TileRowMaxOp::create(b, loc, RankedTensorType::get({bm}, f32), s);
    Value vt = loadKV(op.value, dv);
    // A skip request waits on the update for attn-insert-block-skip.
    auto update = TileUpdateOp::create(b, loc, m.getType(), l.getType(),
                                       acc.getType(), s, mt, vt, m, l, acc,
                                       /*skipGroups=*/Value(), op.skip);
    scf::YieldOp::create(b, loc, update.getResults());
    return loop;
  };

  ValueRange state;
  if (!tiling.numSplits) {
    state = kvLoop(cst(b, loc, 0), numKV).getResults();
  } else {
    // Part p covers [min(p * per, n), min(p * per + per, n)), per =
    // ceil(n / P); a P below 1 counts as 1.
    Value parts =
        arith::MaxSIOp::create(b, loc, tiling.numSplits, cst(b, loc, 1));
    Value per = arith::CeilDivUIOp::create(b, loc, numKV, parts);
    auto splits = scf::ForOp::create(b, loc, cst(b, loc, 0), parts,
                                     cst(b, loc, 1), ValueRange{m0, l0, acc0});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(splits.getBody());
      Value first = arith::MinUIOp::create(
          b, loc, arith::MulIOp::create(b, loc, splits.getInductionVar(), per),
          numKV);
      Value last = arith::MinUIOp::create(
          b, loc, arith::AddIOp::create(b, loc, first, per), numKV);
      scf::ForOp part = kvLoop(first, last);
      ValueRange acc = splits.getRegionIterArgs();
      auto merged = TileMergeOp::create(
          b, loc, acc[0].getType(), acc[1].getType(), acc[2].getType(), acc[0],
          acc[1], acc[2], part.getResult(0), part.getResult(1),
          part.getResult(2));
      scf::YieldOp::create(b, loc, merged.getResults());
    }
    state = splits.getResults();
  }

  Value ot = TileFinalizeOp::create(
      b, loc, RankedTensorType::get({bm, dv}, elt), state[2], state[1]);
  // The last q-block may hold fewer than BM valid rows (varlen: none, past
  // its sequence).
  Value left = arith::SubIOp::create(b, loc, rowsTotal, q0);
  if (varlen)
    left = arith::MaxSIOp::create(b, loc, left, cst(b, loc, 0));
  Value rows = arith::MinUIOp::create(b, loc, cst(b, loc, bm), left);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  Value valid = tensor::ExtractSliceOp::create(
      b, loc, ot, ArrayRef<OpFoldResult>{zero, zero},
      ArrayRef<OpFoldResult>{rows, b.getIndexAttr(dv)},
      ArrayRef<OpFoldResult>{one, one});
  Value validLse;
  if (lseType) {
    Value lt =
        TileLseOp::create(b, loc, state[0].getType(), state[0], state[1]);
    validLse = tensor::ExtractSliceOp::create(
        b, loc, lt, ArrayRef<OpFoldResult>{zero}, ArrayRef<OpFoldResult>{rows},
        ArrayRef<OpFoldResult>{one});
  }
  Value validMax;
  if (maxType)
    validMax = tensor::ExtractSliceOp::create(
        b, loc, state[0], ArrayRef<OpFoldResult>{zero},
        ArrayRef<OpFoldResult>{rows}, ArrayRef<OpFoldResult>{one});
  Value varlenRow =
      varlen ? arith::AddIOp::create(b, loc, startQ, q0).getResult() : Value();
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  if (varlen)
    // Rows [start + q0, start + q0 + rows) of query head h in [Tq, Hq, Dv].
    tensor::ParallelInsertSliceOp::create(
        b, loc, valid, out, ArrayRef<OpFoldResult>{varlenRow, ih, zero},
        ArrayRef<OpFoldResult>{rows, one, b.getIndexAttr(dv)},
        ArrayRef<OpFoldResult>{one, one, one});
  else
    tensor::ParallelInsertSliceOp::create(
        b, loc, valid, out, ArrayRef<OpFoldResult>{ib, ih, q0, zero},
        ArrayRef<OpFoldResult>{one, one, rows, b.getIndexAttr(dv)},
        ArrayRef<OpFoldResult>{one, one, one, one});
  if (lseType)
    tensor::ParallelInsertSliceOp::create(
        b, loc, validLse, body->getArgument(4),
        ArrayRef<OpFoldResult>{ib, ih, q0},
        ArrayRef<OpFoldResult>{one, one, rows},
        ArrayRef<OpFoldResult>{one, one, one});
  if (maxType)
    tensor::ParallelInsertSliceOp::create(
        b, loc, validMax, body->getArgument(lseType ? 5 : 4),
        ArrayRef<OpFoldResult>{ib, ih, q0},
        ArrayRef<OpFoldResult>{one, one, rows},
        ArrayRef<OpFoldResult>{one, one, one});

  b.setInsertionPointAfter(forall);
  SmallVector<Value> results(forall.getResults());
  if (packed > 1) {
    results[0] = unpackHeads(b, loc, results[0], resultType, packed, sq);
    if (lseType)
      results[1] =
          unpackHeads(b, loc, results[1],
                      cast<RankedTensorType>(op.lse.getType()), packed, sq);
    if (maxType)
      results.back() =
          unpackHeads(b, loc, results.back(),
                      cast<RankedTensorType>(op.max.getType()), packed, sq);
  }
  b.replaceOp(op.op, results);
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
    // Each view is read right before its tiling: tiling an attention
    // replaces its result, which a later attention may read.
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<AttentionOp, PagedAttentionOp, VarlenAttentionOp>(op))
        ops.push_back(op);
    });
    for (Operation *attention : ops) {
      AttentionView op =
          TypeSwitch<Operation *, AttentionView>(attention)
              .Case([](AttentionOp a) { return AttentionView(a); })
              .Case([](PagedAttentionOp a) { return AttentionView(a); })
              .Case([](VarlenAttentionOp a) { return AttentionView(a); })
              .Default([](Operation *) -> AttentionView {
                llvm_unreachable("only attention ops are collected");
              });
      Tiling tiling{blockM, blockN, packGQA, Value()};
      if (kvSplits) {
        FailureOr<Value> parts = getOrAddRuntimeArgument(
            op.op, kKvSplitsArg, IndexType::get(&getContext()),
            {"attn-tile", "kv-split", "split-KV attention"});
        if (failed(parts))
          return signalPassFailure();
        tiling.numSplits = *parts;
      }
      if (failed(tileAttention(op, tiling)))
        return signalPassFailure();
    }
  }
};
} // namespace
