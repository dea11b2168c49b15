//===- RaiseViews.cpp - uniform views of linalg and TOSA ops --------------===//
//
// Turns the ops attn-raise meets into the uniform shapes of RaiseMatchers.h:
// elementwise ops with a scalar expression body, row reductions,
// contractions, and broadcast chains. Only these functions know op names;
// the matchers above them reason about meaning.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Expr
//===----------------------------------------------------------------------===//

ExprRef Expr::input(unsigned pos, Type type) {
  auto e = std::make_shared<Expr>();
  e->kind = Kind::Input;
  e->pos = pos;
  e->type = type;
  return e;
}

ExprRef Expr::constant(double value, Type type) {
  auto e = std::make_shared<Expr>();
  e->kind = Kind::Const;
  e->value = value;
  e->type = type;
  return e;
}

ExprRef Expr::index(unsigned dim) {
  auto e = std::make_shared<Expr>();
  e->kind = Kind::Index;
  e->pos = dim;
  return e;
}

ExprRef Expr::make(ExprOp op, SmallVector<ExprRef, 3> args, Type type,
                   int64_t predicate) {
  auto e = std::make_shared<Expr>();
  e->kind = Kind::Op;
  e->op = op;
  e->args = std::move(args);
  e->type = type;
  e->predicate = predicate;
  return e;
}

bool Expr::uses(unsigned p) const {
  if (isInput(p))
    return true;
  return llvm::any_of(args, [&](const ExprRef &a) { return a->uses(p); });
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

static std::optional<double> attrValue(Attribute attr) {
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    if (i.getType().isInteger(1))
      return i.getValue().isZero() ? 0.0 : 1.0;
    return static_cast<double>(i.getValue().getSExtValue());
  }
  if (auto s = dyn_cast<SplatElementsAttr>(attr))
    return attrValue(s.getSplatValue<Attribute>());
  if (auto d = dyn_cast<DenseElementsAttr>(attr); d && d.isSplat())
    return attrValue(d.getSplatValue<Attribute>());
  return std::nullopt;
}

std::optional<double> skipattn::attn::raise::getSplatValue(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  Attribute attr;
  if (matchPattern(v, m_Constant(&attr)))
    return attrValue(attr);
  if (auto fill = dyn_cast<linalg::FillOp>(def)) {
    if (matchPattern(fill.getInputs()[0], m_Constant(&attr)))
      return attrValue(attr);
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

bool skipattn::attn::raise::isIdentity(AffineMap map, unsigned rank) {
  return map.getNumDims() == rank && map.isIdentity();
}

/// A map is a broadcast map when each result is a loop dim or the constant 0.
static bool isBroadcastMap(AffineMap map) {
  return llvm::all_of(map.getResults(), [](AffineExpr e) {
    if (isa<AffineDimExpr>(e))
      return true;
    auto c = dyn_cast<AffineConstantExpr>(e);
    return c && c.getValue() == 0;
  });
}

static ExprOp classifyScalarOp(Operation *op, int64_t &predicate) {
  return llvm::TypeSwitch<Operation *, ExprOp>(op)
      .Case<arith::AddFOp, arith::AddIOp>([](auto) { return ExprOp::Add; })
      .Case<arith::SubFOp, arith::SubIOp>([](auto) { return ExprOp::Sub; })
      .Case<arith::MulFOp, arith::MulIOp>([](auto) { return ExprOp::Mul; })
      .Case<arith::DivFOp>([](auto) { return ExprOp::Div; })
      .Case<arith::MaximumFOp, arith::MaxNumFOp>(
          [](auto) { return ExprOp::Max; })
      .Case<math::ExpOp>([](auto) { return ExprOp::Exp; })
      .Case<arith::NegFOp>([](auto) { return ExprOp::Neg; })
      .Case<arith::SelectOp>([](auto) { return ExprOp::Select; })
      .Case<arith::CmpIOp>([&](arith::CmpIOp c) {
        predicate = static_cast<int64_t>(c.getPredicate());
        return ExprOp::CmpI;
      })
      .Case<arith::CmpFOp>([&](arith::CmpFOp c) {
        predicate = static_cast<int64_t>(c.getPredicate());
        return ExprOp::CmpF;
      })
      .Case<arith::ExtFOp>([](auto) { return ExprOp::ExtF; })
      .Case<arith::TruncFOp>([](auto) { return ExprOp::TruncF; })
      .Case<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
            arith::ExtUIOp, arith::TruncIOp>([](auto) { return ExprOp::Cast; })
      .Case<arith::AndIOp>([](auto) { return ExprOp::AndI; })
      .Case<arith::OrIOp>([](auto) { return ExprOp::OrI; })
      .Case<arith::XOrIOp>([](auto) { return ExprOp::XOrI; })
      .Default([](Operation *) { return ExprOp::Other; });
}

namespace {
/// Builds the expression tree of a linalg op's body.
struct BodyBuilder {
  Block *body;
  Region *region;
  ArrayRef<ExprRef> inputExprs; // one per block argument of an input

  ExprRef build(Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner() != body || arg.getArgNumber() >= inputExprs.size())
        return nullptr; // The accumulator, or a foreign block.
      return inputExprs[arg.getArgNumber()];
    }
    Operation *def = v.getDefiningOp();
    Attribute attr;
    if (matchPattern(v, m_Constant(&attr))) {
      std::optional<double> c = attrValue(attr);
      return c ? Expr::constant(*c, v.getType()) : nullptr;
    }
    if (!region->isAncestor(def->getParentRegion()))
      return nullptr; // A non-constant value from outside.
    if (auto index = dyn_cast<linalg::IndexOp>(def))
      return Expr::index(index.getDim());
    int64_t predicate = -1;
    ExprOp kind = classifyScalarOp(def, predicate);
    SmallVector<ExprRef, 3> args;
    for (Value operand : def->getOperands()) {
      ExprRef a = build(operand);
      if (!a)
        return nullptr;
      args.push_back(a);
    }
    return Expr::make(kind, std::move(args), v.getType(), predicate);
  }
};
} // namespace

static std::optional<Elementwise> matchLinalgElementwise(linalg::LinalgOp op,
                                                         Value result) {
  if (op->getNumResults() != 1 || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 0 ||
      isa<linalg::SoftmaxOp>(op.getOperation()))
    return std::nullopt;
  auto resultType = dyn_cast<RankedTensorType>(result.getType());
  if (!resultType || op.getNumLoops() != resultType.getRank())
    return std::nullopt;
  OpOperand *init = op.getDpsInitOperand(0);
  if (!isIdentity(op.getMatchingIndexingMap(init), resultType.getRank()))
    return std::nullopt;
  Block *body = op.getBlock();
  if (!body || body->getNumArguments() != op.getNumDpsInputs() + 1)
    return std::nullopt;
  // The body must not read the accumulator.
  if (!body->getArgument(op.getNumDpsInputs()).use_empty())
    return std::nullopt;

  Elementwise ew;
  ew.op = op;
  ew.rank = resultType.getRank();
  SmallVector<ExprRef> inputExprs;
  for (OpOperand *in : op.getDpsInputOperands()) {
    Type eltType = getElementTypeOrSelf(in->get().getType());
    if (std::optional<double> c = getSplatValue(in->get())) {
      inputExprs.push_back(Expr::constant(*c, eltType));
      continue;
    }
    if (!isa<RankedTensorType>(in->get().getType()))
      return std::nullopt;
    AffineMap map = op.getMatchingIndexingMap(in);
    if (!isBroadcastMap(map))
      return std::nullopt;
    inputExprs.push_back(Expr::input(ew.inputs.size(), eltType));
    ew.inputs.push_back(in->get());
    ew.maps.push_back(map);
  }
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return std::nullopt;
  BodyBuilder builder{body, &op->getRegion(0), inputExprs};
  ew.body = builder.build(yield.getOperand(0));
  if (!ew.body)
    return std::nullopt;
  return ew;
}

/// The broadcast map of a TOSA operand: dims of extent 1 that the result
/// does not have broadcast.
static std::optional<AffineMap> tosaBroadcastMap(RankedTensorType operand,
                                                 RankedTensorType result) {
  if (operand.getRank() != result.getRank())
    return std::nullopt;
  MLIRContext *ctx = operand.getContext();
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < result.getRank(); ++d) {
    bool broadcast = operand.getDimSize(d) == 1 && result.getDimSize(d) != 1;
    exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                              : getAffineDimExpr(d, ctx));
  }
  return AffineMap::get(result.getRank(), 0, exprs, ctx);
}

static std::optional<Elementwise> matchTosaElementwise(Operation *op,
                                                       Value result) {
  int64_t predicate = -1;
  ExprOp kind = llvm::TypeSwitch<Operation *, ExprOp>(op)
                    .Case<tosa::AddOp>([](auto) { return ExprOp::Add; })
                    .Case<tosa::SubOp>([](auto) { return ExprOp::Sub; })
                    .Case<tosa::MulOp>([](auto) { return ExprOp::Mul; })
                    .Case<tosa::MaximumOp>([](auto) { return ExprOp::Max; })
                    .Case<tosa::ExpOp>([](auto) { return ExprOp::Exp; })
                    .Case<tosa::NegateOp>([](auto) { return ExprOp::Neg; })
                    .Case<tosa::SelectOp>([](auto) { return ExprOp::Select; })
                    .Case<tosa::CastOp>([](auto) { return ExprOp::Cast; })
                    .Case<tosa::ReciprocalOp>([](auto) { return ExprOp::Div; })
                    .Default([](Operation *) { return ExprOp::Other; });
  if (kind == ExprOp::Other)
    return std::nullopt;
  auto resultType = dyn_cast<RankedTensorType>(result.getType());
  if (!resultType)
    return std::nullopt;

  // tosa.mul's shift and tosa.negate's zero points are not data operands.
  unsigned numData = op->getNumOperands();
  if (isa<tosa::MulOp>(op)) {
    numData = 2;
    std::optional<double> shift = getSplatValue(op->getOperand(2));
    if (!shift || *shift != 0.0)
      return std::nullopt;
  } else if (isa<tosa::NegateOp>(op)) {
    numData = 1;
  }

  Elementwise ew;
  ew.op = op;
  ew.rank = resultType.getRank();
  SmallVector<ExprRef, 3> args;
  for (unsigned i = 0; i < numData; ++i) {
    Value in = op->getOperand(i);
    auto inType = dyn_cast<RankedTensorType>(in.getType());
    if (!inType)
      return std::nullopt;
    if (std::optional<double> c = getSplatValue(in)) {
      args.push_back(Expr::constant(*c, inType.getElementType()));
      continue;
    }
    std::optional<AffineMap> map = tosaBroadcastMap(inType, resultType);
    if (!map)
      return std::nullopt;
    args.push_back(Expr::input(ew.inputs.size(), inType.getElementType()));
    ew.inputs.push_back(in);
    ew.maps.push_back(*map);
  }
  Type elt = resultType.getElementType();
  if (isa<tosa::ReciprocalOp>(op))
    args.insert(args.begin(), Expr::constant(1.0, elt));
  if (isa<tosa::CastOp>(op) && isa<FloatType>(elt) &&
      isa<FloatType>(args[0]->type)) {
    unsigned from = cast<FloatType>(args[0]->type).getWidth();
    unsigned to = cast<FloatType>(elt).getWidth();
    kind = to > from ? ExprOp::ExtF : to < from ? ExprOp::TruncF : ExprOp::Cast;
  }
  ew.body = Expr::make(kind, std::move(args), elt, predicate);
  return ew;
}

std::optional<Elementwise> skipattn::attn::raise::matchElementwise(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(def))
    return matchLinalgElementwise(linalgOp, v);
  if (isa<tosa::TosaDialect>(def->getDialect()))
    return matchTosaElementwise(def, v);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

/// Whether `v` is the reduction body's input argument, possibly extended.
static bool isInputArg(Value v, BlockArgument in) {
  if (auto ext = v.getDefiningOp<arith::ExtFOp>())
    v = ext.getIn();
  return v == in;
}

static std::optional<Reduction::Kind>
classifyReductionBody(Block *body, BlockArgument in, BlockArgument acc) {
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield.getNumOperands() != 1)
    return std::nullopt;
  Operation *def = yield.getOperand(0).getDefiningOp();
  if (!def || def->getBlock() != body)
    return std::nullopt;
  auto isPair = [&](Value a, Value b) {
    return (isInputArg(a, in) && b == acc) || (isInputArg(b, in) && a == acc);
  };
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(def) &&
      isPair(def->getOperand(0), def->getOperand(1)))
    return Reduction::Kind::Max;
  if (isa<arith::AddFOp>(def) && isPair(def->getOperand(0), def->getOperand(1)))
    return Reduction::Kind::Sum;
  // max as select(in > acc, in, acc).
  if (auto select = dyn_cast<arith::SelectOp>(def)) {
    auto cmp = select.getCondition().getDefiningOp<arith::CmpFOp>();
    if (!cmp)
      return std::nullopt;
    auto pred = cmp.getPredicate();
    bool greater = pred == arith::CmpFPredicate::OGT ||
                   pred == arith::CmpFPredicate::OGE ||
                   pred == arith::CmpFPredicate::UGT ||
                   pred == arith::CmpFPredicate::UGE;
    if (greater && cmp.getLhs() == select.getTrueValue() &&
        cmp.getRhs() == select.getFalseValue() &&
        isPair(select.getTrueValue(), select.getFalseValue()))
      return Reduction::Kind::Max;
  }
  return std::nullopt;
}

/// The accumulator start must be the identity of the reduction: 0 for a
/// sum, -inf or a value no score reaches for a max.
static bool isReductionInit(Reduction::Kind kind, Value init) {
  std::optional<double> c = getSplatValue(init);
  if (!c)
    return false;
  if (kind == Reduction::Kind::Sum)
    return *c == 0.0;
  return *c <= -1.0e4;
}

static std::optional<Reduction> matchLinalgReduction(linalg::LinalgOp op,
                                                     Value result) {
  if (op->getNumResults() != 1 || op.getNumDpsInputs() != 1 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1)
    return std::nullopt;
  OpOperand *in = op.getDpsInputOperand(0);
  OpOperand *init = op.getDpsInitOperand(0);
  unsigned numLoops = op.getNumLoops();
  if (!isIdentity(op.getMatchingIndexingMap(in), numLoops))
    return std::nullopt;
  SmallVector<unsigned> reductionDims;
  op.getReductionDims(reductionDims);
  unsigned red = reductionDims.front();

  // The output map drops the reduced dim, or keeps it as the constant 0.
  AffineMap outMap = op.getMatchingIndexingMap(init);
  MLIRContext *ctx = op.getContext();
  SmallVector<AffineExpr> dropped, kept;
  for (unsigned d = 0; d < numLoops; ++d) {
    if (d != red)
      dropped.push_back(getAffineDimExpr(d, ctx));
    kept.push_back(d == red ? getAffineConstantExpr(0, ctx)
                            : getAffineDimExpr(d, ctx));
  }
  bool keepDim;
  if (outMap == AffineMap::get(numLoops, 0, dropped, ctx))
    keepDim = false;
  else if (outMap == AffineMap::get(numLoops, 0, kept, ctx))
    keepDim = true;
  else
    return std::nullopt;

  Block *body = op.getBlock();
  std::optional<Reduction::Kind> kind =
      classifyReductionBody(body, body->getArgument(0), body->getArgument(1));
  if (!kind || !isReductionInit(*kind, init->get()))
    return std::nullopt;
  return Reduction{*kind, op, in->get(), red, keepDim};
}

std::optional<Reduction> skipattn::attn::raise::matchReduction(Value v) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(def))
    return matchLinalgReduction(linalgOp, v);
  if (auto max = dyn_cast<tosa::ReduceMaxOp>(def))
    return Reduction{Reduction::Kind::Max, def, max.getInput(), max.getAxis(),
                     true};
  if (auto sum = dyn_cast<tosa::ReduceSumOp>(def))
    return Reduction{Reduction::Kind::Sum, def, sum.getInput(), sum.getAxis(),
                     true};
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Contractions
//===----------------------------------------------------------------------===//

static bool isZero(Value v) {
  std::optional<double> c = getSplatValue(v);
  return c && *c == 0.0;
}

static std::optional<Contraction> matchLinalgContraction(linalg::LinalgOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op->getNumResults() != 1 || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (!llvm::all_of(maps,
                    [](AffineMap m) { return m.isProjectedPermutation(); }))
    return std::nullopt;
  if (!isZero(op.getDpsInitOperand(0)->get()))
    return std::nullopt;
  Contraction c;
  c.op = op;
  c.lhs = op.getDpsInputOperand(0)->get();
  c.rhs = op.getDpsInputOperand(1)->get();
  c.result = op->getResult(0);
  c.lhsMap = maps[0];
  c.rhsMap = maps[1];
  c.outMap = maps[2];
  c.batch.assign(dims->batch.begin(), dims->batch.end());
  c.m = dims->m.front();
  c.n = dims->n.front();
  c.k = dims->k.front();
  c.numLoops = op.getNumLoops();
  return c;
}

static std::optional<Contraction> matchTosaMatmul(tosa::MatMulOp op) {
  if (!isZero(op.getAZp()) || !isZero(op.getBZp()))
    return std::nullopt;
  MLIRContext *ctx = op.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  Contraction c;
  c.op = op;
  c.lhs = op.getA();
  c.rhs = op.getB();
  c.result = op.getResult();
  // Loops (n, h, w, c): A[n, h, c] * B[n, c, w] -> out[n, h, w].
  c.lhsMap = AffineMap::get(4, 0, {d(0), d(1), d(3)}, ctx);
  c.rhsMap = AffineMap::get(4, 0, {d(0), d(3), d(2)}, ctx);
  c.outMap = AffineMap::get(4, 0, {d(0), d(1), d(2)}, ctx);
  c.batch = {0};
  c.m = 1;
  c.n = 2;
  c.k = 3;
  c.numLoops = 4;
  return c;
}

std::optional<Contraction>
skipattn::attn::raise::matchContraction(Operation *op) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return matchLinalgContraction(linalgOp);
  if (auto matmul = dyn_cast<tosa::MatMulOp>(op))
    return matchTosaMatmul(matmul);
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Broadcast chains
//===----------------------------------------------------------------------===//

static bool isUnit(int64_t size) { return size == 1; }

/// For a reshape between `small` and `large` shapes (large = more dims),
/// the reassociation groups of `large`, or nothing.
static std::optional<SmallVector<ReassociationIndices>>
reshapeGroups(RankedTensorType small, RankedTensorType large) {
  if (small.getRank() > large.getRank())
    return std::nullopt;
  if (small.getRank() == large.getRank()) {
    if (small.getShape() != large.getShape())
      return std::nullopt;
    SmallVector<ReassociationIndices> groups;
    for (int64_t i = 0; i < small.getRank(); ++i)
      groups.push_back({i});
    return groups;
  }
  return getReassociationIndicesForCollapse(large.getShape(), small.getShape());
}

/// Composes `map` (consumer dims -> dims of a reshape's large side) through
/// `groups` to the small side, when each group holds at most one non-unit
/// dim; or the other way round (`toLarge`).
static std::optional<AffineMap>
composeUnitReshape(AffineMap map, ArrayRef<ReassociationIndices> groups,
                   RankedTensorType large, RankedTensorType small,
                   bool toLarge) {
  MLIRContext *ctx = map.getContext();
  SmallVector<AffineExpr> exprs;
  AffineExpr zero = getAffineConstantExpr(0, ctx);
  if (!toLarge) {
    // map: consumer -> large dims; want consumer -> small dims.
    for (const ReassociationIndices &g : groups) {
      if (g.size() == 1) {
        exprs.push_back(map.getResult(g.front()));
        continue;
      }
      std::optional<int64_t> nonUnit;
      for (int64_t d : g) {
        if (isUnit(large.getDimSize(d)))
          continue;
        if (nonUnit)
          return std::nullopt;
        nonUnit = d;
      }
      exprs.push_back(nonUnit ? map.getResult(*nonUnit) : zero);
    }
    return AffineMap::get(map.getNumDims(), 0, exprs, ctx);
  }
  // map: consumer -> small dims; want consumer -> large dims.
  exprs.assign(large.getRank(), zero);
  for (auto [s, g] : llvm::enumerate(groups)) {
    if (g.size() == 1) {
      exprs[g.front()] = map.getResult(s);
      continue;
    }
    std::optional<int64_t> nonUnit;
    for (int64_t d : g) {
      if (isUnit(large.getDimSize(d)))
        continue;
      if (nonUnit)
        return std::nullopt;
      nonUnit = d;
    }
    if (nonUnit)
      exprs[*nonUnit] = map.getResult(s);
  }
  return AffineMap::get(map.getNumDims(), 0, exprs, ctx);
}

