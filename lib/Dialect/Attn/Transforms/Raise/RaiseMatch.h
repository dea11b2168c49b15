//===- RaiseMatch.h - attention as facts about a description ----*- C++ -*-===//
//
// What attn-raise proves about a value before it rewrites anything. The
// value is described per element (RaiseExpr.h); attention is then a set of
// facts about the description, independent of how ops were split, fused,
// generalized or reshaped:
//
//   O[x]   = sum_j P[x, j] * V[x, j]              (or (sum_j E V) / Z)
//   P      = E / Z,  E = exp(L),  Z = sum_j E     (E / Z as E * (1 / Z) too)
//   L      = scale * S + masks + (terms free of j, which softmax cancels)
//   S[x,j] = sum_d Q[x, d] * K[x, j, d]
//
// The variables of O take roles from what depends on them: the key index j
// is the P·V reduction, the query index i is what P depends on and V does
// not, the value dim what V depends on and P does not, and batch variables
// are those both depend on. Layouts, GQA and masks follow from the index
// expressions of the leaves.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEMATCH_H
#define SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEMATCH_H

#include "RaiseExpr.h"

#include "mlir/IR/Builders.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace skipattn::attn::raise {

/// A run of the mixed-radix digits of a variable: the value
/// `(var floordiv divisor) mod extent`, ranging over `extent` values (the mod
/// is a no-op for the outermost run). A whole variable is (var, 1, its
/// extent); GQA's kv head is (h, G, Hq / G) when query heads are grouped,
/// (h, 1, Hkv) when K and V are tiled.
struct Digit {
  unsigned var = 0;
  int64_t divisor = 1;
  int64_t extent = 1;
  bool operator==(const Digit &o) const {
    return var == o.var && divisor == o.divisor && extent == o.extent;
  }
};
using Digits = llvm::SmallVector<Digit, 3>;

/// A tensor that becomes an operand: a Read at a chosen level of views.
struct Leaf {
  Node *node = nullptr;
  Origin origin;
  /// The element type the program rounds the leaf to before using it, when
  /// that rounding is not in a tensor of its own (fused into a payload).
  mlir::Type castTo;
};

/// A mask operand: a tensor leaf, or an expression to compute into one.
struct MaskOperand {
  Node *expr = nullptr;     // over the batch variables, i and j
  std::optional<Leaf> leaf; // the tensor holding `expr`, when there is one
  bool isBool = false;      // i1 (true = keep) or additive
  bool negate = false;      // an i1 leaf that keeps the false entries
};

/// Everything the rewrite needs, decided before the IR changes.
struct AttentionMatch {
  mlir::Value root;
  llvm::SmallVector<unsigned> rootVars; // one per dim of the root
  std::optional<unsigned> iVar;         // absent when Sq = 1 is dropped
  unsigned jVar = 0, dVar = 0, dvVar = 0;

  /// The op's batch and query-head dims, each a linearization of digits;
  /// `kvDigits` is what K and V index for the query head.
  Digits bDigits, hDigits, kvDigits;
  int64_t heads = 1, kvHeads = 1;
  /// The canonical [B, H, S, D] groups of each operand (mask: [B, H, Sq,
  /// Skv], where it may broadcast a whole group).
  llvm::SmallVector<Digits, 4> qGroups, kGroups, vGroups, maskGroups;

  Leaf q, k, v;
  std::optional<MaskOperand> mask;
  double scale = 1.0;
  bool causal = false;
  mlir::Type elementType;

  /// The ops between the scores and the root that depend on the scores:
  /// all of them go away.
  llvm::SetVector<mlir::Operation *> interior;
};

/// Why a candidate was not raised. `recognised` when the value computes
/// softmax(scores) · V and only a later check failed: worth a remark.
struct Diagnosis {
  bool recognised = false;
  std::string reason;
  /// The P·V op, where a remark points.
  mlir::Operation *anchor = nullptr;
};

/// Matches attention ending in `root`.
std::optional<AttentionMatch> matchAttention(Describer &d, mlir::Value root,
                                             Diagnosis &why);

//===----------------------------------------------------------------------===//
// Masks (RaiseMasks.cpp)
//===----------------------------------------------------------------------===//

/// A term of the logits besides the scores: an additive `bias`, or a select
/// that keeps the scores where `cond` is `keepWhen` and puts `fill`
/// elsewhere. `scaleAfter` is the product of the scales applied to the
/// logits after this term.
struct MaskTerm {
  enum class Kind { Bias, Select } kind;
  Node *expr = nullptr;
  bool keepWhen = true;
  Node *fill = nullptr;
  double scaleAfter = 1.0;
};

/// The kept set {j - i <= offset} of a mask term that is a causal-style
/// triangle, with the least negative value of its masked entries after the
/// scales that follow it.
struct Triangle {
  int64_t offset = 0;
  double fill = -INFINITY;
};

/// Decides whether `term` is a triangle over (i, j).
std::optional<Triangle> matchTriangle(Describer &d, const MaskTerm &term,
                                      std::optional<unsigned> i, unsigned j);

//===----------------------------------------------------------------------===//
// Layouts (RaiseLayout.cpp)
//===----------------------------------------------------------------------===//

/// The digits of each dim of a tensor read at `idx`: the dim's index is the
/// row-major linearization of its digits. A unit dim read at 0 has none.
std::optional<llvm::SmallVector<Digits>>
digitsOf(Describer &d, mlir::RankedTensorType type,
         llvm::ArrayRef<mlir::AffineExpr> idx);

/// A rank-4 tensor whose dims are the linearizations of the four `groups`
/// (an empty group is a unit dim), built from `leaf` with expand_shape,
/// transpose and collapse_shape; a group the leaf does not read at all
/// becomes a unit dim when `broadcastGroups`. Fails (nothing built) when
/// the leaf's indices are not such a view.
mlir::FailureOr<mlir::Value> buildCanonical(mlir::OpBuilder &b,
                                            mlir::Location loc, Describer &d,
                                            const Origin &leaf,
                                            llvm::ArrayRef<Digits> groups,
                                            bool broadcastGroups);
/// Whether buildCanonical would succeed, and the shape it would give.
std::optional<llvm::SmallVector<int64_t>>
canonicalShape(Describer &d, const Origin &leaf, llvm::ArrayRef<Digits> groups,
               bool broadcastGroups);

/// Brings the [B, H, Sq, Dv] attention result to the root's layout.
mlir::FailureOr<mlir::Value> buildResult(mlir::OpBuilder &b, mlir::Location loc,
                                         Describer &d, const AttentionMatch &m,
                                         mlir::Value result);
/// Whether buildResult can.
bool canBuildResult(Describer &d, const AttentionMatch &m);

/// Computes `mask.expr` into a [B or 1, H or 1, Sq, Skv] tensor of
/// `elementType` (i1 for a boolean mask).
mlir::FailureOr<mlir::Value>
materializeMask(mlir::OpBuilder &b, mlir::Location loc, Describer &d,
                const AttentionMatch &m, Node *expr, mlir::Type elementType,
                mlir::Value qOperand, mlir::Value kOperand);

/// Whether materializeMask can emit `expr`.
bool canMaterialize(Describer &d, Node *expr);
/// The shape materializeMask gives `expr`.
llvm::SmallVector<int64_t> materializedMaskShape(const AttentionMatch &m,
                                                 Describer &d, Node *expr);

} // namespace skipattn::attn::raise

#endif // SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEMATCH_H
