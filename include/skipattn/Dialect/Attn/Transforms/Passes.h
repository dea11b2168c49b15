//===- Passes.h - passes of the attn dialect --------------------*- C++ -*-===//
//
// Declares the attn dialect's passes and their registration.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

#include "skipattn/Dialect/Attn/IR/AttnDialect.h"

namespace skipattn::attn {

#define GEN_PASS_DECL
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"

} // namespace skipattn::attn

#endif // SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
