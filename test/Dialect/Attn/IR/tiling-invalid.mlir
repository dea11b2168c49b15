// RUN: skipattn-opt %s --split-input-file --transform-interpreter --verify-diagnostics

// A head tile that splits GQA groups across tiles has no kv-head slice: the
// tiling fails with a diagnostic that says why.
func.func @split_groups(%q: tensor<1x12x64x64xf32>, %k: tensor<1x3x64x64xf32>) -> tensor<1x12x64x64xf32> {
  %e = tensor.empty() : tensor<1x12x64x64xf32>
  // expected-error @+4 {{'attn.attention' op cannot be tiled with 3 query heads per tile: a tile must hold whole GQA groups of 4 heads or lie within one}}
  // expected-error @+3 {{faild to tile operation}}
  // expected-error @+2 {{failed to generate tiling loops}}
  // expected-note @+1 {{when applied to this op}}
  %o = attn.attention %q, %k, %k : tensor<1x12x64x64xf32>, tensor<1x3x64x64xf32>, tensor<1x3x64x64xf32> -> tensor<1x12x64x64xf32> outs(%e)
  return %o : tensor<1x12x64x64xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %a = transform.structured.match ops{["attn.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    // expected-error @+1 {{transform.structured.tile_using_forall failed to apply}}
    %tiled, %loop = transform.structured.tile_using_forall %a tile_sizes [0, 3, 0, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// The head count of a tile must be static: a tile size that does not divide
// the heads leaves a partial tile of dynamic size.
func.func @dynamic_head_tile(%q: tensor<1x8x64x64xf32>) -> tensor<1x8x64x64xf32> {
  %e = tensor.empty() : tensor<1x8x64x64xf32>
  // expected-error @+4 {{'attn.attention' op cannot be tiled with a dynamic tile of the head or value head dim dimension (head counts and head dims are static)}}
  // expected-error @+3 {{faild to tile operation}}
  // expected-error @+2 {{failed to generate tiling loops}}
  // expected-note @+1 {{when applied to this op}}
  %o = attn.attention %q, %q, %q : tensor<1x8x64x64xf32>, tensor<1x8x64x64xf32>, tensor<1x8x64x64xf32> -> tensor<1x8x64x64xf32> outs(%e)
  return %o : tensor<1x8x64x64xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %a = transform.structured.match ops{["attn.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    // expected-error @+1 {{transform.structured.tile_using_forall failed to apply}}
    %tiled, %loop = transform.structured.tile_using_forall %a tile_sizes [0, 3, 0, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}
