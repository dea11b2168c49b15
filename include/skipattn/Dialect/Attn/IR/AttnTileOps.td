//===- AttnTileOps.td - tile-level ops of the attn dialect -*- tablegen -*-===//
//
// The tile-level form of attention that attn-tile produces: the steps of the
// FlashAttention online softmax over one q-block and one kv-block, on small
// tensors of static shape. Both lowerings consume exactly these ops:
// convert-attn-to-loops turns each into linalg/tensor code for the CPU,
// convert-attn-to-gpu maps each to warp-level tensor-core code. Scores,
// running max, row sum and accumulator are f32 whatever the element type.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNTILEOPS_TD
#define SKIPATTN_DIALECT_ATTN_IR_ATTNTILEOPS_TD

include "skipattn/Dialect/Attn/IR/AttnAttrs.td"
include "skipattn/Dialect/Attn/IR/AttnDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Attn_TileOp<string mnemonic, list<Trait> traits = []>
    : Attn_Op<mnemonic, !listconcat([Pure], traits)> {
  let hasVerifier = 1;
}

def Attn_LoadTileOp : Attn_TileOp<"load_tile"> {
  let summary = "rows [row, row + R) of one (batch, head) of a [B, H, S, D] tensor";
  let description = [{
    `%t = attn.load_tile %src[%b, %h, %row]` reads the R x D tile
    `t[i, d] = src[b, h, row + i, d]`; rows past the end of S read as 0, so
    ragged last blocks need no special case downstream.
  }];
  let arguments = (ins AnyRankedTensor:$source, Index:$batch, Index:$head,
                       Index:$row);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $source `[` $batch `,` $head `,` $row `]` attr-dict `:` type($source)
    `->` type($result)
  }];
}

def Attn_LoadMaxTileOp : Attn_TileOp<"load_max_tile"> {
  let summary = "the initial running max of rows [row, row + R) of one (batch, head)";
  let description = [{
    `%m = attn.load_max_tile %init_max[%b, %h, %row]` reads the R-row tile
    `m[i] = init_max[b, h, row + i]` of an f32 [B, H, S] tensor, the
    `init_max` operand of attn.attention (or its packed view); rows past the
    end of S read as -inf, the max of a row that has seen nothing. attn-tile
    starts the kv loop's running max from it, and attn-insert-block-skip
    then votes every kv-block, the first included.
  }];
  let arguments = (ins AnyRankedTensor:$source, Index:$batch, Index:$head,
                       Index:$row);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $source `[` $batch `,` $head `,` $row `]` attr-dict `:` type($source)
    `->` type($result)
  }];
}

def Attn_LoadPagedTileOp : Attn_TileOp<"load_paged_tile"> {
  let summary = "rows [row, row + R) of one sequence and kv head of a paged cache";
  let description = [{
    `%t = attn.load_paged_tile %pages[%table, %b, %h, %row] limit %len`
    reads the R x D tile of keys (or values) row .. row + R - 1 of sequence b
    and kv head h from pages [num_pages, page_size, H, D]:
    `t[i, :] = pages[table[b, j / page_size], j mod page_size, h, :]` with
    j = row + i. Rows j >= len read as 0, without reading the table; so does
    a row whose table entry is not a page number (outside [0, num_pages))
    or lies past the table's width, so that a bad table reads zeros rather
    than out of bounds.
  }];
  let arguments = (ins AnyRankedTensor:$pages, AnyRankedTensor:$table,
                       Index:$batch, Index:$head, Index:$row, Index:$limit);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $pages `[` $table `,` $batch `,` $head `,` $row `]` `limit` $limit
    attr-dict `:` type($pages) `,` type($table) `->` type($result)
  }];
}

def Attn_LoadPackedTileOp : Attn_TileOp<"load_packed_tile"> {
  let summary = "rows [row, row + R) of one sequence and head of a packed [T, H, D] tensor";
  let description = [{
    `%t = attn.load_packed_tile %src[%start, %h, %row] limit %len` reads the
    R x D tile of rows row .. row + R - 1 of the sequence that starts at
    token `start` of a varlen batch (attn.varlen_attention):
    `t[i, :] = src[start + row + i, h, :]`. Rows with row + i >= len, or
    past the end of the tensor, read as 0.
  }];
  let arguments = (ins AnyRankedTensor:$source, Index:$start, Index:$head,
                       Index:$row, Index:$limit);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $source `[` $start `,` $head `,` $row `]` `limit` $limit attr-dict `:`
    type($source) `->` type($result)
  }];
}

