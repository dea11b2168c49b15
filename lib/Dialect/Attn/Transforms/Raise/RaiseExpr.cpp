//===- RaiseExpr.cpp - nodes, index arithmetic and equality ---------------===//
//
// The node store of a description (RaiseExpr.h): constructors that fold
// constants the way the program would (rounded to the node's type), index
// expressions simplified with the extents of the variables, and structural
// equality modulo the names of bound variables, which is what lets the
// matchers recognise one subexpression that fusion has duplicated.
//
//===----------------------------------------------------------------------===//

#include "RaiseExpr.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AffineExprVisitor.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/APFloat.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

std::optional<double> skipattn::attn::raise::attrValue(Attribute attr) {
  if (auto f = dyn_cast<FloatAttr>(attr))
    return f.getValueAsDouble();
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    if (i.getType().isInteger(1))
      return i.getValue().isZero() ? 0.0 : 1.0;
    if (i.getType().isIndex() || i.getValue().getBitWidth() <= 64)
      return static_cast<double>(i.getValue().getSExtValue());
    return std::nullopt;
  }
  if (auto d = dyn_cast<DenseElementsAttr>(attr); d && d.isSplat())
    return attrValue(d.getSplatValue<Attribute>());
  return std::nullopt;
}

SmallVector<unsigned> skipattn::attn::raise::varsOf(AffineExpr e) {
  SmallVector<unsigned> out;
  e.walk([&](AffineExpr x) {
    if (auto d = dyn_cast<AffineDimExpr>(x))
      if (!llvm::is_contained(out, d.getPosition()))
        out.push_back(d.getPosition());
  });
  return out;
}

/// `value` rounded to `type` as the program would hold it.
static double roundTo(double value, Type type) {
  if (auto f = dyn_cast_or_null<FloatType>(type)) {
    if (std::isnan(value) || std::isinf(value))
      return value;
    llvm::APFloat a(value);
    bool lost = false;
    a.convert(f.getFloatSemantics(), llvm::APFloat::rmNearestTiesToEven, &lost);
    return a.convertToDouble();
  }
  if (type && type.isInteger(1))
    return value != 0.0 ? 1.0 : 0.0;
  return value;
}

//===----------------------------------------------------------------------===//
// Variables and nodes
//===----------------------------------------------------------------------===//

unsigned Describer::newVar(int64_t extent, Value source, unsigned dim) {
  vars.push_back({extent, source, dim});
  return vars.size() - 1;
}

SmallVector<AffineExpr> Describer::freeVarsOf(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<AffineExpr> idx;
  for (int64_t d = 0; d < type.getRank(); ++d)
    idx.push_back(getAffineDimExpr(newVar(type.getDimSize(d), v, d), ctx));
  return idx;
}

Node *Describer::newNode(Node::Kind kind, Type type) {
  if (nodes.size() >= budget)
    overBudget = true;
  nodes.emplace_back();
  Node *n = &nodes.back();
  n->kind = kind;
  n->type = type;
  return n;
}

void Describer::addFree(Node *n, AffineExpr e) {
  for (unsigned v : varsOf(e)) {
    if (n->free.size() <= v)
      n->free.resize(v + 1);
    n->free.set(v);
  }
}

static void unionFree(llvm::SmallBitVector &into,
                      const llvm::SmallBitVector &from) {
  if (into.size() < from.size())
    into.resize(from.size());
  for (int v = from.find_first(); v >= 0; v = from.find_next(v))
    into.set(v);
}

Node *Describer::makeConst(double value, Type type) {
  Node *n = newNode(Node::Kind::Const, type);
  n->value = roundTo(value, type);
  return n;
}

Node *Describer::makeIndex(AffineExpr e) {
  e = simplify(e);
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return makeConst(c.getValue(), IndexType::get(ctx));
  Node *n = newNode(Node::Kind::Index, IndexType::get(ctx));
  n->index = e;
  addFree(n, e);
  return n;
}

Node *Describer::makeReduce(Node::Reduction kind, ArrayRef<unsigned> bound,
                            Node *body, Type type) {
  Node *n = newNode(Node::Kind::Reduce, type);
  n->reduction = kind;
  n->bound.assign(bound.begin(), bound.end());
  n->args.push_back(body);
  unionFree(n->free, body->free);
  for (unsigned v : bound)
    if (v < n->free.size())
      n->free.reset(v);
  return n;
}

/// Folds a comparison of constants.
static bool compare(ExprOp op, int64_t predicate, double a, double b) {
  if (op == ExprOp::CmpF) {
    using P = arith::CmpFPredicate;
    bool unordered = std::isnan(a) || std::isnan(b);
    switch (static_cast<P>(predicate)) {
    case P::OEQ:
      return !unordered && a == b;
    case P::UEQ:
      return unordered || a == b;
    case P::ONE:
      return !unordered && a != b;
    case P::UNE:
      return unordered || a != b;
    case P::OLT:
      return !unordered && a < b;
    case P::ULT:
      return unordered || a < b;
    case P::OLE:
      return !unordered && a <= b;
    case P::ULE:
      return unordered || a <= b;
    case P::OGT:
      return !unordered && a > b;
    case P::UGT:
      return unordered || a > b;
    case P::OGE:
      return !unordered && a >= b;
    case P::UGE:
      return unordered || a >= b;
    case P::ORD:
      return !unordered;
    case P::UNO:
      return unordered;
    case P::AlwaysTrue:
      return true;
    case P::AlwaysFalse:
      return false;
    }
    return false;
  }
  using P = arith::CmpIPredicate;
  switch (static_cast<P>(predicate)) {
  case P::eq:
    return a == b;
  case P::ne:
    return a != b;
  case P::slt:
  case P::ult:
    return a < b;
  case P::sle:
  case P::ule:
    return a <= b;
  case P::sgt:
  case P::ugt:
    return a > b;
  case P::sge:
  case P::uge:
    return a >= b;
  }
  return false;
}

/// The value of `op` on constants, or nothing.
static std::optional<double> fold(ExprOp op, int64_t predicate,
                                  ArrayRef<double> a) {
  // Every op folded here takes one or two operands.
  bool unary = op == ExprOp::Neg || op == ExprOp::Exp || op == ExprOp::Exp2 ||
               op == ExprOp::Sqrt || op == ExprOp::Rsqrt ||
               op == ExprOp::ExtF || op == ExprOp::TruncF ||
               op == ExprOp::IToF || op == ExprOp::IntCast ||
               op == ExprOp::FToI;
  if (a.size() != (unary ? 1u : 2u))
    return std::nullopt;
  switch (op) {
  case ExprOp::Add:
    return a[0] + a[1];
  case ExprOp::Sub:
    return a[0] - a[1];
  case ExprOp::Mul:
    return a[0] * a[1];
  case ExprOp::Div:
    return a[0] / a[1];
  case ExprOp::Max:
    return std::max(a[0], a[1]);
  case ExprOp::Min:
    return std::min(a[0], a[1]);
  case ExprOp::Neg:
    return -a[0];
  case ExprOp::Exp:
    return std::exp(a[0]);
  case ExprOp::Exp2:
    return std::exp2(a[0]);
  case ExprOp::Sqrt:
    return std::sqrt(a[0]);
  case ExprOp::Rsqrt:
    return 1.0 / std::sqrt(a[0]);
  case ExprOp::ExtF:
  case ExprOp::TruncF:
  case ExprOp::IToF:
  case ExprOp::IntCast:
    return a[0];
  case ExprOp::FToI:
    return std::trunc(a[0]);
  case ExprOp::CmpF:
  case ExprOp::CmpI:
    return compare(op, predicate, a[0], a[1]) ? 1.0 : 0.0;
  case ExprOp::AndI:
    return static_cast<double>(static_cast<int64_t>(a[0]) &
                               static_cast<int64_t>(a[1]));
  case ExprOp::OrI:
    return static_cast<double>(static_cast<int64_t>(a[0]) |
                               static_cast<int64_t>(a[1]));
  case ExprOp::XOrI:
    return static_cast<double>(static_cast<int64_t>(a[0]) ^
                               static_cast<int64_t>(a[1]));
  default:
    return std::nullopt;
  }
}

std::optional<double> skipattn::attn::raise::foldScalar(ExprOp op,
                                                        int64_t predicate,
                                                        ArrayRef<double> args,
                                                        Type type) {
  if (op == ExprOp::Select)
    return args[0] != 0.0 ? args[1] : args[2];
  std::optional<double> v = fold(op, predicate, args);
  if (!v)
    return std::nullopt;
  return roundTo(*v, type);
}

Node *Describer::makeOp(ExprOp op, ArrayRef<Node *> args, Type type,
                        int64_t predicate, Operation *scalarOp) {
  // A select on a known condition is one of its arms.
  if (op == ExprOp::Select && args[0]->isConst())
    return args[0]->value != 0.0 ? args[1] : args[2];
  if (llvm::all_of(args, [](Node *a) { return a->isConst(); })) {
    SmallVector<double> values;
    for (Node *a : args)
      values.push_back(a->value);
    if (std::optional<double> v = fold(op, predicate, values))
      return makeConst(*v, type);
  }
  // Identities that canonicalization may or may not have applied: x * 1,
  // x / 1, x + 0, x - 0 and casts to the same type.
  auto sameType = [&](Node *a) { return a->type == type; };
  auto isValue = [](Node *a, double v) {
    return a->isConst() && a->value == v;
  };
  if (op == ExprOp::Mul && isValue(args[1], 1.0) && sameType(args[0]))
    return args[0];
  if (op == ExprOp::Mul && isValue(args[0], 1.0) && sameType(args[1]))
    return args[1];
  if ((op == ExprOp::Div || op == ExprOp::Sub) && sameType(args[0]) &&
      isValue(args[1], op == ExprOp::Div ? 1.0 : 0.0))
    return args[0];
  if (op == ExprOp::Add && isValue(args[1], 0.0) && sameType(args[0]))
    return args[0];
  if (op == ExprOp::Add && isValue(args[0], 0.0) && sameType(args[1]))
    return args[1];
  if ((op == ExprOp::ExtF || op == ExprOp::TruncF) && sameType(args[0]))
    return args[0];

  Node *n = newNode(Node::Kind::Op, type);
  n->op = op;
  n->predicate = predicate;
  n->scalarOp = scalarOp;
  n->args.assign(args.begin(), args.end());
  for (Node *a : args)
    unionFree(n->free, a->free);
  return n;
}

Node *Describer::look(Node *n) {
  if (n->kind != Node::Kind::Read)
    return n;
  if (!n->expanded) {
    n->expanded = true;
    n->def = overBudget ? nullptr : expand(n);
  }
  return n->def ? n->def : n;
}

Node *Describer::stripCasts(Node *n) {
  while (true) {
    Node *l = look(n);
    if (!(l->is(ExprOp::ExtF) || l->is(ExprOp::TruncF)))
      return n;
    n = l->args[0];
  }
}

void skipattn::attn::raise::flattenProduct(Describer &d, Node *n,
                                           SmallVectorImpl<Node *> &factors) {
  // Only the products of this payload: a factor that is a tensor keeps its
  // Read, so that its views stay visible.
  if (n->is(ExprOp::Mul)) {
    flattenProduct(d, n->args[0], factors);
    flattenProduct(d, n->args[1], factors);
    return;
  }
  if (n->is(ExprOp::Div) && n->args[1]->isConst() && n->args[1]->value != 0.0) {
    flattenProduct(d, n->args[0], factors);
    factors.push_back(d.makeConst(1.0 / n->args[1]->value, n->args[1]->type));
    return;
  }
  factors.push_back(n);
}

//===----------------------------------------------------------------------===//
// Index arithmetic
//===----------------------------------------------------------------------===//

std::optional<std::pair<int64_t, int64_t>> Describer::range(AffineExpr e) {
  using R = std::optional<std::pair<int64_t, int64_t>>;
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return std::make_pair(c.getValue(), c.getValue());
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    if (d.getPosition() >= vars.size())
      return std::nullopt;
    int64_t ext = vars[d.getPosition()].extent;
    if (ShapedType::isDynamic(ext) || ext <= 0)
      return std::nullopt;
    return std::make_pair<int64_t, int64_t>(0, ext - 1);
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return std::nullopt;
  R l = range(bin.getLHS());
  R r = range(bin.getRHS());
  switch (e.getKind()) {
  case AffineExprKind::Add:
    if (!l || !r)
      return std::nullopt;
    return std::make_pair(l->first + r->first, l->second + r->second);
  case AffineExprKind::Mul: {
    if (!l || !r)
      return std::nullopt;
    int64_t p[4] = {l->first * r->first, l->first * r->second,
                    l->second * r->first, l->second * r->second};
    return std::make_pair(*std::min_element(p, p + 4),
                          *std::max_element(p, p + 4));
  }
  case AffineExprKind::FloorDiv: {
    if (!l || !r || r->first != r->second || r->first <= 0)
      return std::nullopt;
    int64_t c = r->first;
    auto fdiv = [c](int64_t x) { return x >= 0 ? x / c : -((-x + c - 1) / c); };
    return std::make_pair(fdiv(l->first), fdiv(l->second));
  }
  case AffineExprKind::Mod: {
    if (!r || r->first != r->second || r->first <= 0)
      return std::nullopt;
    if (l && l->first >= 0 && l->second < r->first)
      return l;
    return std::make_pair<int64_t, int64_t>(0, r->first - 1);
  }
  default:
    return std::nullopt;
  }
}

namespace {
/// A sum of coefficient * atom terms and a constant.
struct Terms {
  SmallVector<std::pair<int64_t, AffineExpr>> terms;
  int64_t constant = 0;
};
} // namespace

static void collectTerms(AffineExpr e, int64_t coef, Terms &out) {
  if (auto c = dyn_cast<AffineConstantExpr>(e)) {
    out.constant += coef * c.getValue();
    return;
  }
  if (e.getKind() == AffineExprKind::Add) {
    auto bin = cast<AffineBinaryOpExpr>(e);
    collectTerms(bin.getLHS(), coef, out);
    collectTerms(bin.getRHS(), coef, out);
    return;
  }
  if (e.getKind() == AffineExprKind::Mul) {
    auto bin = cast<AffineBinaryOpExpr>(e);
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getRHS())) {
      collectTerms(bin.getLHS(), coef * c.getValue(), out);
      return;
    }
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getLHS())) {
      collectTerms(bin.getRHS(), coef * c.getValue(), out);
      return;
    }
  }
  out.terms.push_back({coef, e});
}

static AffineExpr sumTerms(ArrayRef<std::pair<int64_t, AffineExpr>> terms,
                           int64_t constant, MLIRContext *ctx) {
  AffineExpr e = getAffineConstantExpr(constant, ctx);
  for (auto [coef, atom] : terms)
    e = e + atom * coef;
  return e;
}

AffineExpr Describer::simplify(AffineExpr e) {
  // A variable of extent 1 is always 0.
  bool hasUnit = false;
  e.walk([&](AffineExpr x) {
    if (auto d = dyn_cast<AffineDimExpr>(x))
      hasUnit |=
          d.getPosition() < vars.size() && vars[d.getPosition()].extent == 1;
  });
  if (hasUnit) {
    SmallVector<AffineExpr> repl;
    for (unsigned v = 0; v < vars.size(); ++v)
      repl.push_back(vars[v].extent == 1 ? getAffineConstantExpr(0, ctx)
                                         : getAffineDimExpr(v, ctx));
    e = e.replaceDims(repl);
  }
  e = simplifyAffineExpr(e, std::max<unsigned>(vars.size(), 1), 0);
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return e;
  AffineExpr l = simplify(bin.getLHS());
  AffineExpr r = simplify(bin.getRHS());
  auto c = dyn_cast<AffineConstantExpr>(r);
  bool divOrMod = e.getKind() == AffineExprKind::FloorDiv ||
                  e.getKind() == AffineExprKind::Mod;
  if (!divOrMod || !c || c.getValue() <= 0) {
    AffineExpr out = e.getKind() == AffineExprKind::Add        ? l + r
                     : e.getKind() == AffineExprKind::Mul      ? l * r
                     : e.getKind() == AffineExprKind::FloorDiv ? l.floorDiv(r)
                     : e.getKind() == AffineExprKind::CeilDiv  ? l.ceilDiv(r)
                                                               : l % r;
    return simplifyAffineExpr(out, std::max<unsigned>(vars.size(), 1), 0);
  }
  // With g dividing c and lhs = g * a + rem, 0 <= rem < g:
  //   lhs floordiv c = a floordiv (c / g)
  //   lhs mod c      = (a mod (c / g)) * g + rem
  // (g = c is the plain case). Multiples of c vanish from a mod.
  int64_t div = c.getValue();
  bool isDiv = e.getKind() == AffineExprKind::FloorDiv;
  Terms t;
  collectTerms(l, 1, t);
  unsigned numDims = std::max<unsigned>(vars.size(), 1);
  SmallVector<int64_t> divisors;
  for (int64_t g = 1; g * g <= div; ++g) {
    if (div % g != 0)
      continue;
    if (g > 1)
      divisors.push_back(g);
    if (div / g != g)
      divisors.push_back(div / g);
  }
  llvm::sort(divisors, std::greater<int64_t>());
  for (int64_t g : divisors) {
    SmallVector<std::pair<int64_t, AffineExpr>> quotient, remainder;
    for (auto [coef, atom] : t.terms) {
      if (coef % g == 0)
        quotient.push_back({coef / g, atom});
      else
        remainder.push_back({coef, atom});
    }
    int64_t k = t.constant;
    int64_t kq = k >= 0 ? k / g : -((-k + g - 1) / g);
    AffineExpr rem = sumTerms(remainder, k - kq * g, ctx);
    auto remRange = range(rem);
    if (!remRange || remRange->first < 0 || remRange->second >= g)
      continue;
    AffineExpr a = sumTerms(quotient, kq, ctx);
    if (g == div)
      return simplifyAffineExpr(isDiv ? a : rem, numDims, 0);
    return isDiv ? simplify(a.floorDiv(div / g))
                 : simplify((a % (div / g)) * g + rem);
  }
  if (auto lr = range(l); lr && lr->first >= 0 && lr->second < div)
    return isDiv ? getAffineConstantExpr(0, ctx) : l;
  if (!isDiv) {
    // Terms that are multiples of c do not change lhs mod c.
    SmallVector<std::pair<int64_t, AffineExpr>> kept;
    for (auto [coef, atom] : t.terms)
      if (coef % div != 0)
        kept.push_back({coef, atom});
    if (kept.size() != t.terms.size())
      return simplifyAffineExpr(
          sumTerms(kept, ((t.constant % div) + div) % div, ctx) % div, numDims,
          0);
  }
  return simplifyAffineExpr(isDiv ? l.floorDiv(div) : l % div, numDims, 0);
}

//===----------------------------------------------------------------------===//
// Equality
//===----------------------------------------------------------------------===//

bool Describer::equalExpr(AffineExpr a, AffineExpr b,
                          const DenseMap<unsigned, unsigned> &map) {
  if (!map.empty()) {
    unsigned n = vars.size();
    SmallVector<AffineExpr> repl;
    for (unsigned v = 0; v < n; ++v) {
      auto it = map.find(v);
      repl.push_back(getAffineDimExpr(it == map.end() ? v : it->second, ctx));
    }
    a = a.replaceDims(repl);
  }
  return simplify(a) == simplify(b);
}

bool Describer::equal(Node *a, Node *b, DenseMap<unsigned, unsigned> map) {
  if (a == b) {
    // The same node, unless the renaming touches its free variables.
    return llvm::none_of(map, [&](auto kv) {
      return kv.first != kv.second && a->dependsOn(kv.first);
    });
  }
  if (a->kind == Node::Kind::Read && b->kind == Node::Kind::Read &&
      a->readValue() == b->readValue() &&
      a->readIdx().size() == b->readIdx().size()) {
    bool same = true;
    for (auto [x, y] : llvm::zip(a->readIdx(), b->readIdx()))
      same = same && equalExpr(x, y, map);
    if (same)
      return true;
  }
  Node *la = look(a), *lb = look(b);
  if (la != a || lb != b)
    return equal(la, lb, map);
  if (a->kind != b->kind || a->args.size() != b->args.size())
    return false;
  switch (a->kind) {
  case Node::Kind::Read:
    return false; // opaque reads of different values or indices
  case Node::Kind::Const:
    return a->value == b->value ||
           (std::isnan(a->value) && std::isnan(b->value));
  case Node::Kind::Index:
    return equalExpr(a->index, b->index, map);
  case Node::Kind::Op: {
    if (a->op != b->op || a->predicate != b->predicate)
      return false;
    if (a->op == ExprOp::Other) {
      if (!a->scalarOp || !b->scalarOp ||
          a->scalarOp->getName() != b->scalarOp->getName() ||
          a->scalarOp->getAttrDictionary() != b->scalarOp->getAttrDictionary())
        return false;
    }
    bool inOrder = true;
    for (auto [x, y] : llvm::zip(a->args, b->args))
      inOrder = inOrder && equal(x, y, map);
    if (inOrder)
      return true;
    bool commutative = a->op == ExprOp::Add || a->op == ExprOp::Mul ||
                       a->op == ExprOp::Max || a->op == ExprOp::Min ||
                       a->op == ExprOp::AndI || a->op == ExprOp::OrI ||
                       a->op == ExprOp::XOrI;
    return commutative && a->args.size() == 2 &&
           equal(a->args[0], b->args[1], map) &&
           equal(a->args[1], b->args[0], map);
  }
  case Node::Kind::Reduce: {
    if (a->reduction != b->reduction || a->bound.size() != b->bound.size())
      return false;
    for (auto [x, y] : llvm::zip(a->bound, b->bound)) {
      const VarInfo &vx = vars[x], &vy = vars[y];
      if (vx.extent != vy.extent)
        return false;
      map[x] = y;
    }
    return equal(a->args[0], b->args[0], map);
  }
  }
  return false;
}