/// One step back through a broadcasting or unit-reshaping producer.
static std::optional<std::pair<Value, AffineMap>> broadcastStep(Value v,
                                                                AffineMap map) {
  Operation *def = v.getDefiningOp();
  if (!def)
    return std::nullopt;
  MLIRContext *ctx = map.getContext();
  if (auto bcast = dyn_cast<linalg::BroadcastOp>(def)) {
    ArrayRef<int64_t> added = bcast.getDimensions();
    SmallVector<AffineExpr> exprs;
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      if (!llvm::is_contained(added, static_cast<int64_t>(r)))
        exprs.push_back(map.getResult(r));
    return std::make_pair(bcast.getInput(),
                          AffineMap::get(map.getNumDims(), 0, exprs, ctx));
  }
  if (auto generic = dyn_cast<linalg::GenericOp>(def)) {
    std::optional<Elementwise> ew = matchElementwise(v);
    if (!ew || ew->inputs.size() != 1 || !ew->body->isInput(0))
      return std::nullopt;
    SmallVector<AffineExpr> exprs;
    for (AffineExpr e : ew->maps[0].getResults()) {
      if (auto dim = dyn_cast<AffineDimExpr>(e))
        exprs.push_back(map.getResult(dim.getPosition()));
      else
        exprs.push_back(getAffineConstantExpr(0, ctx));
    }
    return std::make_pair(ew->inputs[0],
                          AffineMap::get(map.getNumDims(), 0, exprs, ctx));
  }
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(def)) {
    auto small = expand.getSrcType();
    auto large = expand.getResultType();
    if (auto m = composeUnitReshape(map, expand.getReassociationIndices(),
                                    large, small, /*toLarge=*/false))
      return std::make_pair(expand.getSrc(), *m);
    return std::nullopt;
  }
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(def)) {
    auto large = collapse.getSrcType();
    auto small = collapse.getResultType();
    if (auto m = composeUnitReshape(map, collapse.getReassociationIndices(),
                                    large, small, /*toLarge=*/true))
      return std::make_pair(collapse.getSrc(), *m);
    return std::nullopt;
  }
  if (auto reshape = dyn_cast<tosa::ReshapeOp>(def)) {
    auto src = dyn_cast<RankedTensorType>(reshape.getInput1().getType());
    auto dst = dyn_cast<RankedTensorType>(reshape.getType());
    if (!src || !dst || !src.hasStaticShape() || !dst.hasStaticShape())
      return std::nullopt;
    bool srcLarger = src.getRank() >= dst.getRank();
    auto large = srcLarger ? src : dst;
    auto small = srcLarger ? dst : src;
    std::optional<SmallVector<ReassociationIndices>> groups =
        reshapeGroups(small, large);
    if (!groups)
      return std::nullopt;
    if (auto m = composeUnitReshape(map, *groups, large, small,
                                    /*toLarge=*/srcLarger))
      return std::make_pair(reshape.getInput1(), *m);
    return std::nullopt;
  }
  return std::nullopt;
}

std::pair<Value, AffineMap>
skipattn::attn::raise::lookThroughBroadcast(Value v, AffineMap map) {
  while (std::optional<std::pair<Value, AffineMap>> step =
             broadcastStep(v, map)) {
    v = step->first;
    map = step->second;
  }
  return {v, map};
}
