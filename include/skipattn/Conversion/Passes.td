//===- Passes.td - conversions out of the attn dialect -----*- tablegen -*-===//
//
// The lowerings of tiled attention: to CPU loops, and to GPU kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_CONVERSION_PASSES_TD
#define SKIPATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLoops : Pass<"convert-attn-to-loops"> {
  let summary = "Lower tiled attention (attn tile ops) to linalg, tensor and scf";
  let description = [{
    Replaces every attn tile op that attn-tile and attn-insert-block-skip
    produce with the computation it stands for, on tensors: tile loads
    become `tensor.generate` with bounds checks, the two contractions
    `linalg.matmul`, the masking, exponentials, row reductions and votes
    `linalg.generic` / `linalg.reduce`. The loop structure (scf.forall over
    q-blocks, scf.for over kv-blocks, scf.if of the skip predicate) is kept.
    attn-lower-to-cpu then bufferizes the result and turns the linalg ops
    into scf loops.

    An `attn.attention` that was not tiled, or a kv loop still marked for
    attn-insert-block-skip, is an error that says which pass to run.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // SKIPATTN_CONVERSION_PASSES_TD
