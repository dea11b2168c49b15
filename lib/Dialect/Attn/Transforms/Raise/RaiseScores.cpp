//===- RaiseScores.cpp - the score chain between Q·K^T and P·V ------------===//
//
// Between the two contractions, attention scales the scores, masks them,
// takes the softmax over the key dimension and may change precision and
// regroup batch dims. This file walks that chain back from P, checks that
// each op is one of those steps and nothing else, and reduces the steps to
// the parameters of attn.attention: one scale, causal triangles and at most
// one mask operand.
//
// A mask that keeps exactly the key positions j <= i + t is a causal
// triangle, whatever its form: an i1 or additive constant, a tensor computed
// from linalg.index, or an index comparison inside the op that applies it.
// Any other mask that is a tensor becomes the mask operand.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::attn::raise;

/// A masked score must be at most this after the scales that follow it, so
/// that exp() of it is exactly 0 in f32 (and f64).
static constexpr double kMaskedScore = -1.0e4;

//===----------------------------------------------------------------------===//
// Walking the chain
//===----------------------------------------------------------------------===//

static bool isReshape(Operation *op) {
  return isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tosa::ReshapeOp>(
      op);
}

/// Whether an elementwise op only changes precision.
static bool isCast(const Elementwise &ew) {
  const Expr &b = *ew.body;
  return ew.inputs.size() == 1 && isIdentity(ew.maps[0], ew.rank) &&
         (b.is(ExprOp::ExtF) || b.is(ExprOp::TruncF) || b.is(ExprOp::Cast)) &&
         b.args[0]->isInput(0) && isa<FloatType>(b.type);
}

/// Whether walking back from `v` through elementwise ops and reshapes reaches
/// a contraction: tells the scores apart from a mask in `s + m`.
static bool reachesContraction(Value v, unsigned depth = 0) {
  Operation *def = v.getDefiningOp();
  if (!def || depth > 24)
    return false;
  if (matchContraction(def))
    return true;
  if (isReshape(def))
    return reachesContraction(def->getOperand(0), depth + 1);
  if (std::optional<Softmax> sm = matchSoftmax(v))
    return reachesContraction(sm->input, depth + 1);
  std::optional<Elementwise> ew = matchElementwise(v);
  if (!ew)
    return false;
  return llvm::any_of(
      ew->inputs, [&](Value in) { return reachesContraction(in, depth + 1); });
}

namespace {
/// One step of the chain, innermost (next to Q·K^T) first.
struct Step {
  enum class Kind { Reshape, Elementwise, Softmax } kind;
  Operation *op = nullptr;
  std::optional<Elementwise> ew;
  unsigned scoreInput = 0;
};

/// A step of an elementwise body around the score input, outermost first.
struct Transform {
  enum class Kind { Scale, Add, Select } kind;
  double factor = 1.0;
  ExprRef expr;             // Add: the addend; Select: the condition.
  bool keepWhenTrue = true; // Select.
  ExprRef fill;             // Select: the value of masked entries.
};
} // namespace

/// Peels the body of an op around Input(s) into transforms, outermost first.
static LogicalResult decompose(ExprRef e, unsigned s,
                               SmallVectorImpl<Transform> &out) {
  while (!e->isInput(s)) {
    if (e->kind != Expr::Kind::Op)
      return failure();
    auto &a = e->args;
    switch (e->op) {
    case ExprOp::Mul: {
      unsigned si = a[0]->uses(s) ? 0 : 1;
      if (!a[si]->uses(s) || !a[1 - si]->isConst())
        return failure();
      out.push_back({Transform::Kind::Scale, a[1 - si]->value});
      e = a[si];
      break;
    }
    case ExprOp::Div:
      if (!a[0]->uses(s) || !a[1]->isConst() || a[1]->value == 0.0)
        return failure();
      out.push_back({Transform::Kind::Scale, 1.0 / a[1]->value});
      e = a[0];
      break;
    case ExprOp::Add: {
      unsigned si = a[0]->uses(s) ? 0 : 1;
      if (!a[si]->uses(s) || a[1 - si]->uses(s))
        return failure();
      out.push_back({Transform::Kind::Add, 1.0, a[1 - si]});
      e = a[si];
      break;
    }
    case ExprOp::Select: {
      if (a[0]->uses(s) || a[1]->uses(s) == a[2]->uses(s))
        return failure();
      bool keep = a[1]->uses(s);
      out.push_back(
          {Transform::Kind::Select, 1.0, a[0], keep, keep ? a[2] : a[1]});
      e = keep ? a[1] : a[2];
      break;
    }
    case ExprOp::ExtF:
    case ExprOp::TruncF:
    case ExprOp::Cast:
      e = a[0];
      break;
    default:
      return failure();
    }
  }
  return success();
}

