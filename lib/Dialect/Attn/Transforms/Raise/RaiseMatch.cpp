//===- RaiseMatch.cpp - prove that a value is attention -------------------===//
//
// Walks the description of a candidate value top-down (RaiseMatch.h): the
// P·V contraction, the softmax over its reduction variable, the logits down
// to the Q·K^T contraction, then the operands. Each step checks a fact about
// the expression (which variables a factor depends on, that the normaliser
// is the sum of the same exponentials, that a term is free of the key
// index), never which op or how many ops computed it. Nothing here changes
// the IR.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatch.h"

#include "skipattn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/ValueBoundsOpInterface.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::attn;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Shapes of expressions
//===----------------------------------------------------------------------===//

namespace {
/// num / den, written as a division or as a product with a reciprocal.
struct Ratio {
  Node *num, *den;
};

/// sum_k a * b * constants.
struct Contraction {
  Node *a, *b;
  double scale;
  unsigned var;
};

/// A tensor factor seen through casts and (for Q and K) constant scales:
/// each Read on the way is a level the operand can be taken from.
struct Level {
  Node *node;
  double scale;
  /// Below a truncation: taking the operand here skips a rounding the
  /// program does.
  bool lossy = false;
};
} // namespace

static std::optional<Ratio> asRatio(Describer &d, Node *n) {
  Node *l = d.look(n);
  if (l->is(ExprOp::Div)) {
    if (d.look(l->args[1])->isConst())
      return std::nullopt;
    return Ratio{l->args[0], l->args[1]};
  }
  if (l->is(ExprOp::Mul)) {
    for (unsigned s : {1u, 0u}) {
      Node *r = d.look(d.stripCasts(l->args[s]));
      if (!r->is(ExprOp::Div))
        continue;
      Node *one = d.look(r->args[0]);
      if (one->isConst() && one->value == 1.0)
        return Ratio{l->args[1 - s], r->args[1]};
    }
  }
  return std::nullopt;
}

static std::optional<Contraction> asContraction(Describer &d, Node *n) {
  Node *l = d.look(n);
  if (l->kind != Node::Kind::Reduce || l->reduction != Node::Reduction::Sum ||
      l->bound.size() != 1)
    return std::nullopt;
  unsigned k = l->bound.front();
  SmallVector<Node *> factors;
  flattenProduct(d, l->args[0], factors);
  Contraction c{nullptr, nullptr, 1.0, k};
  SmallVector<Node *> varying;
  for (Node *f : factors) {
    Node *fl = d.look(f);
    if (fl->isConst())
      c.scale *= fl->value;
    else
      varying.push_back(f);
  }
  if (varying.size() != 2 || !varying[0]->dependsOn(k) ||
      !varying[1]->dependsOn(k))
    return std::nullopt;
  c.a = varying[0];
  c.b = varying[1];
  return c;
}

/// Whether `n` is the Q·K^T contraction (one factor indexed by the key
/// variable `j`), possibly scaled, shifted, masked or cast. `memo` keeps the
/// answers for the nodes of one description (a DAG).
static bool scorePath(Describer &d, Node *n, unsigned j,
                      DenseMap<Node *, bool> &memo, unsigned depth = 0) {
  if (depth > 32)
    return false;
  auto it = memo.find(n);
  if (it != memo.end())
    return it->second;
  memo[n] = false;
  Node *l = d.look(n);
  bool found = false;
  auto path = [&](Node *x) { return scorePath(d, x, j, memo, depth + 1); };
  if (std::optional<Contraction> c = asContraction(d, l)) {
    found = c->a->dependsOn(j) != c->b->dependsOn(j);
  } else if (l->kind == Node::Kind::Op) {
    auto &a = l->args;
    switch (l->op) {
    case ExprOp::Mul:
      found = (d.look(a[0])->isConst() && path(a[1])) ||
              (d.look(a[1])->isConst() && path(a[0]));
      break;
    case ExprOp::Div:
      found = d.look(a[1])->isConst() && path(a[0]);
      break;
    case ExprOp::Add:
    case ExprOp::Sub:
      found = path(a[0]) || path(a[1]);
      break;
    case ExprOp::Select:
      found = path(a[1]) || path(a[2]);
      break;
    case ExprOp::ExtF:
    case ExprOp::TruncF:
      found = path(a[0]);
      break;
    default:
      break;
    }
  }
  memo[n] = found;
  return found;
}

/// The narrower of two float types, or null when neither is (f16 against
/// bf16).
static Type narrower(Type a, Type b) {
  if (!a)
    return b;
  auto fa = dyn_cast<FloatType>(a), fb = dyn_cast<FloatType>(b);
  if (!fa || !fb || fa == fb)
    return fa ? a : Type();
  if (fa.getWidth() != fb.getWidth())
    return fa.getWidth() < fb.getWidth() ? a : b;
  return Type();
}

static SmallVector<Level> levelsOf(Describer &d, Node *f, bool allowScale,
                                   Type *narrowest = nullptr) {
  SmallVector<Level> out;
  double scale = 1.0;
  bool lossy = false;
  Node *cur = f;
  for (unsigned guard = 0; guard < 64; ++guard) {
    if (cur->kind == Node::Kind::Read && !cur->readIdx().empty()) {
      out.push_back({cur, scale, lossy});
      if (narrowest)
        *narrowest = narrower(*narrowest, cur->type);
    }
    Node *l = d.look(cur);
    if (l != cur && l->kind == Node::Kind::Read) {
      cur = l; // a computation that is the identity of another tensor
      continue;
    }
    if (l->is(ExprOp::ExtF) || l->is(ExprOp::TruncF)) {
      lossy |= l->is(ExprOp::TruncF);
      if (narrowest && l->is(ExprOp::TruncF))
        *narrowest = narrower(*narrowest, l->type);
      cur = l->args[0];
      continue;
    }
    if (allowScale && (l->is(ExprOp::Mul) || l->is(ExprOp::Div))) {
      unsigned other = 0;
      Node *c = d.look(l->args[1]);
      if (!c->isConst() && l->is(ExprOp::Mul)) {
        c = d.look(l->args[0]);
        other = 1;
      }
      if (c->isConst() && c->value > 0.0 && std::isfinite(c->value)) {
        scale *= l->is(ExprOp::Mul) ? c->value : 1.0 / c->value;
        cur = l->args[other];
        continue;
      }
    }
    break;
  }
  return out;
}

/// The element types attn.attention takes.
static bool isAttentionElementType(Type t) {
  return t.isF16() || t.isBF16() || t.isF32();
}

/// The deepest level of `levels` whose element type is `t`.
static const Level *levelOfType(ArrayRef<Level> levels, Type t,
                                bool allowLossy = true) {
  for (const Level &l : llvm::reverse(levels))
    if (l.node->type == t && (allowLossy || !l.lossy))
      return &l;
  return nullptr;
}

/// Whether `n` depends on no variable outside `allowed`.
static bool dependsOnlyOn(Node *n, ArrayRef<unsigned> allowed) {
  for (int v = n->free.find_first(); v >= 0; v = n->free.find_next(v))
    if (!llvm::is_contained(allowed, static_cast<unsigned>(v)))
      return false;
  return true;
}

//===----------------------------------------------------------------------===//
// The match
//===----------------------------------------------------------------------===//

namespace {
/// Carries the state of one match and the reason it fails.
class Matcher {
public:
  Matcher(Describer &d, Diagnosis &why) : d(d), why(why) {}
  std::optional<AttentionMatch> run(Value root);

private:
  std::nullopt_t fail(const Twine &reason) {
    if (why.reason.empty())
      why.reason = reason.str();
    return std::nullopt;
  }
  bool tryAssignment(Node *p, Node *v, Node *postDen);
  bool walkLogits(Node *l);
  bool chooseOperands();
  bool groupBatch();
  bool placeOperands();
  bool decideMasks();
  bool extentsEqual(unsigned a, unsigned b);
  bool findScoreUsers();
  bool dependsOnScores(Node *n);
  int64_t extent(std::optional<unsigned> v) { return v ? d.var(*v).extent : 1; }

  Describer &d;
  Diagnosis &why;
  AttentionMatch m;

  // Found on the way down.
  Node *pNode = nullptr, *vFactor = nullptr, *logits = nullptr;
  Node *qFactor = nullptr, *kFactor = nullptr;
  Value scoresValue;
  SmallVector<unsigned> batchVars;
  SmallVector<MaskTerm> terms;
  double scale = 1.0;
  DenseMap<Node *, bool> scoreMemo;
  /// The ops from the scores to the root, in order, and those of them that
  /// compute from the scores.
  SmallVector<Operation *> span;
  llvm::SmallPtrSet<Operation *, 32> fromScores;
};
} // namespace

bool Matcher::tryAssignment(Node *p, Node *v, Node *postDen) {
  unsigned j = m.jVar;
  if (!p->dependsOn(j) || !v->dependsOn(j))
    return false;
  // The softmax over j: E / sum_j E.
  Node *e = nullptr, *z = nullptr;
  if (postDen) {
    e = p;
    z = postDen;
  } else {
    std::optional<Ratio> r = asRatio(d, d.stripCasts(p));
    if (!r)
      return false;
    e = r->num;
    z = r->den;
  }
  Node *zl = d.look(d.stripCasts(z));
  if (zl->kind != Node::Kind::Reduce || zl->reduction != Node::Reduction::Sum ||
      zl->bound.size() != 1)
    return false;
  if (!d.equal(d.stripCasts(zl->args[0]), d.stripCasts(e),
               {{zl->bound.front(), j}}))
    return false;
  Node *el = d.look(d.stripCasts(e));
  if (!el->is(ExprOp::Exp) && !el->is(ExprOp::Exp2))
    return false;
  if (!scorePath(d, el->args[0], j, scoreMemo))
    return false;

  // From here on, this is attention: a failure says why.
  why.recognised = true;
  logits = el->args[0];
  pNode = p;
  vFactor = v;
  scale = el->is(ExprOp::Exp2) ? std::log(2.0) : 1.0;
  return true;
}

bool Matcher::walkLogits(Node *logits) {
  unsigned j = m.jVar;
  Node *cur = logits;
  for (unsigned guard = 0; guard < 64; ++guard) {
    Node *l = d.look(cur);
    if (std::optional<Contraction> c = asContraction(d, l)) {
      if (c->a->dependsOn(j) == c->b->dependsOn(j))
        return fail("the score contraction does not index the keys in "
                    "exactly one operand"),
               false;
      scale *= c->scale;
      qFactor = c->a->dependsOn(j) ? c->b : c->a;
      kFactor = c->a->dependsOn(j) ? c->a : c->b;
      m.dVar = c->var;
      if (cur->kind == Node::Kind::Read)
        scoresValue = cur->readValue();
      return true;
    }
    if (l->kind != Node::Kind::Op)
      return fail("the logits are not a function of the scores that "
                  "attn.attention can express"),
             false;
    auto &a = l->args;
    switch (l->op) {
    case ExprOp::Mul:
    case ExprOp::Div: {
      unsigned s = 1;
      Node *c = d.look(a[1]);
      if (!c->isConst() && l->is(ExprOp::Mul)) {
        c = d.look(a[0]);
        s = 0;
      }
      if (!c->isConst())
        return fail("the scores are multiplied by a tensor, not a constant"),
               false;
      double f = l->is(ExprOp::Mul) ? c->value : 1.0 / c->value;
      if (!(f > 0.0) || !std::isfinite(f))
        return fail(llvm::formatv("the scores are scaled by {0}; "
                                  "attn.attention needs a positive scale",
                                  f)),
               false;
      scale *= f;
      cur = a[1 - s];
      continue;
    }
    case ExprOp::Add:
    case ExprOp::Sub: {
      bool left = scorePath(d, a[0], j, scoreMemo),
           right = scorePath(d, a[1], j, scoreMemo);
      if (left == right)
        return fail("cannot tell the scores from the mask in a sum"), false;
      if (l->is(ExprOp::Sub) && right)
        return fail("the scores are negated"), false;
      Node *other = left ? a[1] : a[0];
      if (other->dependsOn(j)) {
        Node *bias = l->is(ExprOp::Sub)
                         ? d.makeOp(ExprOp::Neg, {other}, other->type)
                         : other;
        terms.push_back({MaskTerm::Kind::Bias, bias, true, nullptr, scale});
      }
      // A term free of j shifts each row: softmax cancels it.
      cur = left ? a[0] : a[1];
      continue;
    }
    case ExprOp::Select: {
      bool onTrue = scorePath(d, a[1], j, scoreMemo),
           onFalse = scorePath(d, a[2], j, scoreMemo);
      if (onTrue == onFalse || scorePath(d, a[0], j, scoreMemo))
        return fail("a select mixes the scores into its condition or "
                    "both arms"),
               false;
      // Keeping where c1 and c2 (or filling where c1 or c2) is two masks
      // with the same fill: a causal one may be among them.
      SmallVector<Node *> conds{a[0]};
      ExprOp split = onTrue ? ExprOp::AndI : ExprOp::OrI;
      for (unsigned k = 0; k < conds.size() && conds.size() < 8; ++k) {
        Node *c = d.look(conds[k]);
        if (c->is(split)) {
          conds[k] = c->args[0];
          conds.push_back(c->args[1]);
          --k;
        }
      }
      for (Node *c : conds)
        terms.push_back(
            {MaskTerm::Kind::Select, c, onTrue, onTrue ? a[2] : a[1], scale});
      cur = onTrue ? a[1] : a[2];
      continue;
    }
    case ExprOp::ExtF:
    case ExprOp::TruncF:
      cur = a[0];
      continue;
    default:
      return fail("the logits are not a function of the scores that "
                  "attn.attention can express"),
             false;
    }
  }
  return fail("the logits are too deep"), false;
}

bool Matcher::chooseOperands() {
  Type qNarrow, kNarrow, vNarrow;
  SmallVector<Level> q = levelsOf(d, qFactor, /*allowScale=*/true, &qNarrow);
  SmallVector<Level> k = levelsOf(d, kFactor, /*allowScale=*/true, &kNarrow);
  SmallVector<Level> v = levelsOf(d, vFactor, /*allowScale=*/false, &vNarrow);
  if (q.empty() || k.empty() || v.empty())
    return fail("Q, K or V is computed inside the contraction, not read from "
                "a tensor"),
           false;
  // The precision the program computes Q, K and V in: the narrowest type on
  // their way to the contraction. The op takes the deepest tensors of that
  // type, or the deepest tensors rounded to it when the rounding was fused
  // into the contraction.
  if (qNarrow && qNarrow == kNarrow && qNarrow == vNarrow &&
      isAttentionElementType(qNarrow)) {
    auto pick = [&](ArrayRef<Level> levels, Leaf &leaf) {
      const Level *l = levelOfType(levels, qNarrow);
      if (!l) {
        l = &levels.back();
        leaf.castTo = qNarrow;
      }
      leaf.node = l->node;
      return l->scale;
    };
    m.elementType = qNarrow;
    scale *= pick(q, m.q) * pick(k, m.k);
    pick(v, m.v);
    return true;
  }
  // The deepest tensors with one element type, through casts that widen
  // (they lose nothing) and, only when needed, through truncations (the
  // attention would then skip a rounding the program does).
  for (bool allowLossy : {false, true}) {
    for (const Level &ql : llvm::reverse(q)) {
      Type t = ql.node->type;
      if (!isAttentionElementType(t) || (ql.lossy && !allowLossy))
        continue;
      const Level *kl = levelOfType(k, t, allowLossy);
      const Level *vl = levelOfType(v, t, allowLossy);
      if (!kl || !vl)
        continue;
      m.elementType = t;
      m.q.node = ql.node;
      m.k.node = kl->node;
      m.v.node = vl->node;
      scale *= ql.scale * kl->scale;
      return true;
    }
  }
  return fail("Q, K and V have no common element type among f16, bf16 and "
              "f32"),
         false;
}

bool Matcher::groupBatch() {
  // The runs of each batch variable that K and V read, outermost first, from
  // the deepest origin whose indices decompose into digits.
  auto readsOf = [&](Node *leaf) -> std::optional<SmallVector<Digits>> {
    for (const Origin &o : llvm::reverse(leaf->origins)) {
      auto type = cast<RankedTensorType>(o.value.getType());
      std::optional<SmallVector<Digits>> digits = digitsOf(d, type, o.idx);
      if (!digits)
        continue;
      SmallVector<Digits> reads(batchVars.size());
      for (const Digits &dim : *digits)
        for (const Digit &g : dim)
          if (auto *it = llvm::find(batchVars, g.var); it != batchVars.end())
            reads[it - batchVars.begin()].push_back(g);
      for (Digits &r : reads)
        llvm::sort(r, [](const Digit &x, const Digit &y) {
          return x.divisor > y.divisor;
        });
      return reads;
    }
    return std::nullopt;
  };
  std::optional<SmallVector<Digits>> kReads = readsOf(m.k.node);
  std::optional<SmallVector<Digits>> vReads = readsOf(m.v.node);
  if (!kReads || !vReads)
    return fail("the layout of K or V is not a view of [B, H, S, D]"), false;
  if (*kReads != *vReads)
    return fail("K and V are shared across query heads differently"), false;

  // Batch dims K and V read whole, and those they read in part or not at
  // all (GQA and MQA: their query heads share K and V).
  SmallVector<unsigned> full, shared;
  bool readNone = true;
  for (auto [n, reads] : llvm::zip(batchVars, *kReads)) {
    int64_t e = d.var(n).extent;
    if (reads.size() == 1 && reads.front().divisor == 1 &&
        reads.front().extent == e) {
      full.push_back(n);
    } else {
      shared.push_back(n);
      readNone &= reads.empty();
    }
  }
  SmallVector<unsigned> bGroup(full), hGroup;
  bool staticLast =
      !full.empty() && !ShapedType::isDynamic(d.var(full.back()).extent);
  // Without sharing, the last batch dim is the heads. With dims K and V do
  // not read at all, the kv heads are the last full dim before them, unless
  // it is the only one (then it is the batch: MQA).
  if (staticLast && (shared.empty() || (readNone && full.size() >= 2))) {
    hGroup.push_back(full.back());
    bGroup.pop_back();
  }
  hGroup.append(shared.begin(), shared.end());

  // The query heads: the runs K and V read (the kv head) outermost, then the
  // runs they do not read (the query heads of one kv head).
  Digits unread;
  for (unsigned n : hGroup) {
    int64_t e = d.var(n).extent;
    if (ShapedType::isDynamic(e))
      return fail("the number of heads is dynamic and K and V are shared "
                  "across heads"),
             false;
    Digits reads = (*kReads)[llvm::find(batchVars, n) - batchVars.begin()];
    m.kvDigits.append(reads.begin(), reads.end());
    // The gaps between the runs read, outermost first.
    int64_t pos = 1;
    Digits gaps;
    for (const Digit &r : llvm::reverse(reads)) {
      if (r.divisor % pos != 0)
        return fail("K and V index the heads in an order attn.attention "
                    "cannot express"),
               false;
      if (r.divisor > pos)
        gaps.push_back({n, pos, r.divisor / pos});
      pos = r.divisor * r.extent;
    }
    if (e % pos != 0)
      return fail("K and V index the heads in an order attn.attention "
                  "cannot express"),
             false;
    if (e > pos)
      gaps.push_back({n, pos, e / pos});
    unread.append(gaps.rbegin(), gaps.rend());
  }
  for (unsigned n : bGroup)
    m.bDigits.push_back({n, 1, d.var(n).extent});
  m.hDigits = m.kvDigits;
  m.hDigits.append(unread.begin(), unread.end());
  m.heads = 1;
  m.kvHeads = 1;
  for (const Digit &g : m.hDigits)
    m.heads *= g.extent;
  for (const Digit &g : m.kvDigits)
    m.kvHeads *= g.extent;
  return true;
}

bool Matcher::placeOperands() {
  Digits iDigits;
  if (m.iVar)
    iDigits.push_back({*m.iVar, 1, d.var(*m.iVar).extent});
  Digits jDigits{{m.jVar, 1, d.var(m.jVar).extent}};
  Digits dDigits{{m.dVar, 1, d.var(m.dVar).extent}};
  Digits dvDigits{{m.dvVar, 1, d.var(m.dvVar).extent}};
  auto place = [&](Leaf &leaf, ArrayRef<Digits> groups, const char *name) {
    for (const Origin &o : llvm::reverse(leaf.node->origins)) {
      if (canonicalShape(d, o, groups, /*broadcastGroups=*/false)) {
        leaf.origin = o;
        return true;
      }
    }
    return fail(llvm::formatv("the layout of {0} is not a view of "
                              "[B, H, S, D]",
                              name)),
           false;
  };
  m.qGroups = {m.bDigits, m.hDigits, iDigits, dDigits};
  m.kGroups = {m.bDigits, m.kvDigits, jDigits, dDigits};
  m.vGroups = {m.bDigits, m.kvDigits, jDigits, dvDigits};
  m.maskGroups = {m.bDigits, m.hDigits, iDigits, jDigits};
  return place(m.q, m.qGroups, "Q") && place(m.k, m.kGroups, "K") &&
         place(m.v, m.vGroups, "V");
}

bool Matcher::findScoreUsers() {
  Operation *scoresOp = scoresValue ? scoresValue.getDefiningOp() : nullptr;
  Operation *rootOp = m.root.getDefiningOp();
  if (!scoresOp || scoresOp->getBlock() != rootOp->getBlock() ||
      !scoresOp->isBeforeInBlock(rootOp))
    return fail("the scores and the result are not in one block"), false;
  Block *block = rootOp->getBlock();
  for (Operation *op = scoresOp; op != rootOp->getNextNode();
       op = op->getNextNode())
    span.push_back(op);
  fromScores.insert(scoresOp);
  for (Operation *op : span)
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        if (Operation *a = block->findAncestorOpInBlock(*def);
            a && fromScores.contains(a))
          fromScores.insert(op);
  return true;
}

bool Matcher::dependsOnScores(Node *n) {
  switch (n->kind) {
  case Node::Kind::Read: {
    Operation *def = n->readValue().getDefiningOp();
    Operation *a =
        def ? m.root.getDefiningOp()->getBlock()->findAncestorOpInBlock(*def)
            : nullptr;
    return a && fromScores.contains(a);
  }
  case Node::Kind::Op:
  case Node::Kind::Reduce:
    return llvm::any_of(n->args, [&](Node *a) { return dependsOnScores(a); });
  default:
    return false;
  }
}

bool Matcher::extentsEqual(unsigned a, unsigned b) {
  const VarInfo &x = d.var(a), &y = d.var(b);
  if (!ShapedType::isDynamic(x.extent) || !ShapedType::isDynamic(y.extent))
    return x.extent == y.extent;
  if (!x.source || !y.source)
    return false;
  FailureOr<bool> eq = ValueBoundsConstraintSet::areEqual(
      ValueBoundsConstraintSet::Variable(x.source, x.dim),
      ValueBoundsConstraintSet::Variable(y.source, y.dim));
  return succeeded(eq) && *eq;
}

bool Matcher::decideMasks() {
  SmallVector<unsigned> maskVars(batchVars);
  if (m.iVar)
    maskVars.push_back(*m.iVar);
  maskVars.push_back(m.jVar);

  SmallVector<std::pair<const MaskTerm *, Triangle>> triangles;
  SmallVector<const MaskTerm *> others;
  for (const MaskTerm &t : terms) {
    if (dependsOnScores(t.expr) || (t.fill && dependsOnScores(t.fill)))
      return fail("a term of the logits varies along the keys and depends "
                  "on the scores: not a softmax over the key dim"),
             false;
    if (!dependsOnlyOn(t.expr, maskVars) ||
        (t.fill && !dependsOnlyOn(t.fill, maskVars)))
      return fail("a mask depends on the head dim"), false;
    if (std::optional<Triangle> tri = matchTriangle(d, t, m.iVar, m.jVar))
      triangles.push_back({&t, *tri});
    else
      others.push_back(&t);
  }

  // Triangles that are exactly the bottom-right causal one become `causal`.
  if (!triangles.empty()) {
    int64_t sq = extent(m.iVar), skv = extent(m.jVar);
    bool dynamic = ShapedType::isDynamic(sq) || ShapedType::isDynamic(skv);
    bool causal = true;
    for (auto &[term, tri] : triangles) {
      bool aligned =
          dynamic ? tri.offset == 0 && m.iVar && extentsEqual(*m.iVar, m.jVar)
                  : tri.offset == skv - sq;
      // A finite fill leaves rows with every entry masked uniform, not
      // zero: only where no such row exists.
      bool fullRows = !dynamic && sq > skv;
      causal = causal && aligned && (std::isinf(tri.fill) || !fullRows);
    }
    if (causal)
      m.causal = true;
    else
      for (auto &[term, tri] : triangles)
        others.push_back(term);
  }

  if (others.empty())
    return true;
  // Each term must mean the same as an attn.attention mask.
  for (const MaskTerm *t : others) {
    if (t->kind == MaskTerm::Kind::Bias && t->scaleAfter != 1.0)
      return fail("an additive mask is scaled after it is added; "
                  "attn.attention adds the mask to the scaled scores"),
             false;
    if (t->kind == MaskTerm::Kind::Select) {
      Node *fill = d.look(t->fill);
      if (!fill->isConst() || !(std::isinf(fill->value) && fill->value < 0))
        return fail("a boolean mask fills with a finite value: rows with "
                    "every entry masked would differ from attn.attention's "
                    "zeros"),
               false;
    }
  }
  MaskOperand mask;
  Type i1 = IntegerType::get(d.getContext(), 1);
  auto keepCond = [&](const MaskTerm *t) {
    return t->keepWhen
               ? t->expr
               : d.makeOp(ExprOp::XOrI, {t->expr, d.makeConst(1.0, i1)}, i1);
  };
  if (others.size() > 1) {
    // Several masks become one computed mask: the conjunction of boolean
    // ones, or the sum of additive ones (a boolean one adding 0 or -inf).
    bool allBool = llvm::all_of(others, [](const MaskTerm *t) {
      return t->kind == MaskTerm::Kind::Select;
    });
    Node *combined = nullptr;
    for (const MaskTerm *t : others) {
      Node *term;
      if (allBool) {
        term = keepCond(t);
      } else if (t->kind == MaskTerm::Kind::Select) {
        term = d.makeOp(ExprOp::Select,
                        {keepCond(t), d.makeConst(0.0, m.elementType),
                         d.makeConst(-INFINITY, m.elementType)},
                        m.elementType);
      } else {
        term =
            t->expr->type == m.elementType
                ? t->expr
                : d.makeOp(isa<FloatType>(t->expr->type) &&
                                   cast<FloatType>(t->expr->type).getWidth() <
                                       cast<FloatType>(m.elementType).getWidth()
                               ? ExprOp::ExtF
                               : ExprOp::TruncF,
                           {t->expr}, m.elementType);
      }
      combined = !combined
                     ? term
                     : d.makeOp(allBool ? ExprOp::AndI : ExprOp::Add,
                                {combined, term}, allBool ? i1 : m.elementType);
    }
    mask.expr = combined;
    mask.isBool = allBool;
  } else if (const MaskTerm &t = *others.front();
             t.kind == MaskTerm::Kind::Bias) {
    mask.expr = t.expr;
    SmallVector<Level> levels = levelsOf(d, t.expr, /*allowScale=*/false);
    if (const Level *l = levelOfType(levels, m.elementType))
      mask.leaf = Leaf{l->node, {}, Type()};
  } else {
    mask.isBool = true;
    mask.expr = t.expr;
    mask.negate = !t.keepWhen;
    Node *cond = d.look(t.expr);
    if (cond->is(ExprOp::XOrI) && d.look(cond->args[1])->isConst() &&
        d.look(cond->args[1])->value == 1.0) {
      mask.negate = !mask.negate;
      mask.expr = cond->args[0];
    }
    SmallVector<Level> levels = levelsOf(d, mask.expr, /*allowScale=*/false);
    for (const Level &l : llvm::reverse(levels))
      if (l.node->type.isInteger(1)) {
        mask.leaf = Leaf{l.node, {}, Type()};
        break;
      }
  }

  // A tensor that is a view of [B or 1, H or 1, Sq, Skv], or an expression
  // to compute into one.
  if (mask.leaf) {
    bool placed = false;
    for (const Origin &o : llvm::reverse(mask.leaf->node->origins)) {
      if (canonicalShape(d, o, m.maskGroups, /*broadcastGroups=*/true)) {
        mask.leaf->origin = o;
        placed = true;
        break;
      }
    }
    if (!placed)
      mask.leaf.reset();
  }
  if (!mask.leaf && !canMaterialize(d, mask.expr))
    return fail("the mask is neither a view of a tensor nor an expression "
                "of tensors and indices"),
           false;
  m.mask = mask;
  return true;
}

std::optional<AttentionMatch> Matcher::run(Value root) {
  auto rootType = dyn_cast<RankedTensorType>(root.getType());
  if (!rootType || rootType.getRank() < 2 ||
      !isa<FloatType>(rootType.getElementType()))
    return std::nullopt;
  m.root = root;
  SmallVector<AffineExpr> idx = d.freeVarsOf(root);
  for (AffineExpr e : idx)
    m.rootVars.push_back(cast<AffineDimExpr>(e).getPosition());

  // O = sum_j P V, or (sum_j E V) / Z.
  Node *topRead = d.stripCasts(d.describe(root, idx));
  Node *top = d.look(topRead);
  Node *pv = nullptr, *postDen = nullptr;
  if (top->kind == Node::Kind::Reduce) {
    pv = top;
  } else if (std::optional<Ratio> r = asRatio(d, top)) {
    topRead = d.stripCasts(r->num);
    pv = d.look(topRead);
    postDen = r->den;
  }
  if (topRead->kind == Node::Kind::Read)
    why.anchor = topRead->readValue().getDefiningOp();
  if (!pv || pv->kind != Node::Kind::Reduce ||
      pv->reduction != Node::Reduction::Sum || pv->bound.size() != 1)
    return std::nullopt;
  m.jVar = pv->bound.front();
  SmallVector<Node *> factors, varying;
  flattenProduct(d, pv->args[0], factors);
  double pvScale = 1.0;
  SmallVector<Node *> rowFactors;
  for (Node *f : factors) {
    Node *l = d.look(f);
    if (l->isConst())
      pvScale *= l->value;
    else if (f->dependsOn(m.jVar))
      varying.push_back(f);
    else
      rowFactors.push_back(f);
  }
  if (varying.size() != 2)
    return std::nullopt;
  // A factor free of j is the normalisation fused into P·V: 1 / Z.
  if (!rowFactors.empty()) {
    if (postDen || rowFactors.size() != 1)
      return std::nullopt;
    Node *r = d.look(d.stripCasts(rowFactors.front()));
    Node *one = r->is(ExprOp::Div) ? d.look(r->args[0]) : nullptr;
    if (!one || !one->isConst() || one->value != 1.0)
      return std::nullopt;
    postDen = r->args[1];
  }
  if (!tryAssignment(varying[0], varying[1], postDen) &&
      !tryAssignment(varying[1], varying[0], postDen))
    return std::nullopt;
  if (d.exhausted())
    return fail("the graph is too large to analyse");
  if (pvScale != 1.0)
    return fail("P·V is scaled by a constant");

  // Roles of the root's variables: batch (P and V depend on it), value dim
  // (V only), query rows (P only; several when V is shared across heads).
  Node *p = pNode;
  std::optional<unsigned> dv;
  SmallVector<unsigned> rows;
  for (unsigned x : m.rootVars) {
    if (d.var(x).extent == 1)
      continue; // always 0: a unit dim
    bool inP = p->dependsOn(x), inV = vFactor->dependsOn(x);
    if (inP && inV) {
      batchVars.push_back(x);
    } else if (inP) {
      rows.push_back(x);
    } else if (inV) {
      if (dv)
        return fail("V varies along two dims of the result");
      dv = x;
    } else {
      return fail("the result is broadcast along a dim");
    }
  }
  if (!dv)
    return fail("the result has no value dim");
  m.dvVar = *dv;

  if (!walkLogits(logits))
    return std::nullopt;
  if (d.exhausted())
    return fail("the graph is too large to analyse");
  if (!findScoreUsers())
    return std::nullopt;

  // With K and V shared across heads (MQA), heads and query rows are both
  // dims only P depends on. Without a mask they are interchangeable; the
  // rows are the one a mask reads, else the dynamic one, else the longest,
  // else the last. The others are batch dims that K and V do not index.
  if (!rows.empty()) {
    auto score = [&](unsigned x) {
      bool masked = llvm::any_of(
          terms, [&](const MaskTerm &t) { return t.expr->dependsOn(x); });
      int64_t e = d.var(x).extent;
      return std::make_tuple(masked, ShapedType::isDynamic(e),
                             ShapedType::isDynamic(e) ? 0 : e);
    };
    unsigned best = rows.back();
    for (unsigned x : llvm::reverse(rows))
      if (score(x) > score(best))
        best = x;
    m.iVar = best;
    for (unsigned x : rows)
      if (x != best)
        batchVars.push_back(x);
    // Keep the batch dims in the root's order.
    llvm::sort(batchVars, [&](unsigned a, unsigned b) {
      return llvm::find(m.rootVars, a) < llvm::find(m.rootVars, b);
    });
  }

  // Which variables each piece may depend on.
  SmallVector<unsigned> qVars(batchVars), kVars(batchVars), vVars(batchVars);
  if (m.iVar)
    qVars.push_back(*m.iVar);
  qVars.push_back(m.dVar);
  kVars.append({m.jVar, m.dVar});
  vVars.append({m.jVar, m.dvVar});
  if (!dependsOnlyOn(qFactor, qVars) || !dependsOnlyOn(kFactor, kVars) ||
      !dependsOnlyOn(vFactor, vVars))
    return fail("Q, K or V varies along a dim that is not batch, head, "
                "sequence or head dim");
  if (m.iVar && (!qFactor->dependsOn(*m.iVar) || kFactor->dependsOn(*m.iVar)))
    return fail("the query rows are not the rows of Q");

  if (!chooseOperands() || !groupBatch() || !placeOperands() || !decideMasks())
    return std::nullopt;
  m.scale = scale;
  if (!(m.scale > 0.0) || !std::isfinite(m.scale))
    return fail(
        llvm::formatv("the scale {0} is not positive and finite", m.scale));

  // Every attn.attention rule, checked before anything is built.
  auto typeOf = [&](const Origin &o, ArrayRef<Digits> groups, bool broadcast,
                    Type elt) {
    return RankedTensorType::get(*canonicalShape(d, o, groups, broadcast), elt);
  };
  RankedTensorType qType = typeOf(m.q.origin, m.qGroups, false, m.elementType);
  RankedTensorType kType = typeOf(m.k.origin, m.kGroups, false, m.elementType);
  RankedTensorType vType = typeOf(m.v.origin, m.vGroups, false, m.elementType);
  RankedTensorType maskType;
  if (m.mask) {
    Type elt =
        m.mask->isBool ? IntegerType::get(d.getContext(), 1) : m.elementType;
    maskType = m.mask->leaf
                   ? typeOf(m.mask->leaf->origin, m.maskGroups, true, elt)
                   : RankedTensorType::get(
                         materializedMaskShape(m, d, m.mask->expr), elt);
  }
  RankedTensorType resultType = inferAttentionResultType(qType, vType);
  if (!canBuildResult(d, m))
    return fail("the result layout is not a view of [B, H, S, D]");
  {
    std::string message;
    ScopedDiagnosticHandler capture(d.getContext(), [&](Diagnostic &diag) {
      message = diag.str();
      return success();
    });
    if (failed(verifyAttentionTypes(
            [&] { return emitError(UnknownLoc::get(d.getContext())); }, qType,
            kType, vType, maskType, resultType)))
      return fail("attn.attention does not take this form: " + message);
  }

  // Every op between the scores and the root that computes from the scores
  // belongs to the attention: none may have a use elsewhere.
  Block *block = root.getDefiningOp()->getBlock();
  Operation *rootOp = root.getDefiningOp();
  llvm::SmallPtrSet<Operation *, 32> toRoot{rootOp};
  for (Operation *op : llvm::reverse(span))
    for (Operation *user : op->getUsers())
      if (Operation *u = block->findAncestorOpInBlock(*user);
          u && toRoot.contains(u))
        toRoot.insert(op);
  for (Operation *op : span)
    if (fromScores.contains(op) && toRoot.contains(op))
      m.interior.insert(op);
  if (!m.interior.contains(rootOp))
    return fail("the result does not depend on the scores");
  for (Operation *op : m.interior) {
    for (OpResult r : op->getResults()) {
      if (r == root)
        continue;
      for (Operation *user : r.getUsers()) {
        // A dim only reads the shape, which the rewrite resolves.
        if (isa<tensor::DimOp>(user))
          continue;
        Operation *u = block->findAncestorOpInBlock(*user);
        if (!u || !m.interior.contains(u) || op == rootOp)
          return fail(llvm::formatv("an intermediate result ({0}) is used "
                                    "outside the attention",
                                    op->getName().getStringRef()));
      }
    }
  }
  return m;
}

std::optional<AttentionMatch>
skipattn::attn::raise::matchAttention(Describer &d, Value root,
                                      Diagnosis &why) {
  Matcher matcher(d, why);
  return matcher.run(root);
}
