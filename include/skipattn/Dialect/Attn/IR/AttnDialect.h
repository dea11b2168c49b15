//===- AttnDialect.h - the attn dialect -------------------------*- C++ -*-===//
//
// Declares the attn dialect class.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNDIALECT_H
#define SKIPATTN_DIALECT_ATTN_IR_ATTNDIALECT_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "skipattn/Dialect/Attn/IR/AttnOpsDialect.h.inc"

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNDIALECT_H
