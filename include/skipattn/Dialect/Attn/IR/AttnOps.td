//===- AttnOps.td - operations of the attn dialect ---------*- tablegen -*-===//
//
// `attn.attention`: scaled dot-product attention over [B, H, S, D] tensors,
// with optional causal masking, a mask operand, GQA and a skip request. It is
// in destination-passing style and tileable (TilingInterface), so upstream
// tiling drivers and the transform dialect take it like a linalg op.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD
#define SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD

include "skipattn/Dialect/Attn/IR/AttnDialect.td"
include "skipattn/Dialect/Attn/IR/AttnAttrs.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/TilingInterface.td"

// Structural traits (verified before the generated verifier): the operand
// (result) segments at these indices each hold one value (AttnTraits.h).
class Attn_SingleOperandSegments<string groups>
    : ParamNativeOpTrait<"SingleOperandSegments", groups>, StructuralOpTrait {
  let cppNamespace = "::skipattn::attn";
}
class Attn_SingleResultSegments<string groups>
    : ParamNativeOpTrait<"SingleResultSegments", groups>, StructuralOpTrait {
  let cppNamespace = "::skipattn::attn";
}

def Attn_AttentionOp : Attn_Op<"attention", [Pure, AttrSizedOperandSegments,
    AttrSizedResultSegments,
    // query, key, value and init; result.
    Attn_SingleOperandSegments<"0, 1, 2, 5">, Attn_SingleResultSegments<"0">,
    DestinationStyleOpInterface,
    AllTypesMatch<["init", "result"]>,
    DeclareOpInterfaceMethods<TilingInterface,
        ["getLoopIteratorTypes", "getIterationDomain",
         "getTiledImplementation", "getResultTilePosition",
         "generateResultTileValue", "getIterationDomainTileFromResultTile"]>]> {
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
      (docs/serving.md): what ring and context-parallel attention need. Its
      destination is a second `outs` operand, written with its type.
    - An optional operand `init_max(%m : tensor<BxHqxSqxf32>)` is the
      running max each softmax row starts from, -inf meaning none: the
      carry of a context-parallel ring (docs/distributed.md), whose step
      t + 1 starts from the max that steps 0..t kept. The Skip-Softmax
      vote then tests every kv-block against it, the first included (a row
      at -inf votes to keep a block that has a score). **Contract:** a
      finite `init_max[b, h, i]` must be a score that row i keeps in the
      final softmax it is merged into (a kept score of another call over
      other keys of the same query, as the `max` result of such a call
      is), so a lower bound of that softmax's max; then every skipped score
      s has `exp(s - final max) < lambda` and the skipped mass stays bounded
      as in DESIGN.md section 4. The result and lse remain the attention
      over this op's keys; a score far below `init_max` underflows in
      `exp(s - m)`, which is below f32 rounding of the merged softmax that
      `init_max` belongs to, not of this op's own.
    - An optional result `max`, f32 [B, Hq, Sq], is each row's final running
      max: the largest score the row kept (skipped tiles left out), or
      `init_max` when that is larger; -inf for a row that kept nothing and
      had no `init_max`. Its destination is an `outs` operand after the
      lse's, written `max %dest : type`; its type is written `max type`
      after the result types.
    - `outs(%init)` is the destination (destination-passing style): a tensor
      of the result's type whose contents are overwritten, typically a
      `tensor.empty`. It ties the result to a buffer for bufferization and
      to the slice a tiled loop writes.

    Tiling (TilingInterface): the iteration domain is the result,
    [B, Hq, Sq, Dv], every dimension parallel. A tile slices Q, the mask and
    the destination alike; K and V by the key/value heads its query heads
    read (a head tile must hold whole GQA groups or lie within one), and
    with `causal` a query tile [q0, q0 + n) reads only the keys
    [0, q0 + n + Skv - Sq), which keeps the bottom-right diagonal where it
    was. The head and value-head-dim tiles must have static sizes. The lse
    destination is sliced by the first three dimensions of the tile.

    Example:

    ```mlir
    %e = tensor.empty() : tensor<1x32x4096x128xbf16>
    %o = attn.attention %q, %k, %v {causal, scale = 0.125 : f32,
                                    skip = #attn.skip<threshold = 1.0e-3>}
      : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>,
        tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16> outs(%e)
    %p = attn.attention %q, %k, %v mask %m
      : tensor<2x12x197x64xf32>, tensor<2x12x197x64xf32>,
        tensor<2x12x197x64xf32>, tensor<2x1x1x197xi1> -> tensor<2x12x197x64xf32>
        outs(%f)
    %o2, %lse = attn.attention %q, %k, %v
      : tensor<1x32x1x128xbf16>, tensor<1x8x?x128xbf16>,
        tensor<1x8x?x128xbf16> -> tensor<1x32x1x128xbf16>, tensor<1x32x1xf32>
        outs(%g, %l : tensor<1x32x1xf32>)
    %o3, %lse3, %max3 = attn.attention %q, %k, %v
        init_max(%m : tensor<1x32x4096xf32>) {causal}
      : tensor<1x32x4096x128xbf16>, tensor<1x8x?x128xbf16>,
        tensor<1x8x?x128xbf16> -> tensor<1x32x4096x128xbf16>,
        tensor<1x32x4096xf32>, max tensor<1x32x4096xf32>
        outs(%e, %l3 : tensor<1x32x4096xf32>, max %m3 : tensor<1x32x4096xf32>)
    ```
  }];

  let arguments = (ins AnyRankedTensor:$query,
                       AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       Optional<AnyRankedTensor>:$mask,
                       Optional<AnyRankedTensor>:$init_max,
                       AnyRankedTensor:$init,
                       Optional<AnyRankedTensor>:$lse_init,
                       Optional<AnyRankedTensor>:$max_init,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Attn_SkipAttr>:$skip);
  let results = (outs AnyRankedTensor:$result,
                      Optional<AnyRankedTensor>:$lse,
                      Optional<AnyRankedTensor>:$max);

  // The optional results and destinations follow a comma each; `max` names
  // its own so that either can come without the other.
  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)?
    (`init_max` `(` $init_max^ `:` type($init_max) `)`)? attr-dict `:`
    type($query) `,` type($key) `,` type($value) (`,` type($mask)^)?
    `->` type($result) `` custom<OptionalResultTypes>(type($lse), type($max))
    `outs` `(` $init `` custom<OptionalInits>($lse_init, type($lse_init),
                                             $max_init, type($max_init)) `)`
  }];

  let hasVerifier = 1;

  let builders = [
    // The attention into new `tensor.empty` destinations, created at the
    // builder's insertion point: for passes that build the op from its
    // inputs (attn-raise, skipattn-compile's entry). With a non-null
    // `lseType` (`maxType`), the op also has the lse (max) result; a
    // non-null `initMax` is the init_max operand.
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Type":$lseType,
      "::mlir::Type":$maxType, "::mlir::Value":$query, "::mlir::Value":$key,
      "::mlir::Value":$value, "::mlir::Value":$mask, "::mlir::Value":$initMax,
      "::mlir::UnitAttr":$causal, "::mlir::FloatAttr":$scale,
      "::skipattn::attn::SkipAttr":$skip)>,
    // The same without the log-sum-exp.
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$query,
      "::mlir::Value":$key, "::mlir::Value":$value, "::mlir::Value":$mask,
      "::mlir::UnitAttr":$causal, "::mlir::FloatAttr":$scale,
      "::skipattn::attn::SkipAttr":$skip), [{
      build($_builder, $_state, resultType, /*lseType=*/::mlir::Type(),
            /*maxType=*/::mlir::Type(), query, key, value, mask,
            /*initMax=*/::mlir::Value(), causal, scale, skip);
    }]>
  ];

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
    /// DestinationStyleOpInterface: the result is written into `init`, the
    /// lse into `lse_init`, the max into `max_init` (the last operands, in
    /// that order).
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      unsigned start = getInitMutable().getOperandNumber();
      return ::mlir::MutableOperandRange(getOperation(), start,
                                         getOperation()->getNumOperands() -
                                             start);
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

def Attn_VarlenAttentionOp : Attn_Op<"varlen_attention", [Pure]> {
  let summary = "attention over a packed batch of variable-length sequences";
  let description = [{
    `attn.attention` over sequences of different lengths packed one after
    another, the layout of FlashAttention's varlen API: no padding, one
    row per token.

    - Q is [Tq, Hq, D], K is [Tk, Hkv, D], V is [Tk, Hkv, Dv] and the result
      [Tq, Hq, Dv]; `cu_seqlens_q` and `cu_seqlens_k` (i32, [B + 1]) hold
      the cumulative lengths: sequence b has queries
      [cu_seqlens_q[b], cu_seqlens_q[b + 1]) and keys
      [cu_seqlens_k[b], cu_seqlens_k[b + 1]). cu_seqlens_*[0] is 0, the
      offsets do not decrease and the last is at most Tq (Tk); rows of the
      result no sequence covers are left as they are.
    - Each sequence attends only its own keys. `causal` is bottom-right
      aligned per sequence: key j of sequence b is kept for its query i when
      j <= i + Sk_b - Sq_b. A query with no key (Sk_b = 0) yields zeros.
    - One element type, f32, f16 or bf16; static head counts and head dims;
      Hq a multiple of Hkv (GQA). `scale` and `skip` are those of
      attn.attention. There is no mask operand and no lse result.

    ```mlir
    %o = attn.varlen_attention %q, %k, %v, %cu_q, %cu_k {causal}
      : tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>,
        tensor<?xi32>, tensor<?xi32> -> tensor<?x32x128xbf16>
    ```
  }];

  let arguments = (ins AnyRankedTensor:$query,
                       AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       AnyRankedTensor:$cu_seqlens_q,
                       AnyRankedTensor:$cu_seqlens_k,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Attn_SkipAttr>:$skip);
  let results = (outs AnyRankedTensor:$result);

  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $cu_seqlens_q `,` $cu_seqlens_k attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($cu_seqlens_q)
    `,` type($cu_seqlens_k) `->` type($result)
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    /// The softmax scale: the `scale` attribute, or 1/sqrt(D) without one.
    float getScaleValue();
    int64_t getNumQueryHeads() { return getQuery().getType().getDimSize(1); }
    int64_t getNumKVHeads() { return getKey().getType().getDimSize(1); }
    int64_t getHeadDim() { return getQuery().getType().getDimSize(2); }
    int64_t getValueHeadDim() { return getValue().getType().getDimSize(2); }
    ::mlir::Type getElementType() {
      return getQuery().getType().getElementType();
    }
  }];
}

include "skipattn/Dialect/Attn/IR/AttnTileOps.td"

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD
