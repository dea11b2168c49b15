//===- RaiseSoftmax.cpp - recognise a softmax over the last dimension -----===//
//
// softmax(x) = exp(x - max(x)) / sum(exp(x - max(x))) along the key
// dimension, in each of the forms exporters emit: linalg.softmax; a chain of
// generics or named linalg ops (the subtraction and exp fused or not, the
// division as a multiply by a reciprocal); the TOSA reduce_max / sub / exp /
// reduce_sum / reciprocal / mul chain. Both reductions must run over the
// last dimension of the same tensor, and no intermediate may have a user
// outside the chain: otherwise it is not a softmax that attn.attention can
// absorb.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace skipattn::attn::raise;

/// Whether `map` (result dims of a rank-`rank` op -> dims of a reduction's
/// result) broadcasts the reduction along the last dim.
static bool isRowBroadcast(AffineMap map, const Reduction &red, unsigned rank) {
  if (red.reducedDim + 1 != rank || map.getNumDims() != rank)
    return false;
  unsigned expected = red.keepDim ? rank : rank - 1;
  if (map.getNumResults() != expected)
    return false;
  for (unsigned d = 0; d + 1 < rank; ++d)
    if (map.getResult(d) != getAffineDimExpr(d, map.getContext()))
      return false;
  if (red.keepDim) {
    auto c = dyn_cast<AffineConstantExpr>(map.getResult(rank - 1));
    return c && c.getValue() == 0;
  }
  return true;
}

/// The reduction of `kind` over the last dim of `of`, broadcast into an op of
/// rank `rank` through input `pos` of `ew`, with its result used only there.
static std::optional<Reduction> rowStat(const Elementwise &ew, unsigned pos,
                                        Reduction::Kind kind, Value of,
                                        Softmax &sm) {
  auto [src, map] = lookThroughBroadcast(ew.inputs[pos], ew.maps[pos]);
  std::optional<Reduction> red = matchReduction(src);
  if (!red || red->kind != kind || red->input != of ||
      !isRowBroadcast(map, *red, ew.rank) || !src.hasOneUse())
    return std::nullopt;
  sm.ops.push_back(red->op);
  for (Value v = ew.inputs[pos]; v != src; v = v.getDefiningOp()->getOperand(0))
    sm.ops.push_back(v.getDefiningOp());
  return red;
}

/// Users of `v`, each counted once.
static llvm::SmallPtrSet<Operation *, 4> userSet(Value v) {
  llvm::SmallPtrSet<Operation *, 4> users;
  for (Operation *u : v.getUsers())
    users.insert(u);
  return users;
}

/// exp(x - max(x)): returns x.
static std::optional<Value> matchShiftedExp(Value e, Softmax &sm) {
  std::optional<Elementwise> ew = matchElementwise(e);
  if (!ew || !ew->body->is(ExprOp::Exp))
    return std::nullopt;
  sm.ops.push_back(ew->op);
  const Expr *sub = ew->body->args[0].get();
  const Elementwise *subOp = &*ew;
  std::optional<Elementwise> unfused;
  if (sub->kind == Expr::Kind::Input) {
    // exp and the subtraction in two ops.
    if (!isIdentity(ew->maps[sub->pos], ew->rank))
      return std::nullopt;
    Value d = ew->inputs[sub->pos];
    unfused = matchElementwise(d);
    if (!unfused || !d.hasOneUse())
      return std::nullopt;
    sm.ops.push_back(unfused->op);
    subOp = &*unfused;
    sub = unfused->body.get();
  }
  if (!sub->is(ExprOp::Sub) || sub->args[0]->kind != Expr::Kind::Input ||
      sub->args[1]->kind != Expr::Kind::Input)
    return std::nullopt;
  unsigned xPos = sub->args[0]->pos, mPos = sub->args[1]->pos;
  if (!isIdentity(subOp->maps[xPos], subOp->rank))
    return std::nullopt;
  Value x = subOp->inputs[xPos];
  std::optional<Reduction> max =
      rowStat(*subOp, mPos, Reduction::Kind::Max, x, sm);
  if (!max)
    return std::nullopt;
  // x feeds the max and the subtraction, nothing else.
  if (userSet(x) != llvm::SmallPtrSet<Operation *, 4>{max->op, subOp->op} ||
      llvm::range_size(x.getUses()) != 2)
    return std::nullopt;
  return x;
}