def Attn_LoadMaskTileOp : Attn_TileOp<"load_mask_tile"> {
  let summary = "the R x C tile of a broadcasting [B, H, Sq, Skv] mask";
  let description = [{
    `%t = attn.load_mask_tile %mask[%b, %h, %row, %col]` reads
    `t[i, j] = mask[b, h, row + i, col + j]`, where every mask dimension of
    extent 1 broadcasts (its index is 0). Entries outside the mask read as
    false (i1) or 0 (float); tile_scores masks those positions anyway.

    With `packed %q_len` the tile's rows are the packed rows of a GQA group
    (attn-tile's pack-gqa): row p = row + i is query `p mod q_len` of query
    head `h + p / q_len`, so `t[i, j] = mask[b, h + p / q_len, p mod q_len,
    col + j]`, `h` being the group's first query head.
  }];
  let arguments = (ins AnyRankedTensor:$mask, Index:$batch, Index:$head,
                       Index:$row, Index:$col, Optional<Index>:$packedQLen);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $mask `[` $batch `,` $head `,` $row `,` $col `]`
    (`packed` $packedQLen^)? attr-dict `:` type($mask) `->` type($result)
  }];
}

def Attn_TileScoresOp : Attn_TileOp<"tile_scores"> {
  let summary = "scaled and masked logits of a q-block against a kv-block";
  let description = [{
    For a BM x D query tile whose first row is query `row` and a BN x D key
    tile whose first row is key `col`:

    ```
    s[i, j] = scale * sum_d q[i, d] * k[j, d]   (+ mask[i, j] if float)
    s[i, j] = -inf   if row + i >= q_len or col + j >= kv_len
                     or (causal and col + j > row + i + kv_len - q_len)
                     or (i1 mask and not mask[i, j])
    ```

    The products accumulate in f32. Rows past the end of the queries are
    entirely -inf, so they never move the running max and always vote to
    skip.

    With `packed_heads = G` (attn-tile's pack-gqa) the query rows are packed:
    row p = row + i is query `p mod q_len` of the p / q_len-th head of a GQA
    group of G heads. Rows at and past `G * q_len` are -inf, and the causal
    test uses the query index `p mod q_len` in place of `row + i`.
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       Optional<AnyRankedTensor>:$mask, Index:$row,
                       Index:$col, Index:$qLen, Index:$kvLen,
                       F32Attr:$scale, UnitAttr:$causal,
                       OptionalAttr<I64Attr>:$packed_heads);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key (`mask` $mask^)? `at` `[` $row `,` $col `]`
    `bounds` `[` $qLen `,` $kvLen `]` attr-dict `:` type($query) `,`
    type($key) (`,` type($mask)^)? `->` type($result)
  }];
}

def Attn_TileRowMaxOp : Attn_TileOp<"tile_row_max"> {
  let summary = "the largest score of each row of a tile";
  let description = [{
    `mt[i] = max_j s[i, j]`; -inf for a row that is entirely masked.
  }];
  let arguments = (ins AnyRankedTensor:$scores);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$scores attr-dict `:` type($scores) `->` type($result)";
}

def Attn_SkipVoteOp : Attn_TileOp<"skip_vote",
    [AllTypesMatch<["tileMax", "max"]>]> {
  let summary = "the Skip-Softmax vote of each row group of a q-block";
  let description = [{
    The test of DESIGN.md section 4 for one tile. Row i votes to skip when
    `tile_max[i] == -inf` or `tile_max[i] - max[i] < ln(lambda)`. The result
    has one entry per group of `group_rows` consecutive rows (BM /
    group_rows entries): true when every row of the group votes to skip.
    Every entry is false when skipping is off, lambda <= 0 or lambda >= 1.
    The first visited block is exempt; the caller excludes it.

    `criterion` records the request this vote implements, which says how
    `lambda` was formed: the run-time threshold itself
    (`#attn.skip<threshold = ...>`), or the run-time factor divided by the
    key/value length (`#attn.skip<scale_factor = ...>`). The lowerings read
    the run-time parameter and its kind from it; its value is only the
    default the request named.
  }];
  let arguments = (ins AnyRankedTensor:$tileMax, AnyRankedTensor:$max,
                       F32:$lambda, I64Attr:$group_rows,
                       OptionalAttr<Attn_SkipAttr>:$criterion);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $tileMax `,` $max `,` $lambda attr-dict `:` type($tileMax) `->`
    type($result)
  }];
}

def Attn_TileUpdateOp : Attn_TileOp<"tile_update", [
    AllTypesMatch<["tileMax", "max", "sum", "newMax", "newSum"]>,
    AllTypesMatch<["acc", "newAcc"]>]> {
  let summary = "the online-softmax update of (max, sum, acc) with one tile";
  let description = [{
    With `s` the tile's scores, `tile_max` their row max and `v` the BN x Dv
    value tile:

    ```
    m'[i]     = max(m[i], tile_max[i])
    c[i]      = m'[i] == -inf ? 0 : m'[i]
    p[i, j]   = exp(s[i, j] - c[i])
    alpha[i]  = exp(m[i] - c[i])
    l'[i]     = alpha[i] * l[i] + sum_j p[i, j]
    acc'[i,:] = alpha[i] * acc[i,:] + sum_j round(p[i, j]) * v[j, :]
    ```

    `round` converts p to v's element type, as the tensor cores consume it.
    With `skip %groups` (one i1 per row group), the rows of the groups that
    are true keep m, l and acc unchanged.

    A `skip_request = #attn.skip<...>` attribute marks an update that
    attn-tile made from a skip-enabled attention and that still awaits its
    predicate: attn-insert-block-skip puts the update behind the
    Skip-Softmax test and drops the attribute, and the lowerings refuse an
    update that still carries it. It lives on the op, not on the loop, so
    that any rewrite of the loop keeps it.
  }];
  let arguments = (ins AnyRankedTensor:$scores, AnyRankedTensor:$tileMax,
                       AnyRankedTensor:$value, AnyRankedTensor:$max,
                       AnyRankedTensor:$sum, AnyRankedTensor:$acc,
                       Optional<AnyRankedTensor>:$skipGroups,
                       OptionalAttr<Attn_SkipAttr>:$skip_request);
  let results = (outs AnyRankedTensor:$newMax, AnyRankedTensor:$newSum,
                      AnyRankedTensor:$newAcc);
  let assemblyFormat = [{
    $scores `,` $tileMax `,` $value `into` `(` $max `,` $sum `,` $acc `)`
    (`skip` $skipGroups^ `:` type($skipGroups))? attr-dict `:`
    type($scores) `,` type($tileMax) `,` type($value) `,` type($acc)
  }];
}

def Attn_TileMergeOp : Attn_TileOp<"tile_merge", [
    AllTypesMatch<["max", "sum", "otherMax", "otherSum", "newMax", "newSum"]>,
    AllTypesMatch<["acc", "otherAcc", "newAcc"]>]> {
  let summary = "the log-sum-exp merge of two partial softmax states";
  let description = [{
    Two online-softmax states of the same rows over disjoint kv ranges (the
    parts of a split kv range) merge into the state over both:

    ```
    m'[i]     = max(m1[i], m2[i])
    c[i]      = m'[i] == -inf ? 0 : m'[i]
    a1[i]     = exp(m1[i] - c[i]),  a2[i] = exp(m2[i] - c[i])
    l'[i]     = a1[i] * l1[i] + a2[i] * l2[i]
    acc'[i,:] = a1[i] * acc1[i,:] + a2[i] * acc2[i,:]
    ```

    A state whose m is a seed (docs/serving.md) but whose l is 0 adds
    nothing.
  }];
  let arguments = (ins AnyRankedTensor:$max, AnyRankedTensor:$sum,
                       AnyRankedTensor:$acc, AnyRankedTensor:$otherMax,
                       AnyRankedTensor:$otherSum, AnyRankedTensor:$otherAcc);
  let results = (outs AnyRankedTensor:$newMax, AnyRankedTensor:$newSum,
                      AnyRankedTensor:$newAcc);
  let assemblyFormat = [{
    `(` $max `,` $sum `,` $acc `)` `,` `(` $otherMax `,` $otherSum `,`
    $otherAcc `)` attr-dict `:` type($max) `,` type($acc)
  }];
}

def Attn_TileLseOp : Attn_TileOp<"tile_lse",
    [AllTypesMatch<["max", "sum", "result"]>]> {
  let summary = "the log-sum-exp of each row from its running max and sum";
  let description = [{
    `lse[i] = sum[i] == 0 ? -inf : max[i] + log(sum[i])`: the log of the
    softmax denominator over the scores the row summed, for the `lse`
    result of attn.attention.
  }];
  let arguments = (ins AnyRankedTensor:$max, AnyRankedTensor:$sum);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$max `,` $sum attr-dict `:` type($max)";
}

def Attn_TileFinalizeOp : Attn_TileOp<"tile_finalize"> {
  let summary = "the output tile: acc / sum, in the output element type";
  let description = [{
    `o[i, :] = sum[i] == 0 ? 0 : acc[i, :] / sum[i]`: a row that saw no
    unmasked key yields zeros.
  }];
  let arguments = (ins AnyRankedTensor:$acc, AnyRankedTensor:$sum);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $acc `,` $sum attr-dict `:` type($acc) `,` type($sum) `->` type($result)
  }];
}

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNTILEOPS_TD
