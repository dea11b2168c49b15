//===- AttnRaise.cpp - raise attention to attn.attention ------------------===//
//
// The attn-raise pass. A match starts at a contraction that could be P·V,
// walks the score chain back to Q·K^T (RaiseScores.cpp), traces Q, K, V and
// the mask to their [B, H, S, D] sources (RaiseLayout.cpp), and checks every
// shape, head count and element type against the rules of attn.attention
// before it changes anything. Only then does it build the op, bring the
// result back to the layout P·V produced, and erase the ops of the matched
// subgraph that lost their last use. A candidate that fails any check is
// left exactly as it was.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatchers.h"

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNRAISE
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;
using namespace skipattn::attn::raise;

namespace {

constexpr Label kQueryTarget[] = {Label::B, Label::H, Label::I, Label::D};
constexpr Label kKVTarget[] = {Label::B, Label::H, Label::J, Label::D};
constexpr Label kMaskTarget[] = {Label::B, Label::H, Label::I, Label::J};

/// Everything the rewrite needs, decided before the IR changes.
struct AttentionPlan {
  Contraction pv;
  Labeled q, k, v;
  std::optional<Labeled> mask;
  bool maskNegate = false;
  Labels outLabels;
  int64_t hq = 0, hkv = 0;
  double scale = 1.0;
  bool causal = false;
  RankedTensorType resultType;
  SetVector<Operation *> ops;
};

} // namespace

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

static std::optional<int64_t> labelSize(const Labeled &x, Label l) {
  auto type = cast<RankedTensorType>(x.value.getType());
  for (auto [d, label] : llvm::enumerate(x.labels))
    if (label == l)
      return type.getDimSize(d);
  return std::nullopt;
}

static bool has(const Labels &labels, Label l) {
  return llvm::is_contained(labels, l);
}

/// Query heads implied by a traced Q, K or V, when it tells.
static std::optional<int64_t> impliedQueryHeads(const Labeled &x) {
  if (std::optional<int64_t> h = labelSize(x, Label::H))
    return ShapedType::isDynamic(*h) ? std::nullopt
                                     : std::optional<int64_t>(*h * x.group);
  if (has(x.labels, Label::BH))
    return std::nullopt;
  return x.group; // no heads dim: one head per group
}

/// Key/value heads of a traced K or V, given the query heads.
static std::optional<int64_t> kvHeads(const Labeled &x, int64_t hq) {
  if (std::optional<int64_t> h = labelSize(x, Label::H)) {
    if (ShapedType::isDynamic(*h) || *h * x.group != hq)
      return std::nullopt;
    return *h;
  }
  if (hq % x.group != 0)
    return std::nullopt;
  return hq / x.group;
}

/// Labels of an operand of a contraction from the labels of its loop dims.
static std::optional<Labels>
operandLabels(AffineMap map, ArrayRef<std::optional<Label>> loop) {
  Labels labels;
  for (AffineExpr e : map.getResults()) {
    std::optional<Label> l = loop[cast<AffineDimExpr>(e).getPosition()];
    if (!l)
      return std::nullopt;
    labels.push_back(*l);
  }
  return labels;
}

static RankedTensorType predictType(const Labeled &x, ArrayRef<Label> target,
                                    int64_t heads, Type elementType = {}) {
  auto type = cast<RankedTensorType>(x.value.getType());
  std::optional<SmallVector<int64_t>> shape =
      canonicalShape(type, x.labels, target, heads);
  if (!shape)
    return {};
  return RankedTensorType::get(*shape, elementType ? elementType
                                                   : type.getElementType());
}

/// The extent the attention result gives a dim of P·V's result.
static int64_t resultExtent(Label l, ArrayRef<int64_t> shape) {
  switch (l) {
  case Label::B:
    return shape[0];
  case Label::H:
    return shape[1];
  case Label::BH:
    return ShapedType::isDynamic(shape[0]) ? ShapedType::kDynamic
                                           : shape[0] * shape[1];
  case Label::I:
    return shape[2];
  case Label::D:
    return shape[3];
  default:
    return 1;
  }
}

