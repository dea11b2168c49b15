//===- AttnOps.cpp - operations of the attn dialect -----------------------===//
//
// The verifier of `attn.attention`, its builder, and its TilingInterface.
// Every rule of the op (DESIGN.md section 3) has its own diagnostic, so that
// a user who writes the op by hand, or a pass that builds it, learns exactly
// what is wrong. The tiling is what lets upstream drivers (scf tiling, the
// transform dialect) split one attention into smaller ones.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::attn;

//===----------------------------------------------------------------------===//
// Custom assembly: attn.attention's optional lse and max
//===----------------------------------------------------------------------===//

// `(, lse-type)? (, max max-type)?` after the result type: the keyword
// tells the max from the lse, so that either comes without the other.
static ParseResult parseOptionalResultTypes(OpAsmParser &parser, Type &lse,
                                            Type &max) {
  while (succeeded(parser.parseOptionalComma())) {
    if (succeeded(parser.parseOptionalKeyword("max"))) {
      if (max)
        return parser.emitError(parser.getCurrentLocation(),
                                "the max result type is given twice");
      if (parser.parseType(max))
        return failure();
      continue;
    }
    if (lse || max)
      return parser.emitError(parser.getCurrentLocation(),
                              "expected `max` and its type: the lse result "
                              "type comes first and once");
    if (parser.parseType(lse))
      return failure();
  }
  return success();
}

static void printOptionalResultTypes(OpAsmPrinter &p, Operation *, Type lse,
                                     Type max) {
  if (lse)
    p << ", " << lse;
  if (max)
    p << ", max " << max;
}

// `(, %lse : type)? (, max %max : type)?` after the destination in `outs`.
static ParseResult parseOptionalInits(
    OpAsmParser &parser, std::optional<OpAsmParser::UnresolvedOperand> &lse,
    Type &lseType, std::optional<OpAsmParser::UnresolvedOperand> &max,
    Type &maxType) {
  while (succeeded(parser.parseOptionalComma())) {
    bool isMax = succeeded(parser.parseOptionalKeyword("max"));
    if (isMax ? max.has_value() : (lse.has_value() || max.has_value()))
      return parser.emitError(parser.getCurrentLocation(),
                              "expected at most an lse destination, then a "
                              "`max` destination");
    OpAsmParser::UnresolvedOperand operand;
    Type type;
    if (parser.parseOperand(operand) || parser.parseColonType(type))
      return failure();
    (isMax ? max : lse) = operand;
    (isMax ? maxType : lseType) = type;
  }
  return success();
}

static void printOptionalInits(OpAsmPrinter &p, Operation *, Value lse,
                               Type lseType, Value max, Type maxType) {
  if (lse)
    p << ", " << lse << " : " << lseType;
  if (max)
    p << ", max " << max << " : " << maxType;
}

#define GET_OP_CLASSES
#include "skipattn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape rules
//===----------------------------------------------------------------------===//

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// Two extents are compatible unless both are static and differ.
static bool compatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static bool isAttentionElementType(Type t) {
  return t.isF16() || t.isBF16() || t.isF32();
}

namespace {
/// An operand (or result) as diagnostics name it, and its type.
struct Named {
  const char *name;
  RankedTensorType type;
};
using EmitError = function_ref<InFlightDiagnostic()>;
} // namespace

/// Every type of `all` has rank `rank` (`layout` describes it) and the
/// element type of the first, the query's: f16, bf16 or f32.
static LogicalResult verifyRanksAndElementTypes(EmitError emitError,
                                                ArrayRef<Named> all,
                                                int64_t rank,
                                                StringRef layout) {
  for (Named n : all)
    if (n.type.getRank() != rank)
      return emitError() << n.name << " must have rank " << rank << layout
                         << ", got rank " << n.type.getRank();
  Type elt = all.front().type.getElementType();
  if (!isAttentionElementType(elt))
    return emitError() << "query element type must be f16, bf16 or f32, got "
                       << elt;
  for (Named n : all)
    if (n.type.getElementType() != elt)
      return emitError() << n.name << " element type ("
                         << n.type.getElementType()
                         << ") must match query element type (" << elt << ")";
  return success();
}

