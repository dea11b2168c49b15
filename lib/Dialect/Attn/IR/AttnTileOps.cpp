//===- AttnTileOps.cpp - verifiers of the tile-level ops ------------------===//
//
// The tile ops work on small tensors of static shape; their verifiers check
// that the block sizes (BM, BN), head dims (D, Dv) and element types of the
// operands agree, so that both lowerings can rely on them.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace skipattn::attn;

/// A static tensor of `rank` dims, or a diagnostic.
static LogicalResult staticTile(Operation *op, Type t, int64_t rank,
                                StringRef name) {
  auto type = dyn_cast<RankedTensorType>(t);
  if (!type || type.getRank() != rank || !type.hasStaticShape())
    return op->emitOpError() << name << " must be a static tensor of rank "
                             << rank << ", got " << t;
  return success();
}

static int64_t dim(Value v, int64_t d) {
  return cast<RankedTensorType>(v.getType()).getDimSize(d);
}

static Type elt(Value v) { return getElementTypeOrSelf(v.getType()); }

static bool isF32Tile(Value v) { return elt(v).isF32(); }

LogicalResult LoadTileOp::verify() {
  if (getSource().getType().getRank() != 4)
    return emitOpError("source must have rank 4 ([B, H, S, D])");
  if (failed(staticTile(*this, getType(), 2, "result")))
    return failure();
  if (elt(getResult()) != elt(getSource()))
    return emitOpError("result element type must match the source's");
  int64_t d = getSource().getType().getDimSize(3);
  if (!ShapedType::isDynamic(d) && dim(getResult(), 1) != d)
    return emitOpError() << "result has " << dim(getResult(), 1)
                         << " columns but the source head dim is " << d;
  return success();
}

LogicalResult LoadMaxTileOp::verify() {
  auto source = cast<RankedTensorType>(getSource().getType());
  if (source.getRank() != 3 || !source.getElementType().isF32())
    return emitOpError() << "source must be f32 of rank 3 ([B, H, S]), got "
                         << source;
  if (failed(staticTile(*this, getType(), 1, "result")))
    return failure();
  if (!isF32Tile(getResult()))
    return emitOpError("result must be f32");
  return success();
}

LogicalResult LoadPagedTileOp::verify() {
  auto pages = cast<RankedTensorType>(getPages().getType());
  auto table = cast<RankedTensorType>(getTable().getType());
  if (pages.getRank() != 4)
    return emitOpError("pages must have rank 4 ([num_pages, page_size, H, D])");
  if (pages.isDynamicDim(1))
    return emitOpError("the page size must be static");
  if (table.getRank() != 2 || !table.getElementType().isInteger(32))
    return emitOpError("table must be i32 [B, max_pages]");
  if (failed(staticTile(*this, getType(), 2, "result")))
    return failure();
  if (elt(getResult()) != elt(getPages()))
    return emitOpError("result element type must match the pages'");
  int64_t d = pages.getDimSize(3);
  if (!ShapedType::isDynamic(d) && dim(getResult(), 1) != d)
    return emitOpError() << "result has " << dim(getResult(), 1)
                         << " columns but the pages' head dim is " << d;
  return success();
}

LogicalResult LoadPackedTileOp::verify() {
  auto source = cast<RankedTensorType>(getSource().getType());
  if (source.getRank() != 3)
    return emitOpError("source must have rank 3 ([T, H, D])");
  if (failed(staticTile(*this, getType(), 2, "result")))
    return failure();
  if (elt(getResult()) != elt(getSource()))
    return emitOpError("result element type must match the source's");
  int64_t d = source.getDimSize(2);
  if (!ShapedType::isDynamic(d) && dim(getResult(), 1) != d)
    return emitOpError() << "result has " << dim(getResult(), 1)
                         << " columns but the source head dim is " << d;
  return success();
}

LogicalResult LoadMaskTileOp::verify() {
  if (getMask().getType().getRank() != 4)
    return emitOpError("mask must have rank 4 ([B, H, Sq, Skv])");
  if (failed(staticTile(*this, getType(), 2, "result")))
    return failure();
  if (elt(getResult()) != elt(getMask()))
    return emitOpError("result element type must match the mask's");
  return success();
}

LogicalResult TileScoresOp::verify() {
  if (failed(staticTile(*this, getQuery().getType(), 2, "query tile")) ||
      failed(staticTile(*this, getKey().getType(), 2, "key tile")) ||
      failed(staticTile(*this, getType(), 2, "result")))
    return failure();
  if (elt(getQuery()) != elt(getKey()))
    return emitOpError("query and key tiles must have one element type");
  if (dim(getQuery(), 1) != dim(getKey(), 1))
    return emitOpError() << "query head dim (" << dim(getQuery(), 1)
                         << ") must match key head dim (" << dim(getKey(), 1)
                         << ")";
  if (!isF32Tile(getResult()) || dim(getResult(), 0) != dim(getQuery(), 0) ||
      dim(getResult(), 1) != dim(getKey(), 0))
    return emitOpError() << "result must be tensor<" << dim(getQuery(), 0)
                         << "x" << dim(getKey(), 0) << "xf32>";
  if (Value mask = getMask()) {
    if (failed(staticTile(*this, mask.getType(), 2, "mask tile")))
      return failure();
    if (cast<RankedTensorType>(mask.getType()).getShape() !=
        cast<RankedTensorType>(getType()).getShape())
      return emitOpError("mask tile must have the shape of the result");
    if (!elt(mask).isInteger(1) && elt(mask) != elt(getQuery()))
      return emitOpError("mask tile must be i1 or of the query element type");
  }
  if (!(getScale().convertToDouble() > 0.0))
    return emitOpError("scale must be positive");
  if (std::optional<int64_t> heads = getPackedHeads(); heads && *heads < 1)
    return emitOpError() << "packed_heads must be positive, got " << *heads;
  return success();
}

