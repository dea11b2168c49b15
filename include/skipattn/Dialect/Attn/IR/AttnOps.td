//===- AttnOps.td - operations of the attn dialect ---------*- tablegen -*-===//
//
// `attn.attention`: scaled dot-product attention over [B, H, S, D] tensors,
// with optional causal masking, a mask operand, GQA and a skip request.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "skipattn/Dialect/Attn/IR/AttnDialect.td"
include "skipattn/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_AttentionOp : Attn_Op<"attention", [Pure]> {
  let summary = "scaled dot-product attention";
  let description = [{
    Computes `softmax(scale * Q K^T + mask) V` per (batch, query head), in
    the PyTorch SDPA layout:

    - Q is [B, Hq, Sq, D], K is [B, Hkv, Skv, D], V is [B, Hkv, Skv, Dv] and
      the result is [B, Hq, Sq, Dv]. Hq must be a multiple of Hkv; query head
      h reads key/value head h / (Hq / Hkv) (GQA, MQA).
    - One element type, f32, f16 or bf16, for Q, K, V and the result; the
      softmax accumulates in f32. B, Sq and Skv may be dynamic; the head
      counts and head dims are static.
    - `scale` defaults to 1/sqrt(D).
    - `causal` keeps key position j for query row i when
      j <= i + (Skv - Sq): bottom-right aligned, as in FlashAttention.
    - The optional `mask` operand is rank 4 and broadcasts to
      [B, Hq, Sq, Skv] (each dimension equals that extent or 1). An `i1` mask
      keeps the positions that are true, like a boolean `attn_mask` in torch
      SDPA; a float mask of the operands' element type is added to the
      scaled scores. `mask` and `causal` may be combined.
    - A row whose every position is masked yields zeros.
    - `skip = #attn.skip<...>` asks for a Skip-Softmax kernel (DESIGN.md
      section 4); it does not change the op's mathematical meaning beyond
      the blocks the criterion drops.
    - An optional second result `lse`, f32 [B, Hq, Sq], is the log-sum-exp
      of each softmax row, `log(sum_j exp(scale * q_i . k_j + mask_ij))`
      over the positions the row attends (those of skipped tiles left out);
      -inf for a fully masked row. Two attentions of the same queries over
      disjoint key ranges merge into the attention over both with it
      (docs/serving.md): what ring and context-parallel attention need.

    Example:

    ```mlir
    %o = attn.attention %q, %k, %v {causal, scale = 0.125 : f32,
                                    skip = #attn.skip<threshold = 1.0e-3>}
      : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>,
        tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16>
    %p = attn.attention %q, %k, %v mask %m
      : tensor<2x12x197x64xf32>, tensor<2x12x197x64xf32>,
        tensor<2x12x197x64xf32>, tensor<2x1x1x197xi1> -> tensor<2x12x197x64xf32>
    %o2, %lse = attn.attention %q, %k, %v
      : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
        tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>, tensor<1x32x1xf32>
    ```
  }];

  let arguments = (ins AnyRankedTensor:$query,
                       AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       Optional<AnyRankedTensor>:$mask,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Attn_SkipAttr>:$skip);
  let results = (outs AnyRankedTensor:$result,
                      Optional<AnyRankedTensor>:$lse);

  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)? attr-dict `:`
    type($query) `,` type($key) `,` type($value) (`,` type($mask)^)?
    `->` type($result) (`,` type($lse)^)?
  }];

  let builders = [
    // The attention without its log-sum-exp.
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$query,
                   "::mlir::Value":$key, "::mlir::Value":$value,
                   "::mlir::Value":$mask, "::mlir::UnitAttr":$causal,
                   "::mlir::FloatAttr":$scale,
                   "::skipattn::attn::SkipAttr":$skip), [{
      build($_builder, $_state, result, /*lse=*/::mlir::Type(), query, key,
            value, mask, causal, scale, skip);
    }]>
  ];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    /// The softmax scale: the `scale` attribute, or 1/sqrt(D) without one.
    float getScaleValue();
    /// Number of query heads (Hq) and of key/value heads (Hkv).
    int64_t getNumQueryHeads() { return getQuery().getType().getDimSize(1); }
    int64_t getNumKVHeads() { return getKey().getType().getDimSize(1); }
    /// Query/key head dim (D) and value head dim (Dv).
    int64_t getHeadDim() { return getQuery().getType().getDimSize(3); }
    int64_t getValueHeadDim() { return getValue().getType().getDimSize(3); }
    /// The element type shared by Q, K, V and the result.
    ::mlir::Type getElementType() {
      return getQuery().getType().getElementType();
    }
  }];
}

def Attn_PagedAttentionOp : Attn_Op<"paged_attention", [Pure]> {
  let summary = "attention over a paged key/value cache";
  let description = [{
    `attn.attention` with the keys and values in a paged cache, the layout
    of vLLM and FlashInfer: a pool of pages shared by the sequences of a
    batch, and per sequence a list of page numbers and a length.

    - Q is [B, Hq, Sq, D] and the result [B, Hq, Sq, Dv], as for
      attn.attention; K and V are pages [num_pages, page_size, Hkv, D] and
      [num_pages, page_size, Hkv, Dv]; `block_table` [B, max_pages] (i32)
      holds the pages of each sequence in order; `seq_lens` [B] (i32) its
      number of keys L_b.
    - Key j < L_b of sequence b and kv head h is
      `k[block_table[b, j / page_size], j mod page_size, h, :]` (V alike);
      the entries of `block_table` past ceil(L_b / page_size) are never
      read. L_b must not exceed max_pages * page_size.
    - `causal` is bottom-right aligned per sequence: key j is kept for query
      row i when j <= i + L_b - Sq. A row with no key yields zeros (and lse
      -inf).
    - page_size is static, a power of two from 16 to 256; the head counts
      and head dims are static; B, Sq, num_pages and max_pages may be
      dynamic. `scale`, `skip` and the optional `lse` result are those of
      attn.attention. There is no mask operand.

    ```mlir
    %o = attn.paged_attention %q, %kp, %vp, %table, %lens {skip = #attn.skip<threshold = 1.0e-3>}
      : tensor<?x32x1x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x16x8x128xbf16>,
        tensor<?x?xi32>, tensor<?xi32> -> tensor<?x32x1x128xbf16>
    ```
  }];

  let arguments = (ins AnyRankedTensor:$query,
                       AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       AnyRankedTensor:$block_table,
                       AnyRankedTensor:$seq_lens,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Attn_SkipAttr>:$skip);
  let results = (outs AnyRankedTensor:$result,
                      Optional<AnyRankedTensor>:$lse);

  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $block_table `,` $seq_lens attr-dict `:`
    type($query) `,` type($key) `,` type($value) `,` type($block_table) `,`
    type($seq_lens) `->` type($result) (`,` type($lse)^)?
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    /// The softmax scale: the `scale` attribute, or 1/sqrt(D) without one.
    float getScaleValue();
    /// Keys per page.
    int64_t getPageSize() { return getKey().getType().getDimSize(1); }
    int64_t getNumQueryHeads() { return getQuery().getType().getDimSize(1); }
    int64_t getNumKVHeads() { return getKey().getType().getDimSize(2); }
    int64_t getHeadDim() { return getQuery().getType().getDimSize(3); }
    int64_t getValueHeadDim() { return getValue().getType().getDimSize(3); }
    ::mlir::Type getElementType() {
      return getQuery().getType().getElementType();
    }
  }];
}

include "skipattn/Dialect/Attn/IR/AttnTileOps.td"

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD
