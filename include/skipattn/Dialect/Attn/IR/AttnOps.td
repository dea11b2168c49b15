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

def Attn_AttentionOp : Attn_Op<"attention", [Pure,
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
    was. The head and value-head-dim tiles must have static sizes.

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
    ```
  }];

  let arguments = (ins AnyRankedTensor:$query,
                       AnyRankedTensor:$key,
                       AnyRankedTensor:$value,
                       Optional<AnyRankedTensor>:$mask,
                       AnyRankedTensor:$init,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Attn_SkipAttr>:$skip);
  let results = (outs AnyRankedTensor:$result);

  let assemblyFormat = [{
    $query `,` $key `,` $value (`mask` $mask^)? attr-dict `:`
    type($query) `,` type($key) `,` type($value) (`,` type($mask)^)?
    `->` type($result) `outs` `(` $init `)`
  }];

  let hasVerifier = 1;

  let builders = [
    // The attention into a new `tensor.empty` destination, created at the
    // builder's insertion point: for passes that build the op from its
    // inputs (attn-raise, skipattn-compile's entry).
    OpBuilder<(ins "::mlir::Type":$resultType, "::mlir::Value":$query,
      "::mlir::Value":$key, "::mlir::Value":$value, "::mlir::Value":$mask,
      "::mlir::UnitAttr":$causal, "::mlir::FloatAttr":$scale,
      "::skipattn::attn::SkipAttr":$skip)>
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
    /// DestinationStyleOpInterface: the result is written into `init`.
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getInitMutable();
    }
  }];
}

include "skipattn/Dialect/Attn/IR/AttnTileOps.td"

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNOPS_TD
