//===- RaiseLayout.cpp - operands and result as views of [B, H, S, D] -----===//
//
// A leaf of the description is a tensor read at index expressions. When
// each of its dims is indexed by a linearization of digits (a variable, or a
// variable divided by the GQA group size), the leaf is a view of the
// operand attn.attention wants: expanding each dim into its digits,
// transposing the digits into [B, H, S, D] order and collapsing the groups
// builds it with tensor.expand_shape, linalg.transpose and
// tensor.collapse_shape. The result goes back the same way. This covers
// [B, H, S, D], [B, S, H, D], [B*H, S, D], [S, D], [B, Hkv, G, S, D] and any
// split or merge of batch and heads, static or dynamic.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatch.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Digits
//===----------------------------------------------------------------------===//

/// Adds the coefficient * atom terms of a sum to `terms`.
static bool sumTerms(AffineExpr e, int64_t coef,
                     SmallVectorImpl<std::pair<int64_t, AffineExpr>> &terms,
                     int64_t &constant) {
  if (auto c = dyn_cast<AffineConstantExpr>(e)) {
    constant += coef * c.getValue();
    return true;
  }
  if (e.getKind() == AffineExprKind::Add) {
    auto bin = cast<AffineBinaryOpExpr>(e);
    return sumTerms(bin.getLHS(), coef, terms, constant) &&
           sumTerms(bin.getRHS(), coef, terms, constant);
  }
  if (e.getKind() == AffineExprKind::Mul) {
    auto bin = cast<AffineBinaryOpExpr>(e);
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getRHS()))
      return sumTerms(bin.getLHS(), coef * c.getValue(), terms, constant);
    if (auto c = dyn_cast<AffineConstantExpr>(bin.getLHS()))
      return sumTerms(bin.getRHS(), coef * c.getValue(), terms, constant);
    return false;
  }
  terms.push_back({coef, e});
  return true;
}

/// The digit an index atom reads: v, v floordiv c, v mod m or
/// (v floordiv c) mod m.
static std::optional<Digit> atomDigit(Describer &d, AffineExpr atom) {
  int64_t mod = 0, div = 1;
  if (atom.getKind() == AffineExprKind::Mod) {
    auto bin = cast<AffineBinaryOpExpr>(atom);
    auto c = dyn_cast<AffineConstantExpr>(bin.getRHS());
    if (!c || c.getValue() <= 0)
      return std::nullopt;
    mod = c.getValue();
    atom = bin.getLHS();
  }
  if (atom.getKind() == AffineExprKind::FloorDiv) {
    auto bin = cast<AffineBinaryOpExpr>(atom);
    auto c = dyn_cast<AffineConstantExpr>(bin.getRHS());
    if (!c || c.getValue() <= 0)
      return std::nullopt;
    div = c.getValue();
    atom = bin.getLHS();
  }
  auto dim = dyn_cast<AffineDimExpr>(atom);
  if (!dim || dim.getPosition() >= d.numVars())
    return std::nullopt;
  Digit g{dim.getPosition(), div, 0};
  int64_t ext = d.var(g.var).extent;
  if (ShapedType::isDynamic(ext)) {
    if (div != 1 || mod != 0)
      return std::nullopt;
    g.extent = ext;
    return g;
  }
  if (ext % div != 0)
    return std::nullopt;
  g.extent = ext / div;
  if (mod) {
    if (g.extent % mod != 0)
      return std::nullopt;
    g.extent = mod;
  }
  return g;
}

/// Whether two digits of one variable read overlapping runs.
static bool overlap(const Digit &a, const Digit &b) {
  if (a.var != b.var)
    return false;
  if (ShapedType::isDynamic(a.extent) || ShapedType::isDynamic(b.extent))
    return true;
  return a.divisor < b.divisor * b.extent && b.divisor < a.divisor * a.extent;
}

std::optional<SmallVector<Digits>>
skipattn::attn::raise::digitsOf(Describer &d, RankedTensorType type,
                                ArrayRef<AffineExpr> idx) {
  if (static_cast<int64_t>(idx.size()) != type.getRank())
    return std::nullopt;
  SmallVector<Digits> out;
  Digits seen;
  for (auto [k, raw] : llvm::enumerate(idx)) {
    AffineExpr e = d.simplify(raw);
    int64_t size = type.getDimSize(k);
    SmallVector<std::pair<int64_t, AffineExpr>> terms;
    int64_t constant = 0;
    if (!sumTerms(e, 1, terms, constant) || constant != 0)
      return std::nullopt;
    SmallVector<std::pair<int64_t, Digit>> byCoef;
    for (auto [coef, atom] : terms) {
      std::optional<Digit> g = atomDigit(d, atom);
      if (!g || coef <= 0)
        return std::nullopt;
      if (llvm::any_of(seen, [&](const Digit &s) { return overlap(s, *g); }))
        return std::nullopt;
      seen.push_back(*g);
      // Digits of extent 1 are always 0: not part of the index.
      if (g->extent != 1)
        byCoef.push_back({coef, *g});
    }
    // Row-major: each coefficient is the product of the inner extents.
    llvm::sort(byCoef, [](auto &x, auto &y) { return x.first > y.first; });
    Digits sorted;
    int64_t expected = 1;
    for (unsigned t = byCoef.size(); t-- > 0;) {
      auto &[c, g] = byCoef[t];
      if (c != expected || (ShapedType::isDynamic(g.extent) && t != 0))
        return std::nullopt; // only the outermost digit may be dynamic
      if (!ShapedType::isDynamic(g.extent))
        expected *= g.extent;
      sorted.insert(sorted.begin(), g);
    }
    // The digits cover the whole dim.
    int64_t product = 1;
    bool dynamic = false;
    for (const Digit &g : sorted) {
      if (ShapedType::isDynamic(g.extent))
        dynamic = true;
      else
        product *= g.extent;
    }
    if (dynamic ? !ShapedType::isDynamic(size)
                : (ShapedType::isDynamic(size) || product != size))
      return std::nullopt;
    out.push_back(sorted);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Regrouping
//===----------------------------------------------------------------------===//

namespace {
/// How a tensor whose dims are linearizations of `src` digits becomes one
/// whose dims are linearizations of `dst` digits.
struct Regroup {
  /// Digit-level tensor: one dim per source digit, or a unit dim for a
  /// source dim without digits; and the expansion that makes it.
  SmallVector<int64_t> digitShape;
  SmallVector<ReassociationIndices> expand;
  bool needsExpand = false;
  /// Digit-level dims in target order (units last).
  SmallVector<int64_t> perm;
  /// The collapse into the present target groups, and their shape.
  SmallVector<ReassociationIndices> collapse;
  SmallVector<int64_t> collapsedShape;
  /// The expansion that inserts the absent (unit) target dims.
  SmallVector<ReassociationIndices> insert;
  SmallVector<int64_t> shape;
};
} // namespace

/// Splits the digits of `src` and `dst` at every boundary where a digit of
/// the same variable starts or ends on the other side, so that both read the
/// same runs: [h] against [h mod 2, h floordiv 2] becomes
/// [h floordiv 2, h mod 2]. Fails when the radices do not nest.
static LogicalResult refine(SmallVectorImpl<Digits> &src,
                            SmallVectorImpl<Digits> &dst) {
  DenseMap<unsigned, SmallVector<int64_t>> bounds;
  auto add = [&](const Digit &g) {
    if (ShapedType::isDynamic(g.extent))
      return;
    SmallVector<int64_t> &b = bounds[g.var];
    for (int64_t x : {g.divisor, g.divisor * g.extent})
      if (!llvm::is_contained(b, x))
        b.push_back(x);
  };
  for (const Digits &group : src)
    for (const Digit &g : group)
      add(g);
  for (const Digits &group : dst)
    for (const Digit &g : group)
      add(g);
  for (auto &entry : bounds)
    llvm::sort(entry.second);
  auto split = [&](const Digits &group, Digits &out) {
    for (const Digit &g : group) {
      if (ShapedType::isDynamic(g.extent)) {
        out.push_back(g);
        continue;
      }
      SmallVector<int64_t> inside;
      for (int64_t x : bounds[g.var])
        if (x >= g.divisor && x <= g.divisor * g.extent)
          inside.push_back(x);
      for (unsigned k = inside.size() - 1; k > 0; --k) {
        if (inside[k] % inside[k - 1] != 0)
          return failure();
        out.push_back({g.var, inside[k - 1], inside[k] / inside[k - 1]});
      }
    }
    return success();
  };
  for (SmallVectorImpl<Digits> *side : {&src, &dst}) {
    for (Digits &group : *side) {
      Digits refined;
      if (failed(split(group, refined)))
        return failure();
      group = refined;
    }
  }
  return success();
}

static std::optional<Regroup> planRegroup(ArrayRef<Digits> srcIn,
                                          ArrayRef<Digits> dstIn,
                                          bool broadcastGroups) {
  SmallVector<Digits> src(srcIn.begin(), srcIn.end());
  SmallVector<Digits> dst(dstIn.begin(), dstIn.end());
  if (failed(refine(src, dst)))
    return std::nullopt;
  Regroup plan;
  // 1. Source dims into digits.
  SmallVector<Digit> level; // the digit of each digit-level dim
  SmallVector<bool> isUnit;
  for (const Digits &dim : src) {
    ReassociationIndices group;
    if (dim.empty()) {
      group.push_back(plan.digitShape.size());
      plan.digitShape.push_back(1);
      level.push_back({});
      isUnit.push_back(true);
    }
    for (const Digit &g : dim) {
      group.push_back(plan.digitShape.size());
      plan.digitShape.push_back(g.extent);
      level.push_back(g);
      isUnit.push_back(false);
    }
    plan.needsExpand |= group.size() > 1;
    plan.expand.push_back(group);
  }

  // 2. Target digits found among them, group by group.
  SmallVector<bool> used(level.size(), false);
  SmallVector<SmallVector<int64_t>> present(dst.size());
  for (auto [t, group] : llvm::enumerate(dst)) {
    unsigned missing = 0;
    for (const Digit &g : group) {
      std::optional<unsigned> found;
      for (unsigned p = 0; p < level.size() && !found; ++p)
        if (!isUnit[p] && !used[p] && level[p] == g)
          found = p;
      if (!found) {
        if (g.extent != 1)
          ++missing;
        continue;
      }
      used[*found] = true;
      present[t].push_back(*found);
    }
    if (missing && (!broadcastGroups || !present[t].empty()))
      return std::nullopt;
  }
  for (unsigned p = 0; p < level.size(); ++p)
    if (!used[p] && !isUnit[p] && level[p].extent != 1)
      return std::nullopt; // the source varies along a digit the target lacks

  // 3. Transpose the digits into target order; a unit dim stays after the
  //    digit it followed, so that units alone never cause a transpose.
  SmallVector<int64_t> groupOf(level.size(), -1);
  SmallVector<std::pair<int64_t, int64_t>> key(level.size());
  int64_t rank = 0;
  DenseMap<int64_t, int64_t> rankOf;
  for (auto [t, g] : llvm::enumerate(present))
    for (int64_t p : g) {
      rankOf[p] = rank++;
      groupOf[p] = t;
    }
  int64_t last = -1;
  for (unsigned p = 0; p < level.size(); ++p) {
    auto it = rankOf.find(p);
    if (it == rankOf.end()) {
      key[p] = {last, 1};
    } else {
      last = it->second;
      key[p] = {last, 0};
    }
  }
  plan.perm.assign(llvm::to_vector(llvm::seq<int64_t>(0, level.size())));
  llvm::stable_sort(plan.perm,
                    [&](int64_t a, int64_t b) { return key[a] < key[b]; });

  // 4. Collapse each present group with the units around it.
  SmallVector<int64_t> presentGroups;
  ReassociationIndices pending;
  int64_t current = -1;
  for (auto [k, p] : llvm::enumerate(plan.perm)) {
    int64_t g = groupOf[p];
    if (g >= 0 && g != current) {
      plan.collapse.push_back(pending);
      pending.clear();
      presentGroups.push_back(g);
      current = g;
    }
    if (plan.collapse.empty())
      pending.push_back(k);
    else
      plan.collapse.back().push_back(k);
  }
  for (auto [r, t] : llvm::zip(plan.collapse, presentGroups)) {
    int64_t size = 1;
    for (int64_t k : r) {
      int64_t e = plan.digitShape[plan.perm[k]];
      size = ShapedType::isDynamic(e) || ShapedType::isDynamic(size)
                 ? ShapedType::kDynamic
                 : size * e;
    }
    plan.collapsedShape.push_back(size);
  }

  // 5. Insert the unit dims of the absent target groups.
  plan.shape.assign(dst.size(), 1);
  for (auto [k, t] : llvm::enumerate(presentGroups))
    plan.shape[t] = plan.collapsedShape[k];
  int64_t pos = 0;
  for (auto [k, t] : llvm::enumerate(presentGroups)) {
    ReassociationIndices r;
    for (; pos <= t; ++pos)
      r.push_back(pos);
    if (k + 1 == presentGroups.size())
      for (; pos < static_cast<int64_t>(dst.size()); ++pos)
        r.push_back(pos);
    plan.insert.push_back(r);
  }
  return plan;
}

static Value transpose(OpBuilder &b, Location loc, Value v,
                       ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, v);
  SmallVector<OpFoldResult> permuted;
  for (int64_t p : perm)
    permuted.push_back(sizes[p]);
  Value init = tensor::EmptyOp::create(b, loc, permuted, type.getElementType());
  return linalg::TransposeOp::create(b, loc, v, init, perm)->getResult(0);
}

/// Builds the regrouping of `v` (whose dims are the `src` linearizations).
static Value buildRegroup(OpBuilder &b, Location loc, Value v,
                          const Regroup &plan) {
  Type elt = cast<RankedTensorType>(v.getType()).getElementType();
  if (plan.needsExpand)
    v = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(plan.digitShape, elt), v, plan.expand);
  bool identity =
      llvm::equal(plan.perm, llvm::seq<int64_t>(0, plan.perm.size()));
  if (!identity)
    v = transpose(b, loc, v, plan.perm);
  auto rank = cast<RankedTensorType>(v.getType()).getRank();
  bool trivialCollapse =
      static_cast<int64_t>(plan.collapse.size()) == rank &&
      llvm::all_of(plan.collapse, [](auto &r) { return r.size() == 1; });
  if (!trivialCollapse)
    v = tensor::CollapseShapeOp::create(b, loc, v, plan.collapse);
  bool trivialInsert =
      plan.insert.size() == plan.shape.size() &&
      llvm::all_of(plan.insert, [](auto &r) { return r.size() == 1; });
  if (!trivialInsert)
    v = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(plan.shape, elt), v, plan.insert);
  return v;
}

std::optional<SmallVector<int64_t>>
skipattn::attn::raise::canonicalShape(Describer &d, const Origin &leaf,
                                      ArrayRef<Digits> groups,
                                      bool broadcastGroups) {
  auto type = cast<RankedTensorType>(leaf.value.getType());
  std::optional<SmallVector<Digits>> src = digitsOf(d, type, leaf.idx);
  if (!src)
    return std::nullopt;
  std::optional<Regroup> plan = planRegroup(*src, groups, broadcastGroups);
  if (!plan)
    return std::nullopt;
  return plan->shape;
}

FailureOr<Value> skipattn::attn::raise::buildCanonical(
    OpBuilder &b, Location loc, Describer &d, const Origin &leaf,
    ArrayRef<Digits> groups, bool broadcastGroups) {
  auto type = cast<RankedTensorType>(leaf.value.getType());
  std::optional<SmallVector<Digits>> src = digitsOf(d, type, leaf.idx);
  if (!src)
    return failure();
  std::optional<Regroup> plan = planRegroup(*src, groups, broadcastGroups);
  if (!plan)
    return failure();
  return buildRegroup(b, loc, leaf.value, *plan);
}

/// The regrouping of the [B, H, Sq, Dv] result into the root's layout.
static std::optional<Regroup> resultPlan(Describer &d,
                                         const AttentionMatch &m) {
  Digits iDigits;
  if (m.iVar)
    iDigits.push_back({*m.iVar, 1, d.var(*m.iVar).extent});
  Digits src[] = {
      m.bDigits, m.hDigits, iDigits, {{m.dvVar, 1, d.var(m.dvVar).extent}}};
  SmallVector<Digits> dst;
  for (unsigned v : m.rootVars) {
    int64_t e = d.var(v).extent;
    dst.push_back(e == 1 ? Digits{} : Digits{{v, 1, e}});
  }
  return planRegroup(src, dst, false);
}

bool skipattn::attn::raise::canBuildResult(Describer &d,
                                           const AttentionMatch &m) {
  return resultPlan(d, m).has_value();
}

FailureOr<Value> skipattn::attn::raise::buildResult(OpBuilder &b, Location loc,
                                                    Describer &d,
                                                    const AttentionMatch &m,
                                                    Value result) {
  // A dynamic digit is only ever the outermost of B, whose extent
  // expand_shape infers.
  std::optional<Regroup> plan = resultPlan(d, m);
  if (!plan)
    return failure();
  return buildRegroup(b, loc, result, *plan);
}