/// The input of a score op that carries the scores: the one with the
/// identity map that leads back to a contraction.
static std::optional<unsigned> scoreInput(const Elementwise &ew) {
  std::optional<unsigned> found;
  for (auto [i, in] : llvm::enumerate(ew.inputs)) {
    if (!isIdentity(ew.maps[i], ew.rank) || !reachesContraction(in))
      continue;
    if (found)
      return std::nullopt;
    found = i;
  }
  return found;
}

/// Collects the steps from `p` back to the Q·K^T contraction. Every value on
/// the way has one use, except the softmax input, whose users matchSoftmax
/// checks.
static std::optional<Contraction> collectSteps(Value p,
                                               SmallVectorImpl<Step> &steps) {
  Value v = p;
  bool seenSoftmax = false, checkUses = true;
  while (true) {
    Operation *def = v.getDefiningOp();
    if (!def || (checkUses && !v.hasOneUse()))
      return std::nullopt;
    checkUses = true;
    if (std::optional<Contraction> c = matchContraction(def)) {
      if (!seenSoftmax || c->result != v)
        return std::nullopt;
      std::reverse(steps.begin(), steps.end());
      return c;
    }
    if (isReshape(def)) {
      steps.push_back({Step::Kind::Reshape, def});
      v = def->getOperand(0);
      continue;
    }
    std::optional<Elementwise> ew = matchElementwise(v);
    if (!seenSoftmax) {
      if (ew && isCast(*ew)) {
        steps.push_back({Step::Kind::Elementwise, def, ew, 0});
        v = ew->inputs[0];
        continue;
      }
      std::optional<Softmax> sm = matchSoftmax(v);
      if (!sm)
        return std::nullopt;
      for (Operation *op : sm->ops)
        steps.push_back({Step::Kind::Softmax, op});
      seenSoftmax = true;
      checkUses = false;
      v = sm->input;
      continue;
    }
    if (!ew)
      return std::nullopt;
    std::optional<unsigned> s = scoreInput(*ew);
    if (!s)
      return std::nullopt;
    steps.push_back({Step::Kind::Elementwise, def, ew, *s});
    v = ew->inputs[*s];
  }
}

//===----------------------------------------------------------------------===//
// Causal triangles
//===----------------------------------------------------------------------===//

namespace {
/// a_i * i + a_j * j + c over the query row i and key position j.
struct Linear {
  int64_t i = 0, j = 0, c = 0;
  bool single = false; // a plain index (plus a constant)
};
} // namespace

static std::optional<Linear> linear(const Expr &e, const Labels &labels) {
  switch (e.kind) {
  case Expr::Kind::Const:
    return Linear{0, 0, static_cast<int64_t>(e.value), true};
  case Expr::Kind::Index: {
    Label l = labels[e.pos];
    if (l == Label::I)
      return Linear{1, 0, 0, true};
    if (l == Label::J)
      return Linear{0, 1, 0, true};
    return std::nullopt;
  }
  case Expr::Kind::Input:
    return std::nullopt;
  case Expr::Kind::Op:
    break;
  }
  if (e.is(ExprOp::Cast))
    return linear(*e.args[0], labels);
  if (!e.is(ExprOp::Add) && !e.is(ExprOp::Sub))
    return std::nullopt;
  std::optional<Linear> a = linear(*e.args[0], labels);
  std::optional<Linear> b = linear(*e.args[1], labels);
  if (!a || !b)
    return std::nullopt;
  int64_t sign = e.is(ExprOp::Add) ? 1 : -1;
  bool single = (a->i + a->j == 0 || b->i + b->j == 0) && e.is(ExprOp::Add) &&
                a->c >= 0 && b->c >= 0;
  return Linear{a->i + sign * b->i, a->j + sign * b->j, a->c + sign * b->c,
                single};
}