/// Plans the raise of `pv` with P as operand `pSide`.
static std::optional<AttentionPlan> planWithP(const Contraction &pv,
                                              unsigned pSide) {
  AttentionPlan plan;
  plan.pv = pv;
  Value p = pSide == 0 ? pv.lhs : pv.rhs;
  Value v = pSide == 0 ? pv.rhs : pv.lhs;
  AffineMap pMap = pSide == 0 ? pv.lhsMap : pv.rhsMap;
  AffineMap vMap = pSide == 0 ? pv.rhsMap : pv.lhsMap;
  unsigned row = pSide == 0 ? pv.m : pv.n;
  unsigned col = pSide == 0 ? pv.n : pv.m;
  unsigned nP = pMap.getNumResults();
  auto dimOf = [](AffineMap m, unsigned r) {
    return cast<AffineDimExpr>(m.getResult(r)).getPosition();
  };
  // P must be [batch.., row, k]: contracting its first dim is P^T·V.
  if (nP < 2 || dimOf(pMap, nP - 2) != row || dimOf(pMap, nP - 1) != pv.k)
    return std::nullopt;

  std::optional<ScoreChain> chain = matchScoreChain(p);
  if (!chain || chain->pLabels.size() != nP)
    return std::nullopt;
  plan.ops = chain->ops;
  plan.ops.insert(pv.op);

  // Labels of the P·V loops, then of V and of the result.
  SmallVector<std::optional<Label>> pvLoops(pv.numLoops);
  for (unsigned r = 0; r < nP; ++r)
    pvLoops[dimOf(pMap, r)] = chain->pLabels[r];
  pvLoops[col] = Label::D;
  std::optional<Labels> vLabels = operandLabels(vMap, pvLoops);
  std::optional<Labels> outLabels = operandLabels(pv.outMap, pvLoops);
  if (!vLabels || !outLabels)
    return std::nullopt;
  plan.outLabels = *outLabels;

  // Labels of the Q·K^T loops, then of Q and K.
  const Contraction &qk = chain->qk;
  SmallVector<std::optional<Label>> qkLoops(qk.numLoops);
  for (unsigned r = 0; r < qk.outMap.getNumResults(); ++r)
    qkLoops[dimOf(qk.outMap, r)] = chain->qkLabels[r];
  qkLoops[qk.k] = Label::D;
  std::optional<Labels> qLabels = operandLabels(qk.lhsMap, qkLoops);
  std::optional<Labels> kLabels = operandLabels(qk.rhsMap, qkLoops);
  if (!qLabels || !kLabels)
    return std::nullopt;

  plan.q = traceLayout({qk.lhs, *qLabels}, Role::Query, plan.ops);
  plan.k = traceLayout({qk.rhs, *kLabels}, Role::Key, plan.ops);
  plan.v = traceLayout({v, *vLabels}, Role::Value, plan.ops);
  plan.scale = chain->scale * plan.q.scale * plan.k.scale;
  if (!(plan.scale > 0.0) || !std::isfinite(plan.scale))
    return std::nullopt;

  // Head counts: from whichever operand tells, else from the fused extent.
  std::optional<int64_t> hq = impliedQueryHeads(plan.q);
  if (!hq)
    hq = impliedQueryHeads(plan.k);
  if (!hq)
    hq = impliedQueryHeads(plan.v);
  if (!hq) {
    std::optional<int64_t> bh = labelSize(plan.q, Label::BH);
    hq = bh && !ShapedType::isDynamic(*bh) ? *bh : 1;
  }
  plan.hq = *hq;
  std::optional<int64_t> hkvK = kvHeads(plan.k, plan.hq);
  std::optional<int64_t> hkvV = kvHeads(plan.v, plan.hq);
  if (!hkvK || !hkvV || *hkvK != *hkvV)
    return std::nullopt;
  plan.hkv = *hkvK;

  RankedTensorType qType = predictType(plan.q, kQueryTarget, plan.hq);
  RankedTensorType kType = predictType(plan.k, kKVTarget, plan.hkv);
  RankedTensorType vType = predictType(plan.v, kKVTarget, plan.hkv);
  if (!qType || !kType || !vType)
    return std::nullopt;
  RankedTensorType maskType;
  if (chain->mask) {
    const MaskOperand &m = *chain->mask;
    plan.mask = traceLayout({m.value, m.labels}, Role::Mask, plan.ops);
    plan.maskNegate = m.negate;
    maskType = predictType(*plan.mask, kMaskTarget, plan.hq);
    if (!maskType)
      return std::nullopt;
  }
  plan.resultType = inferAttentionResultType(qType, vType);

  // Everything attn.attention requires, checked quietly.
  {
    MLIRContext *ctx = pv.op->getContext();
    ScopedDiagnosticHandler quiet(ctx, [](Diagnostic &) { return success(); });
    if (failed(verifyAttentionTypes([&] { return emitError(pv.op->getLoc()); },
                                    qType, kType, vType, maskType,
                                    plan.resultType)))
      return std::nullopt;
  }

  // The result must come back as P·V produced it.
  auto pvType = cast<RankedTensorType>(pv.result.getType());
  if (pvType.getElementType() != qType.getElementType() ||
      has(plan.outLabels, Label::J) || has(plan.outLabels, Label::G) ||
      llvm::count(plan.outLabels, Label::I) != 1 ||
      llvm::count(plan.outLabels, Label::D) != 1)
    return std::nullopt;
  for (auto [d, l] : llvm::enumerate(plan.outLabels)) {
    int64_t want = resultExtent(l, plan.resultType.getShape());
    int64_t got = pvType.getDimSize(d);
    if (!ShapedType::isDynamic(want) && !ShapedType::isDynamic(got) &&
        want != got)
      return std::nullopt;
  }

  // Causal triangles must be exactly the bottom-right aligned one.
  if (!chain->triangles.empty()) {
    int64_t sq = qType.getDimSize(2), skv = kType.getDimSize(2);
    bool dynamic = ShapedType::isDynamic(sq) || ShapedType::isDynamic(skv);
    for (int64_t t : chain->triangles) {
      if (dynamic ? !(t == 0 && chain->squareWhenDynamic) : t != skv - sq)
        return std::nullopt;
    }
    // A finite fill makes rows with every entry masked uniform, not zero.
    if (!std::isinf(chain->triangleFill) && !dynamic && sq > skv)
      return std::nullopt;
    plan.causal = true;
  }
  return plan;
}

