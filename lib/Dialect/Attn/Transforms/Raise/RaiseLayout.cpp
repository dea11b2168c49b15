//===- RaiseLayout.cpp - labelled layouts of attention operands -----------===//
//
// Attention reaches the contractions in many layouts: [B, H, S, D],
// [B*H, S, D], [S, D], [B, S, H, D] behind a transpose, K and V broadcast
// over the heads of a GQA group. Every dimension gets a label saying what it
// means (RaiseMatchers.h); tracing walks back through the ops that only move
// dimensions to the deepest value that still holds the whole operand, and
// building brings any labelled value to the [B, H, S, D] layout of
// attn.attention and back.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"

using namespace mlir;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Label rules
//===----------------------------------------------------------------------===//

static int64_t count(const Labels &labels, Label l) {
  return llvm::count(labels, l);
}

/// Batch labels: B and H at most once each, or BH alone; never G.
static bool validBatch(const Labels &labels) {
  if (count(labels, Label::G) || count(labels, Label::B) > 1 ||
      count(labels, Label::H) > 1 || count(labels, Label::BH) > 1)
    return false;
  return !(count(labels, Label::BH) &&
           (count(labels, Label::B) || count(labels, Label::H)));
}

static bool validFor(const Labels &labels, Role role) {
  if (!validBatch(labels))
    return false;
  switch (role) {
  case Role::Query:
    return count(labels, Label::I) == 1 && count(labels, Label::D) == 1 &&
           !count(labels, Label::J);
  case Role::Key:
  case Role::Value:
    return count(labels, Label::J) == 1 && count(labels, Label::D) == 1 &&
           !count(labels, Label::I);
  case Role::Mask:
    return count(labels, Label::I) <= 1 && count(labels, Label::J) <= 1 &&
           !count(labels, Label::D);
  }
  return false;
}

/// Splits one label over a group of dims (`sizes`): the non-unit dims take
/// the parts of the label, the unit dims take U.
static std::optional<Labels> splitLabel(Label l, ArrayRef<int64_t> sizes) {
  SmallVector<unsigned> nonUnit;
  for (auto [i, s] : llvm::enumerate(sizes))
    if (s != 1)
      nonUnit.push_back(i);
  // A group of exactly the dims a fused label stands for splits by position,
  // unit or not: [1, 12] from BH is B = 1, H = 12.
  if (sizes.size() == 2 && l == Label::BH)
    return Labels{Label::B, Label::H};
  if (sizes.size() == 2 && l == Label::H)
    return Labels{Label::H, Label::G};
  if (sizes.size() == 3 && l == Label::BH)
    return Labels{Label::B, Label::H, Label::G};
  Labels parts;
  if (nonUnit.size() <= 1)
    parts = {l};
  else if (nonUnit.size() == 2 && l == Label::BH)
    parts = {Label::B, Label::H};
  else if (nonUnit.size() == 2 && l == Label::H)
    parts = {Label::H, Label::G};
  else if (nonUnit.size() == 3 && l == Label::BH)
    parts = {Label::B, Label::H, Label::G};
  else
    return std::nullopt;
  Labels out(sizes.size(), Label::U);
  if (nonUnit.empty())
    out[0] = l;
  for (auto [i, d] : llvm::enumerate(nonUnit))
    out[d] = parts[i];
  return out;
}

/// Merges the labels of a group of dims into one.
static std::optional<Label> mergeLabels(ArrayRef<Label> group) {
  Labels real;
  for (Label l : group)
    if (l != Label::U)
      real.push_back(l);
  if (real.empty())
    return Label::U;
  if (real.size() == 1)
    return real[0];
  if (real == Labels{Label::B, Label::H})
    return Label::BH;
  if (real == Labels{Label::H, Label::G})
    return Label::H;
  if (real == Labels{Label::B, Label::H, Label::G})
    return Label::BH;
  return std::nullopt;
}

/// The reassociation of a reshape op and its large (more dims) side.
static std::optional<std::pair<SmallVector<ReassociationIndices>, bool>>
reshapeInfo(Operation *op, RankedTensorType &large) {
  if (auto c = dyn_cast<tensor::CollapseShapeOp>(op)) {
    large = c.getSrcType();
    return std::make_pair(c.getReassociationIndices(), /*srcIsLarge=*/true);
  }
  if (auto e = dyn_cast<tensor::ExpandShapeOp>(op)) {
    large = e.getResultType();
    return std::make_pair(e.getReassociationIndices(), /*srcIsLarge=*/false);
  }
  if (auto r = dyn_cast<tosa::ReshapeOp>(op)) {
    auto src = dyn_cast<RankedTensorType>(r.getInput1().getType());
    auto dst = dyn_cast<RankedTensorType>(r.getType());
    if (!src || !dst || !src.hasStaticShape() || !dst.hasStaticShape() ||
        src.getRank() == dst.getRank())
      return std::nullopt;
    bool srcIsLarge = src.getRank() > dst.getRank();
    large = srcIsLarge ? src : dst;
    RankedTensorType small = srcIsLarge ? dst : src;
    std::optional<SmallVector<ReassociationIndices>> groups =
        getReassociationIndicesForCollapse(large.getShape(), small.getShape());
    if (!groups)
      return std::nullopt;
    return std::make_pair(*groups, srcIsLarge);
  }
  return std::nullopt;
}

