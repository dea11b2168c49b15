//===- RaiseDescribe.cpp - read IR as per-element expressions -------------===//
//
// The only file of attn-raise that knows op names. Views (ops that only move
// data) are composed into index expressions as a value is described; ops
// that compute are expanded one level when a matcher looks inside them:
//
//   views     tensor.expand_shape / collapse_shape / reshape / cast /
//             extract_slice / insert_slice into a whole empty tensor,
//             any linalg op whose payload yields one of its tensor inputs
//             (linalg.transpose, linalg.broadcast, linalg.copy and their
//             generic forms), tosa.reshape / transpose / tile / slice;
//   fills     linalg.fill, a generalized fill, splat constants;
//   computing any other linalg op with tensor semantics, through the
//             LinalgOp interface (indexing maps and payload: the op's
//             generalized form), linalg.softmax, the TOSA elementwise ops,
//             tosa.matmul and tosa.reduce_max/reduce_sum, and elementwise
//             arith/math ops on tensors.
//
// Anything else is an opaque Read: a leaf of the description.
//
//===----------------------------------------------------------------------===//

#include "RaiseExpr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Tosa/Utils/ConversionUtils.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Scalar ops
//===----------------------------------------------------------------------===//

static ExprOp classifyScalarOp(Operation *op, int64_t &predicate) {
  return llvm::TypeSwitch<Operation *, ExprOp>(op)
      .Case<arith::AddFOp, arith::AddIOp>([](auto) { return ExprOp::Add; })
      .Case<arith::SubFOp, arith::SubIOp>([](auto) { return ExprOp::Sub; })
      .Case<arith::MulFOp, arith::MulIOp>([](auto) { return ExprOp::Mul; })
      .Case<arith::DivFOp>([](auto) { return ExprOp::Div; })
      .Case<arith::MaximumFOp, arith::MaxNumFOp>(
          [](auto) { return ExprOp::Max; })
      .Case<arith::MinimumFOp, arith::MinNumFOp>(
          [](auto) { return ExprOp::Min; })
      .Case<math::ExpOp>([](auto) { return ExprOp::Exp; })
      .Case<math::Exp2Op>([](auto) { return ExprOp::Exp2; })
      .Case<math::SqrtOp>([](auto) { return ExprOp::Sqrt; })
      .Case<math::RsqrtOp>([](auto) { return ExprOp::Rsqrt; })
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
      .Case<arith::SIToFPOp, arith::UIToFPOp>([](auto) { return ExprOp::IToF; })
      .Case<arith::FPToSIOp, arith::FPToUIOp>([](auto) { return ExprOp::FToI; })
      .Case<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
            arith::ExtUIOp, arith::TruncIOp>(
          [](auto) { return ExprOp::IntCast; })
      .Case<arith::AndIOp>([](auto) { return ExprOp::AndI; })
      .Case<arith::OrIOp>([](auto) { return ExprOp::OrI; })
      .Case<arith::XOrIOp>([](auto) { return ExprOp::XOrI; })
      .Default([](Operation *) { return ExprOp::Other; });
}

Node *Describer::describeScalar(Value v) {
  Attribute attr;
  if (matchPattern(v, m_Constant(&attr)))
    if (std::optional<double> c = attrValue(attr))
      return makeConst(*c, v.getType());
  Operation *def = v.getDefiningOp();
  if (def && def->getNumRegions() == 0 && def->getNumResults() == 1) {
    if (auto dim = dyn_cast<tensor::DimOp>(def)) {
      std::optional<int64_t> index = dim.getConstantIndex();
      auto type = dyn_cast<RankedTensorType>(dim.getSource().getType());
      if (index && type && !type.isDynamicDim(*index))
        return makeConst(type.getDimSize(*index), v.getType());
    }
    int64_t predicate = -1;
    ExprOp kind = classifyScalarOp(def, predicate);
    if (kind != ExprOp::Other &&
        llvm::none_of(def->getOperandTypes(),
                      [](Type t) { return isa<ShapedType>(t); })) {
      SmallVector<Node *, 3> args;
      for (Value operand : def->getOperands())
        args.push_back(describeScalar(operand));
      return makeOp(kind, args, v.getType(), predicate, def);
    }
  }
  Node *n = newNode(Node::Kind::Read, v.getType());
  n->origins.push_back({v, {}});
  n->expanded = true; // a scalar from outside: a leaf
  return n;
}

