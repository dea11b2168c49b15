// RUN: skipattn-opt %s --split-input-file --attn-tile="block-m=16 pack-gqa kv-splits" | FileCheck %s
// RUN: skipattn-opt %s --split-input-file --attn-tile="block-m=16 pack-gqa" | FileCheck %s --check-prefix=PACK

// The split-KV decode tiling (docs/serving.md). pack-gqa: Q and the result
// are viewed as [B, Hkv, G * Sq, D], the forall runs over kv heads, the
// mask tile is read per packed row and tile_scores knows the rows are
// packed. kv-splits: a trailing index argument P; the kv-blocks of each
// q-block in P parts [min(p * per, n), min(p * per + per, n)), each a kv
// loop from (-inf, 0, 0), merged by attn.tile_merge.
// CHECK-LABEL: func.func @packed
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x8x3x64xf32>, %[[K:[a-z0-9]+]]: tensor<2x2x256x64xf32>, %{{.*}}: tensor<2x2x256x64xf32>, %[[MASK:[a-z0-9]+]]: tensor<2x8x3x256xi1>, %[[P:[a-z0-9]+]]: index {attn.kv_splits})
//       CHECK:   %[[E:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2], [3], [4]] output_shape [2, 2, 4, 3, 64] : tensor<2x8x3x64xf32> into tensor<2x2x4x3x64xf32>
//       CHECK:   %[[PQ:.*]] = tensor.collapse_shape %[[E]] {{\[}}[0], [1], [2, 3], [4]] : tensor<2x2x4x3x64xf32> into tensor<2x2x12x64xf32>
//       CHECK:   %[[OUT:.*]] = scf.forall (%[[B:.*]], %[[H:.*]], %[[QB:.*]]) in (%{{.*}}, 2, %{{.*}}) shared_outs(%{{.*}}) -> (tensor<2x2x12x64xf32>)
//       CHECK:     %[[QH:.*]] = arith.muli %[[H]], %{{.*}} : index
//       CHECK:     %[[Q0:.*]] = arith.muli %[[QB]]
//       CHECK:     attn.load_tile %[[PQ]][%[[B]], %[[H]], %[[Q0]]] : tensor<2x2x12x64xf32> -> tensor<16x64xf32>
//       CHECK:     %[[N:.*]] = arith.maxsi
//       CHECK:     %[[PARTS:.*]] = arith.maxsi %[[P]], %{{.*}} : index
//       CHECK:     %[[PER:.*]] = arith.ceildivui %[[N]], %[[PARTS]] : index
//       CHECK:     %[[R:.*]]:3 = scf.for %[[S:.*]] = %{{.*}} to %[[PARTS]] step %{{.*}} iter_args(%[[MM:.*]] = %{{.*}}, %[[ML:.*]] = %{{.*}}, %[[MA:.*]] = %{{.*}})
//       CHECK:       %[[T:.*]] = arith.muli %[[S]], %[[PER]] : index
//       CHECK:       %[[J0:.*]] = arith.minui %[[T]], %[[N]] : index
//       CHECK:       %[[U:.*]] = arith.addi %[[J0]], %[[PER]] : index
//       CHECK:       %[[J1:.*]] = arith.minui %[[U]], %[[N]] : index
//       CHECK:       %[[PART:.*]]:3 = scf.for %[[J:.*]] = %[[J0]] to %[[J1]]
//       CHECK:         attn.load_tile %[[K]][%[[B]], %[[H]], %{{.*}}]
//       CHECK:         attn.load_mask_tile %[[MASK]][%[[B]], %[[QH]], %[[Q0]], %{{.*}}] packed %{{.*}} : tensor<2x8x3x256xi1> -> tensor<16x64xi1>
//       CHECK:         attn.tile_scores {{.*}} {causal, packed_heads = 4 : i64, scale = 1.250000e-01 : f32}
//       CHECK:       %[[NM:.*]], %[[NL:.*]], %[[NA:.*]] = attn.tile_merge(%[[MM]], %[[ML]], %[[MA]]), (%[[PART]]#0, %[[PART]]#1, %[[PART]]#2) : tensor<16xf32>, tensor<16x64xf32>
//       CHECK:       scf.yield %[[NM]], %[[NL]], %[[NA]]
//       CHECK:     attn.tile_finalize %[[R]]#2, %[[R]]#1
//       CHECK:   %[[X:.*]] = tensor.expand_shape %[[OUT]] {{\[}}[0], [1], [2, 3], [4]] output_shape [2, 2, 4, 3, 64] : tensor<2x2x12x64xf32> into tensor<2x2x4x3x64xf32>
//       CHECK:   %[[Y:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0], [1, 2], [3], [4]] : tensor<2x2x4x3x64xf32> into tensor<2x8x3x64xf32>
//       CHECK:   return %[[Y]]
// Packed causal bound: the largest query index of the rows, Sq - 1 when
// they cross a head.
// PACK-LABEL: func.func @packed
//       PACK:   scf.forall
//       PACK:     arith.muli
//       PACK:     %[[Q0:.*]] = arith.muli
//       PACK:     %[[END:.*]] = arith.minui %{{.*}}, %[[ROWS:.*]] : index
//       PACK:     %[[LAST:.*]] = arith.subi %[[END]], %{{.*}} : index
//       PACK:     %[[LH:.*]] = arith.divui %[[LAST]], %[[SQ:.*]] : index
//       PACK:     %[[FH:.*]] = arith.divui %[[Q0]], %[[SQ]] : index
//       PACK:     %[[SAME:.*]] = arith.cmpi eq, %[[FH]], %[[LH]] : index
//       PACK:     %[[REM:.*]] = arith.remui %[[LAST]], %[[SQ]] : index
//       PACK:     %[[IN:.*]] = arith.addi %[[REM]], %{{.*}} : index
//       PACK:     arith.select %[[SAME]], %[[IN]], %[[SQ]] : index
//   PACK-NOT:     attn.tile_merge
func.func @packed(%q: tensor<2x8x3x64xf32>, %k: tensor<2x2x256x64xf32>, %v: tensor<2x2x256x64xf32>, %m: tensor<2x8x3x256xi1>) -> tensor<2x8x3x64xf32> {
  %init_o = tensor.empty() : tensor<2x8x3x64xf32>
  %o = attn.attention %q, %k, %v mask %m {causal} : tensor<2x8x3x64xf32>, tensor<2x2x256x64xf32>, tensor<2x2x256x64xf32>, tensor<2x8x3x256xi1> -> tensor<2x8x3x64xf32> outs(%init_o)
  return %o : tensor<2x8x3x64xf32>
}

