// RUN: skipattn-opt %s --attn-tile="block-m=16 pack-gqa kv-splits" --attn-insert-block-skip=stats | FileCheck %s

// Seeds (docs/serving.md): a part of a split kv range that starts past
// kv-block 0, when it has blocks and skipping is on, starts its running max
// from the row max of block 0, computed before its loop by a clone of the
// loop's scores with the block index at 0. Every block but block 0 is then
// subject to the vote. A packed q-block counts each tile once for each
// query head it holds, into that head's counters.
// CHECK-LABEL: func.func @decode
//  CHECK-SAME:   %[[K:[a-z0-9]+]]: tensor<?x1x?x64xf32>, %{{.*}}: tensor<?x1x?x64xf32>, %{{.*}}: index {attn.kv_splits}, %[[LAMBDA:[a-z0-9]+]]: f32, %[[ST:[a-z0-9]+]]: memref<?x4x2xi64>)
//       CHECK:   scf.forall (%[[B:[a-z0-9]+]], %[[KH:[a-z0-9]+]], %{{.*}}) in
//       CHECK:     %[[QT:.*]] = attn.load_tile
//       CHECK:     scf.for
//       CHECK:       %[[J0:.*]] = arith.minui
//       CHECK:       %[[J1:.*]] = arith.minui
//       CHECK:       %[[ZERO:.*]] = arith.constant 0 : index
//       CHECK:       %[[PAST:.*]] = arith.cmpi ugt, %[[J0]], %[[ZERO]] : index
//       CHECK:       %[[HAS:.*]] = arith.cmpi ult, %[[J0]], %[[J1]] : index
//       CHECK:       %[[WHERE:.*]] = arith.andi %[[PAST]], %[[HAS]] : i1
//       CHECK:       %[[GT0:.*]] = arith.cmpf ogt, %[[LAMBDA]]
//       CHECK:       %[[LT1:.*]] = arith.cmpf olt, %[[LAMBDA]]
//       CHECK:       %[[ON:.*]] = arith.andi %[[GT0]], %[[LT1]] : i1
//       CHECK:       %[[SEEDED:.*]] = arith.andi %[[ON]], %[[WHERE]] : i1
//       CHECK:       %[[SEED:.*]] = scf.if %[[SEEDED]] -> (tensor<16xf32>) {
//       CHECK:         %[[K0:.*]] = arith.muli %[[ZERO]], %{{.*}} : index
//       CHECK:         %[[KT:.*]] = attn.load_tile %[[K]][%{{.*}}, %{{.*}}, %[[K0]]]
//       CHECK:         %[[S0:.*]] = attn.tile_scores %[[QT]], %[[KT]] at[%{{.*}}, %[[K0]]]
//       CHECK:         %[[MT0:.*]] = attn.tile_row_max %[[S0]]
//       CHECK:         scf.yield %[[MT0]] : tensor<16xf32>
//       CHECK:       } else {
//       CHECK:         scf.yield %{{.*}} : tensor<16xf32>
//       CHECK:       scf.for %[[J:.*]] = %[[J0]] to %[[J1]] step %{{.*}} iter_args(%[[M:.*]] = %[[SEED]],
//       CHECK:         %[[MT:.*]] = attn.tile_row_max
//       CHECK:         %[[VOTES:.*]] = attn.skip_vote %[[MT]], %[[M]], %[[LAMBDA]]
//       CHECK:         %[[C0:.*]] = arith.constant 0 : index
//       CHECK:         %[[NOTFIRST:.*]] = arith.cmpi ne, %[[J]], %[[C0]] : index
//       CHECK:         %[[SKIP:.*]] = arith.andi %[[NOTFIRST]], %{{.*}} : i1
//       CHECK:         %[[BIT:.*]] = arith.index_castui %[[SKIP]] : i1 to index
// The heads of the packed rows [row, min(row + 16, 4 * Sq)): p / Sq.
//       CHECK:         %[[FIRST:.*]] = arith.divui %[[ROW:.*]], %[[SQ:.*]] : index
//       CHECK:         %[[LAST:.*]] = arith.divui %{{.*}}, %[[SQ]] : index
//       CHECK:         %[[BASE:.*]] = arith.muli %[[KH]], %c4{{.*}} : index
//       CHECK:         %[[END:.*]] = arith.addi %[[LAST]], %{{.*}} : index
//       CHECK:         scf.for %[[G:.*]] = %[[FIRST]] to %[[END]]
//       CHECK:           %[[HEAD:.*]] = arith.addi %[[BASE]], %[[G]] : index
//       CHECK:           memref.atomic_rmw addi %{{.*}}, %[[ST]][%[[B]], %[[HEAD]], %{{.*}}]
//       CHECK:           %[[NS:.*]] = arith.index_cast %[[BIT]] : index to i64
//       CHECK:           memref.atomic_rmw addi %[[NS]], %[[ST]][%[[B]], %[[HEAD]], %{{.*}}]
//       CHECK:         scf.if %[[SKIP]]
//       CHECK:       attn.tile_merge
func.func @decode(%q: tensor<?x4x?x64xf32>, %k: tensor<?x1x?x64xf32>, %v: tensor<?x1x?x64xf32>) -> tensor<?x4x?x64xf32> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x4x?x64xf32>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x4x?x64xf32>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x4x?x64xf32>
  %o = attn.attention %q, %k, %v {causal, skip = #attn.skip<threshold = 1.0e-3>} : tensor<?x4x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32> -> tensor<?x4x?x64xf32> outs(%init_o)
  return %o : tensor<?x4x?x64xf32>
}