static std::optional<AttentionPlan> planAttention(Operation *op) {
  std::optional<Contraction> pv = matchContraction(op);
  if (!pv)
    return std::nullopt;
  for (unsigned side : {0u, 1u})
    if (std::optional<AttentionPlan> plan = planWithP(*pv, side))
      return plan;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Rewriting
//===----------------------------------------------------------------------===//

namespace {
/// Records the ops a builder creates, for the clean-up that follows.
struct Recorder : public OpBuilder::Listener {
  SmallVector<Operation *> created;
  void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override {
    created.push_back(op);
  }
};
} // namespace

/// Erases the ops of `candidates` (and the empties, fills and constants they
/// read) that no longer have a use.
static void eraseDead(SetVector<Operation *> candidates,
                      llvm::DenseSet<Operation *> &erased) {
  auto addProducer = [&](Value v) {
    if (Operation *def = v.getDefiningOp())
      if (isa<tensor::EmptyOp, linalg::FillOp, arith::ConstantOp, tosa::ConstOp,
              tosa::ConstShapeOp, tensor::DimOp>(def))
        candidates.insert(def);
  };
  for (unsigned i = 0; i < candidates.size(); ++i) {
    Operation *op = candidates[i];
    for (Value operand : op->getOperands())
      addProducer(operand);
    // Constants that a body captures from outside.
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (!op->isAncestor(operand.getParentRegion()->getParentOp()))
          addProducer(operand);
    });
  }
  bool changed = true;
  while (changed) {
    changed = false;
    for (Operation *op : candidates) {
      if (erased.contains(op) || !isOpTriviallyDead(op))
        continue;
      erased.insert(op);
      op->erase();
      changed = true;
    }
  }
}

