//===- Passes.td - passes of the attn dialect --------------*- tablegen -*-===//
//
// The attn dialect's own passes: raising attention into attn.attention,
// tiling it into the flash loop and inserting the block-skip predicate.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
#define SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnRaise : Pass<"attn-raise"> {
  let summary = "Raise attention written in linalg or TOSA to attn.attention";
  let description = [{
    Finds scaled dot-product attention written in upstream dialects, as
    torch-mlir, onnx-mlir and TF/TOSA export it, and rewrites each instance
    into one `attn.attention` that computes the same function.

    A match starts at the P·V contraction and walks back through the softmax
    and the score chain to the Q·K^T contraction:

    - contractions: `linalg.batch_matmul`, `linalg.matmul` (with or without
      `indexing_maps`), contraction `linalg.generic`s, `tosa.matmul`;
    - K^T as a transpose op or as a transposed indexing map; Q, K and V in any
      dimension order that a transpose or an indexing map gives;
    - the scale as a multiply or divide by a constant, on the scores, on Q or
      on K;
    - softmax as `linalg.softmax`, as the max/sub/exp/sum/div chain of
      generics or named ops, or as tosa reduce_max/sub/exp/reduce_sum/
      reciprocal/mul; f32 `extf`/`truncf` around it;
    - masks applied by `select` or by an add: a causal one (a constant or
      index-computed triangle, filled with -inf or a large negative value)
      becomes `causal`, any other becomes the `mask` operand;
    - 2-D, 3-D ([B*H, S, D]) and 4-D layouts with expand/collapse_shape or
      tosa.reshape; GQA as K/V broadcast across the heads of a group;
      dynamic batch and sequence lengths.

    Q, K and V are brought to [B, H, S, D] with tensor reshapes and
    transposes where the source uses another layout, and the result is
    brought back, so [B, S, H, D] attention is absorbed around the op. The
    ops of the matched subgraph that lose their last use are erased. Anything
    that does not compute exactly softmax(scale * Q K^T + mask) V over the
    key dimension (softmax over another dimension, a max and a sum over
    different axes, an intermediate with other users, P^T V) is left as it
    was.
  }];
  let dependentDialects = [
    "::skipattn::attn::AttnDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