/// The offset t of a condition that keeps (when `keep` is true) or masks the
/// entries with j - i <= t, or nothing when it is not such a triangle.
static std::optional<int64_t> comparisonTriangle(const Expr &cmp, bool keep,
                                                 const Labels &labels) {
  using P = arith::CmpIPredicate;
  std::optional<Linear> a = linear(*cmp.args[0], labels);
  std::optional<Linear> b = linear(*cmp.args[1], labels);
  if (!a || !b)
    return std::nullopt;
  auto pred = static_cast<P>(cmp.predicate);
  bool isUnsigned =
      pred == P::ult || pred == P::ule || pred == P::ugt || pred == P::uge;
  if (isUnsigned && !(a->single && b->single))
    return std::nullopt;
  // d = a - b = sj * (j - i) + c, compared with 0.
  int64_t di = a->i - b->i, dj = a->j - b->j, c = a->c - b->c;
  if (dj == 0 || di != -dj || (dj != 1 && dj != -1))
    return std::nullopt;
  // Express as (j - i) ? -c with ? in {<, <=, >, >=}.
  bool less, strict;
  switch (pred) {
  case P::slt:
  case P::ult:
    less = true;
    strict = true;
    break;
  case P::sle:
  case P::ule:
    less = true;
    strict = false;
    break;
  case P::sgt:
  case P::ugt:
    less = false;
    strict = true;
    break;
  case P::sge:
  case P::uge:
    less = false;
    strict = false;
    break;
  default:
    return std::nullopt;
  }
  if (dj == -1) { // -(j - i) + c ? 0  <=>  (j - i) ?' c
    less = !less;
    c = -c;
  } else {
    c = -c;
  }
  // Now the condition is (j - i) ? c. Kept set must be j - i <= t.
  if (!keep) {
    less = !less;
    strict = !strict;
  }
  if (!less)
    return std::nullopt;
  return strict ? c - 1 : c;
}

/// Replaces loop indices of a producer's body with the consumer's, through
/// `map` (consumer dims -> producer dims).
static ExprRef remapIndices(const ExprRef &e, AffineMap map) {
  if (e->kind == Expr::Kind::Index) {
    AffineExpr r = map.getResult(e->pos);
    if (auto d = dyn_cast<AffineDimExpr>(r))
      return Expr::index(d.getPosition());
    return Expr::constant(0, e->type);
  }
  if (e->kind != Expr::Kind::Op)
    return e;
  SmallVector<ExprRef, 3> args;
  for (const ExprRef &a : e->args)
    args.push_back(remapIndices(a, map));
  return Expr::make(e->op, std::move(args), e->type, e->predicate);
}

/// The body of an index-only producer of input `pos` (a mask computed from
/// linalg.index), in the consumer's loop dims.
static ExprRef inlineIndexProducer(const Elementwise &ew, unsigned pos,
                                   SetVector<Operation *> &ops) {
  auto [src, map] = lookThroughBroadcast(ew.inputs[pos], ew.maps[pos]);
  std::optional<Elementwise> producer = matchElementwise(src);
  if (!producer || !producer->inputs.empty())
    return nullptr;
  // The map is consumer dims -> producer result dims; the producer's loop
  // dims are its result dims.
  SmallVector<AffineExpr> exprs;
  for (unsigned d = 0; d < producer->rank; ++d)
    exprs.push_back(map.getResult(d));
  ops.insert(producer->op);
  return remapIndices(producer->body, AffineMap::get(map.getNumDims(), 0, exprs,
                                                     map.getContext()));
}

