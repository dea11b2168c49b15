//===- RaiseExpr.h - what a tensor value computes, per element -*- C++ -*-===//
//
// attn-raise does not match op names or op boundaries: it matches what a
// value computes. A Describer reads a tensor value at symbolic indices and
// answers with a scalar expression over index variables, looking through
// every op that only moves data (transposes, broadcasts, reshapes, slices,
// copies and fills, whether named or generic, linalg or TOSA) by composing
// index maps, and through every computing op (elementwise ops, reductions,
// contractions, linalg.softmax) by their payload. A linalg op is read through
// the LinalgOp interface, i.e. as its generalized form, so a named op, the
// generic that linalg-generalize-named-ops makes of it and the fused generic
// that linalg-fuse-elementwise-ops makes of a chain all describe the same
// expression. Fills and splat constants become constants; unit dimensions
// become the index 0; index arithmetic is simplified with the extents of the
// variables, so that a collapse followed by an expand describes the identity.
//
// Expansion is lazy: a value produced by a computing op is a Read node until
// a matcher looks inside it, so a description never inlines more of the
// program than the matcher asks for.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEEXPR_H
#define SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEEXPR_H

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/SmallVector.h"

#include <deque>
#include <optional>

namespace skipattn::attn::raise {

/// The scalar operations the matchers tell apart; everything else is Other
/// (kept, so that an expression with it can still be compared and rebuilt).
enum class ExprOp {
  Add,
  Sub,
  Mul,
  Div,
  Max,
  Min,
  Exp,
  Exp2,
  Neg,
  Sqrt,
  Rsqrt,
  Select,
  CmpI,
  CmpF,
  ExtF,
  TruncF,
  IToF,
  FToI,
  IntCast,
  AndI,
  OrI,
  XOrI,
  Other
};

/// A tensor value read at index expressions (one per dim, over variables).
struct Origin {
  mlir::Value value;
  llvm::SmallVector<mlir::AffineExpr, 4> idx;
};

/// One node of a description. Variables are AffineDimExpr positions: the
/// free variables of the described value and the bound variables of the
/// reductions inside it.
struct Node {
  enum class Kind { Read, Const, Index, Op, Reduce };
  enum class Reduction { Sum, Max };

  Kind kind = Kind::Read;
  mlir::Type type; // the scalar type

  /// Read: the last origin read at its indices; `origins` lists every value
  /// passed on the way, outermost first (the views between them are only
  /// index maps). A scalar read (a value from outside a payload) has no
  /// indices.
  llvm::SmallVector<Origin, 2> origins;
  /// Const: the value (i1 as 0 or 1).
  double value = 0;
  /// Index: a loop index, as an expression of the variables.
  mlir::AffineExpr index;
  /// Op: the operation and its arguments; `scalarOp` is the payload op it
  /// came from, when there is one (to rebuild it).
  ExprOp op = ExprOp::Other;
  int64_t predicate = -1;
  mlir::Operation *scalarOp = nullptr;
  llvm::SmallVector<Node *, 3> args;
  /// Reduce: `args[0]` combined over the bound variables.
  Reduction reduction = Reduction::Sum;
  llvm::SmallVector<unsigned, 2> bound;

  /// The free variables.
  llvm::SmallBitVector free;

  /// A Read once looked into: its definition, or null when opaque.
  bool expanded = false;
  Node *def = nullptr;

  mlir::Value readValue() const { return origins.back().value; }
  llvm::ArrayRef<mlir::AffineExpr> readIdx() const {
    return origins.back().idx;
  }
  bool is(ExprOp o) const { return kind == Kind::Op && op == o; }
  bool isConst() const { return kind == Kind::Const; }
  bool dependsOn(unsigned var) const {
    return var < free.size() && free.test(var);
  }
};

/// What is known of a variable: its extent, and a tensor dim that has it.
struct VarInfo {
  int64_t extent = mlir::ShapedType::kDynamic;
  mlir::Value source;
  unsigned dim = 0;
};

/// Builds and queries descriptions. One Describer per candidate: its nodes
/// and variables live as long as it does.
class Describer {
public:
  explicit Describer(mlir::MLIRContext *ctx, unsigned budget = 20000)
      : ctx(ctx), budget(budget) {}

  mlir::MLIRContext *getContext() const { return ctx; }

  /// A new variable.
  unsigned newVar(int64_t extent, mlir::Value source = {}, unsigned dim = 0);
  const VarInfo &var(unsigned v) const { return vars[v]; }
  unsigned numVars() const { return vars.size(); }
  /// The variables of the dims of `v`, created fresh.
  llvm::SmallVector<mlir::AffineExpr> freeVarsOf(mlir::Value v);

  /// `v` at `idx`, through views; a Read, Const or Op node.
  Node *describe(mlir::Value v, llvm::ArrayRef<mlir::AffineExpr> idx);
  /// The definition of a Read (one level), or the node itself.
  Node *look(Node *n);
  /// Looks through float casts (extf, truncf).
  Node *stripCasts(Node *n);

  /// Whether `a` (with `map` renaming its bound and free variables) equals
  /// `b`.
  bool equal(Node *a, Node *b,
             llvm::DenseMap<unsigned, unsigned> map =
                 llvm::DenseMap<unsigned, unsigned>());

  /// `e` simplified with the extents of the variables.
  mlir::AffineExpr simplify(mlir::AffineExpr e);
  /// The smallest and largest value of `e`, when bounded.
  std::optional<std::pair<int64_t, int64_t>> range(mlir::AffineExpr e);

  /// Node constructors (folding constants).
  Node *makeConst(double value, mlir::Type type);
  Node *makeIndex(mlir::AffineExpr e);
  Node *makeOp(ExprOp op, llvm::ArrayRef<Node *> args, mlir::Type type,
               int64_t predicate = -1, mlir::Operation *scalarOp = nullptr);
  Node *makeReduce(Node::Reduction kind, llvm::ArrayRef<unsigned> bound,
                   Node *body, mlir::Type type);

  /// Ops looked into (expanded) and views passed, in order.
  llvm::SetVector<mlir::Operation *> &touched() { return touchedOps; }
  /// Whether the node budget ran out (the description is then incomplete).
  bool exhausted() const { return overBudget; }

private:
  Node *newNode(Node::Kind kind, mlir::Type type);
  Node *expand(Node *read);
  Node *describeScalar(mlir::Value v);
  std::optional<Origin> viewStep(const Origin &o);
  Node *expandLinalg(mlir::Operation *op, unsigned result,
                     llvm::ArrayRef<mlir::AffineExpr> idx);
  Node *expandTosa(mlir::Operation *op, llvm::ArrayRef<mlir::AffineExpr> idx);
  Node *expandSoftmax(mlir::Operation *op,
                      llvm::ArrayRef<mlir::AffineExpr> idx);
  Node *expandElementwiseMappable(mlir::Operation *op,
                                  llvm::ArrayRef<mlir::AffineExpr> idx);
  void addFree(Node *n, mlir::AffineExpr e);
  bool equalExpr(mlir::AffineExpr a, mlir::AffineExpr b,
                 const llvm::DenseMap<unsigned, unsigned> &map);

  mlir::MLIRContext *ctx;
  unsigned budget;
  bool overBudget = false;
  std::deque<Node> nodes;
  llvm::SmallVector<VarInfo> vars;
  llvm::SetVector<mlir::Operation *> touchedOps;
};

/// The variables `e` uses.
llvm::SmallVector<unsigned> varsOf(mlir::AffineExpr e);

/// Splits a product into its factors (the Mul nodes of one payload; a
/// division by a constant is a constant factor).
void flattenProduct(Describer &d, Node *n,
                    llvm::SmallVectorImpl<Node *> &factors);

/// The value of `op` on constants, rounded to `type`, or nothing.
std::optional<double> foldScalar(ExprOp op, int64_t predicate,
                                 llvm::ArrayRef<double> args, mlir::Type type);

/// The value of a constant float or integer attribute (splat included).
std::optional<double> attrValue(mlir::Attribute attr);

} // namespace skipattn::attn::raise

#endif // SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RAISE_RAISEEXPR_H
