//===- RaiseMaterialize.cpp - compute a mask that has no tensor -----------===//
//
// Some masks exist only as an expression: an index comparison inside the op
// that applies it, a sliding window, a padding mask whose -inf was fused
// into the score op. attn.attention takes a mask as a tensor, so such an
// expression is emitted as a linalg.generic over [B or 1, H or 1, Sq, Skv]
// (a dim the mask does not depend on stays 1 and broadcasts). Payload ops are
// cloned from the ops the expression came from; loop indices become
// linalg.index and affine.apply, tensors read with arbitrary indices become
// tensor.extract.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatch.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace skipattn::attn::raise;

static bool dependsOnAny(Node *n, ArrayRef<Digit> digits) {
  return llvm::any_of(digits,
                      [&](const Digit &g) { return n->dependsOn(g.var); });
}

static int64_t product(ArrayRef<Digit> digits) {
  int64_t p = 1;
  for (const Digit &g : digits) {
    if (ShapedType::isDynamic(g.extent))
      return ShapedType::kDynamic;
    p *= g.extent;
  }
  return p;
}

SmallVector<int64_t>
skipattn::attn::raise::materializedMaskShape(const AttentionMatch &m,
                                             Describer &d, Node *expr) {
  return {dependsOnAny(expr, m.bDigits) ? product(m.bDigits) : 1,
          dependsOnAny(expr, m.hDigits) ? product(m.hDigits) : 1,
          m.iVar && expr->dependsOn(*m.iVar) ? d.var(*m.iVar).extent : 1,
          expr->dependsOn(m.jVar) ? d.var(m.jVar).extent : 1};
}

bool skipattn::attn::raise::canMaterialize(Describer &d, Node *expr) {
  switch (expr->kind) {
  case Node::Kind::Read:
  case Node::Kind::Const:
  case Node::Kind::Index:
    return true;
  case Node::Kind::Reduce:
    return false;
  case Node::Kind::Op:
    if (expr->op == ExprOp::Other && !expr->scalarOp)
      return false;
    if (expr->scalarOp && expr->scalarOp->getNumOperands() != expr->args.size())
      return false;
    return llvm::all_of(expr->args,
                        [&](Node *a) { return canMaterialize(d, a); });
  }
  return false;
}

namespace {
/// Emits the payload of the mask generic.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, ArrayRef<AffineExpr> varExprs,
          ArrayRef<Value> loops)
      : b(b), loc(loc), varExprs(varExprs), loops(loops) {}

  Value emit(Node *n) {
    if (Value v = memo.lookup(n))
      return v;
    Value v = emitUncached(n);
    memo[n] = v;
    return v;
  }

private:
  Value apply(AffineExpr e) {
    AffineExpr over = e.replaceDims(varExprs);
    return affine::AffineApplyOp::create(
        b, loc, AffineMap::get(loops.size(), 0, over), loops);
  }

  Value constant(double value, Type type) {
    if (auto f = dyn_cast<FloatType>(type))
      return arith::ConstantOp::create(b, loc, b.getFloatAttr(f, value));
    if (type.isIndex())
      return arith::ConstantIndexOp::create(b, loc,
                                            static_cast<int64_t>(value));
    return arith::ConstantOp::create(
        b, loc, b.getIntegerAttr(type, static_cast<int64_t>(value)));
  }

  Value emitUncached(Node *n) {
    switch (n->kind) {
    case Node::Kind::Const:
      return constant(n->value, n->type);
    case Node::Kind::Index:
      return apply(n->index);
    case Node::Kind::Read: {
      if (n->readIdx().empty())
        return n->readValue();
      SmallVector<Value> indices;
      for (AffineExpr e : n->readIdx())
        indices.push_back(apply(e));
      return tensor::ExtractOp::create(b, loc, n->readValue(), indices);
    }
    case Node::Kind::Reduce:
      return {};
    case Node::Kind::Op:
      break;
    }
    SmallVector<Value, 3> args;
    for (Node *a : n->args)
      args.push_back(emit(a));
    if (n->scalarOp) {
      IRMapping map;
      map.map(n->scalarOp->getOperands(), args);
      return b.clone(*n->scalarOp, map)->getResult(0);
    }
    Type t = n->type;
    bool isFloat = isa<FloatType>(t);
    switch (n->op) {
    case ExprOp::Add:
      return isFloat ? (Value)arith::AddFOp::create(b, loc, args[0], args[1])
                     : (Value)arith::AddIOp::create(b, loc, args[0], args[1]);
    case ExprOp::Sub:
      return isFloat ? (Value)arith::SubFOp::create(b, loc, args[0], args[1])
                     : (Value)arith::SubIOp::create(b, loc, args[0], args[1]);
    case ExprOp::Mul:
      return isFloat ? (Value)arith::MulFOp::create(b, loc, args[0], args[1])
                     : (Value)arith::MulIOp::create(b, loc, args[0], args[1]);
    case ExprOp::Div:
      return arith::DivFOp::create(b, loc, args[0], args[1]);
    case ExprOp::Max:
      return arith::MaximumFOp::create(b, loc, args[0], args[1]);
    case ExprOp::Min:
      return arith::MinimumFOp::create(b, loc, args[0], args[1]);
    case ExprOp::Neg:
      return arith::NegFOp::create(b, loc, args[0]);
    case ExprOp::Exp:
      return math::ExpOp::create(b, loc, args[0]);
    case ExprOp::Exp2:
      return math::Exp2Op::create(b, loc, args[0]);
    case ExprOp::Sqrt:
      return math::SqrtOp::create(b, loc, args[0]);
    case ExprOp::Rsqrt:
      return math::RsqrtOp::create(b, loc, args[0]);
    case ExprOp::Select:
      return arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
    case ExprOp::CmpF:
      return arith::CmpFOp::create(
          b, loc, static_cast<arith::CmpFPredicate>(n->predicate), args[0],
          args[1]);
    case ExprOp::CmpI:
      return arith::CmpIOp::create(
          b, loc, static_cast<arith::CmpIPredicate>(n->predicate), args[0],
          args[1]);
    case ExprOp::ExtF:
      return arith::ExtFOp::create(b, loc, t, args[0]);
    case ExprOp::TruncF:
      return arith::TruncFOp::create(b, loc, t, args[0]);
    case ExprOp::IToF:
      return arith::SIToFPOp::create(b, loc, t, args[0]);
    case ExprOp::FToI:
      return arith::FPToSIOp::create(b, loc, t, args[0]);
    case ExprOp::IntCast: {
      Type from = args[0].getType();
      if (from.isIndex() || t.isIndex())
        return arith::IndexCastOp::create(b, loc, t, args[0]);
      if (from.getIntOrFloatBitWidth() < t.getIntOrFloatBitWidth())
        return arith::ExtSIOp::create(b, loc, t, args[0]);
      if (from.getIntOrFloatBitWidth() > t.getIntOrFloatBitWidth())
        return arith::TruncIOp::create(b, loc, t, args[0]);
      return args[0];
    }
    case ExprOp::AndI:
      return arith::AndIOp::create(b, loc, args[0], args[1]);
    case ExprOp::OrI:
      return arith::OrIOp::create(b, loc, args[0], args[1]);
    case ExprOp::XOrI:
      return arith::XOrIOp::create(b, loc, args[0], args[1]);
    case ExprOp::Other:
      return {};
    }
    return {};
  }

  OpBuilder &b;
  Location loc;
  ArrayRef<AffineExpr> varExprs;
  ArrayRef<Value> loops;
  DenseMap<Node *, Value> memo;
};
} // namespace

/// Adds to each variable of `digits` its value from the loop `loop` that
/// runs over their linearization: a variable is the sum of its digits
/// times their divisors.
static void digitExprs(ArrayRef<Digit> digits, AffineExpr loop,
                       SmallVectorImpl<AffineExpr> &varExprs) {
  int64_t stride = 1;
  for (unsigned k = digits.size(); k-- > 0;) {
    const Digit &g = digits[k];
    AffineExpr e = loop.floorDiv(stride);
    if (k != 0)
      e = e % g.extent;
    varExprs[g.var] = varExprs[g.var] + e * g.divisor;
    if (!ShapedType::isDynamic(g.extent))
      stride *= g.extent;
  }
}

FailureOr<Value> skipattn::attn::raise::materializeMask(
    OpBuilder &b, Location loc, Describer &d, const AttentionMatch &m,
    Node *expr, Type elementType, Value qOperand, Value kOperand) {
  if (!canMaterialize(d, expr))
    return failure();
  SmallVector<int64_t> shape = materializedMaskShape(m, d, expr);
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes;
  Value sources[4] = {qOperand, qOperand, qOperand, kOperand};
  for (auto [k, s] : llvm::enumerate(shape)) {
    if (ShapedType::isDynamic(s))
      sizes.push_back(tensor::DimOp::create(b, loc, sources[k], k).getResult());
    else
      sizes.push_back(b.getIndexAttr(s));
  }
  Value init = tensor::EmptyOp::create(b, loc, sizes, elementType);

  // Each variable the mask reads, as a function of the four loops; a loop of
  // a unit dim is 0.
  SmallVector<AffineExpr> varExprs(d.numVars(), getAffineConstantExpr(0, ctx));
  AffineExpr loopDims[4];
  for (unsigned k = 0; k < 4; ++k)
    loopDims[k] = shape[k] == 1 ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(k, ctx);
  digitExprs(m.bDigits, loopDims[0], varExprs);
  digitExprs(m.hDigits, loopDims[1], varExprs);
  if (m.iVar)
    varExprs[*m.iVar] = loopDims[2];
  varExprs[m.jVar] = loopDims[3];

  bool failedEmit = false;
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(4, ctx)},
      SmallVector<utils::IteratorType>(4, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location nloc, ValueRange) {
        SmallVector<Value> loops;
        for (unsigned k = 0; k < 4; ++k)
          loops.push_back(linalg::IndexOp::create(nb, nloc, k));
        Emitter emitter(nb, nloc, varExprs, loops);
        Value v = emitter.emit(expr);
        if (v && v.getType() != elementType && isa<FloatType>(elementType) &&
            isa<FloatType>(v.getType())) {
          bool wider = cast<FloatType>(elementType).getWidth() >
                       cast<FloatType>(v.getType()).getWidth();
          v = wider ? (Value)arith::ExtFOp::create(nb, nloc, elementType, v)
                    : (Value)arith::TruncFOp::create(nb, nloc, elementType, v);
        }
        if (!v || v.getType() != elementType) {
          failedEmit = true;
          v = arith::ConstantOp::create(nb, nloc, nb.getZeroAttr(elementType));
        }
        linalg::YieldOp::create(nb, nloc, v);
      });
  if (failedEmit) {
    generic->erase();
    if (init.use_empty())
      init.getDefiningOp()->erase();
    return failure();
  }
  return generic.getResult(0);
}