/// What a constant mask says of one entry: kept, masked (with the value an
/// additive mask adds there), or neither (not a mask the raise knows).
struct Entry {
  bool kept;
  double fill = 0.0;
};

/// Enumerates a dense constant input of `ew` whose entries vary only with
/// the query row i and key position j: an i1 constant keeps the entries that
/// are `keepWhen`, a float constant those that are 0 (and masks those at or
/// below kMaskedScore). Returns the triangle offset t when exactly the
/// entries with j - i <= t are kept, with the least negative masked value in
/// `fill`.
static std::optional<int64_t>
constantTriangle(const Elementwise &ew, unsigned pos, const Labels &labels,
                 bool keepWhen, double &fill, SetVector<Operation *> &ops) {
  auto [src, map] = lookThroughBroadcast(ew.inputs[pos], ew.maps[pos]);
  DenseElementsAttr attr;
  if (!matchPattern(src, m_Constant(&attr)) || attr.isSplat())
    return std::nullopt;
  auto type = cast<RankedTensorType>(attr.getType());
  int64_t iDim = -1, jDim = -1;
  for (unsigned s = 0; s < map.getNumResults(); ++s) {
    auto d = dyn_cast<AffineDimExpr>(map.getResult(s));
    Label l = d ? labels[d.getPosition()] : Label::U;
    if (l == Label::I)
      iDim = s;
    else if (l == Label::J)
      jDim = s;
    else if (type.getDimSize(s) != 1)
      return std::nullopt; // varies over batch or heads
  }
  if (iDim < 0 || jDim < 0)
    return std::nullopt;
  int64_t rows = type.getDimSize(iDim), cols = type.getDimSize(jDim);
  SmallVector<int64_t> strides(type.getRank(), 1);
  for (int64_t d = type.getRank() - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * type.getDimSize(d + 1);

  // Read the entries without materialising an attribute for each.
  std::function<std::optional<Entry>(int64_t)> entry;
  Type elt = type.getElementType();
  if (elt.isInteger(1)) {
    auto values = attr.getValues<bool>();
    entry = [values, keepWhen](int64_t k) -> std::optional<Entry> {
      return Entry{values[k] == keepWhen, -INFINITY};
    };
  } else if (isa<FloatType>(elt)) {
    auto values = attr.getValues<APFloat>();
    entry = [values](int64_t k) -> std::optional<Entry> {
      double v = values[k].convertToDouble();
      if (v == 0.0)
        return Entry{true};
      if (v <= kMaskedScore)
        return Entry{false, v};
      return std::nullopt;
    };
  } else {
    return std::nullopt;
  }

  // Row 0 keeps a prefix of length t + 1; every row must then keep exactly
  // j <= i + t.
  int64_t t = -1;
  while (t + 1 < cols) {
    std::optional<Entry> e = entry((t + 1) * strides[jDim]);
    if (!e)
      return std::nullopt;
    if (!e->kept)
      break;
    ++t;
  }
  fill = -INFINITY;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      std::optional<Entry> e = entry(i * strides[iDim] + j * strides[jDim]);
      if (!e || e->kept != (j - i <= t))
        return std::nullopt;
      if (!e->kept)
        fill = std::max(fill, e->fill);
    }
  ops.insert(src.getDefiningOp());
  return t;
}

