// RUN: skipattn-opt %s --attn-tile | FileCheck %s
// RUN: skipattn-opt %s --attn-tile=pack-gqa | FileCheck %s --check-prefix=PACK

// The lse result: a second shared output [B, H, Sq] in f32, each q-block
// writing attn.tile_lse of its final (m, l) for its valid rows.
// CHECK-LABEL: func.func @lse
//       CHECK:   %[[LSE0:.*]] = tensor.empty(%{{.*}}) : tensor<2x4x?xf32>
//       CHECK:   %[[R:.*]]:2 = scf.forall (%[[B:.*]], %[[H:.*]], %{{.*}}) in ({{.*}}) shared_outs(%{{.*}} = %{{.*}}, %[[LO:.*]] = %[[LSE0]]) -> (tensor<2x4x?x32xf32>, tensor<2x4x?xf32>)
//       CHECK:     %[[Q0:.*]] = arith.muli
//       CHECK:     %[[F:.*]]:3 = scf.for
//       CHECK:     %[[ROWS:.*]] = arith.minui
//       CHECK:     %[[L:.*]] = attn.tile_lse %[[F]]#0, %[[F]]#1 : tensor<64xf32>
//       CHECK:     %[[LV:.*]] = tensor.extract_slice %[[L]][0] [%[[ROWS]]] [1] : tensor<64xf32> to tensor<?xf32>
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %[[LV]] into %[[LO]][%[[B]], %[[H]], %[[Q0]]] [1, 1, %[[ROWS]]] [1, 1, 1]
//       CHECK:   return %[[R]]#0, %[[R]]#1
// Packed, it is [B, Hkv, G * Sq] inside and reshaped back.
// PACK-LABEL: func.func @lse
//       PACK:   scf.forall {{.*}} -> (tensor<2x2x?x32xf32>, tensor<2x2x?xf32>)
//       PACK:   %[[E:.*]] = tensor.expand_shape %{{.*}}#1 {{\[}}[0], [1], [2, 3]] output_shape [2, 2, 2, %{{.*}}] : tensor<2x2x?xf32> into tensor<2x2x2x?xf32>
//       PACK:   tensor.collapse_shape %[[E]] {{\[}}[0], [1, 2], [3]] : tensor<2x2x2x?xf32> into tensor<2x4x?xf32>
func.func @lse(%q: tensor<2x4x?x32xf32>, %k: tensor<2x2x?x32xf32>) -> (tensor<2x4x?x32xf32>, tensor<2x4x?xf32>) {
  %c2 = arith.constant 2 : index
  %s = tensor.dim %q, %c2 : tensor<2x4x?x32xf32>
  %e = tensor.empty(%s) : tensor<2x4x?x32xf32>
  %el = tensor.empty(%s) : tensor<2x4x?xf32>
  %o, %l = attn.attention %q, %k, %k : tensor<2x4x?x32xf32>, tensor<2x2x?x32xf32>, tensor<2x2x?x32xf32> -> tensor<2x4x?x32xf32>, tensor<2x4x?xf32> outs(%e, %el : tensor<2x4x?xf32>)
  return %o, %l : tensor<2x4x?x32xf32>, tensor<2x4x?xf32>
}
