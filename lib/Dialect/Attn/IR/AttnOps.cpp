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

LogicalResult AttentionOp::verify() {
  Type maskType = getMask() ? getMask().getType() : Type();
  if (failed(verifyAttentionTypes([&] { return emitOpError(); },
                                  getQuery().getType(), getKey().getType(),
                                  getValue().getType(), maskType,
                                  getResult().getType())))
    return failure();
  if (std::optional<APFloat> scale = getScale()) {
    double s = scale->convertToDouble();
    if (!(s > 0.0) || !std::isfinite(s))
      return emitOpError() << "scale must be positive and finite, got " << s;
  }
  return success();
}

float AttentionOp::getScaleValue() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}
