// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip | FileCheck %s
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=stats | FileCheck %s --check-prefix=STATS
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=vote=16 | FileCheck %s --check-prefix=GROUPS
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip="vote=16 stats" | FileCheck %s --check-prefix=GSTATS

// The predicate: each tile's row max against the running max from before
// the tile, the whole q-block voting; the first block never skips; a skipped
// tile keeps (m, l, acc) and does not load V.
// CHECK-LABEL: func.func @threshold
//  CHECK-SAME:   %[[V:[a-z0-9]+]]: tensor<1x4x?x64xf32>, %[[LAMBDA:[a-z0-9]+]]: f32)
//       CHECK:   scf.for %[[J:[a-z0-9]+]] = %[[LB:[a-z0-9_]+]] to %{{.*}} step %{{.*}} iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}})
//       CHECK:     %[[S:.*]] = attn.tile_scores
//       CHECK:     %[[MT:.*]] = attn.tile_row_max %[[S]]
//       CHECK:     %[[VOTES:.*]] = attn.skip_vote %[[MT]], %[[M]], %[[LAMBDA]] {criterion = #attn.skip<threshold = 1.000000e-03>, group_rows = 64 : i64} : tensor<64xf32> -> tensor<1xi1>
//       CHECK:     %[[NOTFIRST:.*]] = arith.cmpi ne, %[[J]], %[[LB]] : index
//       CHECK:     %[[VOTE:.*]] = tensor.extract %[[VOTES]][%{{.*}}] : tensor<1xi1>
//       CHECK:     %[[SKIP:.*]] = arith.andi %[[NOTFIRST]], %[[VOTE]] : i1
//       CHECK:     %[[R:.*]]:3 = scf.if %[[SKIP]] -> (tensor<64xf32>, tensor<64xf32>, tensor<64x64xf32>) {
//       CHECK:       scf.yield %[[M]], %[[L]], %[[ACC]]
//       CHECK:     } else {
//       CHECK:       %[[VT:.*]] = attn.load_tile %[[V]]
//       CHECK:       %[[UM:.*]], %[[UL:.*]], %[[UA:.*]] = attn.tile_update %[[S]], %[[MT]], %[[VT]] into(%[[M]], %[[L]], %[[ACC]]) :
//       CHECK:       scf.yield %[[UM]], %[[UL]], %[[UA]]
//       CHECK:     }
//       CHECK:     scf.yield %[[R]]#0, %[[R]]#1, %[[R]]#2
//   CHECK-NOT:   skip_request
// With stats, each tile counts into its own (batch, head) of a [B, Hq, 2]
// buffer: slot 0 visited, slot 1 skipped.
// STATS-LABEL: func.func @threshold
//  STATS-SAME:   %{{.*}}: f32, %[[ST:[a-z0-9]+]]: memref<1x4x2xi64>)
//       STATS:   scf.forall (%[[B:[a-z0-9]+]], %[[H:[a-z0-9]+]], %{{.*}}) in
//       STATS:   %[[SKIP:.*]] = arith.andi
//       STATS:   %[[ONE:.*]] = arith.index_cast %{{.*}} : index to i64
//       STATS:   %[[C0:.*]] = arith.constant 0 : index
//       STATS:   memref.atomic_rmw addi %[[ONE]], %[[ST]][%[[B]], %[[H]], %[[C0]]] : (i64, memref<1x4x2xi64>) -> i64
//       STATS:   %[[BIT:.*]] = arith.index_castui %[[SKIP]] : i1 to index
//       STATS:   %[[N:.*]] = arith.index_cast %[[BIT]] : index to i64
//       STATS:   %[[C1:.*]] = arith.constant 1 : index
//       STATS:   memref.atomic_rmw addi %[[N]], %[[ST]][%[[B]], %[[H]], %[[C1]]] : (i64, memref<1x4x2xi64>) -> i64
//       STATS:   scf.if %[[SKIP]]
// GROUPS-LABEL: func.func @threshold
//       GROUPS:   %[[VOTES:.*]] = attn.skip_vote %{{.*}}, %{{.*}}, %{{.*}} {criterion = #attn.skip<threshold = 1.000000e-03>, group_rows = 16 : i64} : tensor<64xf32> -> tensor<4xi1>
//       GROUPS:   %[[NF:.*]] = tensor.splat %{{.*}} : tensor<4xi1>
//       GROUPS:   %[[G:.*]] = arith.andi %[[VOTES]], %[[NF]] : tensor<4xi1>
//   GROUPS-NOT:   scf.if
//       GROUPS:   attn.tile_update {{.*}} skip %[[G]] : tensor<4xi1> :
func.func @threshold(%q: tensor<1x4x?x64xf32>, %k: tensor<1x4x?x64xf32>, %v: tensor<1x4x?x64xf32>) -> tensor<1x4x?x64xf32> {
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<1x4x?x64xf32>
  %init_o = tensor.empty(%init_o_d2) : tensor<1x4x?x64xf32>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32> -> tensor<1x4x?x64xf32> outs(%init_o)
  return %o : tensor<1x4x?x64xf32>
}

// -----

// The scale_factor form: the run-time argument is F, and lambda = F / Skv.
// CHECK-LABEL: func.func @scale_factor
//  CHECK-SAME:   %[[F:[a-z0-9]+]]: f32)
//       CHECK:   %[[MT:.*]] = attn.tile_row_max
//       CHECK:   %[[SKV:.*]] = arith.index_castui %[[KVLEN:.*]] : index to i64
//       CHECK:   %[[SKVF:.*]] = arith.uitofp %[[SKV]] : i64 to f32
//       CHECK:   %[[LAMBDA:.*]] = arith.divf %[[F]], %[[SKVF]] : f32
//       CHECK:   attn.skip_vote %[[MT]], %{{.*}}, %[[LAMBDA]] {criterion = #attn.skip<scale_factor = 1.000000e+01>
func.func @scale_factor(%q: tensor<1x4x?x64xf32>, %k: tensor<1x4x?x64xf32>, %v: tensor<1x4x?x64xf32>) -> tensor<1x4x?x64xf32> {
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<1x4x?x64xf32>
  %init_o = tensor.empty(%init_o_d2) : tensor<1x4x?x64xf32>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<scale_factor = 10.0>} : tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32> -> tensor<1x4x?x64xf32> outs(%init_o)
  return %o : tensor<1x4x?x64xf32>
}

// -----

// Two skip-enabled attentions in one function share the threshold argument;
// a dense one gets no predicate.
// CHECK-LABEL: func.func @two_attentions
//  CHECK-SAME:   %[[LAMBDA:[a-z0-9]+]]: f32) ->
//       CHECK:   attn.skip_vote %{{.*}}, %{{.*}}, %[[LAMBDA]]
//       CHECK:   attn.skip_vote %{{.*}}, %{{.*}}, %[[LAMBDA]]
//   CHECK-NOT:   attn.skip_vote
//       CHECK:   return
func.func @two_attentions(%q: tensor<1x2x64x32xf32>, %k: tensor<1x2x64x32xf32>, %v: tensor<1x2x64x32xf32>) -> (tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>) {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  %a = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  %init_b = tensor.empty() : tensor<1x2x64x32xf32>
  %b = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-2>} : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_b)
  %init_c = tensor.empty() : tensor<1x2x64x32xf32>
  %c = attn.attention %q, %k, %v : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_c)
  return %a, %b, %c : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>
}

// -----

// Dense attention is left without any skip machinery and the signature is
// unchanged.
// CHECK-LABEL: func.func @dense(%{{.*}}: tensor<1x2x64x32xf32>, %{{.*}}: tensor<1x2x64x32xf32>, %{{.*}}: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32>
//   CHECK-NOT:   attn.skip_vote
//   CHECK-NOT:   scf.if
func.func @dense(%q: tensor<1x2x64x32xf32>, %k: tensor<1x2x64x32xf32>, %v: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  %a = attn.attention %q, %k, %v : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  return %a : tensor<1x2x64x32xf32>
}

// -----

// A dynamic batch gives a dynamic stats buffer; with vote groups a tile
// adds its number of groups to the visited count and its skipping groups
// to the skipped count, of its own (batch, head).
// CHECK-LABEL: func.func @dynamic_batch
// STATS-LABEL: func.func @dynamic_batch
//  STATS-SAME:   %[[ST:[a-z0-9]+]]: memref<?x2x2xi64>)
//       STATS:   memref.atomic_rmw addi %{{.*}}, %[[ST]][%{{.*}}, %{{.*}}, %{{.*}}] : (i64, memref<?x2x2xi64>) -> i64
// GSTATS-LABEL: func.func @dynamic_batch
//       GSTATS:   scf.forall (%[[B:[a-z0-9]+]], %[[H:[a-z0-9]+]], %{{.*}}) in
//       GSTATS:   %[[G:.*]] = arith.andi %{{.*}}, %{{.*}} : tensor<4xi1>
//       GSTATS:   %[[COUNT:.*]] = scf.for
//       GSTATS:     tensor.extract %[[G]]
//       GSTATS:   %[[NG:.*]] = arith.index_cast %{{.*}} : index to i64
//       GSTATS:   memref.atomic_rmw addi %[[NG]], %{{.*}}[%[[B]], %[[H]], %{{.*}}]
//       GSTATS:   %[[NS:.*]] = arith.index_cast %[[COUNT]] : index to i64
//       GSTATS:   memref.atomic_rmw addi %[[NS]], %{{.*}}[%[[B]], %[[H]], %{{.*}}]
//       GSTATS:   attn.tile_update {{.*}} skip %[[G]] : tensor<4xi1>
func.func @dynamic_batch(%q: tensor<?x2x?x32xf32>, %k: tensor<?x2x?x32xf32>, %v: tensor<?x2x?x32xf32>) -> tensor<?x2x?x32xf32> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x2x?x32xf32>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x2x?x32xf32>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x2x?x32xf32>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32> -> tensor<?x2x?x32xf32> outs(%init_o)
  return %o : tensor<?x2x?x32xf32>
}
