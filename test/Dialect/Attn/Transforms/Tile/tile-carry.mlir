// RUN: skipattn-opt %s --attn-tile | FileCheck %s
// RUN: skipattn-opt %s --attn-tile=pack-gqa | FileCheck %s --check-prefix=PACK

// The carry of a ring: the kv loop's running max starts from init_max
// (attn.load_max_tile of the q-block's rows) instead of -inf, and the final
// running max of each q-block's valid rows is the max result, a shared
// output [B, H, Sq] in f32 beside the lse.
// CHECK-LABEL: func.func @carry
//  CHECK-SAME:   %[[IM:[a-z0-9]+]]: tensor<2x4x?xf32>
//       CHECK:   tensor.empty(%{{.*}}) : tensor<2x4x?xf32>
//       CHECK:   %[[MAX0:.*]] = tensor.empty(%{{.*}}) : tensor<2x4x?xf32>
//       CHECK:   %[[R:.*]]:3 = scf.forall (%[[B:.*]], %[[H:.*]], %{{.*}}) in ({{.*}}) shared_outs(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[MO:.*]] = %[[MAX0]]) -> (tensor<2x4x?x32xf32>, tensor<2x4x?xf32>, tensor<2x4x?xf32>)
//       CHECK:     %[[Q0:.*]] = arith.muli
//       CHECK:     %[[M0:.*]] = attn.load_max_tile %[[IM]][%[[B]], %[[H]], %[[Q0]]] : tensor<2x4x?xf32> -> tensor<64xf32>
//       CHECK:     %[[F:.*]]:3 = scf.for {{.*}} iter_args(%{{.*}} = %[[M0]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}})
//       CHECK:     %[[ROWS:.*]] = arith.minui
//       CHECK:     %[[MV:.*]] = tensor.extract_slice %[[F]]#0[0] [%[[ROWS]]] [1] : tensor<64xf32> to tensor<?xf32>
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %[[MV]] into %[[MO]][%[[B]], %[[H]], %[[Q0]]] [1, 1, %[[ROWS]]] [1, 1, 1]
//       CHECK:   return %[[R]]#0, %[[R]]#1, %[[R]]#2
// Packed, init_max and max are [B, Hkv, G * Sq] inside.
// PACK-LABEL: func.func @carry
//  PACK-SAME:   %[[IM:[a-z0-9]+]]: tensor<2x4x?xf32>
//       PACK:   %[[IME:.*]] = tensor.expand_shape %[[IM]]
//       PACK:   %[[PIM:.*]] = tensor.collapse_shape %[[IME]] {{\[}}[0], [1], [2, 3]] : tensor<2x2x2x?xf32> into tensor<2x2x?xf32>
//       PACK:   scf.forall {{.*}} -> (tensor<2x2x?x32xf32>, tensor<2x2x?xf32>, tensor<2x2x?xf32>)
//       PACK:     attn.load_max_tile %[[PIM]][{{.*}}] : tensor<2x2x?xf32> -> tensor<64xf32>
//       PACK:   tensor.expand_shape %{{.*}}#2 {{\[}}[0], [1], [2, 3]] output_shape [2, 2, 2, %{{.*}}] : tensor<2x2x?xf32> into tensor<2x2x2x?xf32>
func.func @carry(%q: tensor<2x4x?x32xf32>, %k: tensor<2x2x?x32xf32>,
                 %v: tensor<2x2x?x32xf32>, %m: tensor<2x4x?xf32>)
    -> (tensor<2x4x?x32xf32>, tensor<2x4x?xf32>, tensor<2x4x?xf32>) {
  %c2 = arith.constant 2 : index
  %s = tensor.dim %q, %c2 : tensor<2x4x?x32xf32>
  %e = tensor.empty(%s) : tensor<2x4x?x32xf32>
  %el = tensor.empty(%s) : tensor<2x4x?xf32>
  %em = tensor.empty(%s) : tensor<2x4x?xf32>
  %o, %lse, %mx = attn.attention %q, %k, %v init_max(%m : tensor<2x4x?xf32>) {causal}
       : tensor<2x4x?x32xf32>, tensor<2x2x?x32xf32>, tensor<2x2x?x32xf32>
         -> tensor<2x4x?x32xf32>, tensor<2x4x?xf32>, max tensor<2x4x?xf32>
         outs(%e, %el : tensor<2x4x?xf32>, max %em : tensor<2x4x?xf32>)
  return %o, %lse, %mx : tensor<2x4x?x32xf32>, tensor<2x4x?xf32>, tensor<2x4x?xf32>
}
