//===- RaiseMasks.cpp - which masks are the causal triangle ---------------===//
//
// A mask term keeps the scores on a set of (query i, key j) positions. It is
// a causal-style triangle when that set is exactly {j - i <= t}, whatever
// computes it: index comparisons (iota, linalg.index, arange), a tril or triu
// constant, a select or an additive 0 / -inf (or large negative) tensor, a
// boolean turned into a float and compared again. Two ways to decide:
//
//   symbolic  every comparison in the term compares linear functions of i
//             and j; the term then takes one value on each side of the line
//             j - i = t, and those two values are folded exactly (works for
//             dynamic lengths);
//   grid      for static lengths, the term is evaluated at every (i, j)
//             (constants read from their attributes) and the kept set is
//             compared with a triangle.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::attn::raise;

/// A masked score must be at most this after the scales that follow it, so
/// that exp() of it is exactly 0 in f32 (and f64).
static constexpr double kMaskedScore = -1.0e4;

/// The most entries the grid evaluates.
static constexpr int64_t kMaxGrid = int64_t(1) << 20;

namespace {
/// a_i * i + a_j * j + c.
struct Linear {
  int64_t ai = 0, aj = 0;
  double c = 0;
  bool nonNegative = true; // every term is >= 0
};

/// A term over the two sides of the line j - i = t: `inside` where
/// j - i <= t, `outside` elsewhere. Without `t` it is a constant.
struct TwoValued {
  std::optional<int64_t> t;
  double inside = 0, outside = 0;
};
} // namespace

//===----------------------------------------------------------------------===//
// Symbolic
//===----------------------------------------------------------------------===//

static std::optional<Linear>
linearAffine(AffineExpr e, std::optional<unsigned> i, unsigned j) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return Linear{0, 0, static_cast<double>(c.getValue()), c.getValue() >= 0};
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    if (i && d.getPosition() == *i)
      return Linear{1, 0, 0, true};
    if (d.getPosition() == j)
      return Linear{0, 1, 0, true};
    return std::nullopt;
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return std::nullopt;
  std::optional<Linear> l = linearAffine(bin.getLHS(), i, j);
  std::optional<Linear> r = linearAffine(bin.getRHS(), i, j);
  if (!l || !r)
    return std::nullopt;
  if (e.getKind() == AffineExprKind::Add)
    return Linear{l->ai + r->ai, l->aj + r->aj, l->c + r->c,
                  l->nonNegative && r->nonNegative};
  if (e.getKind() == AffineExprKind::Mul && r->ai == 0 && r->aj == 0) {
    auto k = static_cast<int64_t>(r->c);
    return Linear{l->ai * k, l->aj * k, l->c * r->c,
                  l->nonNegative && r->c >= 0};
  }
  return std::nullopt;
}

static std::optional<Linear> linearOf(Describer &d, Node *n,
                                      std::optional<unsigned> i, unsigned j) {
  Node *l = d.look(n);
  switch (l->kind) {
  case Node::Kind::Const:
    return Linear{0, 0, l->value, l->value >= 0};
  case Node::Kind::Index:
    return linearAffine(l->index, i, j);
  case Node::Kind::Op:
    break;
  default:
    return std::nullopt;
  }
  if (l->is(ExprOp::IntCast) || l->is(ExprOp::IToF))
    return linearOf(d, l->args[0], i, j);
  if (!l->is(ExprOp::Add) && !l->is(ExprOp::Sub))
    return std::nullopt;
  std::optional<Linear> a = linearOf(d, l->args[0], i, j);
  std::optional<Linear> b = linearOf(d, l->args[1], i, j);
  if (!a || !b)
    return std::nullopt;
  if (l->is(ExprOp::Add))
    return Linear{a->ai + b->ai, a->aj + b->aj, a->c + b->c,
                  a->nonNegative && b->nonNegative};
  return Linear{a->ai - b->ai, a->aj - b->aj, a->c - b->c, false};
}

