//===- Passes.h - conversions out of the attn dialect -----------*- C++ -*-===//
//
// Declares the conversion passes of tiled attention and their registration.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_CONVERSION_PASSES_H
#define SKIPATTN_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Pass/Pass.h"

namespace skipattn {

/// The chips the GPU kernels are generated for: sm_90a (the Hopper prefill
/// kernel) and sm_80 (cp.async and mma.sync, which later chips also run).
/// Every GPU entry point (convert-attn-to-gpu, attn-lower-to-nvvm,
/// skipattn-compile) checks its chip with this.
inline bool isSupportedGPUChip(llvm::StringRef chip) {
  return chip == "sm_90a" || chip == "sm_80";
}
inline constexpr const char *kSupportedGPUChips = "sm_90a or sm_80";

#define GEN_PASS_DECL
#include "skipattn/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "skipattn/Conversion/Passes.h.inc"

} // namespace skipattn

#endif // SKIPATTN_CONVERSION_PASSES_H