/// The triangle of a boolean condition of `ew` (keep entries where it is
/// `keep`).
static std::optional<int64_t> boolTriangle(const ExprRef &cond, bool keep,
                                           const Elementwise &ew,
                                           const Labels &labels,
                                           SetVector<Operation *> &ops) {
  if (cond->is(ExprOp::XOrI) && cond->args[1]->isConst() &&
      cond->args[1]->value == 1.0)
    return boolTriangle(cond->args[0], !keep, ew, labels, ops);
  if (cond->is(ExprOp::CmpI))
    return comparisonTriangle(*cond, keep, labels);
  if (cond->kind != Expr::Kind::Input)
    return std::nullopt;
  if (ExprRef inlined = inlineIndexProducer(ew, cond->pos, ops))
    return boolTriangle(inlined, keep, ew, labels, ops);
  if (!cond->type || !cond->type.isInteger(1))
    return std::nullopt;
  double fill;
  return constantTriangle(ew, cond->pos, labels, keep, fill, ops);
}

/// The triangle of an additive mask: 0 on kept entries, very negative on
/// masked ones. `fill` receives the masked value.
static std::optional<int64_t>
additiveTriangle(const ExprRef &m, const Elementwise &ew, const Labels &labels,
                 double &fill, SetVector<Operation *> &ops) {
  if (m->is(ExprOp::Select) && m->args[1]->isConst() && m->args[2]->isConst()) {
    double a = m->args[1]->value, b = m->args[2]->value;
    if (a == 0.0 && b <= kMaskedScore) {
      fill = b;
      return boolTriangle(m->args[0], true, ew, labels, ops);
    }
    if (b == 0.0 && a <= kMaskedScore) {
      fill = a;
      return boolTriangle(m->args[0], false, ew, labels, ops);
    }
    return std::nullopt;
  }
  if (m->kind != Expr::Kind::Input)
    return std::nullopt;
  if (ExprRef inlined = inlineIndexProducer(ew, m->pos, ops))
    return additiveTriangle(inlined, ew, labels, fill, ops);
  return constantTriangle(ew, m->pos, labels, /*keepWhen=*/true, fill, ops);
}

//===----------------------------------------------------------------------===//
// The chain
//===----------------------------------------------------------------------===//

/// Labels of the Q·K^T result: [batch.., I, J] with one batch dim fused (BH)
/// or two (B, H).
static std::optional<Labels> contractionLabels(const Contraction &c) {
  unsigned nb = c.batch.size();
  if (nb > 2 || c.outMap.getNumResults() != nb + 2)
    return std::nullopt;
  auto dimAt = [&](unsigned p) {
    return cast<AffineDimExpr>(c.outMap.getResult(p)).getPosition();
  };
  if (dimAt(nb) != c.m || dimAt(nb + 1) != c.n)
    return std::nullopt;
  Labels labels;
  if (nb == 1)
    labels.push_back(Label::BH);
  if (nb == 2)
    labels.append({Label::B, Label::H});
  labels.append({Label::I, Label::J});
  return labels;
}

/// Whether the I and J extents of an op's result are the same SSA value.
static bool sameDynamicExtents(Operation *op, const Labels &labels) {
  auto dst = dyn_cast<DestinationStyleOpInterface>(op);
  if (!dst || dst.getNumDpsInits() != 1)
    return false;
  auto empty = dst.getDpsInitOperand(0)->get().getDefiningOp<tensor::EmptyOp>();
  if (!empty)
    return false;
  int64_t i = llvm::find(labels, Label::I) - labels.begin();
  int64_t j = llvm::find(labels, Label::J) - labels.begin();
  auto type = empty.getType();
  if (!type.isDynamicDim(i) || !type.isDynamicDim(j))
    return false;
  return empty.getDynamicSize(i) == empty.getDynamicSize(j);
}