/// cmp(lhs, rhs) as a half-plane: (t, polarity) with
/// cmp <=> ((j - i <= t) == polarity).
static std::optional<std::pair<int64_t, bool>>
halfPlane(Describer &d, Node *cmp, std::optional<unsigned> i, unsigned j) {
  std::optional<Linear> a = linearOf(d, cmp->args[0], i, j);
  std::optional<Linear> b = linearOf(d, cmp->args[1], i, j);
  if (!a || !b)
    return std::nullopt;
  bool less, strict, isUnsigned = false;
  if (cmp->is(ExprOp::CmpI)) {
    using P = arith::CmpIPredicate;
    switch (static_cast<P>(cmp->predicate)) {
    case P::ult:
    case P::ule:
    case P::ugt:
    case P::uge:
      isUnsigned = true;
      break;
    default:
      break;
    }
    switch (static_cast<P>(cmp->predicate)) {
    case P::slt:
    case P::ult:
      less = true, strict = true;
      break;
    case P::sle:
    case P::ule:
      less = true, strict = false;
      break;
    case P::sgt:
    case P::ugt:
      less = false, strict = true;
      break;
    case P::sge:
    case P::uge:
      less = false, strict = false;
      break;
    default:
      return std::nullopt;
    }
  } else {
    using P = arith::CmpFPredicate;
    switch (static_cast<P>(cmp->predicate)) {
    case P::OLT:
    case P::ULT:
      less = true, strict = true;
      break;
    case P::OLE:
    case P::ULE:
      less = true, strict = false;
      break;
    case P::OGT:
    case P::UGT:
      less = false, strict = true;
      break;
    case P::OGE:
    case P::UGE:
      less = false, strict = false;
      break;
    default:
      return std::nullopt;
    }
  }
  // Unsigned comparisons agree with signed ones on non-negative sides.
  if (isUnsigned && !(a->nonNegative && b->nonNegative))
    return std::nullopt;
  // a - b = s * (j - i) + c, compared with 0.
  int64_t di = a->ai - b->ai, dj = a->aj - b->aj;
  double c = a->c - b->c;
  if (!i && dj != 0)
    di = -dj; // Sq = 1: i is always 0
  if (dj == 0 || di != -dj || (dj != 1 && dj != -1))
    return std::nullopt;
  // s * u + c ? 0  <=>  u ?' x, with u = j - i.
  double x = -c * dj;
  if (dj == -1)
    less = !less;
  if (!less) // u > x <=> !(u <= x); u >= x <=> !(u < x)
    return std::make_pair(
        static_cast<int64_t>(strict ? std::floor(x) : std::ceil(x) - 1), false);
  return std::make_pair(
      static_cast<int64_t>(strict ? std::ceil(x) - 1 : std::floor(x)), true);
}

static std::optional<TwoValued> twoValued(Describer &d, Node *n,
                                          std::optional<unsigned> i, unsigned j,
                                          unsigned depth = 0) {
  if (depth > 32)
    return std::nullopt;
  Node *l = d.look(n);
  if (l->isConst())
    return TwoValued{std::nullopt, l->value, l->value};
  if (l->kind != Node::Kind::Op)
    return std::nullopt;
  if (l->is(ExprOp::CmpI) || l->is(ExprOp::CmpF)) {
    if (auto hp = halfPlane(d, l, i, j))
      return TwoValued{hp->first, hp->second ? 1.0 : 0.0,
                       hp->second ? 0.0 : 1.0};
  }
  SmallVector<TwoValued, 3> args;
  std::optional<int64_t> t;
  for (Node *a : l->args) {
    std::optional<TwoValued> v = twoValued(d, a, i, j, depth + 1);
    if (!v)
      return std::nullopt;
    if (v->t) {
      if (t && *t != *v->t)
        return std::nullopt;
      t = v->t;
    }
    args.push_back(*v);
  }
  SmallVector<double, 3> in, out;
  for (const TwoValued &a : args) {
    in.push_back(a.inside);
    out.push_back(a.outside);
  }
  std::optional<double> vin = foldScalar(l->op, l->predicate, in, l->type);
  std::optional<double> vout = foldScalar(l->op, l->predicate, out, l->type);
  if (!vin || !vout)
    return std::nullopt;
  return TwoValued{t, *vin, *vout};
}