std::optional<Labels> skipattn::attn::raise::reshapeLabels(Operation *op,
                                                           const Labels &labels,
                                                           bool forward) {
  RankedTensorType large;
  auto info = reshapeInfo(op, large);
  if (!info)
    return std::nullopt;
  auto &[groups, srcIsLarge] = *info;
  // Going from the small side to the large side splits; the other way merges.
  bool fromLarge = forward == srcIsLarge;
  Labels out;
  if (fromLarge) {
    for (const ReassociationIndices &g : groups) {
      Labels part;
      for (int64_t d : g)
        part.push_back(labels[d]);
      std::optional<Label> merged = mergeLabels(part);
      if (!merged)
        return std::nullopt;
      out.push_back(*merged);
    }
    return out;
  }
  for (auto [s, g] : llvm::enumerate(groups)) {
    SmallVector<int64_t> sizes;
    for (int64_t d : g)
      sizes.push_back(large.getDimSize(d));
    std::optional<Labels> split = splitLabel(labels[s], sizes);
    if (!split)
      return std::nullopt;
    out.append(split->begin(), split->end());
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Tracing
//===----------------------------------------------------------------------===//

/// The labels of a producer's operand when it is a pure copy that permutes
/// or broadcasts dims (`map`: result dims -> operand dims). Dims the copy
/// adds are dropped; for Q, K and V only a GQA group or a unit dim may be.
static std::optional<Labeled> throughCopy(const Labeled &cur, Value operand,
                                          AffineMap map, Role role) {
  auto resultType = cast<RankedTensorType>(cur.value.getType());
  Labeled next = cur;
  next.value = operand;
  next.labels.assign(map.getNumResults(), Label::U);
  llvm::SmallBitVector used(cur.labels.size());
  for (auto [s, e] : llvm::enumerate(map.getResults())) {
    if (auto dim = dyn_cast<AffineDimExpr>(e)) {
      next.labels[s] = cur.labels[dim.getPosition()];
      used.set(dim.getPosition());
    }
  }
  for (unsigned r = 0; r < cur.labels.size(); ++r) {
    if (used.test(r))
      continue;
    Label l = cur.labels[r];
    if (role == Role::Mask || l == Label::U)
      continue;
    if (l != Label::G || resultType.isDynamicDim(r))
      return std::nullopt;
    next.group *= resultType.getDimSize(r);
  }
  return next;
}

static std::optional<Labeled> traceStep(const Labeled &cur, Role role) {
  Operation *def = cur.value.getDefiningOp();
  if (!def)
    return std::nullopt;
  MLIRContext *ctx = def->getContext();
  unsigned rank = cur.labels.size();

  // Transposes: result dim r is operand dim perm[r].
  auto throughPerm = [&](Value operand,
                         ArrayRef<int64_t> perm) -> std::optional<Labeled> {
    Labeled next = cur;
    next.value = operand;
    for (unsigned r = 0; r < rank; ++r)
      next.labels[perm[r]] = cur.labels[r];
    return next;
  };
  if (auto t = dyn_cast<linalg::TransposeOp>(def))
    return throughPerm(t.getInput(), t.getPermutation());
  if (auto t = dyn_cast<tosa::TransposeOp>(def)) {
    SmallVector<int64_t> perm(t.getPerms().begin(), t.getPerms().end());
    return throughPerm(t.getInput1(), perm);
  }
  if (auto b = dyn_cast<linalg::BroadcastOp>(def)) {
    SmallVector<AffineExpr> exprs;
    for (unsigned r = 0; r < rank; ++r)
      if (!llvm::is_contained(b.getDimensions(), static_cast<int64_t>(r)))
        exprs.push_back(getAffineDimExpr(r, ctx));
    return throughCopy(cur, b.getInput(), AffineMap::get(rank, 0, exprs, ctx),
                       role);
  }
  if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp, tosa::ReshapeOp>(
          def)) {
    std::optional<Labels> labels =
        reshapeLabels(def, cur.labels, /*forward=*/false);
    if (!labels)
      return std::nullopt;
    Labeled next = cur;
    next.value = def->getOperand(0);
    next.labels = *labels;
    return next;
  }
  std::optional<Elementwise> ew = matchElementwise(cur.value);
  if (!ew || ew->inputs.size() != 1)
    return std::nullopt;
  // A copy that permutes or broadcasts.
  if (ew->body->isInput(0))
    return throughCopy(cur, ew->inputs[0], ew->maps[0], role);
  // A scale on Q or K: x * c, c * x or x / c.
  if (role == Role::Mask || role == Role::Value ||
      !isIdentity(ew->maps[0], rank))
    return std::nullopt;
  const Expr &body = *ew->body;
  std::optional<double> factor;
  if (body.is(ExprOp::Mul) && body.args[0]->isInput(0) &&
      body.args[1]->isConst())
    factor = body.args[1]->value;
  else if (body.is(ExprOp::Mul) && body.args[1]->isInput(0) &&
           body.args[0]->isConst())
    factor = body.args[0]->value;
  else if (body.is(ExprOp::Div) && body.args[0]->isInput(0) &&
           body.args[1]->isConst() && body.args[1]->value != 0.0)
    factor = 1.0 / body.args[1]->value;
  if (!factor || !(*factor > 0.0))
    return std::nullopt;
  Labeled next = cur;
  next.value = ew->inputs[0];
  next.scale *= *factor;
  return next;
}

Labeled
skipattn::attn::raise::traceLayout(const Labeled &start, Role role,
                                   llvm::SetVector<Operation *> &visited) {
  Labeled best = start;
  Labeled cur = start;
  SmallVector<Operation *> passed;
  while (std::optional<Labeled> next = traceStep(cur, role)) {
    passed.push_back(cur.value.getDefiningOp());
    cur = *next;
    if (validFor(cur.labels, role)) {
      best = cur;
      visited.insert(passed.begin(), passed.end());
      passed.clear();
    }
  }
  return best;
}

//===----------------------------------------------------------------------===//
// Building
//===----------------------------------------------------------------------===//

namespace {
/// How a labelled value becomes a rank-4 tensor with `target` labels.
struct CanonicalPlan {
  SmallVector<int64_t> perm;                  // transpose, if not identity
  SmallVector<ReassociationIndices> dropUnit; // collapse, if any unit dims
  SmallVector<ReassociationIndices> expand;   // expand to rank 4
  SmallVector<int64_t> shape;                 // the rank-4 shape
  bool collapse = false, needsExpand = false;
};
} // namespace

static std::optional<CanonicalPlan> planCanonical(RankedTensorType type,
                                                  const Labels &labels,
                                                  ArrayRef<Label> target,
                                                  int64_t heads) {
  auto position = [&](Label l) -> int64_t {
    if (l == Label::BH)
      l = Label::B;
    const Label *it = llvm::find(target, l);
    return it == target.end() ? -1 : it - target.begin();
  };
  int64_t rank = type.getRank();
  SmallVector<int64_t> real, units;
  for (int64_t d = 0; d < rank; ++d) {
    if (labels[d] != Label::U) {
      if (position(labels[d]) < 0)
        return std::nullopt;
      real.push_back(d);
    } else if (type.getDimSize(d) != 1) {
      return std::nullopt;
    } else {
      units.push_back(d);
    }
  }
  SmallVector<int64_t> sorted = real;
  llvm::stable_sort(sorted, [&](int64_t a, int64_t b) {
    return position(labels[a]) < position(labels[b]);
  });

  CanonicalPlan plan;
  // The shape of the result: real dims at their target positions, BH split.
  plan.shape.assign(4, 1);
  SmallVector<SmallVector<int64_t>> positions;
  for (int64_t d : sorted) {
    int64_t size = type.getDimSize(d);
    if (labels[d] == Label::BH) {
      int64_t b = position(Label::B), h = position(Label::H);
      if (b < 0 || h != b + 1 || heads <= 0)
        return std::nullopt;
      if (!ShapedType::isDynamic(size) && size % heads != 0)
        return std::nullopt;
      plan.shape[b] = ShapedType::isDynamic(size) ? size : size / heads;
      plan.shape[h] = heads;
      positions.push_back({b, h});
    } else {
      int64_t p = position(labels[d]);
      plan.shape[p] = size;
      positions.push_back({p});
    }
  }

  // Already in place: rank 4, every dim of extent other than 1 at its
  // position.
  bool inPlace =
      rank == 4 && llvm::all_of(llvm::seq<int64_t>(0, 4), [&](int64_t p) {
        return type.getDimSize(p) == 1 || labels[p] == target[p];
      });
  if (inPlace && llvm::equal(type.getShape(), plan.shape))
    return plan;

  // Transpose only when the real dims are out of order; unit dims then go
  // last.
  SmallVector<int64_t> order = real;
  if (sorted != real) {
    order = sorted;
    order.append(units.begin(), units.end());
    plan.perm = order;
  } else {
    order.clear();
    for (int64_t d = 0; d < rank; ++d)
      order.push_back(d);
  }

  // Collapse unit dims into a neighbouring real dim (or everything to rank 0).
  if (!units.empty()) {
    plan.collapse = true;
    ReassociationIndices pending;
    for (auto [i, d] : llvm::enumerate(order)) {
      pending.push_back(i);
      if (labels[d] == Label::U)
        continue;
      plan.dropUnit.push_back(pending);
      pending.clear();
    }
    if (!pending.empty() && !plan.dropUnit.empty())
      plan.dropUnit.back().append(pending.begin(), pending.end());
  }

  // Expand the real dims to the four target positions; each takes the
  // missing positions before it, the last also those after it.
  int64_t next = 0;
  for (unsigned i = 0; i < positions.size(); ++i) {
    ReassociationIndices group;
    for (; next < positions[i].front(); ++next)
      group.push_back(next);
    group.append(positions[i].begin(), positions[i].end());
    next = positions[i].back() + 1;
    if (i + 1 == positions.size())
      for (; next < 4; ++next)
        group.push_back(next);
    plan.expand.push_back(group);
  }
  plan.needsExpand =
      positions.size() != 4 ||
      llvm::any_of(plan.expand, [](auto &g) { return g.size() != 1; });
  return plan;
}

std::optional<SmallVector<int64_t>>
skipattn::attn::raise::canonicalShape(RankedTensorType type,
                                      const Labels &labels,
                                      ArrayRef<Label> target, int64_t heads) {
  std::optional<CanonicalPlan> plan =
      planCanonical(type, labels, target, heads);
  if (!plan)
    return std::nullopt;
  return plan->shape;
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

Value skipattn::attn::raise::buildCanonical(OpBuilder &b, Location loc, Value v,
                                            const Labels &labels,
                                            ArrayRef<Label> target,
                                            int64_t heads) {
  auto type = cast<RankedTensorType>(v.getType());
  CanonicalPlan plan = *planCanonical(type, labels, target, heads);
  if (!plan.perm.empty())
    v = transpose(b, loc, v, plan.perm);
  if (plan.collapse)
    v = tensor::CollapseShapeOp::create(b, loc, v, plan.dropUnit);
  if (plan.needsExpand) {
    auto resultType = RankedTensorType::get(plan.shape, type.getElementType());
    v = tensor::ExpandShapeOp::create(b, loc, resultType, v, plan.expand);
  }
  return v;
}

Value skipattn::attn::raise::buildFromCanonical(OpBuilder &b, Location loc,
                                                Value v, const Labels &labels,
                                                RankedTensorType type) {
  // 1. Fuse or drop B and H as the target layout has them.
  bool hasBH = count(labels, Label::BH) > 0;
  bool hasB = count(labels, Label::B) > 0, hasH = count(labels, Label::H) > 0;
  SmallVector<ReassociationIndices> groups;
  Labels canonical;
  if (hasBH) {
    groups = {{0, 1}, {2}, {3}};
    canonical = {Label::BH, Label::I, Label::D};
  } else if (hasB && hasH) {
    canonical = {Label::B, Label::H, Label::I, Label::D};
  } else if (hasB) {
    groups = {{0, 1}, {2}, {3}};
    canonical = {Label::B, Label::I, Label::D};
  } else if (hasH) {
    groups = {{0, 1}, {2}, {3}};
    canonical = {Label::H, Label::I, Label::D};
  } else {
    groups = {{0, 1, 2}, {3}};
    canonical = {Label::I, Label::D};
  }
  if (!groups.empty())
    v = tensor::CollapseShapeOp::create(b, loc, v, groups);

  // 2. Transpose to the order of the target's real dims.
  Labels real;
  for (Label l : labels)
    if (l != Label::U)
      real.push_back(l);
  SmallVector<int64_t> perm;
  for (Label l : real)
    perm.push_back(llvm::find(canonical, l) - canonical.begin());
  if (!llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
    v = transpose(b, loc, v, perm);

  // 3. Insert the target's unit dims.
  if (real.size() != labels.size()) {
    SmallVector<ReassociationIndices> expand;
    SmallVector<int64_t> shape;
    auto vType = cast<RankedTensorType>(v.getType());
    unsigned r = 0;
    ReassociationIndices pending;
    for (auto [d, l] : llvm::enumerate(labels)) {
      pending.push_back(d);
      if (l == Label::U) {
        shape.push_back(1);
        continue;
      }
      shape.push_back(vType.getDimSize(r++));
      expand.push_back(pending);
      pending.clear();
    }
    if (!pending.empty()) {
      if (expand.empty())
        expand.push_back({});
      expand.back().append(pending.begin(), pending.end());
    }
    v = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, vType.getElementType()), v,
        expand);
  }
  if (v.getType() != type)
    v = tensor::CastOp::create(b, loc, type, v);
  return v;
}
