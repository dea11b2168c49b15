// RUN: skipattn-opt %s --split-input-file --attn-tile | FileCheck %s
// RUN: skipattn-opt %s --split-input-file --attn-tile="block-m=32 block-n=16" | FileCheck %s --check-prefix=BLOCKS

// The flash loop: a parallel loop over (b, h, q-block), Q loaded once, an
// scf.for over kv-blocks carrying (m, l, acc), then acc / l written back
// into the attention's destination.
// CHECK-LABEL: func.func @dense
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x8x128x64xf32>, %[[K:[a-z0-9]+]]: tensor<2x8x256x64xf32>, %[[V:[a-z0-9]+]]: tensor<2x8x256x32xf32>)
//       CHECK:   %[[INIT:.*]] = tensor.empty() : tensor<2x8x128x32xf32>
//   CHECK-DAG:   %[[SQ:.*]] = arith.constant 128 : index
//   CHECK-DAG:   %[[SKV:.*]] = arith.constant 256 : index
//       CHECK:   %[[NQB:.*]] = arith.ceildivui %[[SQ]], %{{.*}} : index
//       CHECK:   %[[OUT:.*]] = scf.forall (%[[B:.*]], %[[H:.*]], %[[QB:.*]]) in (%{{.*}}, 8, %[[NQB]]) shared_outs(%[[O:.*]] = %[[INIT]]) -> (tensor<2x8x128x32xf32>)
//       CHECK:     %[[Q0:.*]] = arith.muli %[[QB]], %{{.*}} : index
//       CHECK:     %[[QT:.*]] = attn.load_tile %[[Q]][%[[B]], %[[H]], %[[Q0]]] : tensor<2x8x128x64xf32> -> tensor<64x64xf32>
//       CHECK:     %[[NKV:.*]] = arith.ceildivui %[[SKV]], %{{.*}} : index
//   CHECK-DAG:     %[[M0:.*]] = arith.constant dense<0xFF800000> : tensor<64xf32>
//   CHECK-DAG:     %[[L0:.*]] = arith.constant dense<0.000000e+00> : tensor<64xf32>
//   CHECK-DAG:     %[[A0:.*]] = arith.constant dense<0.000000e+00> : tensor<64x32xf32>
//       CHECK:     %[[R:.*]]:3 = scf.for %[[J:.*]] = %{{.*}} to %[[NKV]] step %{{.*}} iter_args(%[[M:.*]] = %[[M0]], %[[L:.*]] = %[[L0]], %[[ACC:.*]] = %[[A0]])
//       CHECK:       %[[K0:.*]] = arith.muli %[[J]], %{{.*}} : index
//       CHECK:       %[[KT:.*]] = attn.load_tile %[[K]][%[[B]], %[[H]], %[[K0]]] : tensor<2x8x256x64xf32> -> tensor<64x64xf32>
//       CHECK:       %[[S:.*]] = attn.tile_scores %[[QT]], %[[KT]] at[%[[Q0]], %[[K0]]] bounds[%[[SQ]], %[[SKV]]] {scale = 1.250000e-01 : f32} : tensor<64x64xf32>, tensor<64x64xf32> -> tensor<64x64xf32>
//       CHECK:       %[[MT:.*]] = attn.tile_row_max %[[S]] : tensor<64x64xf32> -> tensor<64xf32>
//       CHECK:       %[[VT:.*]] = attn.load_tile %[[V]][%[[B]], %[[H]], %[[K0]]] : tensor<2x8x256x32xf32> -> tensor<64x32xf32>
//       CHECK:       %[[NM:.*]], %[[NL:.*]], %[[NA:.*]] = attn.tile_update %[[S]], %[[MT]], %[[VT]] into(%[[M]], %[[L]], %[[ACC]])
//       CHECK:       scf.yield %[[NM]], %[[NL]], %[[NA]]
//       CHECK:     %[[OT:.*]] = attn.tile_finalize %[[R]]#2, %[[R]]#1 : tensor<64x32xf32>, tensor<64xf32> -> tensor<64x32xf32>
//       CHECK:     %[[LEFT:.*]] = arith.subi %[[SQ]], %[[Q0]] : index
//       CHECK:     %[[ROWS:.*]] = arith.minui %{{.*}}, %[[LEFT]] : index
//       CHECK:     %[[VALID:.*]] = tensor.extract_slice %[[OT]][0, 0] [%[[ROWS]], 32] [1, 1]
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %[[VALID]] into %[[O]][%[[B]], %[[H]], %[[Q0]], 0] [1, 1, %[[ROWS]], 32] [1, 1, 1, 1]
//       CHECK:   return %[[OUT]]
// BLOCKS-LABEL: func.func @dense
//       BLOCKS:   attn.load_tile {{.*}} -> tensor<32x64xf32>
//       BLOCKS:   attn.load_tile {{.*}} -> tensor<16x64xf32>
//       BLOCKS:   attn.tile_scores {{.*}} -> tensor<32x16xf32>
//       BLOCKS:   attn.load_tile {{.*}} -> tensor<16x32xf32>
func.func @dense(%q: tensor<2x8x128x64xf32>, %k: tensor<2x8x256x64xf32>, %v: tensor<2x8x256x32xf32>) -> tensor<2x8x128x32xf32> {
  %init_o = tensor.empty() : tensor<2x8x128x32xf32>
  %o = attn.attention %q, %k, %v : tensor<2x8x128x64xf32>, tensor<2x8x256x64xf32>, tensor<2x8x256x32xf32> -> tensor<2x8x128x32xf32> outs(%init_o)
  return %o : tensor<2x8x128x32xf32>
}

