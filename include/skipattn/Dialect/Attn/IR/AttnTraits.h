//===- AttnTraits.h - op traits of the attn dialect -------------*- C++ -*-===//
//
// Generic-form IR may give the operand and result segments of an op with
// AttrSizedOperandSegments (AttrSizedResultSegments) any sizes that add up
// to its operand (result) count: MLIR checks only the sum. The verifier and
// accessors that ODS generates take a segment of a non-variadic operand or
// result to hold one value, and read past the op's operands when it holds
// none. These traits check those segments first (they are structural, so
// they run before the generated verifier) and reject the op otherwise.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNTRAITS_H
#define SKIPATTN_DIALECT_ATTN_IR_ATTNTRAITS_H

#include "mlir/IR/OpDefinition.h"

namespace skipattn::attn {

namespace detail {
llvm::LogicalResult verifySingleSegments(mlir::Operation *op,
                                         llvm::ArrayRef<int32_t> sizes,
                                         llvm::ArrayRef<unsigned> groups,
                                         llvm::StringRef kind);
} // namespace detail

/// The operand segments `Groups` each hold one value.
template <unsigned... Groups>
struct SingleOperandSegments {
  template <typename ConcreteType>
  class Impl : public mlir::OpTrait::TraitBase<ConcreteType, Impl> {
  public:
    static llvm::LogicalResult verifyTrait(mlir::Operation *op) {
      return detail::verifySingleSegments(
          op,
          llvm::cast<ConcreteType>(op).getProperties().operandSegmentSizes,
          {Groups...}, "operand");
    }
  };
};

/// The result segments `Groups` each hold one value.
template <unsigned... Groups>
struct SingleResultSegments {
  template <typename ConcreteType>
  class Impl : public mlir::OpTrait::TraitBase<ConcreteType, Impl> {
  public:
    static llvm::LogicalResult verifyTrait(mlir::Operation *op) {
      return detail::verifySingleSegments(
          op, llvm::cast<ConcreteType>(op).getProperties().resultSegmentSizes,
          {Groups...}, "result");
    }
  };
};

} // namespace skipattn::attn

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNTRAITS_H
