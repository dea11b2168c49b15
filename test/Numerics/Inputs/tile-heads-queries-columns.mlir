// The transform script of tiled-attention.mlir: tiles the attention of
// @attention_tiled by 1 batch, 2 query heads, 32 queries and 16 value
// columns.
module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %f = transform.structured.match ops{["func.func"]} attributes {sym_name = "attention_tiled"} in %root : (!transform.any_op) -> !transform.any_op
    %a = transform.structured.match ops{["attn.attention"]} in %f : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_forall %a tile_sizes [1, 2, 32, 16] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}
