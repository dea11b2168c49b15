//===- AttnAttrs.h - attributes of the attn dialect -------------*- C++ -*-===//
//
// Declares `#attn.skip`, `#attn.kernel` and the SkipKind enum.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_H
#define SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "skipattn/Dialect/Attn/IR/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "skipattn/Dialect/Attn/IR/AttnAttrs.h.inc"

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_H