std::optional<ScoreChain> skipattn::attn::raise::matchScoreChain(Value p) {
  SmallVector<Step> steps;
  std::optional<Contraction> qk = collectSteps(p, steps);
  if (!qk)
    return std::nullopt;
  std::optional<Labels> labels = contractionLabels(*qk);
  if (!labels)
    return std::nullopt;

  ScoreChain chain;
  chain.qk = *qk;
  chain.qkLabels = *labels;
  chain.ops.insert(qk->op);

  // Scales and masks, innermost first. A non-causal additive mask must not be
  // scaled afterwards; the fills of masks are checked against the scales
  // that follow them at the end.
  struct PendingFill {
    double fill;
    double scaleBefore;
  };
  SmallVector<PendingFill> fills;
  bool additiveMask = false;
  for (Step &step : steps) {
    chain.ops.insert(step.op);
    if (step.kind == Step::Kind::Reshape) {
      std::optional<Labels> next = reshapeLabels(step.op, *labels, true);
      if (!next || next->size() < 2 || (*next)[next->size() - 2] != Label::I ||
          next->back() != Label::J)
        return std::nullopt;
      labels = next;
      continue;
    }
    if (step.kind == Step::Kind::Softmax)
      continue;
    const Elementwise &ew = *step.ew;
    SmallVector<Transform> transforms;
    if (failed(decompose(ew.body, step.scoreInput, transforms)))
      return std::nullopt;
    for (const Transform &t : llvm::reverse(transforms)) {
      switch (t.kind) {
      case Transform::Kind::Scale:
        if (!(t.factor > 0.0) || (additiveMask && t.factor != 1.0))
          return std::nullopt;
        chain.scale *= t.factor;
        break;
      case Transform::Kind::Add: {
        if (t.expr->isConst())
          break; // A constant shift does not change the softmax.
        double fill = 0.0;
        if (std::optional<int64_t> tri =
                additiveTriangle(t.expr, ew, *labels, fill, chain.ops)) {
          chain.triangles.push_back(*tri);
          fills.push_back({fill, chain.scale});
          break;
        }
        if (t.expr->kind != Expr::Kind::Input || chain.mask)
          return std::nullopt;
        auto [src, map] =
            std::make_pair(ew.inputs[t.expr->pos], ew.maps[t.expr->pos]);
        MaskOperand mask;
        mask.value = src;
        for (AffineExpr e : map.getResults()) {
          auto d = dyn_cast<AffineDimExpr>(e);
          mask.labels.push_back(d ? (*labels)[d.getPosition()] : Label::U);
        }
        chain.mask = mask;
        additiveMask = true;
        break;
      }
      case Transform::Kind::Select: {
        if (!t.fill->isConst())
          return std::nullopt;
        double fill = t.fill->value;
        if (std::optional<int64_t> tri =
                boolTriangle(t.expr, t.keepWhenTrue, ew, *labels, chain.ops)) {
          if (fill > kMaskedScore)
            return std::nullopt;
          chain.triangles.push_back(*tri);
          fills.push_back({fill, chain.scale});
          break;
        }
        // Any other boolean mask keeps the -inf semantics exactly only with
        // a -inf fill.
        if (chain.mask || !(std::isinf(fill) && fill < 0))
          return std::nullopt;
        ExprRef cond = t.expr;
        bool keep = t.keepWhenTrue;
        if (cond->is(ExprOp::XOrI) && cond->args[1]->isConst() &&
            cond->args[1]->value == 1.0) {
          cond = cond->args[0];
          keep = !keep;
        }
        if (cond->kind != Expr::Kind::Input)
          return std::nullopt;
        MaskOperand mask;
        mask.value = ew.inputs[cond->pos];
        mask.isBool = true;
        mask.negate = !keep;
        for (AffineExpr e : ew.maps[cond->pos].getResults()) {
          auto d = dyn_cast<AffineDimExpr>(e);
          mask.labels.push_back(d ? (*labels)[d.getPosition()] : Label::U);
        }
        chain.mask = mask;
        break;
      }
      }
    }
    if (!chain.triangles.empty() && !chain.squareWhenDynamic)
      chain.squareWhenDynamic = sameDynamicExtents(step.op, *labels);
  }
  // The fill of each triangle, after the scales that follow it.
  chain.triangleFill = -INFINITY;
  for (const PendingFill &f : fills) {
    double effective = f.fill * (chain.scale / f.scaleBefore);
    if (!(effective <= kMaskedScore))
      return std::nullopt;
    chain.triangleFill = std::max(chain.triangleFill, effective);
  }
  chain.pLabels = *labels;
  return chain;
}