/// Query heads a multiple of the key/value heads (both known positive).
static LogicalResult verifyHeadGroups(EmitError emitError, int64_t hq,
                                      int64_t hkv) {
  if (hq % hkv != 0)
    return emitError() << "number of query heads (" << hq
                       << ") must be a multiple of key/value heads (" << hkv
                       << ")";
  return success();
}

/// Heads of ops whose operands carry them in different dimensions: static
/// and positive, and grouped.
static LogicalResult verifyStaticHeads(EmitError emitError, int64_t hq,
                                       int64_t hkv) {
  if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) || hq <= 0 ||
      hkv <= 0)
    return emitError() << "numbers of heads must be static and positive";
  return verifyHeadGroups(emitError, hq, hkv);
}

/// Query, key and value (`qkv`) head dims, dimension `dim`: static, and the
/// key's equal to the query's.
static LogicalResult verifyHeadDims(EmitError emitError, ArrayRef<Named> qkv,
                                    int64_t dim) {
  for (Named n : qkv)
    if (n.type.isDynamicDim(dim))
      return emitError() << n.name << " head dim must be static";
  int64_t q = qkv[0].type.getDimSize(dim), k = qkv[1].type.getDimSize(dim);
  if (k != q)
    return emitError() << "key head dim (" << k
                       << ") must match query head dim (" << q << ")";
  return success();
}

/// The result shape, which must be `expected` ([B, Hq, Sq, Dv]).
static LogicalResult verifyResultShape(EmitError emitError,
                                       ArrayRef<int64_t> shape,
                                       ArrayRef<int64_t> expected) {
  if (shape == expected)
    return success();
  InFlightDiagnostic diag = emitError() << "result shape [";
  llvm::interleave(shape, diag, [&](int64_t d) { diag << dimStr(d); }, "x");
  diag << "] must be [B, Hq, Sq, Dv] = [";
  llvm::interleave(expected, diag, [&](int64_t d) { diag << dimStr(d); }, "x");
  return diag << "]";
}

RankedTensorType
skipattn::attn::inferAttentionResultType(RankedTensorType query,
                                         RankedTensorType value) {
  return RankedTensorType::get({query.getDimSize(0), query.getDimSize(1),
                                query.getDimSize(2), value.getDimSize(3)},
                               query.getElementType());
}

LogicalResult skipattn::attn::verifyAttentionTypes(
    function_ref<InFlightDiagnostic()> emitError, Type queryType, Type keyType,
    Type valueType, Type maskType, Type resultType) {
  auto q = dyn_cast<RankedTensorType>(queryType);
  auto k = dyn_cast<RankedTensorType>(keyType);
  auto v = dyn_cast<RankedTensorType>(valueType);
  auto r = dyn_cast<RankedTensorType>(resultType);
  if (!q || !k || !v || !r)
    return emitError() << "query, key, value and result must be ranked tensors";
  Named all[] = {{"query", q}, {"key", k}, {"value", v}, {"result", r}};
  if (failed(verifyRanksAndElementTypes(emitError, all, 4, " ([B, H, S, D])")))
    return failure();
  Type elt = q.getElementType();

  // Batch: one extent for Q, K and V.
  int64_t batch = q.getDimSize(0);
  for (Named n : {all[1], all[2]})
    if (!compatible(n.type.getDimSize(0), batch))
      return emitError() << n.name << " batch size ("
                         << dimStr(n.type.getDimSize(0))
                         << ") must match query batch size (" << dimStr(batch)
                         << ")";

  // Heads: static, V's equal K's, and Hq a multiple of Hkv.
  for (Named n : {all[0], all[1], all[2]})
    if (n.type.isDynamicDim(1))
      return emitError() << "number of " << n.name << " heads must be static";
  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(1);
  if (hq <= 0 || hkv <= 0)
    return emitError() << "number of heads must be positive";
  if (v.getDimSize(1) != hkv)
    return emitError() << "number of value heads (" << v.getDimSize(1)
                       << ") must match key heads (" << hkv << ")";
  if (failed(verifyHeadGroups(emitError, hq, hkv)) ||
      failed(verifyHeadDims(emitError, ArrayRef(all).take_front(3), 3)))
    return failure();

  // Key/value length.
  if (!compatible(k.getDimSize(2), v.getDimSize(2)))
    return emitError() << "value sequence length (" << dimStr(v.getDimSize(2))
                       << ") must match key sequence length ("
                       << dimStr(k.getDimSize(2)) << ")";

  // Result: [B, Hq, Sq, Dv], exactly.
  if (failed(verifyResultShape(emitError, r.getShape(),
                               inferAttentionResultType(q, v).getShape())))
    return failure();

  if (!maskType)
    return success();
  auto m = dyn_cast<RankedTensorType>(maskType);
  if (!m)
    return emitError() << "mask must be a ranked tensor";
  if (m.getRank() != 4)
    return emitError() << "mask must have rank 4 (broadcasting to [B, Hq, Sq, "
                          "Skv]), got rank "
                       << m.getRank();
  Type mElt = m.getElementType();
  if (!mElt.isInteger(1) && mElt != elt)
    return emitError() << "mask element type must be i1 or the query element "
                          "type ("
                       << elt << "), got " << mElt;
  int64_t target[4] = {batch, hq, q.getDimSize(2), k.getDimSize(2)};
  const char *names[4] = {"batch size", "number of query heads", "query length",
                          "key/value length"};
  for (int i = 0; i < 4; ++i) {
    int64_t d = m.getDimSize(i);
    if (d == 1 || compatible(d, target[i]))
      continue;
    return emitError() << "mask dimension " << i << " (" << dimStr(d)
                       << ") must be 1 or the " << names[i] << " ("
                       << dimStr(target[i]) << ")";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

/// The `scale` attribute, when given, is positive and finite.
static LogicalResult verifyScale(Operation *op, std::optional<APFloat> scale) {
  if (!scale)
    return success();
  double s = scale->convertToDouble();
  if (!(s > 0.0) || !std::isfinite(s))
    return op->emitOpError() << "scale must be positive and finite, got " << s;
  return success();
}

/// A per-row value (`name`: the lse or max result, the init_max operand),
/// when there is one, is f32 [B, Hq, Sq] of the query.
static LogicalResult verifyRowValue(Operation *op, RankedTensorType q,
                                    Value value, StringRef name = "lse") {
  if (!value)
    return success();
  // f32 whatever the element type: a log-sum-exp needs the range, a max
  // compares with f32 scores.
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType().isF32() && type.getRank() == 3 &&
      type.getShape() == q.getShape().drop_back())
    return success();
  InFlightDiagnostic diag = op->emitOpError() << name << " must be tensor<";
  for (int64_t i = 0; i < 3; ++i)
    diag << dimStr(q.getDimSize(i)) << "x";
  return diag << "f32> ([B, Hq, Sq] of the query), got " << type;
}

LogicalResult skipattn::attn::detail::verifySingleSegments(
    Operation *op, ArrayRef<int32_t> sizes, ArrayRef<unsigned> groups,
    StringRef kind) {
  for (unsigned g : groups) {
    assert(g < sizes.size() && "a segment index past the op's segments");
    if (sizes[g] != 1)
      return op->emitOpError() << kind << " segment " << g
                               << " must hold one value, but " << sizes[g]
                               << " are given";
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  Type maskType = getMask() ? getMask().getType() : Type();
  if (failed(verifyAttentionTypes([&] { return emitOpError(); },
                                  getQuery().getType(), getKey().getType(),
                                  getValue().getType(), maskType,
                                  getResult().getType())))
    return failure();
  if (failed(verifyScale(*this, getScale())))
    return failure();
  RankedTensorType q = getQuery().getType();
  if (failed(verifyRowValue(*this, q, getLse())) ||
      failed(verifyRowValue(*this, q, getMax(), "max")) ||
      failed(verifyRowValue(*this, q, getInitMax(), "init_max")))
    return failure();
  // The lse (max) result and its destination come together.
  for (auto [name, article, result, init] :
       {std::tuple{"lse", "an", getLse(), getLseInit()},
        std::tuple{"max", "a", getMax(), getMaxInit()}}) {
    if (!result != !init)
      return emitOpError() << "the " << name << " result needs " << article
                           << " " << name << " destination in outs, and "
                           << article << " " << name
                           << " destination needs the " << name << " result";
    if (result && result.getType() != init.getType())
      return emitOpError() << name << " destination type " << init.getType()
                           << " must match the " << name << " result type "
                           << result.getType();
  }
  return success();
}

float AttentionOp::getScaleValue() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}

void AttentionOp::build(OpBuilder &b, OperationState &state, Type resultType,
                        Type lseType, Type maxType, Value query, Value key,
                        Value value, Value mask, Value initMax, UnitAttr causal,
                        FloatAttr scale, SkipAttr skip) {
  // The destinations' dynamic extents are the query's batch and length (the
  // head counts and head dims are static).
  auto empty = [&](Type t) -> Value {
    auto type = cast<RankedTensorType>(t);
    SmallVector<Value> dynamic;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dynamic.push_back(tensor::DimOp::create(b, state.location,
                                                d == 3 ? value : query, d));
    return tensor::EmptyOp::create(b, state.location, type, dynamic);
  };
  Value init = empty(resultType);
  Value lseInit = lseType ? empty(lseType) : Value();
  Value maxInit = maxType ? empty(maxType) : Value();
  build(b, state, resultType, lseType, maxType, query, key, value, mask,
        initMax, init, lseInit, maxInit, causal, scale, skip);
}

//===----------------------------------------------------------------------===//
// TilingInterface
//===----------------------------------------------------------------------===//

// The iteration domain is the result [B, Hq, Sq, Dv]: every point of it is
// an independent softmax row (for one value column), so every dimension is
// parallel. Each operand is sliced by what its dimensions mean:
//   query [B, Hq, Sq, D]      batch, head, query tiles; all of D
//   key   [B, Hkv, Skv, D]    batch tile, the kv heads of the head tile, the
//                             keys the query tile can see
//   value [B, Hkv, Skv, Dv]   as key, and the Dv tile
//   mask  [B|1, Hq|1, Sq|1, Skv|1]  as query/key; extents of 1 broadcast
//   init  [B, Hq, Sq, Dv]     the tile itself
//   init_max, lse and max destinations [B, Hq, Sq]: the tile without Dv

SmallVector<utils::IteratorType> AttentionOp::getLoopIteratorTypes() {
  return SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel);
}

SmallVector<Range> AttentionOp::getIterationDomain(OpBuilder &b) {
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<Range> domain;
  for (int64_t d = 0; d < 4; ++d)
    domain.push_back(
        Range{zero, tensor::getMixedSize(b, getLoc(), getInit(), d), one});
  return domain;
}

namespace {
/// The slices of the operands of one tile of an attention.
struct AttentionTile {
  SmallVector<OpFoldResult> kvHeadOffset, kvHeadSize; // one element each
  OpFoldResult keyOffset, keySize;
};
} // namespace

/// The kv heads and keys a tile of the iteration domain reads, or a
/// diagnostic when the tile cannot be expressed as one attention.
static FailureOr<AttentionTile> tileInputs(AttentionOp op, OpBuilder &b,
                                           ArrayRef<OpFoldResult> offsets,
                                           ArrayRef<OpFoldResult> sizes) {
  Location loc = op.getLoc();
  AttentionTile t;
  int64_t group = op.getNumQueryHeads() / op.getNumKVHeads();
  std::optional<int64_t> heads = getConstantIntValue(sizes[1]);
  std::optional<int64_t> columns = getConstantIntValue(sizes[3]);
  if (!heads || !columns) {
    op.emitOpError("cannot be tiled with a dynamic tile of the head or value "
                   "head dim dimension (head counts and head dims are "
                   "static)");
    return failure();
  }
  // GQA: query head h reads kv head h / G. A tile of whole groups reads
  // heads / G kv heads; a tile within one group reads one. Tiles start at
  // multiples of their size, as tiling drivers make them.
  AffineExpr h;
  bindDims(b.getContext(), h);
  if (group == 1) {
    t.kvHeadOffset = {offsets[1]};
    t.kvHeadSize = {sizes[1]};
  } else if (*heads % group == 0 || group % *heads == 0) {
    t.kvHeadOffset = {affine::makeComposedFoldedAffineApply(
        b, loc, h.floorDiv(group), {offsets[1]})};
    t.kvHeadSize = {b.getIndexAttr(std::max<int64_t>(*heads / group, 1))};
  } else {
    op.emitOpError() << "cannot be tiled with " << *heads
                     << " query heads per tile: a tile must hold whole GQA "
                        "groups of "
                     << group << " heads or lie within one";
    return failure();
  }
  // Keys: all of them, except that a causal query tile [q0, q0 + n) sees
  // only keys [0, q0 + n + Skv - Sq): sliced to those, the tile's own
  // bottom-right diagonal is the original one.
  t.keyOffset = b.getIndexAttr(0);
  t.keySize = tensor::getMixedSize(b, loc, op.getKey(), 2);
  if (op.getCausal()) {
    AffineExpr q0, n, skv, sq;
    bindDims(b.getContext(), q0, n, skv, sq);
    OpFoldResult sqSize = tensor::getMixedSize(b, loc, op.getQuery(), 2);
    OpFoldResult end = affine::makeComposedFoldedAffineApply(
        b, loc, q0 + n + skv - sq, {offsets[2], sizes[2], t.keySize, sqSize});
    AffineExpr e, zero = getAffineConstantExpr(0, b.getContext());
    bindDims(b.getContext(), e);
    OpFoldResult atLeastZero = affine::makeComposedFoldedAffineMax(
        b, loc, AffineMap::get(1, 0, {e, zero}, b.getContext()), {end});
    AffineExpr x, y;
    bindDims(b.getContext(), x, y);
    t.keySize = affine::makeComposedFoldedAffineMin(
        b, loc, AffineMap::get(2, 0, {x, y}, b.getContext()),
        {atLeastZero, t.keySize});
  }
  return t;
}

/// `source` sliced to `offsets`/`sizes`, recorded in `slices`.
static Value slice(OpBuilder &b, Location loc, Value source,
                   ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
                   SmallVectorImpl<Operation *> &slices) {
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  auto op =
      tensor::ExtractSliceOp::create(b, loc, source, offsets, sizes, strides);
  slices.push_back(op);
  return op.getResult();
}

FailureOr<TilingResult>
AttentionOp::getTiledImplementation(OpBuilder &b,
                                    ArrayRef<OpFoldResult> offsets,
                                    ArrayRef<OpFoldResult> sizes) {
  Location loc = getLoc();
  FailureOr<AttentionTile> t = tileInputs(*this, b, offsets, sizes);
  if (failed(t))
    return failure();
  OpFoldResult zero = b.getIndexAttr(0);
  auto full = [&](Value v, int64_t d) {
    return tensor::getMixedSize(b, loc, v, d);
  };
  SmallVector<Operation *> slices;
  SmallVector<Value> operands;
  for (OpOperand &operand : getOperation()->getOpOperands()) {
    Value v = operand.get();
    if (&operand == &getQueryMutable()) {
      operands.push_back(
          slice(b, loc, v, {offsets[0], offsets[1], offsets[2], zero},
                {sizes[0], sizes[1], sizes[2], full(v, 3)}, slices));
    } else if (&operand == &getKeyMutable() || &operand == &getValueMutable()) {
      bool isValue = &operand == &getValueMutable();
      operands.push_back(slice(b, loc, v,
                               {offsets[0], t->kvHeadOffset[0], t->keyOffset,
                                isValue ? offsets[3] : zero},
                               {sizes[0], t->kvHeadSize[0], t->keySize,
                                isValue ? sizes[3] : full(v, 3)},
                               slices));
    } else if (getMask() && &operand == &getMaskMutable()[0]) {
      // Extents of 1 broadcast: those dimensions are not sliced.
      auto type = cast<RankedTensorType>(v.getType());
      OpFoldResult dimOffsets[] = {offsets[0], offsets[1], offsets[2],
                                   t->keyOffset};
      OpFoldResult dimSizes[] = {sizes[0], sizes[1], sizes[2], t->keySize};
      SmallVector<OpFoldResult> o, s;
      for (int64_t d = 0; d < 4; ++d) {
        bool broadcast = type.getDimSize(d) == 1;
        o.push_back(broadcast ? zero : dimOffsets[d]);
        s.push_back(broadcast ? b.getIndexAttr(1) : dimSizes[d]);
      }
      operands.push_back(slice(b, loc, v, o, s, slices));
    } else if (&operand == &getInitMutable()) {
      operands.push_back(slice(b, loc, v, offsets, sizes, slices));
    } else if ((getLseInit() && &operand == &getLseInitMutable()[0]) ||
               (getMaxInit() && &operand == &getMaxInitMutable()[0]) ||
               (getInitMax() && &operand == &getInitMaxMutable()[0])) {
      // [B, Hq, Sq]: the tile without its value-dim extent.
      operands.push_back(slice(b, loc, v, offsets.take_front(3),
                               sizes.take_front(3), slices));
    } else {
      emitOpError() << "cannot be tiled: operand #"
                    << operand.getOperandNumber() << " has no tiling rule";
      return failure();
    }
  }
  SmallVector<Type> resultTypes;
  for (OpOperand &init : getDpsInitsMutable())
    resultTypes.push_back(operands[init.getOperandNumber()].getType());
  Operation *tiled = mlir::clone(b, getOperation(), resultTypes, operands);
  return TilingResult{{tiled}, SmallVector<Value>(tiled->getResults()), slices};
}