//===----------------------------------------------------------------------===//
// Linalg loops
//===----------------------------------------------------------------------===//

/// The loop expressions that result `r` of `op`, read at `idx`, gives the
/// loops that appear in its indexing map (null for the others), or nothing.
static std::optional<SmallVector<AffineExpr>>
outputLoops(linalg::LinalgOp op, unsigned r, ArrayRef<AffineExpr> idx) {
  AffineMap outMap = op.getIndexingMapMatchingResult(op->getResult(r));
  if (outMap.getNumResults() != idx.size())
    return std::nullopt;
  SmallVector<AffineExpr> loops(op.getNumLoops());
  for (auto [k, e] : llvm::enumerate(outMap.getResults())) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) {
      if (loops[d.getPosition()] && loops[d.getPosition()] != idx[k])
        return std::nullopt; // a diagonal: not a plain read
      loops[d.getPosition()] = idx[k];
      continue;
    }
    if (!isa<AffineConstantExpr>(e))
      return std::nullopt;
  }
  return loops;
}

/// `map` applied to loop expressions.
static SmallVector<AffineExpr> compose(AffineMap map,
                                       ArrayRef<AffineExpr> loops) {
  SmallVector<AffineExpr> out;
  for (AffineExpr e : map.getResults())
    out.push_back(e.replaceDims(loops));
  return out;
}

/// A tensor operand of `op` and one of its dims that a loop runs over.
static std::pair<Value, unsigned> loopSource(linalg::LinalgOp op,
                                             unsigned loop) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<RankedTensorType>(operand.get().getType()))
      continue;
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (auto [k, e] : llvm::enumerate(map.getResults()))
      if (auto d = dyn_cast<AffineDimExpr>(e); d && d.getPosition() == loop)
        return {operand.get(), k};
  }
  return {Value(), 0};
}

/// The yielded value of result `r` of a linalg op with tensor semantics.
static Value yieldedValue(linalg::LinalgOp op, unsigned r) {
  Block *body = op.getBlock();
  if (!body || !op.hasPureTensorSemantics())
    return {};
  auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
  if (!yield || yield.getNumOperands() <= r)
    return {};
  return yield.getOperand(r);
}

//===----------------------------------------------------------------------===//
// Views
//===----------------------------------------------------------------------===//

/// Row-major strides of the sizes, or nothing when an inner one is dynamic.
static std::optional<SmallVector<int64_t>> strides(ArrayRef<int64_t> sizes) {
  SmallVector<int64_t> s(sizes.size(), 1);
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 2; d >= 0; --d) {
    if (ShapedType::isDynamic(sizes[d + 1]))
      return std::nullopt;
    s[d] = s[d + 1] * sizes[d + 1];
  }
  return s;
}

/// Source indices of a reshape from a linear index over `srcShape`.
static std::optional<SmallVector<AffineExpr>>
reshapeIndices(ArrayRef<AffineExpr> idx, ArrayRef<int64_t> dstShape,
               ArrayRef<int64_t> srcShape, MLIRContext *ctx) {
  std::optional<SmallVector<int64_t>> ds = strides(dstShape);
  std::optional<SmallVector<int64_t>> ss = strides(srcShape);
  if (!ds || !ss)
    return std::nullopt;
  AffineExpr linear = getAffineConstantExpr(0, ctx);
  for (auto [e, s] : llvm::zip(idx, *ds))
    linear = linear + e * s;
  SmallVector<AffineExpr> out;
  for (auto [k, s] : llvm::enumerate(*ss)) {
    AffineExpr e = linear.floorDiv(s);
    out.push_back(k == 0 ? e : e % srcShape[k]);
  }
  return out;
}