// -----

// Causal: the kv loop stops after the last block with an unmasked entry,
// ceil((min(q0 + BM, Sq) + Skv - Sq) / BN), clamped to [0, ceil(Skv / BN)].
// CHECK-LABEL: func.func @causal_bounds
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<1x4x?x64xbf16>, %[[K:[a-z0-9]+]]: tensor<1x4x?x64xbf16>
//   CHECK-DAG:   %[[SQ:.*]] = tensor.dim %[[Q]], %{{.*}} : tensor<1x4x?x64xbf16>
//   CHECK-DAG:   %[[SKV:.*]] = tensor.dim %[[K]], %{{.*}} : tensor<1x4x?x64xbf16>
//       CHECK:   scf.forall
//       CHECK:     %[[Q0:.*]] = arith.muli
//       CHECK:     %[[ALL:.*]] = arith.ceildivui %[[SKV]], %{{.*}} : index
//       CHECK:     %[[END:.*]] = arith.addi %[[Q0]], %{{.*}} : index
//       CHECK:     %[[ROWSEND:.*]] = arith.minui %[[END]], %[[SQ]] : index
//       CHECK:     %[[T:.*]] = arith.addi %[[ROWSEND]], %[[SKV]] : index
//       CHECK:     %[[KEYSEND:.*]] = arith.subi %[[T]], %[[SQ]] : index
//       CHECK:     %[[NBLK:.*]] = arith.ceildivsi %[[KEYSEND]], %{{.*}} : index
//       CHECK:     %[[CLAMP:.*]] = arith.minsi %[[NBLK]], %[[ALL]] : index
//       CHECK:     %[[NKV:.*]] = arith.maxsi %[[CLAMP]], %{{.*}} : index
//       CHECK:     scf.for %{{.*}} = %{{.*}} to %[[NKV]]
//       CHECK:       attn.tile_scores {{.*}} {causal, scale = 1.250000e-01 : f32} : tensor<64x64xbf16>, tensor<64x64xbf16> -> tensor<64x64xf32>
//       CHECK:     attn.tile_finalize {{.*}} -> tensor<64x64xbf16>
func.func @causal_bounds(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x4x?x64xbf16>, %v: tensor<1x4x?x64xbf16>,
                         %init: tensor<1x4x?x64xbf16>) -> tensor<1x4x?x64xbf16> {
  %o = attn.attention %q, %k, %v {causal} : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16> -> tensor<1x4x?x64xbf16> outs(%init)
  return %o : tensor<1x4x?x64xbf16>
}

// -----

// Ragged tails: 65 queries make two q-blocks, the second with one row; 129
// keys make three kv-blocks, padded by load_tile and masked by tile_scores.
// CHECK-LABEL: func.func @ragged
//   CHECK-DAG:   %[[SQ:.*]] = arith.constant 65 : index
//   CHECK-DAG:   %[[SKV:.*]] = arith.constant 129 : index
//       CHECK:   %[[NQB:.*]] = arith.ceildivui %[[SQ]], %{{.*}}
//       CHECK:   scf.forall ({{.*}}) in ({{.*}}, 2, %[[NQB]])
//       CHECK:     arith.ceildivui %[[SKV]]
//       CHECK:     attn.tile_scores {{.*}} bounds[%[[SQ]], %[[SKV]]]
//       CHECK:     %[[LEFT:.*]] = arith.subi %[[SQ]], %{{.*}} : index
//       CHECK:     %[[ROWS:.*]] = arith.minui %{{.*}}, %[[LEFT]]
//       CHECK:     tensor.extract_slice %{{.*}}[0, 0] [%[[ROWS]], 32]
func.func @ragged(%q: tensor<3x2x65x32xf16>, %k: tensor<3x2x129x32xf16>, %v: tensor<3x2x129x32xf16>) -> tensor<3x2x65x32xf16> {
  %init_o = tensor.empty() : tensor<3x2x65x32xf16>
  %o = attn.attention %q, %k, %v : tensor<3x2x65x32xf16>, tensor<3x2x129x32xf16>, tensor<3x2x129x32xf16> -> tensor<3x2x65x32xf16> outs(%init_o)
  return %o : tensor<3x2x65x32xf16>
}

// -----

// GQA: 32 query heads over 8 key/value heads; head h reads kv head h / 4.
// CHECK-LABEL: func.func @gqa
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<1x32x256x128xbf16>, %[[K:[a-z0-9]+]]: tensor<1x8x256x128xbf16>, %[[V:[a-z0-9]+]]: tensor<1x8x256x128xbf16>)
//       CHECK:   scf.forall (%[[B:.*]], %[[H:.*]], %{{.*}}) in ({{.*}}, 32, {{.*}})
//       CHECK:     %[[G:.*]] = arith.constant 4 : index
//       CHECK:     %[[KVH:.*]] = arith.divui %[[H]], %[[G]] : index
//       CHECK:     attn.load_tile %[[Q]][%[[B]], %[[H]], %{{.*}}]
//       CHECK:     scf.for
//       CHECK:       attn.load_tile %[[K]][%[[B]], %[[KVH]], %{{.*}}]
//       CHECK:       attn.load_tile %[[V]][%[[B]], %[[KVH]], %{{.*}}]
func.func @gqa(%q: tensor<1x32x256x128xbf16>, %k: tensor<1x8x256x128xbf16>, %v: tensor<1x8x256x128xbf16>) -> tensor<1x32x256x128xbf16> {
  %init_o = tensor.empty() : tensor<1x32x256x128xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x32x256x128xbf16>, tensor<1x8x256x128xbf16>, tensor<1x8x256x128xbf16> -> tensor<1x32x256x128xbf16> outs(%init_o)
  return %o : tensor<1x32x256x128xbf16>
}

// -----

// The mask is loaded tile by tile and applied by tile_scores, before the
// row max; a skip request waits on the kv loop's update.
// CHECK-LABEL: func.func @mask_and_skip
//  CHECK-SAME:   %[[MASK:[a-z0-9]*]]: tensor<2x1x1x100xi1>
//       CHECK:   scf.forall (%[[B:.*]], %[[H:.*]], %{{.*}}) in
//       CHECK:     %[[Q0:.*]] = arith.muli
//       CHECK:     scf.for
//       CHECK:       %[[K0:.*]] = arith.muli
//       CHECK:       %[[MT:.*]] = attn.load_mask_tile %[[MASK]][%[[B]], %[[H]], %[[Q0]], %[[K0]]] : tensor<2x1x1x100xi1> -> tensor<64x64xi1>
//       CHECK:       %[[S:.*]] = attn.tile_scores %{{.*}}, %{{.*}} mask %[[MT]] at
//       CHECK:       attn.tile_row_max %[[S]]
//       CHECK:       attn.tile_update {{.*}} {skip_request = #attn.skip<threshold = 1.000000e-02>}
func.func @mask_and_skip(%q: tensor<2x4x100x64xf32>, %k: tensor<2x4x100x64xf32>, %v: tensor<2x4x100x64xf32>, %m: tensor<2x1x1x100xi1>) -> tensor<2x4x100x64xf32> {
  %init_o = tensor.empty() : tensor<2x4x100x64xf32>
  %o = attn.attention %q, %k, %v mask %m {skip = #attn.skip<threshold = 1.0e-2>} : tensor<2x4x100x64xf32>, tensor<2x4x100x64xf32>, tensor<2x4x100x64xf32>, tensor<2x1x1x100xi1> -> tensor<2x4x100x64xf32> outs(%init_o)
  return %o : tensor<2x4x100x64xf32>
}