LogicalResult AttentionOp::getResultTilePosition(
    OpBuilder &b, unsigned resultNumber, ArrayRef<OpFoldResult> offsets,
    ArrayRef<OpFoldResult> sizes, SmallVector<OpFoldResult> &resultOffsets,
    SmallVector<OpFoldResult> &resultSizes) {
  // The result is the iteration domain; the lse and max its first three
  // dims.
  size_t rank = resultNumber == 0 ? 4 : 3;
  resultOffsets.assign(offsets.begin(), offsets.begin() + rank);
  resultSizes.assign(sizes.begin(), sizes.begin() + rank);
  return success();
}

LogicalResult AttentionOp::getIterationDomainTileFromResultTile(
    OpBuilder &b, unsigned resultNumber, ArrayRef<OpFoldResult> offsets,
    ArrayRef<OpFoldResult> sizes,
    SmallVectorImpl<OpFoldResult> &iterDomainOffsets,
    SmallVectorImpl<OpFoldResult> &iterDomainSizes) {
  iterDomainOffsets.assign(offsets.begin(), offsets.end());
  iterDomainSizes.assign(sizes.begin(), sizes.end());
  // An lse or max tile [B, Hq, Sq] needs every value column.
  if (resultNumber != 0) {
    iterDomainOffsets.push_back(b.getIndexAttr(0));
    iterDomainSizes.push_back(tensor::getMixedSize(b, getLoc(), getInit(), 3));
  }
  return success();
}

FailureOr<TilingResult>
AttentionOp::generateResultTileValue(OpBuilder &b, unsigned resultNumber,
                                     ArrayRef<OpFoldResult> offsets,
                                     ArrayRef<OpFoldResult> sizes) {
  SmallVector<OpFoldResult> domainOffsets, domainSizes;
  if (failed(getIterationDomainTileFromResultTile(
          b, resultNumber, offsets, sizes, domainOffsets, domainSizes)))
    return failure();
  return getTiledImplementation(b, domainOffsets, domainSizes);
}

