// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip | FileCheck %s
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=vote=16 | FileCheck %s --check-prefix=GROUPS

// A kv loop that starts from init_max votes every block, the first
// included: no `j != first` term, the vote alone decides (a row at -inf
// votes no where it has a score).
// CHECK-LABEL: func.func @carry
//       CHECK:   %[[M0:.*]] = attn.load_max_tile
//       CHECK:   scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[M:.*]] = %[[M0]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}})
//       CHECK:     %[[MT:.*]] = attn.tile_row_max
//       CHECK:     %[[VOTES:.*]] = attn.skip_vote %[[MT]], %[[M]], %{{.*}}
//   CHECK-NOT:     arith.cmpi
//       CHECK:     %[[VOTE:.*]] = tensor.extract %[[VOTES]][%{{.*}}] : tensor<1xi1>
//   CHECK-NOT:     arith.andi
//       CHECK:     scf.if %[[VOTE]] -> (tensor<64xf32>, tensor<64xf32>, tensor<64x32xf32>) {
func.func @carry(%q: tensor<1x4x?x32xf32>, %m: tensor<1x4x?xf32>) -> tensor<1x4x?x32xf32> {
  %c2 = arith.constant 2 : index
  %s = tensor.dim %q, %c2 : tensor<1x4x?x32xf32>
  %e = tensor.empty(%s) : tensor<1x4x?x32xf32>
  %o = attn.attention %q, %q, %q init_max(%m : tensor<1x4x?xf32>) {skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<1x4x?x32xf32>, tensor<1x4x?x32xf32>, tensor<1x4x?x32xf32> -> tensor<1x4x?x32xf32> outs(%e)
  return %o : tensor<1x4x?x32xf32>
}

// Grouped votes: each group's vote is its skip bit as it is.
// GROUPS-LABEL: func.func @carry
//       GROUPS:   scf.for
//       GROUPS:     %[[VOTES:.*]] = attn.skip_vote
//   GROUPS-NOT:     arith.andi
//       GROUPS:     attn.tile_update {{.*}} skip %[[VOTES]] : tensor<4xi1>
