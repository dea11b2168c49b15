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
    Finds scaled dot-product attention written in upstream dialects (as
    torch-mlir, TOSA lowerings and hand-written linalg produce it, before or
    after upstream's own lowering and clean-up passes) and rewrites each
    instance into one `attn.attention` that computes the same function.

    The pass matches what values compute, not how ops spell it. Each
    candidate is described per element: ops that only move data (reshapes,
    transposes, broadcasts, slices, copies, fills; named, generic or TOSA)
    are composed into index maps, and computing ops are read through their
    payload (any linalg op through the LinalgOp interface, i.e. its
    generalized form; linalg.softmax; TOSA elementwise, matmul and
    reductions). Generalizing named ops, fusing elementwise ops into each
    other or into reductions and contractions, folding unit dims and
    canonicalizing therefore leave the description, and the match,
    unchanged. The candidate is attention when:

    - it is `sum_j P * V` (or `(sum_j E * V) / Z`, also with the 1 / Z fused
      into the contraction), possibly cast;
    - `P = E / Z`, `E * (1 / Z)` or `E * r` with `r = 1 / Z`, where
      `Z = sum_j E` is the sum of the same exponentials over the key index,
      and `E = exp(L)` or `exp2(L)`;
    - `L` is a positive constant scale of the `Q·K^T` contraction over the
      head dim, plus masks, plus terms that do not depend on the key index
      (a subtracted row max, or none: softmax cancels them); the scale may
      sit on Q, on K or on the scores, by multiply or divide, or be folded
      into constants.

    Roles follow from dependence: the key index is the P·V reduction, the
    query rows are what P depends on and V does not, the value dim what V
    depends on and P does not, batch dims what both depend on. Q, K and V
    are taken from the deepest tensors behind their views and casts that
    share one element type (f16, bf16 or f32; extf/truncf anywhere, mixed
    P·V), and brought to [B, H, S, D] with expand_shape, transpose and
    collapse_shape: [B, H, S, D], [B, S, H, D], [B*H, S, D], 2-D, heads split
    or merged, dynamic batch and lengths. K and V indexed by
    `head floordiv G` or not at all along some head dims are GQA/MQA (repeat,
    tile, broadcast, expand+collapse).

    A mask that keeps exactly `j - i <= t` (index comparisons, tril/triu
    constants, select with -inf or a large negative value, additive 0 / -inf
    tensors) is the `causal` attribute when it is the bottom-right triangle
    (provably, through ValueBoundsOpInterface, for dynamic lengths). Any
    other mask becomes the `mask` operand: the tensor itself when it is a
    view of [B or 1, H or 1, Sq, Skv], otherwise a linalg.generic that
    computes it; several masks are combined into one.

    Nothing changes unless every rule of attn.attention holds. Anything else
    (a softmax alone, matmul chains, attention whose scores or probabilities
    are used elsewhere, masks scaled after they are added, boolean masks with
    a finite fill that could mask whole rows) is left exactly as it was.
    Where the pass recognises softmax(scores) · V but cannot raise it, it
    emits a missed-optimization remark saying why: run with
    `--remarks-filter=attn-raise` to see them.
  }];
  let dependentDialects = [
    "::skipattn::attn::AttnDialect",
    "::mlir::affine::AffineDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnTile : Pass<"attn-tile"> {
  let summary = "Tile attn.attention into the FlashAttention online-softmax loop";
  let description = [{
    Rewrites each `attn.attention` into the explicit flash loop on tensors:

    ```
    scf.forall (%b, %h, %qb) in (B, Hq, ceil(Sq / BM)) shared_outs(%o = %init) {
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
    - The loop writes the attention's destination (`outs`).
    - A `skip` attribute becomes the `skip_request` of the kv loop's
      attn.tile_update, for attn-insert-block-skip.

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

def AttnRequestSkip : Pass<"attn-request-skip"> {
  let summary = "Ask every attn.attention without a skip attribute for Skip-Softmax";
  let description = [{
    Gives each `attn.attention` that has no `skip` attribute
    `#attn.skip<threshold = X>` (option `threshold`) or
    `#attn.skip<scale_factor = F>` (option `scale-factor`); attentions that
    already have one keep it. This is how a pipeline turns skipping on for
    attention that attn-raise found, where the source had no way to say so.
    Exactly one of the options must be given; a value the attribute rejects
    (a threshold outside (0, 1), a factor that is not positive) is an
    error.
  }];
  let options = [
    Option<"threshold", "threshold", "double", /*default=*/"0.0",
           "lambda, in (0, 1)">,
    Option<"scaleFactor", "scale-factor", "double", /*default=*/"0.0",
           "F, with lambda = F / Skv">
  ];
}

def AttnInsertBlockSkip : Pass<"attn-insert-block-skip", "::mlir::ModuleOp"> {
  let summary = "Insert the Skip-Softmax block-skip predicate into tiled attention";
  let description = [{
    For every attn.tile_update that attn-tile gave a `skip_request`, wraps
    the softmax update and P·V of each kv-block (and the load of its V tile)
    in an `scf.if` on the criterion of DESIGN.md section 4, and drops the
    request:

    ```
    %mt    = attn.tile_row_max %s
    %votes = attn.skip_vote %mt, %m, %lambda {criterion = #attn.skip<...>,
                                              group_rows = BM} -> tensor<1xi1>
    %skip  = (%j != 0) and %votes[0]       // the first visited block is never skipped
    %r:3 = scf.if %skip { yield %m, %l, %acc }
           else { %vt = attn.load_tile %v[...]; attn.tile_update ... }
    ```

    The test compares each row's tile max with the running max from *before*
    the tile, in log space; all rows of the vote group must agree (rows
    past Sq and rows whose tile is all -inf vote yes); lambda <= 0 or
    lambda >= 1 turns skipping off.

    The threshold is a run-time argument: the enclosing function gets a
    trailing `f32` argument, lambda itself for `#attn.skip<threshold>` or F
    for `#attn.skip<scale_factor>` (lambda = F / Skv, computed in the
    kernel), shared by the attentions of the function that this run
    predicates with that form; the vote's `criterion` records which. The
    function must not have callers in the module. With `stats`, a trailing
    `memref<BxHqx2xi64>` argument (after the thresholds; B and Hq of the
    attention's Q, B may be dynamic) receives atomic increments per (batch,
    query head): [b, h, 0] tiles_total (kv-blocks visited, summed over the
    head's q-blocks), [b, h, 1] tiles_skipped. The caller zeroes it.
    Skip-enabled attentions of one function share the buffer, so they must
    have the same batch and query heads.

    `vote` sets the rows per vote group (0, the default, is the whole
    q-block). With smaller groups, each group keeps or updates its rows on
    its own vote, the counters count (group, kv-block) pairs, and there is
    no whole-tile scf.if.
  }];
  let options = [
    Option<"voteRows", "vote", "int64_t", /*default=*/"0",
           "Rows per vote group; 0 is the whole q-block">,
    Option<"stats", "stats", "bool", /*default=*/"false",
           "Count visited and skipped tiles per (batch, head) into a stats argument">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // SKIPATTN_DIALECT_ATTN_TRANSFORMS_PASSES_TD