//===----------------------------------------------------------------------===//
// PagedAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult PagedAttentionOp::verify() {
  RankedTensorType q = getQuery().getType(), k = getKey().getType(),
                   v = getValue().getType(), r = getResult().getType();
  auto emitError = [&] { return emitOpError(); };
  Named all[] = {
      {"query", q}, {"key pages", k}, {"value pages", v}, {"result", r}};
  if (failed(verifyRanksAndElementTypes(emitError, all, 4, "")))
    return failure();

  // Pages: [num_pages, page_size, Hkv, D], V's first three dims K's.
  int64_t pageSize = k.getDimSize(1);
  if (ShapedType::isDynamic(pageSize) || pageSize < 16 || pageSize > 256 ||
      !llvm::isPowerOf2_64(pageSize))
    return emitOpError() << "page size (key pages dim 1) must be a static "
                            "power of two from 16 to 256, got "
                         << dimStr(pageSize);
  for (int64_t i = 0; i < 3; ++i)
    if (!compatible(v.getDimSize(i), k.getDimSize(i)))
      return emitOpError() << "value pages dim " << i << " ("
                           << dimStr(v.getDimSize(i))
                           << ") must match key pages dim " << i << " ("
                           << dimStr(k.getDimSize(i)) << ")";
  int64_t hq = q.getDimSize(1), hkv = k.getDimSize(2);
  if (failed(verifyStaticHeads(emitError, hq, hkv)) ||
      failed(verifyHeadDims(emitError, ArrayRef(all).take_front(3), 3)))
    return failure();

  // The block table and the lengths: i32, one row per sequence.
  int64_t batch = q.getDimSize(0);
  auto table = cast<RankedTensorType>(getBlockTable().getType());
  auto lens = cast<RankedTensorType>(getSeqLens().getType());
  if (table.getRank() != 2 || !table.getElementType().isInteger(32))
    return emitOpError() << "block_table must be i32 [B, max_pages], got "
                         << table;
  if (lens.getRank() != 1 || !lens.getElementType().isInteger(32))
    return emitOpError() << "seq_lens must be i32 [B], got " << lens;
  if (!compatible(table.getDimSize(0), batch))
    return emitOpError() << "block_table has " << dimStr(table.getDimSize(0))
                         << " rows, but the batch is " << dimStr(batch);
  if (!compatible(lens.getDimSize(0), batch))
    return emitOpError() << "seq_lens has " << dimStr(lens.getDimSize(0))
                         << " entries, but the batch is " << dimStr(batch);

  if (failed(verifyResultShape(
          emitError, r.getShape(),
          {batch, hq, q.getDimSize(2), v.getDimSize(3)})) ||
      failed(verifyScale(*this, getScale())))
    return failure();
  return verifyRowValue(*this, q, getLse());
}

float PagedAttentionOp::getScaleValue() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}

//===----------------------------------------------------------------------===//
// VarlenAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult VarlenAttentionOp::verify() {
  RankedTensorType q = getQuery().getType(), k = getKey().getType(),
                   v = getValue().getType(), r = getResult().getType();
  auto emitError = [&] { return emitOpError(); };
  Named all[] = {{"query", q}, {"key", k}, {"value", v}, {"result", r}};
  if (failed(verifyRanksAndElementTypes(emitError, all, 3,
                                        " ([tokens, heads, head dim])")) ||
      failed(verifyStaticHeads(emitError, q.getDimSize(1), k.getDimSize(1))) ||
      failed(verifyHeadDims(emitError, all, 2)))
    return failure();
  int64_t hq = q.getDimSize(1);
  for (int64_t i = 0; i < 2; ++i)
    if (!compatible(v.getDimSize(i), k.getDimSize(i)))
      return emitOpError() << "value dim " << i << " ("
                           << dimStr(v.getDimSize(i)) << ") must match key dim "
                           << i << " (" << dimStr(k.getDimSize(i)) << ")";
  auto cuQ = cast<RankedTensorType>(getCuSeqlensQ().getType());
  auto cuK = cast<RankedTensorType>(getCuSeqlensK().getType());
  for (auto [name, t] : {std::pair{"cu_seqlens_q", cuQ}, {"cu_seqlens_k", cuK}})
    if (t.getRank() != 1 || !t.getElementType().isInteger(32))
      return emitOpError() << name << " must be i32 [B + 1], got " << t;
  if (!compatible(cuQ.getDimSize(0), cuK.getDimSize(0)))
    return emitOpError() << "cu_seqlens_q has " << dimStr(cuQ.getDimSize(0))
                         << " entries but cu_seqlens_k "
                         << dimStr(cuK.getDimSize(0));
  SmallVector<int64_t> expected = {q.getDimSize(0), hq, v.getDimSize(2)};
  if (!compatible(r.getDimSize(0), expected[0]) || r.getDimSize(1) != hq ||
      r.getDimSize(2) != expected[2])
    return emitOpError() << "result must be [Tq, Hq, Dv] = [" << dimStr(expected[0])
                         << "x" << hq << "x" << expected[2] << "], got " << r;
  return verifyScale(*this, getScale());
}

float VarlenAttentionOp::getScaleValue() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}