std::optional<Origin> Describer::viewStep(const Origin &o) {
  Operation *def = o.value.getDefiningOp();
  if (!def)
    return std::nullopt;
  ArrayRef<AffineExpr> idx = o.idx;
  auto finish = [&](Value src,
                    SmallVector<AffineExpr> srcIdx) -> std::optional<Origin> {
    for (AffineExpr &e : srcIdx)
      e = simplify(e);
    touchedOps.insert(def);
    return Origin{src, std::move(srcIdx)};
  };

  if (auto cast = dyn_cast<tensor::CastOp>(def))
    return finish(cast.getSource(), SmallVector<AffineExpr>(idx));

  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(def)) {
    ArrayRef<int64_t> shape = expand.getResultType().getShape();
    SmallVector<AffineExpr> src;
    for (const ReassociationIndices &g : expand.getReassociationIndices()) {
      SmallVector<int64_t> sizes;
      for (int64_t d : g)
        sizes.push_back(shape[d]);
      std::optional<SmallVector<int64_t>> s = strides(sizes);
      if (!s)
        return std::nullopt;
      AffineExpr e = getAffineConstantExpr(0, ctx);
      for (auto [k, d] : llvm::enumerate(g))
        e = e + idx[d] * (*s)[k];
      src.push_back(e);
    }
    return finish(expand.getSrc(), src);
  }

  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(def)) {
    ArrayRef<int64_t> shape = collapse.getSrcType().getShape();
    SmallVector<AffineExpr> src(shape.size());
    for (auto [s, g] : llvm::enumerate(collapse.getReassociationIndices())) {
      SmallVector<int64_t> nonUnit;
      for (int64_t d : g)
        if (shape[d] != 1)
          nonUnit.push_back(d);
      for (int64_t d : g)
        src[d] = getAffineConstantExpr(0, ctx);
      if (nonUnit.size() == 1) {
        src[nonUnit.front()] = idx[s];
        continue;
      }
      SmallVector<int64_t> sizes;
      for (int64_t d : nonUnit)
        sizes.push_back(shape[d]);
      std::optional<SmallVector<int64_t>> st = strides(sizes);
      if (!st)
        return std::nullopt;
      for (auto [k, d] : llvm::enumerate(nonUnit)) {
        AffineExpr e = idx[s].floorDiv((*st)[k]);
        src[d] = k == 0 ? e : e % sizes[k];
      }
    }
    return finish(collapse.getSrc(), src);
  }

  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(def)) {
    if (ShapedType::isDynamicShape(slice.getStaticOffsets()) ||
        ShapedType::isDynamicShape(slice.getStaticStrides()))
      return std::nullopt;
    llvm::SmallBitVector dropped = slice.getDroppedDims();
    SmallVector<AffineExpr> src;
    unsigned r = 0;
    for (unsigned k = 0; k < slice.getStaticOffsets().size(); ++k) {
      AffineExpr off = getAffineConstantExpr(slice.getStaticOffsets()[k], ctx);
      if (dropped.test(k)) {
        src.push_back(off);
        continue;
      }
      src.push_back(off + idx[r++] * slice.getStaticStrides()[k]);
    }
    return finish(slice.getSource(), src);
  }

  if (auto insert = dyn_cast<tensor::InsertSliceOp>(def)) {
    // Only an insert that overwrites the whole of an empty tensor.
    RankedTensorType dst = insert.getDestType();
    if (!insert.getDest().getDefiningOp<tensor::EmptyOp>() ||
        !dst.hasStaticShape() ||
        llvm::any_of(insert.getStaticOffsets(),
                     [](int64_t x) { return x != 0; }) ||
        llvm::any_of(insert.getStaticStrides(),
                     [](int64_t x) { return x != 1; }) ||
        insert.getStaticSizes() != dst.getShape())
      return std::nullopt;
    auto srcType = insert.getSourceType();
    std::optional<llvm::SmallDenseSet<unsigned>> mask =
        computeRankReductionMask(dst.getShape(), srcType.getShape());
    if (!mask)
      return std::nullopt;
    SmallVector<AffineExpr> src;
    for (unsigned k = 0; k < dst.getRank(); ++k)
      if (!mask->contains(k))
        src.push_back(idx[k]);
    return finish(insert.getSource(), src);
  }

  if (isa<tensor::ReshapeOp, tosa::ReshapeOp>(def)) {
    auto src = dyn_cast<RankedTensorType>(def->getOperand(0).getType());
    auto dst = dyn_cast<RankedTensorType>(def->getResult(0).getType());
    if (!src || !dst || !src.hasStaticShape() || !dst.hasStaticShape())
      return std::nullopt;
    std::optional<SmallVector<AffineExpr>> s =
        reshapeIndices(idx, dst.getShape(), src.getShape(), ctx);
    if (!s)
      return std::nullopt;
    return finish(def->getOperand(0), *s);
  }

  if (auto t = dyn_cast<tosa::TransposeOp>(def)) {
    SmallVector<AffineExpr> src(idx.size());
    for (auto [r, p] : llvm::enumerate(t.getPerms()))
      src[p] = idx[r];
    return finish(t.getInput1(), src);
  }

  if (auto slice = dyn_cast<tosa::SliceOp>(def)) {
    SmallVector<int64_t> start;
    if (!slice.getStart().getDefiningOp() ||
        !tosa::getConstShapeValues(slice.getStart().getDefiningOp(), start) ||
        start.size() != idx.size())
      return std::nullopt;
    SmallVector<AffineExpr> src;
    for (auto [e, s] : llvm::zip(idx, start))
      src.push_back(e + s);
    return finish(slice.getInput1(), src);
  }

  if (auto tile = dyn_cast<tosa::TileOp>(def)) {
    auto src = dyn_cast<RankedTensorType>(tile.getInput1().getType());
    if (!src || !src.hasStaticShape())
      return std::nullopt;
    SmallVector<AffineExpr> s;
    for (auto [k, e] : llvm::enumerate(idx))
      s.push_back(src.getDimSize(k) == 1 ? getAffineConstantExpr(0, ctx)
                                         : e % src.getDimSize(k));
    return finish(tile.getInput1(), s);
  }

  if (auto lop = dyn_cast<linalg::LinalgOp>(def)) {
    // A copy that permutes or broadcasts: the payload yields a tensor input.
    unsigned r = cast<OpResult>(o.value).getResultNumber();
    Value y = yieldedValue(lop, r);
    auto arg = dyn_cast_or_null<BlockArgument>(y);
    if (!arg || arg.getOwner() != lop.getBlock() ||
        arg.getArgNumber() >= lop.getNumDpsInputs() ||
        lop.getNumReductionLoops() != 0)
      return std::nullopt;
    OpOperand *in = lop.getDpsInputOperand(arg.getArgNumber());
    if (!isa<RankedTensorType>(in->get().getType()))
      return std::nullopt;
    std::optional<SmallVector<AffineExpr>> loops = outputLoops(lop, r, idx);
    if (!loops || llvm::any_of(*loops, [](AffineExpr e) { return !e; }))
      return std::nullopt;
    return finish(in->get(), compose(lop.getMatchingIndexingMap(in), *loops));
  }
  return std::nullopt;
}

/// The scalar a fill-like op writes everywhere (linalg.fill, a generalized
/// fill, a generic that yields a value from outside its payload).
static std::optional<Value> fillScalar(Value v) {
  auto lop = v.getDefiningOp<linalg::LinalgOp>();
  if (!lop || lop.getNumReductionLoops() != 0)
    return std::nullopt;
  Value y = yieldedValue(lop, cast<OpResult>(v).getResultNumber());
  if (!y)
    return std::nullopt;
  if (auto arg = dyn_cast<BlockArgument>(y)) {
    if (arg.getOwner() != lop.getBlock() ||
        arg.getArgNumber() >= lop.getNumDpsInputs())
      return std::nullopt;
    Value in = lop.getDpsInputOperand(arg.getArgNumber())->get();
    if (isa<ShapedType>(in.getType()))
      return std::nullopt;
    return in;
  }
  Operation *def = y.getDefiningOp();
  if (def && lop->isProperAncestor(def))
    return std::nullopt;
  return y;
}

Node *Describer::describe(Value v, ArrayRef<AffineExpr> idx) {
  if (!isa<ShapedType>(v.getType()))
    return describeScalar(v);
  Type elt = getElementTypeOrSelf(v.getType());
  SmallVector<Origin, 2> chain;
  Origin cur{v, {}};
  for (AffineExpr e : idx)
    cur.idx.push_back(simplify(e));
  while (true) {
    chain.push_back(cur);
    Attribute attr;
    if (matchPattern(cur.value, m_Constant(&attr)))
      if (std::optional<double> c = attrValue(attr))
        return makeConst(*c, elt);
    if (std::optional<Value> s = fillScalar(cur.value)) {
      touchedOps.insert(cur.value.getDefiningOp());
      Node *n = describeScalar(*s);
      if (n->type == elt)
        return n;
      return makeOp(isa<FloatType>(elt) ? ExprOp::ExtF : ExprOp::IntCast, n,
                    elt);
    }
    std::optional<Origin> next = viewStep(cur);
    if (!next)
      break;
    cur = std::move(*next);
  }
  Node *n = newNode(Node::Kind::Read, elt);
  for (AffineExpr e : chain.back().idx)
    addFree(n, e);
  n->origins = std::move(chain);
  return n;
}

//===----------------------------------------------------------------------===//
// Computing ops
//===----------------------------------------------------------------------===//

Node *Describer::expandLinalg(Operation *op, unsigned r,
                              ArrayRef<AffineExpr> idx) {
  auto lop = cast<linalg::LinalgOp>(op);
  Value yielded = yieldedValue(lop, r);
  if (!yielded)
    return nullptr;
  std::optional<SmallVector<AffineExpr>> maybeLoops = outputLoops(lop, r, idx);
  if (!maybeLoops)
    return nullptr;
  SmallVector<AffineExpr> loops = *maybeLoops;
  SmallVector<utils::IteratorType> iterators = lop.getIteratorTypesArray();
  SmallVector<int64_t> ranges = lop.getStaticLoopRanges();
  SmallVector<unsigned, 2> bound;
  for (unsigned p = 0; p < loops.size(); ++p) {
    if (loops[p])
      continue;
    if (iterators[p] != utils::IteratorType::reduction)
      return nullptr; // a parallel loop the result does not index
    auto [src, dim] = loopSource(lop, p);
    unsigned v = newVar(ranges[p], src, dim);
    loops[p] = getAffineDimExpr(v, ctx);
    bound.push_back(v);
  }

  Block *body = lop.getBlock();
  unsigned numInputs = lop.getNumDpsInputs();
  Type type = getElementTypeOrSelf(op->getResult(r).getType());
  // The accumulator of a reduction, as a marker node.
  Node *acc = bound.empty() ? nullptr : newNode(Node::Kind::Read, type);
  if (acc)
    acc->expanded = true;
  DenseMap<Value, Node *> memo;
  std::function<Node *(Value)> build = [&](Value x) -> Node * {
    if (Node *n = memo.lookup(x))
      return n;
    Node *n = nullptr;
    if (auto arg = dyn_cast<BlockArgument>(x); arg && arg.getOwner() == body) {
      unsigned a = arg.getArgNumber();
      OpOperand &operand = op->getOpOperand(a);
      if (a == numInputs + r && acc) {
        n = acc;
      } else if (!isa<ShapedType>(operand.get().getType())) {
        n = describeScalar(operand.get());
      } else {
        n = describe(operand.get(),
                     compose(lop.getMatchingIndexingMap(&operand), loops));
      }
    } else if (Operation *def = x.getDefiningOp();
               !def || !body->getParent()->isAncestor(def->getParentRegion())) {
      n = describeScalar(x);
    } else if (auto index = dyn_cast<linalg::IndexOp>(def)) {
      n = makeIndex(loops[index.getDim()]);
    } else if (Attribute attr; matchPattern(x, m_Constant(&attr))) {
      std::optional<double> c = attrValue(attr);
      n = c ? makeConst(*c, x.getType()) : nullptr;
    } else if (def->getNumRegions() == 0 && def->getNumResults() == 1) {
      int64_t predicate = -1;
      ExprOp kind = classifyScalarOp(def, predicate);
      SmallVector<Node *, 3> args;
      for (Value operand : def->getOperands()) {
        Node *a = build(operand);
        if (!a)
          return nullptr;
        args.push_back(a);
      }
      n = makeOp(kind, args, x.getType(), predicate, def);
    }
    memo[x] = n;
    return n;
  };
  Node *y = build(yielded);
  if (!y)
    return nullptr;
  if (!acc)
    return y;

  // A reduction: the payload must be combine(x, acc) with x free of acc.
  std::function<bool(Node *)> hasAcc = [&](Node *n) {
    return n == acc ||
           llvm::any_of(n->args, [&](Node *a) { return hasAcc(a); });
  };
  std::optional<Node::Reduction> kind;
  Node *x = nullptr;
  auto pairWithAcc = [&](Node *a, Node *b) -> Node * {
    if (a == acc && !hasAcc(b))
      return b;
    if (b == acc && !hasAcc(a))
      return a;
    return nullptr;
  };
  if (y->is(ExprOp::Add) && (x = pairWithAcc(y->args[0], y->args[1]))) {
    kind = Node::Reduction::Sum;
  } else if (y->kind == Node::Kind::Op && y->scalarOp &&
             isa<math::FmaOp>(y->scalarOp) && y->args[2] == acc &&
             !hasAcc(y->args[0]) && !hasAcc(y->args[1])) {
    // fma(a, b, acc): a sum of products.
    kind = Node::Reduction::Sum;
    x = makeOp(ExprOp::Mul, {y->args[0], y->args[1]}, type);
  } else if (y->is(ExprOp::Max) && (x = pairWithAcc(y->args[0], y->args[1]))) {
    kind = Node::Reduction::Max;
  } else if (y->is(ExprOp::Select) && y->args[0]->is(ExprOp::CmpF)) {
    // max as select(x > acc, x, acc) or select(acc < x, x, acc).
    using P = arith::CmpFPredicate;
    Node *cmp = y->args[0];
    auto pred = static_cast<P>(cmp->predicate);
    bool greater =
        pred == P::OGT || pred == P::OGE || pred == P::UGT || pred == P::UGE;
    bool less =
        pred == P::OLT || pred == P::OLE || pred == P::ULT || pred == P::ULE;
    Node *a = y->args[1], *b = y->args[2];
    if (b == acc && !hasAcc(a) &&
        ((greater && cmp->args[0] == a && cmp->args[1] == acc) ||
         (less && cmp->args[0] == acc && cmp->args[1] == a))) {
      kind = Node::Reduction::Max;
      x = a;
    }
  }
  if (!kind)
    return nullptr;
  Node *red = makeReduce(*kind, bound, x, type);
  OpOperand *init = lop.getDpsInitOperand(r);
  Node *start =
      describe(init->get(), compose(lop.getMatchingIndexingMap(init), loops));
  if (start->isConst() &&
      (*kind == Node::Reduction::Sum ? start->value == 0.0
                                     : start->value <= -3.0e38))
    return red;
  return makeOp(*kind == Node::Reduction::Sum ? ExprOp::Add : ExprOp::Max,
                {start, red}, type);
}

Node *Describer::expandSoftmax(Operation *op, ArrayRef<AffineExpr> idx) {
  auto sm = cast<linalg::SoftmaxOp>(op);
  Value in = sm.getInput();
  auto inType = cast<RankedTensorType>(in.getType());
  unsigned dim = sm.getDimension();
  Type type = inType.getElementType();
  auto at = [&](AffineExpr e) {
    SmallVector<AffineExpr> i(idx);
    i[dim] = e;
    return describe(in, i);
  };
  unsigned jm = newVar(inType.getDimSize(dim), in, dim);
  Node *max = makeReduce(Node::Reduction::Max, {jm},
                         at(getAffineDimExpr(jm, ctx)), type);
  auto shifted = [&](AffineExpr e) {
    return makeOp(ExprOp::Exp, {makeOp(ExprOp::Sub, {at(e), max}, type)}, type);
  };
  unsigned js = newVar(inType.getDimSize(dim), in, dim);
  Node *sum = makeReduce(Node::Reduction::Sum, {js},
                         shifted(getAffineDimExpr(js, ctx)), type);
  return makeOp(ExprOp::Div, {shifted(idx[dim]), sum}, type);
}

Node *Describer::expandTosa(Operation *op, ArrayRef<AffineExpr> idx) {
  auto resultType = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  if (!resultType || op->getNumResults() != 1)
    return nullptr;
  Type type = resultType.getElementType();
  auto isZero = [&](Value v) {
    Attribute attr;
    std::optional<double> c;
    if (matchPattern(v, m_Constant(&attr)))
      c = attrValue(attr);
    return c && *c == 0.0;
  };
  /// An elementwise operand with TOSA broadcasting (size-1 dims).
  auto operand = [&](unsigned i) -> Node * {
    Value v = op->getOperand(i);
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t || t.getRank() != resultType.getRank())
      return nullptr;
    SmallVector<AffineExpr> j;
    for (auto [k, e] : llvm::enumerate(idx))
      j.push_back(t.getDimSize(k) == 1 && resultType.getDimSize(k) != 1
                      ? getAffineConstantExpr(0, ctx)
                      : e);
    return describe(v, j);
  };
  /// A value of another element type, widened or narrowed to `to`.
  auto convert = [&](Node *n, Type to) {
    if (n->type == to || !isa<FloatType>(to))
      return n;
    if (!isa<FloatType>(n->type))
      return makeOp(ExprOp::IToF, {n}, to);
    bool wider =
        cast<FloatType>(to).getWidth() > cast<FloatType>(n->type).getWidth();
    return makeOp(wider ? ExprOp::ExtF : ExprOp::TruncF, {n}, to);
  };
  auto elementwise = [&](ExprOp kind, unsigned numData,
                         int64_t predicate = -1) -> Node * {
    SmallVector<Node *, 3> args;
    for (unsigned i = 0; i < numData; ++i) {
      Node *a = operand(i);
      if (!a)
        return nullptr;
      args.push_back(a);
    }
    return makeOp(kind, args, type, predicate);
  };
  auto compareOp = [&](arith::CmpFPredicate f,
                       arith::CmpIPredicate i) -> Node * {
    Node *a = operand(0), *b = operand(1);
    if (!a || !b)
      return nullptr;
    if (isa<FloatType>(a->type))
      return makeOp(ExprOp::CmpF, {a, b}, type, static_cast<int64_t>(f));
    return makeOp(ExprOp::CmpI, {a, b}, type, static_cast<int64_t>(i));
  };

  return llvm::TypeSwitch<Operation *, Node *>(op)
      .Case<tosa::MatMulOp>([&](tosa::MatMulOp mm) -> Node * {
        if (!isZero(mm.getAZp()) || !isZero(mm.getBZp()))
          return nullptr;
        auto a = cast<RankedTensorType>(mm.getA().getType());
        unsigned k = newVar(a.getDimSize(2), mm.getA(), 2);
        AffineExpr kd = getAffineDimExpr(k, ctx);
        Node *lhs = convert(describe(mm.getA(), {idx[0], idx[1], kd}), type);
        Node *rhs = convert(describe(mm.getB(), {idx[0], kd, idx[2]}), type);
        return makeReduce(Node::Reduction::Sum, {k},
                          makeOp(ExprOp::Mul, {lhs, rhs}, type), type);
      })
      .Case<tosa::ReduceMaxOp, tosa::ReduceSumOp>([&](auto red) -> Node * {
        Value in = red.getInput();
        auto inType = cast<RankedTensorType>(in.getType());
        unsigned axis = red.getAxis();
        unsigned v = newVar(inType.getDimSize(axis), in, axis);
        SmallVector<AffineExpr> j(idx);
        j[axis] = getAffineDimExpr(v, ctx);
        bool isMax = isa<tosa::ReduceMaxOp>(red.getOperation());
        return makeReduce(isMax ? Node::Reduction::Max : Node::Reduction::Sum,
                          {v}, describe(in, j), type);
      })
      .Case<tosa::AddOp>([&](auto) { return elementwise(ExprOp::Add, 2); })
      .Case<tosa::SubOp>([&](auto) { return elementwise(ExprOp::Sub, 2); })
      .Case<tosa::MulOp>([&](tosa::MulOp mul) -> Node * {
        if (!isZero(mul.getShift()))
          return nullptr;
        return elementwise(ExprOp::Mul, 2);
      })
      .Case<tosa::MaximumOp>([&](auto) { return elementwise(ExprOp::Max, 2); })
      .Case<tosa::MinimumOp>([&](auto) { return elementwise(ExprOp::Min, 2); })
      .Case<tosa::ExpOp>([&](auto) { return elementwise(ExprOp::Exp, 1); })
      .Case<tosa::NegateOp>([&](auto) { return elementwise(ExprOp::Neg, 1); })
      .Case<tosa::RsqrtOp>([&](auto) { return elementwise(ExprOp::Rsqrt, 1); })
      .Case<tosa::SelectOp>(
          [&](auto) { return elementwise(ExprOp::Select, 3); })
      .Case<tosa::ReciprocalOp>([&](auto) -> Node * {
        Node *a = operand(0);
        return a ? makeOp(ExprOp::Div, {makeConst(1.0, type), a}, type)
                 : nullptr;
      })
      .Case<tosa::GreaterOp>([&](auto) {
        return compareOp(arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt);
      })
      .Case<tosa::GreaterEqualOp>([&](auto) {
        return compareOp(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge);
      })
      .Case<tosa::EqualOp>([&](auto) {
        return compareOp(arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq);
      })
      .Case<tosa::LogicalNotOp>([&](auto) -> Node * {
        Node *a = operand(0);
        return a ? makeOp(ExprOp::XOrI, {a, makeConst(1.0, type)}, type)
                 : nullptr;
      })
      .Case<tosa::LogicalAndOp>(
          [&](auto) { return elementwise(ExprOp::AndI, 2); })
      .Case<tosa::LogicalOrOp>(
          [&](auto) { return elementwise(ExprOp::OrI, 2); })
      .Case<tosa::CastOp>([&](tosa::CastOp c) -> Node * {
        Node *a = operand(0);
        if (!a)
          return nullptr;
        Type from = a->type;
        if (isa<FloatType>(from) && isa<FloatType>(type))
          return convert(a, type);
        if (isa<FloatType>(type))
          return makeOp(ExprOp::IToF, {a}, type);
        if (isa<FloatType>(from))
          return makeOp(ExprOp::FToI, {a}, type);
        return makeOp(ExprOp::IntCast, {a}, type);
      })
      .Default([](Operation *) { return nullptr; });
}

