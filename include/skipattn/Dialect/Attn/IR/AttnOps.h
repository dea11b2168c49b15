//===- AttnOps.h - operations of the attn dialect ---------------*- C++ -*-===//
//
// Declares `attn.attention` and the shape rules it shares with the passes.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_H
#define SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_H

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/TilingInterface.h"

#include "skipattn/Dialect/Attn/IR/AttnAttrs.h"
#include "skipattn/Dialect/Attn/IR/AttnDialect.h"
#include "skipattn/Dialect/Attn/IR/AttnTraits.h"

#define GET_OP_CLASSES
#include "skipattn/Dialect/Attn/IR/AttnOps.h.inc"

namespace skipattn::attn {

/// Checks the operand and result types of an attention against the rules of
/// `attn.attention`. Reports the first violation through `emitError` and
/// fails; passes use it to test a candidate before they build the op.
llvm::LogicalResult
verifyAttentionTypes(llvm::function_ref<mlir::InFlightDiagnostic()> emitError,
                     mlir::Type query, mlir::Type key, mlir::Type value,
                     mlir::Type mask, mlir::Type result);

/// The result type of an attention over these Q and V types.
mlir::RankedTensorType inferAttentionResultType(mlir::RankedTensorType query,
                                                mlir::RankedTensorType value);

} // namespace skipattn::attn

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_H
