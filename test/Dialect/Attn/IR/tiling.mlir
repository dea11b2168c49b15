// RUN: skipattn-opt %s --split-input-file --transform-interpreter --canonicalize --cse | FileCheck %s

// attn.attention implements TilingInterface: the transform dialect's
// generic tiling splits it into smaller attentions over the result's
// dimensions [B, Hq, Sq, Dv]. Q, the mask and the destination are sliced
// like the result; K and V by the kv heads of the head tile; with causal a
// query tile reads only the keys up to its own diagonal.

// Query head h reads kv head h / 4: a tile of 4 query heads (one GQA group)
// at 4 * t reads kv head t. The keys of query tile s:
// [0, min(256, max(0, 64 * s + 64))).
//       CHECK: #[[HEADS:.*]] = affine_map<(d0) -> (d0 * 4)>
//       CHECK: #[[ROWS:.*]] = affine_map<(d0) -> (d0 * 64)>
//       CHECK: #[[END:.*]] = affine_map<(d0) -> (0, d0 * 64 + 64)>
//       CHECK: #[[CLAMP:.*]] = affine_map<(d0) -> (256, d0)>
// CHECK-LABEL: func.func @causal_gqa
//  CHECK-SAME:   %[[Q:[a-z0-9]+]]: tensor<2x8x256x64xf32>, %[[K:[a-z0-9]+]]: tensor<2x2x256x64xf32>, %[[V:[a-z0-9]+]]: tensor<2x2x256x64xf32>
//       CHECK:   %[[E:.*]] = tensor.empty() : tensor<2x8x256x64xf32>
//       CHECK:   scf.forall (%[[B:.*]], %[[T:.*]], %[[S:.*]]) in (2, 2, 4) shared_outs(%[[O:.*]] = %[[E]])
//       CHECK:     %[[H:.*]] = affine.apply #[[HEADS]](%[[T]])
//       CHECK:     %[[S0:.*]] = affine.apply #[[ROWS]](%[[S]])
//       CHECK:     %[[MAX:.*]] = affine.max #[[END]](%[[S]])
//       CHECK:     %[[KEYS:.*]] = affine.min #[[CLAMP]](%[[MAX]])
//       CHECK:     %[[QT:.*]] = tensor.extract_slice %[[Q]][%[[B]], %[[H]], %[[S0]], 0] [1, 4, 64, 64] [1, 1, 1, 1] : tensor<2x8x256x64xf32> to tensor<1x4x64x64xf32>
//       CHECK:     %[[KT:.*]] = tensor.extract_slice %[[K]][%[[B]], %[[T]], 0, 0] [1, 1, %[[KEYS]], 64] [1, 1, 1, 1] : tensor<2x2x256x64xf32> to tensor<1x1x?x64xf32>
//       CHECK:     %[[VT:.*]] = tensor.extract_slice %[[V]][%[[B]], %[[T]], 0, 0] [1, 1, %[[KEYS]], 64] [1, 1, 1, 1] : tensor<2x2x256x64xf32> to tensor<1x1x?x64xf32>
//       CHECK:     %[[OT:.*]] = tensor.extract_slice %[[O]][%[[B]], %[[H]], %[[S0]], 0] [1, 4, 64, 64]
//       CHECK:     %[[A:.*]] = attn.attention %[[QT]], %[[KT]], %[[VT]] {causal, scale = 1.250000e-01 : f32} : tensor<1x4x64x64xf32>, tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32> -> tensor<1x4x64x64xf32> outs(%[[OT]])
//       CHECK:     tensor.parallel_insert_slice %[[A]] into %[[O]][%[[B]], %[[H]], %[[S0]], 0] [1, 4, 64, 64]
func.func @causal_gqa(%q: tensor<2x8x256x64xf32>, %k: tensor<2x2x256x64xf32>,
                      %v: tensor<2x2x256x64xf32>) -> tensor<2x8x256x64xf32> {
  %e = tensor.empty() : tensor<2x8x256x64xf32>
  %o = attn.attention %q, %k, %v {causal, scale = 0.125 : f32} : tensor<2x8x256x64xf32>, tensor<2x2x256x64xf32>, tensor<2x2x256x64xf32> -> tensor<2x8x256x64xf32> outs(%e)
  return %o : tensor<2x8x256x64xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %a = transform.structured.match ops{["attn.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %loop = transform.structured.tile_using_forall %a tile_sizes [1, 4, 64, 0] : (!transform.any_op) -> (!transform.any_op, !transform.any_op)
    transform.yield
  }
}

// -----

// A head tile inside one GQA group reads one kv head (h floordiv 4); the
// value head dim tiles V and the destination; a broadcasting mask keeps its
// extents of 1 (here that is the whole mask: its slice folds away).
//       CHECK: #[[KV:.*]] = affine_map<(d0) -> (d0 floordiv 4)>
// CHECK-LABEL: func.func @mask_and_value_columns
//  CHECK-SAME:   %[[M:[a-z0-9]+]]: tensor<1x1x50x70xi1>
//       CHECK:   scf.for %[[H:.*]] = %c0 to %c8 step %c2
//       CHECK:     scf.for %[[C:.*]] = %c0 to %c32 step %c16
//       CHECK:       %[[KVH:.*]] = affine.apply #[[KV]](%[[H]])
//       CHECK:       tensor.extract_slice %{{.*}}[0, %[[H]], 0, 0] [1, 2, 50, 64]
//       CHECK:       tensor.extract_slice %{{.*}}[0, %[[KVH]], 0, 0] [1, 1, 70, 64] [1, 1, 1, 1] : tensor<1x2x70x64xf32> to tensor<1x1x70x64xf32>
//       CHECK:       tensor.extract_slice %{{.*}}[0, %[[KVH]], 0, %[[C]]] [1, 1, 70, 16] [1, 1, 1, 1] : tensor<1x2x70x32xf32> to tensor<1x1x70x16xf32>
//       CHECK:       attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask %[[M]] : tensor<1x2x50x64xf32>, tensor<1x1x70x64xf32>, tensor<1x1x70x16xf32>, tensor<1x1x50x70xi1> -> tensor<1x2x50x16xf32>
func.func @mask_and_value_columns(%q: tensor<1x8x50x64xf32>, %k: tensor<1x2x70x64xf32>,
                                  %v: tensor<1x2x70x32xf32>, %m: tensor<1x1x50x70xi1>) -> tensor<1x8x50x32xf32> {
  %e = tensor.empty() : tensor<1x8x50x32xf32>
  %o = attn.attention %q, %k, %v mask %m : tensor<1x8x50x64xf32>, tensor<1x2x70x64xf32>, tensor<1x2x70x32xf32>, tensor<1x1x50x70xi1> -> tensor<1x8x50x32xf32> outs(%e)
  return %o : tensor<1x8x50x32xf32>
}

module attributes {transform.with_named_sequence} {
  transform.named_sequence @__transform_main(%root: !transform.any_op {transform.readonly}) {
    %a = transform.structured.match ops{["attn.attention"]} in %root : (!transform.any_op) -> !transform.any_op
    %tiled, %l1, %l2 = transform.structured.tile_using_for %a tile_sizes [0, 2, 0, 16] : (!transform.any_op) -> (!transform.any_op, !transform.any_op, !transform.any_op)
    transform.yield
  }
}
