//===- AttnRaise.cpp - raise attention to attn.attention ------------------===//
//
// The attn-raise pass. Every op result that could end an attention is a
// candidate, latest first (so that the cast or reshape after P·V is
// absorbed when it can be). A candidate is described per element
// (RaiseExpr.h), matched as attention (RaiseMatch.h) and checked against
// every rule of attn.attention before anything changes; only then are the
// operands brought to [B, H, S, D], the op built, its result brought back to
// the candidate's layout, and the ops that lost their last use erased. A
// candidate that fails is left exactly as it was; when it computes softmax
// of scores times V and only a later check failed, a missed-optimization
// remark (category attn-raise, `--remarks-filter=attn-raise`) says why.
//
//===----------------------------------------------------------------------===//

#include "RaiseMatch.h"

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tosa/IR/TosaOps.h"
#include "mlir/IR/Remarks.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNRAISE
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;
using namespace skipattn::attn::raise;

//===----------------------------------------------------------------------===//
// Rewriting
//===----------------------------------------------------------------------===//

namespace {
/// Records the ops a builder creates: for the clean-up, or to undo.
struct Recorder : public RewriterBase::Listener {
  SetVector<Operation *> created;
  /// Producers of ops a rewrite erased: they may have lost their last use.
  SetVector<Operation *> orphans;
  void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override {
    created.insert(op);
  }
  void notifyOperationErased(Operation *op) override {
    created.remove(op);
    orphans.remove(op);
    for (Value operand : op->getOperands())
      if (Operation *def = operand.getDefiningOp())
        orphans.insert(def);
  }
};
} // namespace

/// Erases the ops of `candidates` that no longer have a use, then the
/// producers that lose their last use with them (empties, fills, constants,
/// dims and the index arithmetic on them). An op that was dead before is
/// not touched.
static void eraseDead(const SetVector<Operation *> &candidates,
                      llvm::DenseSet<Operation *> &erased) {
  SmallVector<Operation *> work(candidates.begin(), candidates.end());
  auto erase = [&](Operation *op) {
    // Producers of the operands, and values a payload captures from outside.
    llvm::SetVector<Operation *> producers;
    op->walk([&](Operation *nested) {
      for (Value operand : nested->getOperands())
        if (Operation *def = operand.getDefiningOp())
          if (!op->isAncestor(def))
            producers.insert(def);
    });
    erased.insert(op);
    op->erase();
    for (Operation *p : producers)
      if (!erased.contains(p))
        work.push_back(p);
  };
  bool changed = true;
  while (changed) {
    changed = false;
    SmallVector<Operation *> pending;
    std::swap(pending, work);
    for (Operation *op : pending) {
      if (erased.contains(op) || !isOpTriviallyDead(op)) {
        work.push_back(op);
        continue;
      }
      erase(op);
      changed = true;
    }
    // Ops that stay alive are dropped once nothing changes.
  }
}

/// An i1 tensor that is true where `mask` is false.
static Value negate(OpBuilder &b, Location loc, Value mask) {
  auto type = cast<RankedTensorType>(mask.getType());
  Value ones;
  if (type.hasStaticShape()) {
    ones =
        arith::ConstantOp::create(b, loc, DenseElementsAttr::get(type, true));
  } else {
    Value one = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dyn.push_back(tensor::DimOp::create(b, loc, mask, d));
    ones = tensor::SplatOp::create(b, loc, type, one, dyn);
  }
  return arith::XOrIOp::create(b, loc, mask, ones);
}

/// `v` with its elements converted to `elt` (extf or truncf).
static Value convertElements(OpBuilder &b, Location loc, Value v, Type elt) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getElementType() == elt)
    return v;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, v);
  Value init = tensor::EmptyOp::create(b, loc, sizes, elt);
  int64_t rank = type.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  bool wider = cast<FloatType>(elt).getWidth() >
               cast<FloatType>(type.getElementType()).getWidth();
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{v}, ValueRange{init},
             ArrayRef<AffineMap>{id, id},
             SmallVector<utils::IteratorType>(rank,
                                              utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               Value x =
                   wider
                       ? (Value)arith::ExtFOp::create(nb, nloc, elt, args[0])
                       : (Value)arith::TruncFOp::create(nb, nloc, elt, args[0]);
               linalg::YieldOp::create(nb, nloc, x);
             })
      .getResult(0);
}

/// Builds the attention of `m` and replaces the root with it. On failure the
/// IR is as it was.
static LogicalResult rewrite(AttentionMatch &m, Describer &d,
                             llvm::DenseSet<Operation *> &erased) {
  Operation *rootOp = m.root.getDefiningOp();
  MLIRContext *ctx = rootOp->getContext();
  Location loc = rootOp->getLoc();
  OpBuilder b(rootOp);
  Recorder recorder;
  b.setListener(&recorder);
  auto undo = [&] {
    for (Operation *op : llvm::reverse(recorder.created))
      op->erase();
    return failure();
  };

  FailureOr<Value> q = buildCanonical(b, loc, d, m.q.origin, m.qGroups, false);
  FailureOr<Value> k = buildCanonical(b, loc, d, m.k.origin, m.kGroups, false);
  FailureOr<Value> v = buildCanonical(b, loc, d, m.v.origin, m.vGroups, false);
  if (failed(q) || failed(k) || failed(v))
    return undo();
  for (auto [value, leaf] :
       {std::make_pair(&*q, &m.q), std::make_pair(&*k, &m.k),
        std::make_pair(&*v, &m.v)})
    if (leaf->castTo)
      *value = convertElements(b, loc, *value, leaf->castTo);
  Value mask;
  if (m.mask) {
    Type elt = m.mask->isBool ? Type(b.getI1Type()) : m.elementType;
    FailureOr<Value> built =
        m.mask->leaf ? buildCanonical(b, loc, d, m.mask->leaf->origin,
                                      m.maskGroups, true)
                     : materializeMask(b, loc, d, m, m.mask->expr, elt, *q, *k);
    if (failed(built))
      return undo();
    mask = *built;
    if (m.mask->negate)
      mask = negate(b, loc, mask);
  }
  auto resultType =
      inferAttentionResultType(cast<RankedTensorType>((*q).getType()),
                               cast<RankedTensorType>((*v).getType()));
  auto attn = AttentionOp::create(
      b, loc, resultType, *q, *k, *v, mask,
      m.causal ? b.getUnitAttr() : UnitAttr(),
      b.getF32FloatAttr(static_cast<float>(m.scale)), SkipAttr());
  FailureOr<Value> built = buildResult(b, loc, d, m, attn.getResult());
  if (failed(built))
    return undo();
  Value out = *built;
  auto rootType = cast<RankedTensorType>(m.root.getType());
  out = convertElements(b, loc, out, rootType.getElementType());
  if (out.getType() != rootType)
    out = tensor::CastOp::create(b, loc, rootType, out);
  SmallVector<Operation *> users(m.root.getUsers());
  m.root.replaceAllUsesWith(out);
  b.setListener(nullptr);

  // Dims of the ops that go away are resolved in terms of their operands
  // (ReifyRankedShapedTypeOpInterface), so that they keep nothing alive.
  SmallVector<Operation *> dims;
  Recorder dimRecorder;
  for (Operation *op : m.interior)
    for (Operation *user : op->getUsers())
      if (isa<tensor::DimOp>(user))
        dims.push_back(user);
  if (!dims.empty()) {
    RewritePatternSet dimPatterns(ctx);
    memref::populateResolveRankedShapedTypeResultDimsPatterns(dimPatterns);
    tensor::DimOp::getCanonicalizationPatterns(dimPatterns, ctx);
    GreedyRewriteConfig dimConfig;
    dimConfig.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    dimConfig.setListener(&dimRecorder);
    (void)applyOpPatternsGreedily(dims, std::move(dimPatterns), dimConfig);
  }

  SetVector<Operation *> dead(m.interior.begin(), m.interior.end());
  dead.insert(d.touched().begin(), d.touched().end());
  dead.insert(rootOp);
  eraseDead(dead, erased);
  // What the dim resolution made or orphaned and nothing uses any more.
  SetVector<Operation *> made;
  for (Operation *op : dimRecorder.created)
    if (!erased.contains(op))
      made.insert(op);
  for (Operation *op : dimRecorder.orphans)
    if (!erased.contains(op))
      made.insert(op);
  eraseDead(made, erased);

  // Fold the reshapes and transposes the rewrite put next to the ones the
  // source had (expand of collapse, transpose of transpose).
  RewritePatternSet patterns(ctx);
  tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
  tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
  tensor::CastOp::getCanonicalizationPatterns(patterns, ctx);
  linalg::TransposeOp::getCanonicalizationPatterns(patterns, ctx);
  SmallVector<Operation *> cleanup;
  for (Operation *op : recorder.created)
    if (op != attn.getOperation() && !erased.contains(op))
      cleanup.push_back(op);
  for (Operation *user : users)
    if (!erased.contains(user))
      cleanup.push_back(user);
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  (void)applyOpPatternsGreedily(cleanup, std::move(patterns), config);
  return success();
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

/// Whether `op` may end an attention: one ranked float tensor result.
static bool isCandidate(Operation *op) {
  if (op->getNumResults() != 1)
    return false;
  auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
  return type && type.getRank() >= 2 && isa<FloatType>(type.getElementType());
}

namespace {
struct AttnRaisePass
    : public skipattn::attn::impl::AttnRaiseBase<AttnRaisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    // Candidates that failed; forgotten when a rewrite erases them.
    llvm::DenseSet<Operation *> failedOps;
    // Why recognised attention was not raised, by its P·V op.
    llvm::MapVector<Operation *, std::pair<Location, std::string>> missed;
    while (true) {
      SmallVector<Operation *> candidates;
      getOperation()->walk([&](Operation *op) {
        if (!failedOps.contains(op) && isCandidate(op))
          candidates.push_back(op);
      });
      bool raised = false;
      for (Operation *op : llvm::reverse(candidates)) {
        Describer d(ctx);
        Diagnosis why;
        std::optional<AttentionMatch> m =
            matchAttention(d, op->getResult(0), why);
        llvm::DenseSet<Operation *> erased;
        if (!m || failed(rewrite(*m, d, erased))) {
          failedOps.insert(op);
          // Candidates come latest first: the reason found closest to the
          // P·V op is the one to report.
          if (why.recognised && why.anchor) {
            missed.erase(why.anchor);
            missed.insert({why.anchor, {why.anchor->getLoc(), why.reason}});
          }
          continue;
        }
        for (Operation *e : erased) {
          failedOps.erase(e);
          missed.erase(e);
        }
        raised = true;
        break;
      }
      if (!raised)
        break;
    }
    for (auto &[anchor, entry] : missed)
      remark::missed(
          entry.first,
          remark::RemarkOpts::name("NotRaised").category("attn-raise"))
          << ("attention not raised: " + entry.second);
  }
};
} // namespace