// -----

// Dynamic lengths: the packed row count is G * Sq at run time, the loop
// writes the destination viewed as packed rows, and the result is reshaped
// back with Sq.
// CHECK-LABEL: func.func @dynamic
//       CHECK:   tensor.collapse_shape {{.*}} into tensor<?x1x?x64xbf16>
//       CHECK:   arith.muli %[[SQ:.*]], %{{.*}} : index
//       CHECK:   %[[DEST:.*]] = tensor.collapse_shape {{.*}} into tensor<?x1x?x64xbf16>
//       CHECK:   scf.forall {{.*}} shared_outs(%{{.*}} = %[[DEST]])
//       CHECK:   tensor.expand_shape {{.*}} output_shape [%{{.*}}, 1, 4, %[[SQ]], 64] : tensor<?x1x?x64xbf16> into tensor<?x1x4x?x64xbf16>
// A group of one head is not packed.
// PACK-LABEL: func.func @dynamic
// PACK-LABEL: func.func @mha
//   PACK-NOT:   tensor.expand_shape
//   PACK-NOT:   packed_heads
func.func @dynamic(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x1x?x64xbf16>, %v: tensor<?x1x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x4x?x64xbf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x4x?x64xbf16>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x4x?x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<?x4x?x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16> -> tensor<?x4x?x64xbf16> outs(%init_o)
  return %o : tensor<?x4x?x64xbf16>
}
func.func @mha(%q: tensor<1x2x5x32xf32>) -> tensor<1x2x5x32xf32> {
  %init_o = tensor.empty() : tensor<1x2x5x32xf32>
  %o = attn.attention %q, %q, %q : tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32>, tensor<1x2x5x32xf32> -> tensor<1x2x5x32xf32> outs(%init_o)
  return %o : tensor<1x2x5x32xf32>
}