//===----------------------------------------------------------------------===//
// Grid
//===----------------------------------------------------------------------===//

static std::optional<int64_t> evalAffine(AffineExpr e,
                                         ArrayRef<int64_t> values) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return c.getValue();
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    if (d.getPosition() >= values.size() || values[d.getPosition()] < 0)
      return std::nullopt;
    return values[d.getPosition()];
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return std::nullopt;
  std::optional<int64_t> l = evalAffine(bin.getLHS(), values);
  std::optional<int64_t> r = evalAffine(bin.getRHS(), values);
  if (!l || !r)
    return std::nullopt;
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return *l + *r;
  case AffineExprKind::Mul:
    return *l * *r;
  case AffineExprKind::FloorDiv:
    if (*r <= 0)
      return std::nullopt;
    return *l >= 0 ? *l / *r : -((-*l + *r - 1) / *r);
  case AffineExprKind::CeilDiv:
    if (*r <= 0)
      return std::nullopt;
    return *l >= 0 ? (*l + *r - 1) / *r : -(-*l / *r);
  case AffineExprKind::Mod:
    if (*r <= 0)
      return std::nullopt;
    return ((*l % *r) + *r) % *r;
  default:
    return std::nullopt;
  }
}

namespace {
/// Evaluates a node at one point; constants are read from their attributes.
class GridEvaluator {
public:
  explicit GridEvaluator(Describer &d) : d(d) {}

  std::optional<double> eval(Node *n, ArrayRef<int64_t> values) {
    Node *l = d.look(n);
    switch (l->kind) {
    case Node::Kind::Const:
      return l->value;
    case Node::Kind::Index:
      if (std::optional<int64_t> v = evalAffine(l->index, values))
        return static_cast<double>(*v);
      return std::nullopt;
    case Node::Kind::Read:
      return readConstant(l, values);
    case Node::Kind::Op: {
      SmallVector<double, 3> args;
      for (Node *a : l->args) {
        std::optional<double> v = eval(a, values);
        if (!v)
          return std::nullopt;
        args.push_back(*v);
      }
      return foldScalar(l->op, l->predicate, args, l->type);
    }
    case Node::Kind::Reduce:
      return std::nullopt;
    }
    return std::nullopt;
  }

private:
  std::optional<double> readConstant(Node *read, ArrayRef<int64_t> values) {
    if (read->readIdx().empty())
      return std::nullopt;
    DenseElementsAttr attr;
    if (!matchPattern(read->readValue(), m_Constant(&attr)))
      return std::nullopt;
    auto type = cast<RankedTensorType>(attr.getType());
    int64_t flat = 0;
    for (auto [k, e] : llvm::enumerate(read->readIdx())) {
      std::optional<int64_t> v = evalAffine(e, values);
      if (!v || *v < 0 || *v >= type.getDimSize(k))
        return std::nullopt;
      flat = flat * type.getDimSize(k) + *v;
    }
    Type elt = type.getElementType();
    if (elt.isInteger(1))
      return attr.getValues<bool>()[flat] ? 1.0 : 0.0;
    if (isa<FloatType>(elt))
      return attr.getValues<APFloat>()[flat].convertToDouble();
    if (isa<IntegerType>(elt))
      return static_cast<double>(attr.getValues<APInt>()[flat].getSExtValue());
    return std::nullopt;
  }

  Describer &d;
};
} // namespace

/// Whether each entry (i, j) is kept, per the term; `fill` gets the least
/// negative masked value.
static std::optional<int64_t> gridTriangle(Describer &d, const MaskTerm &term,
                                           std::optional<unsigned> i,
                                           unsigned j, double &fill) {
  int64_t rows = i ? d.var(*i).extent : 1, cols = d.var(j).extent;
  if (ShapedType::isDynamic(rows) || ShapedType::isDynamic(cols) ||
      rows * cols > kMaxGrid || rows <= 0 || cols <= 0)
    return std::nullopt;
  GridEvaluator eval(d);
  std::optional<double> fillValue;
  if (term.kind == MaskTerm::Kind::Select) {
    Node *f = d.look(term.fill);
    if (!f->isConst())
      return std::nullopt;
    fillValue = f->value * term.scaleAfter;
    if (!(*fillValue <= kMaskedScore))
      return std::nullopt;
  }
  SmallVector<int64_t> values(d.numVars(), -1);
  fill = -INFINITY;
  std::optional<int64_t> t;
  for (int64_t r = 0; r < rows; ++r) {
    if (i)
      values[*i] = r;
    // The kept set of this row must be a prefix.
    int64_t keptEnd = -1;
    bool ended = false;
    for (int64_t c = 0; c < cols; ++c) {
      values[j] = c;
      std::optional<double> v = eval.eval(term.expr, values);
      if (!v)
        return std::nullopt;
      bool kept;
      if (term.kind == MaskTerm::Kind::Select) {
        kept = (*v != 0.0) == term.keepWhen;
      } else if (*v == 0.0) {
        kept = true;
      } else if (*v * term.scaleAfter <= kMaskedScore) {
        kept = false;
        fill = std::max(fill, *v * term.scaleAfter);
      } else {
        return std::nullopt;
      }
      if (kept && ended)
        return std::nullopt;
      if (kept)
        keptEnd = c;
      else
        ended = true;
    }
    // Row r keeps j <= r + t: a row that keeps nothing has r + t < 0, a row
    // that keeps everything has r + t >= cols - 1.
    if (keptEnd >= 0 && keptEnd < cols - 1) {
      if (t && *t != keptEnd - r)
        return std::nullopt;
      t = keptEnd - r;
    }
  }
  if (!t) {
    return std::nullopt; // nothing or everything masked: not a triangle
  }
  // Check the rows that kept nothing or everything against t.
  for (int64_t r = 0; r < rows; ++r) {
    if (i)
      values[*i] = r;
    int64_t last = std::min(cols - 1, r + *t);
    for (int64_t c : {int64_t(0), cols - 1}) {
      values[j] = c;
      std::optional<double> v = eval.eval(term.expr, values);
      if (!v)
        return std::nullopt;
      bool kept = term.kind == MaskTerm::Kind::Select
                      ? (*v != 0.0) == term.keepWhen
                      : *v == 0.0;
      if (kept != (c <= last))
        return std::nullopt;
    }
  }
  if (fillValue)
    fill = *fillValue;
  return t;
}

//===----------------------------------------------------------------------===//
// Entry
//===----------------------------------------------------------------------===//

std::optional<Triangle>
skipattn::attn::raise::matchTriangle(Describer &d, const MaskTerm &term,
                                     std::optional<unsigned> i, unsigned j) {
  // Only i and j may vary.
  for (int v = term.expr->free.find_first(); v >= 0;
       v = term.expr->free.find_next(v))
    if (static_cast<unsigned>(v) != j && (!i || static_cast<unsigned>(v) != *i))
      return std::nullopt;

  if (std::optional<TwoValued> tv = twoValued(d, term.expr, i, j);
      tv && tv->t) {
    if (term.kind == MaskTerm::Kind::Select) {
      Node *f = d.look(term.fill);
      double fill = f->isConst() ? f->value * term.scaleAfter : 0.0;
      bool keptInside = (tv->inside != 0.0) == term.keepWhen;
      bool keptOutside = (tv->outside != 0.0) == term.keepWhen;
      if (f->isConst() && fill <= kMaskedScore && keptInside && !keptOutside)
        return Triangle{*tv->t, fill};
    } else {
      double out = tv->outside * term.scaleAfter;
      if (tv->inside == 0.0 && out <= kMaskedScore)
        return Triangle{*tv->t, out};
    }
  }
  double fill;
  if (std::optional<int64_t> t = gridTriangle(d, term, i, j, fill))
    return Triangle{*t, fill};
  return std::nullopt;
}
