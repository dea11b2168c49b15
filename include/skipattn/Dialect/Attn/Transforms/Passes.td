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

def AttnTile : Pass<"attn-tile"> {
  let summary = "Tile attn.attention into the FlashAttention online-softmax loop";
  let description = [{
    Rewrites each `attn.attention` into the explicit flash loop on tensors:

    ```
    scf.forall (%b, %h, %qb) in (B, Hq, ceil(Sq / BM)) shared_outs(%o) {
      %qt = attn.load_tile %q[%b, %h, %qb * BM]              // BM x D
      scf.for %j = 0 to num_kv_blocks iter_args(%m = -inf, %l = 0, %acc = 0) {
        %kt = attn.load_tile %k[%b, %h / G, %j * BN]          // BN x D
        %s  = attn.tile_scores %qt, %kt [mask ...] at [...] bounds [Sq, Skv]
        %mt = attn.tile_row_max %s
        %vt = attn.load_tile %v[%b, %h / G, %j * BN]          // BN x Dv
        %m', %l', %acc' = attn.tile_update %s, %mt, %vt into (%m, %l, %acc)
      }
      %ot = attn.tile_finalize %acc, %l                      // acc / l
      insert the valid rows of %ot into %o[%b, %h, %qb * BM]
    }
    ```

    This is the form both lowerings consume: every step of the tile-level
    math is one `attn` tile op (AttnTileOps.td documents each), so
    convert-attn-to-loops and convert-attn-to-gpu agree on one definition.

    - The kv loop runs over kv-blocks in ascending order. With `causal` it
      stops after the last block that holds an unmasked entry for some valid
      row of the q-block: `ceil((min(q0 + BM, Sq) + Skv - Sq) / BN)` blocks,
      at least 0.
    - Ragged last blocks need no special case: load_tile pads with zeros and
      tile_scores gives -inf to rows and columns past the ends.
    - GQA: query head h reads key/value head h / (Hq / Hkv).
    - The mask operand is loaded tile by tile (attn.load_mask_tile) and
      applied by tile_scores, so the row max and the skip test see masked
      scores.
    - A `skip` attribute is carried to the kv loop as `attn.skip`, for
      attn-insert-block-skip.

    Two options give the tiling of the split-KV decode kernel, so that the
    CPU lowering computes, and counts skips, exactly as it does
    (docs/serving.md):
    - `pack-gqa`: the q-blocks run over the G = Hq / Hkv query heads of a
      kv head packed one after another (row p is query p mod Sq of head
      p / Sq of the group): the forall is over (B, Hkv, ceil(G * Sq / BM)),
      Q and the result are viewed as [B, Hkv, G * Sq, D] by reshapes,
      tile_scores gets `packed_heads = G` and the mask tile `packed %sq`.
      Every q-block visits all ceil(Skv / BN) kv-blocks (its causal bound
      is that of query Sq - 1).
    - `kv-splits`: the enclosing function gets a trailing `index` argument
      `{attn.kv_splits}`, P; the kv-blocks [0, n) of each q-block are cut
      into P parts `[min(p * ceil(n / P), n), min((p + 1) * ceil(n / P),
      n))`, each an scf.for from (m, l, acc) = (-inf, 0, 0), inside an
      scf.for over the parts whose results `attn.tile_merge` combines. The
      function must not have callers in the module.
  }];
  let options = [
    Option<"blockM", "block-m", "int64_t", /*default=*/"64",
           "Query rows per q-block (BM)">,
    Option<"blockN", "block-n", "int64_t", /*default=*/"64",
           "Keys per kv-block (BN)">,
    Option<"packGQA", "pack-gqa", "bool", /*default=*/"false",
           "Pack the query heads of a GQA group into the q-blocks, as the "
           "decode kernel does">,
    Option<"kvSplits", "kv-splits", "bool", /*default=*/"false",
           "Cut each q-block's kv range into a run-time number of parts "
           "merged by log-sum-exp, as split-KV decode does">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnInsertBlockSkip : Pass<"attn-insert-block-skip", "::mlir::ModuleOp"> {
  let summary = "Insert the Skip-Softmax block-skip predicate into tiled attention";
  let description = [{
    For every kv loop that attn-tile marked with `attn.skip`, wraps the
    softmax update and P·V of each kv-block (and the load of its V tile) in
    an `scf.if` on the criterion of DESIGN.md section 4:

    ```
    %mt    = attn.tile_row_max %s
    %votes = attn.skip_vote %mt, %m, %lambda {group_rows = BM} -> tensor<1xi1>
    %skip  = (%j != 0) and %votes[0]       // the first visited block is never skipped
    %r:3 = scf.if %skip { yield %m, %l, %acc }
           else { %vt = attn.load_tile %v[...]; attn.tile_update ... }
    ```

    The test compares each row's tile max with the running max from *before*
    the tile, in log space; all rows of the vote group must agree (rows
    past Sq and rows whose tile is all -inf vote yes); lambda <= 0 or
    lambda >= 1 turns skipping off.

    The threshold is a run-time argument: the enclosing function gets a
    trailing `f32` argument, `{attn.skip_threshold}` (lambda itself) or
    `{attn.skip_scale_factor}` (F, with lambda = F / Skv computed in the
    kernel), shared by the attentions of the function that use that form.
    The function must not have callers in the module. With `stats`, a
    trailing `memref<2xi64> {attn.skip_stats}` argument receives atomic
    increments: [0] tiles_total (kv-blocks visited, summed over batch, query
    head and q-block), [1] tiles_skipped.

    `vote` sets the rows per vote group (0, the default, is the whole
    q-block). With smaller groups, each group keeps or updates its rows on
    its own vote, the counters count (group, kv-block) pairs, and there is
    no whole-tile scf.if.
  }];
  let options = [
    Option<"voteRows", "vote", "int64_t", /*default=*/"0",
           "Rows per vote group; 0 is the whole q-block">,
    Option<"stats", "stats", "bool", /*default=*/"false",
           "Count visited and skipped tiles into a stats argument">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