Node *Describer::expandElementwiseMappable(Operation *op,
                                           ArrayRef<AffineExpr> idx) {
  if (op->getNumResults() != 1 || op->getNumRegions() != 0 ||
      !op->hasTrait<OpTrait::Elementwise>())
    return nullptr;
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  int64_t predicate = -1;
  ExprOp kind = classifyScalarOp(op, predicate);
  if (kind == ExprOp::Other)
    return nullptr;
  SmallVector<Node *, 3> args;
  for (Value operand : op->getOperands()) {
    auto t = dyn_cast<RankedTensorType>(operand.getType());
    if (!t || t.getShape() != resultType.getShape())
      return nullptr;
    args.push_back(describe(operand, idx));
  }
  return makeOp(kind, args, resultType.getElementType(), predicate);
}

Node *Describer::expand(Node *read) {
  Value v = read->readValue();
  ArrayRef<AffineExpr> idx = read->readIdx();
  Operation *def = v.getDefiningOp();
  if (!def || !isa<RankedTensorType>(v.getType()))
    return nullptr;
  Node *n = nullptr;
  if (auto lop = dyn_cast<linalg::LinalgOp>(def)) {
    if (lop.hasPureTensorSemantics())
      n = expandLinalg(def, cast<OpResult>(v).getResultNumber(), idx);
  } else if (isa<linalg::SoftmaxOp>(def)) {
    n = expandSoftmax(def, idx);
  } else if (isa<tosa::TosaDialect>(def->getDialect())) {
    n = expandTosa(def, idx);
  } else {
    n = expandElementwiseMappable(def, idx);
  }
  if (n)
    touchedOps.insert(def);
  return n;
}