static void rewrite(AttentionPlan &plan, llvm::DenseSet<Operation *> &erased) {
  Operation *pvOp = plan.pv.op;
  MLIRContext *ctx = pvOp->getContext();
  Location loc = pvOp->getLoc();
  OpBuilder b(pvOp);
  Recorder recorder;
  b.setListener(&recorder);

  Value q = buildCanonical(b, loc, plan.q.value, plan.q.labels, kQueryTarget,
                           plan.hq);
  Value k =
      buildCanonical(b, loc, plan.k.value, plan.k.labels, kKVTarget, plan.hkv);
  Value v =
      buildCanonical(b, loc, plan.v.value, plan.v.labels, kKVTarget, plan.hkv);
  Value mask;
  if (plan.mask) {
    mask = buildCanonical(b, loc, plan.mask->value, plan.mask->labels,
                          kMaskTarget, plan.hq);
    if (plan.maskNegate) {
      auto type = cast<RankedTensorType>(mask.getType());
      Value ones;
      if (type.hasStaticShape()) {
        ones = arith::ConstantOp::create(b, loc,
                                         DenseElementsAttr::get(type, true));
      } else {
        Value one = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
        SmallVector<Value> dyn;
        for (int64_t d = 0; d < type.getRank(); ++d)
          if (type.isDynamicDim(d))
            dyn.push_back(tensor::DimOp::create(b, loc, mask, d));
        ones = tensor::SplatOp::create(b, loc, type, one, dyn);
      }
      mask = arith::XOrIOp::create(b, loc, mask, ones);
    }
  }
  auto attn = AttentionOp::create(
      b, loc, plan.resultType, q, k, v, mask,
      plan.causal ? b.getUnitAttr() : UnitAttr(),
      b.getF32FloatAttr(static_cast<float>(plan.scale)), SkipAttr());
  Value out =
      buildFromCanonical(b, loc, attn.getResult(), plan.outLabels,
                         cast<RankedTensorType>(plan.pv.result.getType()));
  SmallVector<Operation *> users(plan.pv.result.getUsers());
  plan.pv.result.replaceAllUsesWith(out);
  b.setListener(nullptr);
  eraseDead(plan.ops, erased);

  // Fold the reshapes and transposes the rewrite put next to the ones the
  // source had (expand of collapse, transpose of transpose).
  RewritePatternSet patterns(ctx);
  tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
  tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
  tensor::CastOp::getCanonicalizationPatterns(patterns, ctx);
  linalg::TransposeOp::getCanonicalizationPatterns(patterns, ctx);
  SmallVector<Operation *> cleanup;
  for (Operation *op : recorder.created)
    if (op != attn.getOperation())
      cleanup.push_back(op);
  cleanup.append(users.begin(), users.end());
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  (void)applyOpPatternsGreedily(cleanup, std::move(patterns), config);
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {
struct AttnRaisePass
    : public skipattn::attn::impl::AttnRaiseBase<AttnRaisePass> {
  void runOnOperation() override {
    // Ops that failed to match as P·V; forgotten when a rewrite erases them.
    llvm::DenseSet<Operation *> failed, erased;
    while (true) {
      SmallVector<Operation *> candidates;
      getOperation()->walk([&](Operation *op) {
        if (!failed.contains(op) && matchContraction(op))
          candidates.push_back(op);
      });
      bool raised = false;
      for (Operation *op : candidates) {
        std::optional<AttentionPlan> plan = planAttention(op);
        if (!plan) {
          failed.insert(op);
          continue;
        }
        erased.clear();
        rewrite(*plan, erased);
        for (Operation *e : erased)
          failed.erase(e);
        raised = true;
        break;
      }
      if (!raised)
        return;
    }
  }
};
} // namespace
