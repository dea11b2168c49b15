// RUN: skipattn-opt %s --attn-tile | FileCheck %s

// attn.paged_attention tiles as attn.attention does, with each sequence's
// length L_b read from seq_lens in the forall (clamped at 0) as its kv
// length, and K and V tiles read through the block table.
// CHECK-LABEL: func.func @paged
//  CHECK-SAME:   (%{{.*}}: tensor<?x4x1x64xf32>, %[[KP:[a-z0-9]+]]: tensor<?x16x2x64xf32>, %[[VP:[a-z0-9]+]]: tensor<?x16x2x64xf32>, %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[L:[a-z0-9]+]]: tensor<?xi32>)
//       CHECK:   scf.forall (%[[B:[a-z0-9]+]], %[[H:[a-z0-9]+]], %{{[a-z0-9]+}}) in
//       CHECK:     %[[KVH:.*]] = arith.divui %[[H]]
//       CHECK:     %[[LEN:.*]] = tensor.extract %[[L]][%[[B]]] : tensor<?xi32>
//       CHECK:     %[[POS:.*]] = arith.maxsi %[[LEN]], %{{.*}} : i32
//       CHECK:     %[[SKV:.*]] = arith.index_cast %[[POS]] : i32 to index
//       CHECK:     arith.ceildivui %[[SKV]]
//       CHECK:     scf.for %[[J:[a-z0-9]+]] =
//       CHECK:       %[[K0:.*]] = arith.muli %[[J]]
//       CHECK:       %[[KT:.*]] = attn.load_paged_tile %[[KP]][%[[T]], %[[B]], %[[KVH]], %[[K0]]] limit %[[SKV]] : tensor<?x16x2x64xf32>, tensor<?x?xi32> -> tensor<64x64xf32>
//       CHECK:       attn.tile_scores %{{.*}}, %[[KT]] at[%{{.*}}, %[[K0]]] bounds[%{{.*}}, %[[SKV]]] {causal
//       CHECK:       attn.load_paged_tile %[[VP]][%[[T]], %[[B]], %[[KVH]], %[[K0]]] limit %[[SKV]]
func.func @paged(%q: tensor<?x4x1x64xf32>, %kp: tensor<?x16x2x64xf32>, %vp: tensor<?x16x2x64xf32>, %t: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x4x1x64xf32> {
  %o = attn.paged_attention %q, %kp, %vp, %t, %l {causal} : tensor<?x4x1x64xf32>, tensor<?x16x2x64xf32>, tensor<?x16x2x64xf32>, tensor<?x?xi32>, tensor<?xi32> -> tensor<?x4x1x64xf32>
  return %o : tensor<?x4x1x64xf32>
}