std::optional<Softmax> skipattn::attn::raise::matchSoftmax(Value output) {
  Softmax sm;
  sm.output = output;
  if (auto op = output.getDefiningOp<linalg::SoftmaxOp>()) {
    int64_t rank = op.getInputOperandType().getRank();
    if (op.getDimension() != static_cast<uint64_t>(rank - 1) ||
        !op.getInput().hasOneUse())
      return std::nullopt;
    sm.input = op.getInput();
    sm.ops.push_back(op);
    return sm;
  }

  // output = e / sum(e), e * (1 / sum(e)), or e * r with r = 1 / sum(e).
  std::optional<Elementwise> div = matchElementwise(output);
  if (!div)
    return std::nullopt;
  sm.ops.push_back(div->op);
  const Expr &body = *div->body;
  if (body.args.size() != 2)
    return std::nullopt;
  const Expr *lhs = body.args[0].get(), *rhs = body.args[1].get();
  if (body.is(ExprOp::Mul) && rhs->kind == Expr::Kind::Input &&
      lhs->kind == Expr::Kind::Input) {
    // Which input is e: the one with the identity map.
    if (!isIdentity(div->maps[lhs->pos], div->rank))
      std::swap(lhs, rhs);
  } else if (body.is(ExprOp::Mul) && lhs->kind != Expr::Kind::Input) {
    std::swap(lhs, rhs);
  }
  if (lhs->kind != Expr::Kind::Input ||
      !isIdentity(div->maps[lhs->pos], div->rank))
    return std::nullopt;
  Value e = div->inputs[lhs->pos];

  std::optional<Reduction> sum;
  if (body.is(ExprOp::Div) && rhs->kind == Expr::Kind::Input) {
    sum = rowStat(*div, rhs->pos, Reduction::Kind::Sum, e, sm);
  } else if (body.is(ExprOp::Mul) && rhs->is(ExprOp::Div) &&
             rhs->args[0]->isConst() && rhs->args[0]->value == 1.0 &&
             rhs->args[1]->kind == Expr::Kind::Input) {
    sum = rowStat(*div, rhs->args[1]->pos, Reduction::Kind::Sum, e, sm);
  } else if (body.is(ExprOp::Mul) && rhs->kind == Expr::Kind::Input) {
    // A separate reciprocal op, broadcast along the row.
    auto [r, map] =
        lookThroughBroadcast(div->inputs[rhs->pos], div->maps[rhs->pos]);
    std::optional<Elementwise> recip = matchElementwise(r);
    if (!recip || !r.hasOneUse() || recip->inputs.size() != 1 ||
        !recip->body->is(ExprOp::Div) || !recip->body->args[0]->isConst() ||
        recip->body->args[0]->value != 1.0 ||
        !recip->body->args[1]->isInput(0) ||
        !isIdentity(recip->maps[0], recip->rank))
      return std::nullopt;
    sm.ops.push_back(recip->op);
    for (Value v = div->inputs[rhs->pos]; v != r;
         v = v.getDefiningOp()->getOperand(0))
      sm.ops.push_back(v.getDefiningOp());
    Value s = recip->inputs[0];
    std::optional<Reduction> red = matchReduction(s);
    if (red && red->kind == Reduction::Kind::Sum && red->input == e &&
        isRowBroadcast(map, *red, div->rank) && s.hasOneUse()) {
      sum = red;
      sm.ops.push_back(red->op);
    }
  }
  if (!sum)
    return std::nullopt;
  // e feeds the sum and the normalisation, nothing else.
  if (userSet(e) != llvm::SmallPtrSet<Operation *, 4>{sum->op, div->op} ||
      llvm::range_size(e.getUses()) != 2)
    return std::nullopt;
  std::optional<Value> x = matchShiftedExp(e, sm);
  if (!x)
    return std::nullopt;
  sm.input = *x;
  return sm;
}
