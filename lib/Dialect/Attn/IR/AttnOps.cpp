//===- AttnOps.cpp - operations of the attn dialect -----------------------===//
//
// The verifier of `attn.attention`. Every rule of the op (DESIGN.md section
// 3) has its own diagnostic, so that a user who writes the op by hand, or a
// pass that builds it, learns exactly what is wrong.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::attn;

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
  struct Named {
    const char *name;
    RankedTensorType type;
  };
  auto q = dyn_cast<RankedTensorType>(queryType);
  auto k = dyn_cast<RankedTensorType>(keyType);
  auto v = dyn_cast<RankedTensorType>(valueType);
  auto r = dyn_cast<RankedTensorType>(resultType);
  if (!q || !k || !v || !r)
    return emitError() << "query, key, value and result must be ranked tensors";
  Named all[] = {{"query", q}, {"key", k}, {"value", v}, {"result", r}};

  for (Named n : all)
    if (n.type.getRank() != 4)
      return emitError() << n.name << " must have rank 4 ([B, H, S, D]), got "
                         << "rank " << n.type.getRank();

  Type elt = q.getElementType();
  if (!isAttentionElementType(elt))
    return emitError() << "query element type must be f16, bf16 or f32, got "
                       << elt;
  for (Named n : all)
    if (n.type.getElementType() != elt)
      return emitError() << n.name << " element type ("
                         << n.type.getElementType()
                         << ") must match query element type (" << elt << ")";

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
  if (hq % hkv != 0)
    return emitError() << "number of query heads (" << hq
                       << ") must be a multiple of key/value heads (" << hkv
                       << ")";

  // Head dims: static, K's equal Q's.
  for (Named n : {all[0], all[1], all[2]})
    if (n.type.isDynamicDim(3))
      return emitError() << n.name << " head dim must be static";
  if (k.getDimSize(3) != q.getDimSize(3))
    return emitError() << "key head dim (" << k.getDimSize(3)
                       << ") must match query head dim (" << q.getDimSize(3)
                       << ")";

  // Key/value length.
  if (!compatible(k.getDimSize(2), v.getDimSize(2)))
    return emitError() << "value sequence length (" << dimStr(v.getDimSize(2))
                       << ") must match key sequence length ("
                       << dimStr(k.getDimSize(2)) << ")";

  // Result: [B, Hq, Sq, Dv], exactly.
  RankedTensorType expected = inferAttentionResultType(q, v);
  if (r.getShape() != expected.getShape()) {
    InFlightDiagnostic diag = emitError() << "result shape [";
    llvm::interleave(
        r.getShape(), diag, [&](int64_t d) { diag << dimStr(d); }, "x");
    diag << "] must be [B, Hq, Sq, Dv] = [";
    llvm::interleave(
        expected.getShape(), diag, [&](int64_t d) { diag << dimStr(d); }, "x");
    return diag << "]";
  }

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

/// The lse result, when there is one, is f32 [B, Hq, Sq] of the query.
static LogicalResult verifyLse(Operation *op, RankedTensorType q, Value lse) {
  if (!lse)
    return success();
  // f32 whatever the element type: a log-sum-exp needs the range.
  auto type = cast<RankedTensorType>(lse.getType());
  if (type.getElementType().isF32() && type.getRank() == 3 &&
      type.getShape() == q.getShape().drop_back())
    return success();
  InFlightDiagnostic diag = op->emitOpError() << "lse must be tensor<";
  for (int64_t i = 0; i < 3; ++i)
    diag << dimStr(q.getDimSize(i)) << "x";
  return diag << "f32> ([B, Hq, Sq] of the query), got " << type;
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
  return verifyLse(*this, getQuery().getType(), getLse());
}

float AttentionOp::getScaleValue() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}

//===----------------------------------------------------------------------===//
// PagedAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult PagedAttentionOp::verify() {
  RankedTensorType q = getQuery().getType(), k = getKey().getType(),
                   v = getValue().getType(), r = getResult().getType();
  struct Named {
    const char *name;
    RankedTensorType type;
  } all[] = {{"query", q}, {"key pages", k}, {"value pages", v}, {"result", r}};
  for (Named n : all)
    if (n.type.getRank() != 4)
      return emitOpError() << n.name << " must have rank 4, got rank "
                           << n.type.getRank();
  Type elt = q.getElementType();
  if (!isAttentionElementType(elt))
    return emitOpError() << "query element type must be f16, bf16 or f32, got "
                         << elt;
  for (Named n : all)
    if (n.type.getElementType() != elt)
      return emitOpError() << n.name << " element type ("
                           << n.type.getElementType()
                           << ") must match query element type (" << elt << ")";

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
  if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) || hq <= 0 ||
      hkv <= 0)
    return emitOpError("numbers of heads must be static and positive");
  if (hq % hkv != 0)
    return emitOpError() << "number of query heads (" << hq
                         << ") must be a multiple of key/value heads (" << hkv
                         << ")";
  for (Named n : {all[0], all[1], all[2]})
    if (n.type.isDynamicDim(3))
      return emitOpError() << n.name << " head dim must be static";
  if (k.getDimSize(3) != q.getDimSize(3))
    return emitOpError() << "key head dim (" << k.getDimSize(3)
                         << ") must match query head dim (" << q.getDimSize(3)
                         << ")";

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

  SmallVector<int64_t> expected = {batch, hq, q.getDimSize(2), v.getDimSize(3)};
  if (r.getShape() != ArrayRef<int64_t>(expected)) {
    InFlightDiagnostic diag = emitOpError() << "result shape [";
    llvm::interleave(
        r.getShape(), diag, [&](int64_t d) { diag << dimStr(d); }, "x");
    diag << "] must be [B, Hq, Sq, Dv] = [";
    llvm::interleave(
        expected, diag, [&](int64_t d) { diag << dimStr(d); }, "x");
    return diag << "]";
  }
  if (failed(verifyScale(*this, getScale())))
    return failure();
  return verifyLse(*this, q, getLse());
}

float PagedAttentionOp::getScaleValue() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}
