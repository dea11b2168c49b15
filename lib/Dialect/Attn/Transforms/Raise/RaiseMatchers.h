//===- RaiseMatchers.h - building blocks of attn-raise ----------*- C++ -*-===//
//
// attn-raise recognises attention by meaning, not by op names: every linalg
// or TOSA op it meets is first viewed through one of the uniform shapes
// below (a contraction, an elementwise op with a scalar body, a row
// reduction, a view that only moves or regroups dimensions). The matchers of
// the softmax, the score chain and the operand layouts work on those views,
// so one piece of logic serves linalg.generic, the named linalg ops and TOSA.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEMATCHERS_H
#define SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEMATCHERS_H

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallVector.h"

#include <memory>
#include <optional>

namespace skipattn::attn::raise {

//===----------------------------------------------------------------------===//
// Scalar expressions: the bodies of elementwise ops
//===----------------------------------------------------------------------===//

/// The scalar operations the matchers care about; everything else is Other.
enum class ExprOp {
  Add,
  Sub,
  Mul,
  Div,
  Max,
  Exp,
  Neg,
  Select,
  CmpI,
  CmpF,
  ExtF,
  TruncF,
  Cast,
  AndI,
  OrI,
  XOrI,
  Other
};

struct Expr;
using ExprRef = std::shared_ptr<const Expr>;

/// A node of a scalar expression tree over an elementwise op's tensor inputs
/// (Input), constants (Const) and loop indices (Index).
struct Expr {
  enum class Kind { Input, Const, Index, Op } kind;
  unsigned pos = 0; // Input: input number; Index: loop dimension.
  double value = 0; // Const: the value (i1 as 0 or 1).
  ExprOp op = ExprOp::Other;
  int64_t predicate = -1; // CmpI / CmpF: the arith predicate.
  mlir::Type type;
  llvm::SmallVector<ExprRef, 3> args;

  static ExprRef input(unsigned pos, mlir::Type type);
  static ExprRef constant(double value, mlir::Type type);
  static ExprRef index(unsigned dim);
  static ExprRef make(ExprOp op, llvm::SmallVector<ExprRef, 3> args,
                      mlir::Type type, int64_t predicate = -1);

  bool isInput(unsigned p) const { return kind == Kind::Input && pos == p; }
  bool isConst() const { return kind == Kind::Const; }
  bool is(ExprOp o) const { return kind == Kind::Op && op == o; }
  /// Whether Input(p) occurs anywhere in the tree.
  bool uses(unsigned p) const;
};

//===----------------------------------------------------------------------===//
// Uniform views of ops
//===----------------------------------------------------------------------===//

/// An elementwise op (all-parallel linalg op, or a TOSA elementwise op) seen
/// as `result[d] = body(inputs[i][maps[i](d)])`. Splat constant inputs are
/// folded into the body as constants; each map sends the result dims to an
/// input's dims and holds only dims or the constant 0 (broadcast).
struct Elementwise {
  mlir::Operation *op = nullptr;
  unsigned rank = 0;
  llvm::SmallVector<mlir::Value> inputs;
  llvm::SmallVector<mlir::AffineMap> maps;
  ExprRef body;
};
std::optional<Elementwise> matchElementwise(mlir::Value result);

/// Whether `map` is the identity of the op's result dims.
bool isIdentity(mlir::AffineMap map, unsigned rank);

/// A max or sum over one dimension (linalg.generic, linalg.reduce,
/// tosa.reduce_max / reduce_sum). `keepDim` is set when the result keeps the
/// reduced dimension with extent 1.
struct Reduction {
  enum class Kind { Max, Sum } kind;
  mlir::Operation *op = nullptr;
  mlir::Value input;
  unsigned reducedDim = 0;
  bool keepDim = false;
};
std::optional<Reduction> matchReduction(mlir::Value result);

/// A contraction out[b.., m, n] = sum_k lhs[..] * rhs[..] with exactly one
/// m, n and k dimension, from a linalg contraction or tosa.matmul. The maps
/// send the loop dims to each operand's dims; the accumulator is zero.
struct Contraction {
  mlir::Operation *op = nullptr;
  mlir::Value lhs, rhs, result;
  mlir::AffineMap lhsMap, rhsMap, outMap;
  llvm::SmallVector<unsigned> batch;
  unsigned m = 0, n = 0, k = 0;
  unsigned numLoops = 0;
};
std::optional<Contraction> matchContraction(mlir::Operation *op);

/// Follows `v` through ops that only broadcast it or add and remove unit
/// dims, composing `map` (result dims of the consumer -> dims of `v`) on the
/// way. Returns the source and the composed map.
std::pair<mlir::Value, mlir::AffineMap>
lookThroughBroadcast(mlir::Value v, mlir::AffineMap map);

/// Whether `v` is a constant whose every element equals one value.
std::optional<double> getSplatValue(mlir::Value v);

//===----------------------------------------------------------------------===//
// Labelled layouts
//===----------------------------------------------------------------------===//

/// What a tensor dimension means for the attention: batch (B), heads (H),
/// batch and heads fused (BH), the query heads of one GQA group (G), query
/// rows (I), key/value rows (J), head dim (D), or a unit dim (U).
enum class Label { B, H, BH, G, I, J, D, U };
using Labels = llvm::SmallVector<Label, 5>;

/// A value with one label per dimension, and what was passed on the way to
/// it: a scale on Q or K, and the size of a GQA group dropped by a
/// broadcast.
struct Labeled {
  mlir::Value value;
  Labels labels;
  double scale = 1.0;
  int64_t group = 1;
};

/// The role of a traced value: which labels it must hold, and whether a
/// multiplication by a constant may be absorbed into the softmax scale.
enum class Role { Query, Key, Value, Mask };

/// Walks from `start` back through transposes, reshapes, GQA broadcasts (and,
/// for Q and K, multiplications by constants) and returns the deepest value
/// whose labels are valid for `role`; the ops passed are added to `visited`.
Labeled traceLayout(const Labeled &start, Role role,
                    llvm::SetVector<mlir::Operation *> &visited);

/// Regroups the labels of a reshape's operand from those of its result, or
/// of its result from its operand (`forward`). Fails on a regrouping that is
/// not a merge or split of batch and head dims.
std::optional<Labels> reshapeLabels(mlir::Operation *reshape,
                                    const Labels &labels, bool forward);

/// Builds `v` (labelled `labels`) as a [B, H, X, Y] tensor whose labels are
/// `target` (four labels): transposes, drops unit dims, splits a fused BH
/// dim with `heads` heads and inserts unit dims for labels that are missing.
mlir::Value buildCanonical(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value v, const Labels &labels,
                           llvm::ArrayRef<Label> target, int64_t heads);

/// The inverse for a result: turns the [B, H, I, D] tensor `v` into the
/// layout `labels` of type `type` (fusing B and H, dropping unit B and H,
/// transposing).
mlir::Value buildFromCanonical(mlir::OpBuilder &b, mlir::Location loc,
                               mlir::Value v, const Labels &labels,
                               mlir::RankedTensorType type);

/// The shape `buildCanonical` will give, or nothing when it cannot.
std::optional<llvm::SmallVector<int64_t>>
canonicalShape(mlir::RankedTensorType type, const Labels &labels,
               llvm::ArrayRef<Label> target, int64_t heads);

//===----------------------------------------------------------------------===//
// Softmax and the score chain
//===----------------------------------------------------------------------===//

/// softmax(input) over the last dimension, ending in `output`.
struct Softmax {
  mlir::Value input, output;
  llvm::SmallVector<mlir::Operation *> ops;
};
/// Matches linalg.softmax, or the max/sub/exp/sum/div chain (linalg or
/// TOSA), whose intermediates have no users outside the chain.
std::optional<Softmax> matchSoftmax(mlir::Value output);

/// A mask that becomes the `mask` operand of attn.attention.
struct MaskOperand {
  mlir::Value value; // the tensor, before canonicalization
  Labels labels;     // one per dim of `value`
  bool isBool = false;
  bool negate = false; // an i1 mask that keeps the positions that are false
};

/// Everything between the Q·K^T contraction and the P operand of P·V.
struct ScoreChain {
  Contraction qk;
  Labels qkLabels;    // labels of the Q·K^T result
  Labels pLabels;     // labels of the P operand
  double scale = 1.0; // the product of the constant factors
  /// Causal triangles found: each keeps j - i <= offset.
  llvm::SmallVector<int64_t> triangles;
  /// The most negative value a triangle's masked entries may reach after
  /// the scales that follow it, and whether every triangle keeps whole rows
  /// of zeros out of reach (-inf fill).
  double triangleFill = -INFINITY;
  /// Whether the triangles' extents are known to be equal when dynamic.
  bool squareWhenDynamic = false;
  std::optional<MaskOperand> mask;
  llvm::SetVector<mlir::Operation *> ops;
};
/// Walks back from the P operand of a P·V contraction to the Q·K^T
/// contraction, collecting scale and masks; fails on anything else.
std::optional<ScoreChain> matchScoreChain(mlir::Value p);

} // namespace skipattn::attn::raise

#endif // SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEMATCHERS_H
