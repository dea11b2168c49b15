//===- AttnDialect.td - the attn dialect -------------------*- tablegen -*-===//
//
// The attn dialect holds attention as one operation, `attn.attention`, so
// that the Skip-Softmax pipeline can tile it, insert the block-skip predicate
// and lower it to CPU loops or GPU tensor-core kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
#define SKIPATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let summary = "Scaled dot-product attention with Skip-Softmax block skipping";
  let description = [{
    The attn dialect represents scaled dot-product attention as a single
    operation with whole-op semantics (`attn.attention`). The skipattn
    pipeline raises attention written in linalg or TOSA into it, tiles it into
    the FlashAttention online-softmax loop, inserts the Skip-Softmax block-skip
    predicate and lowers the result to CPU loops or GPU kernels.
  }];
  let cppNamespace = "::skipattn::attn";
  let useDefaultAttributePrinterParser = 1;
  // `attn.kernel` on the gpu.funcs convert-attn-to-gpu generates.
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
  // tensor: destinations and the slices of tiling; affine: tile bounds.
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