LogicalResult TileRowMaxOp::verify() {
  if (failed(staticTile(*this, getScores().getType(), 2, "scores")) ||
      failed(staticTile(*this, getType(), 1, "result")))
    return failure();
  if (!isF32Tile(getScores()) || !isF32Tile(getResult()) ||
      dim(getResult(), 0) != dim(getScores(), 0))
    return emitOpError("scores and result must be f32 with one row count");
  return success();
}

LogicalResult SkipVoteOp::verify() {
  if (failed(staticTile(*this, getTileMax().getType(), 1, "tile max")) ||
      failed(staticTile(*this, getType(), 1, "result")))
    return failure();
  if (getTileMax().getType() != getMax().getType() || !isF32Tile(getMax()))
    return emitOpError("tile max and running max must be the same f32 tensor");
  int64_t rows = dim(getTileMax(), 0), group = getGroupRows();
  if (group <= 0 || rows % group != 0)
    return emitOpError() << "group_rows (" << group
                         << ") must divide the block rows (" << rows << ")";
  if (!elt(getResult()).isInteger(1) || dim(getResult(), 0) != rows / group)
    return emitOpError() << "result must be tensor<" << rows / group
                         << "xi1>, one vote per group";
  return success();
}

LogicalResult TileUpdateOp::verify() {
  if (failed(staticTile(*this, getScores().getType(), 2, "scores")) ||
      failed(staticTile(*this, getValue().getType(), 2, "value tile")) ||
      failed(staticTile(*this, getAcc().getType(), 2, "accumulator")) ||
      failed(staticTile(*this, getMax().getType(), 1, "running max")))
    return failure();
  int64_t bm = dim(getScores(), 0), bn = dim(getScores(), 1);
  if (!isF32Tile(getScores()) || !isF32Tile(getMax()) || !isF32Tile(getAcc()))
    return emitOpError("scores, max, sum and accumulator must be f32");
  if (dim(getMax(), 0) != bm || dim(getAcc(), 0) != bm)
    return emitOpError("max, sum and accumulator must have the scores' rows");
  if (dim(getValue(), 0) != bn || dim(getValue(), 1) != dim(getAcc(), 1))
    return emitOpError() << "value tile must be " << bn << "x"
                         << dim(getAcc(), 1);
  if (Value groups = getSkipGroups()) {
    if (failed(staticTile(*this, groups.getType(), 1, "skip groups")))
      return failure();
    if (!elt(groups).isInteger(1) || bm % dim(groups, 0) != 0)
      return emitOpError("skip groups must be i1 and divide the rows");
    if (getSkipRequestAttr())
      return emitOpError("an update with skip groups already has its "
                         "predicate; it cannot carry a skip_request");
  }
  return success();
}

LogicalResult TileMergeOp::verify() {
  if (failed(staticTile(*this, getMax().getType(), 1, "running max")) ||
      failed(staticTile(*this, getAcc().getType(), 2, "accumulator")))
    return failure();
  if (!isF32Tile(getMax()) || !isF32Tile(getAcc()) ||
      dim(getAcc(), 0) != dim(getMax(), 0))
    return emitOpError("max, sum and accumulator must be f32 with one row "
                       "count");
  return success();
}

LogicalResult TileLseOp::verify() {
  if (failed(staticTile(*this, getMax().getType(), 1, "running max")))
    return failure();
  if (!isF32Tile(getMax()))
    return emitOpError("max and sum must be f32");
  return success();
}

LogicalResult TileFinalizeOp::verify() {
  if (failed(staticTile(*this, getAcc().getType(), 2, "accumulator")) ||
      failed(staticTile(*this, getSum().getType(), 1, "sum")) ||
      failed(staticTile(*this, getType(), 2, "result")))
    return failure();
  if (!isF32Tile(getAcc()) || !isF32Tile(getSum()) ||
      dim(getSum(), 0) != dim(getAcc(), 0))
    return emitOpError("accumulator and sum must be f32 with one row count");
  if (cast<RankedTensorType>(getType()).getShape() !=
          cast<RankedTensorType>(getAcc().getType()).getShape() ||
      !isa<FloatType>(elt(getResult())))
    return emitOpError(
        "result must be a float tile of the accumulator's shape");
  return success();
}
