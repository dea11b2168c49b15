// RUN: skipattn-opt %s --attn-tile="block-m=16 block-n=32" | FileCheck %s
// RUN: skipattn-opt %s --attn-tile="block-m=16 block-n=32" --attn-insert-block-skip=stats | FileCheck %s --check-prefix=STATS
// RUN: skipattn-opt %s --attn-tile="block-m=16 block-n=32" --attn-insert-block-skip --convert-attn-to-loops -o /dev/null
// RUN: not skipattn-opt %s --attn-tile=pack-gqa 2>&1 | FileCheck %s --check-prefix=PACK

// attn.varlen_attention tiles like attn.attention, over (sequence, head,
// q-block): B is len(cu_seqlens_q) - 1, the q-blocks run over the longest
// sequence, each sequence reads its first token and length from the
// cumulative lengths, Q/K/V tiles come from attn.load_packed_tile limited to
// the sequence, a q-block past its sequence visits no kv-block, and the
// valid rows go to rows start + q0 of its head in the [Tq, Hq, Dv] result.
// CHECK-LABEL: func.func @varlen
//  CHECK-SAME:   %[[CQ:[a-z0-9]+]]: tensor<?xi32>, %[[CK:[a-z0-9]+]]: tensor<?xi32>)
//       CHECK:   %[[LONGEST:.*]] = scf.for
//       CHECK:   %[[NQB:.*]] = arith.ceildivui %[[LONGEST]], %c16
//       CHECK:   scf.forall (%[[B:.*]], %[[H:.*]], %[[QB:.*]]) in (%{{.*}}, 4, %[[NQB]])
//       CHECK:     %[[Q0:.*]] = arith.muli %[[QB]], %c16
//       CHECK:     %[[SQ0:.*]] = tensor.extract %[[CQ]][%[[B]]] : tensor<?xi32>
//       CHECK:     %[[QSTART:.*]] = arith.index_cast %[[SQ0]] : i32 to index
//       CHECK:     %[[SK0:.*]] = tensor.extract %[[CK]][%[[B]]] : tensor<?xi32>
//       CHECK:     %[[KSTART:.*]] = arith.index_cast %[[SK0]] : i32 to index
//       CHECK:     %[[QT:.*]] = attn.load_packed_tile %{{.*}}[%[[QSTART]], %[[H]], %[[Q0]]] limit %[[SQ:.*]] : tensor<?x4x32xf32> -> tensor<16x32xf32>
//       CHECK:     %[[INSIDE:.*]] = arith.cmpi ult, %[[Q0]], %[[SQ]] : index
//       CHECK:     %[[NKV:.*]] = arith.select %[[INSIDE]], %{{.*}}, %c0
//       CHECK:     scf.for %{{.*}} = %c0{{.*}} to %[[NKV]]
//       CHECK:       attn.load_packed_tile %{{.*}}[%[[KSTART]], %{{.*}}, %{{.*}}] limit %[[SKV:.*]] : tensor<?x2x32xf32> -> tensor<32x32xf32>
//       CHECK:       attn.tile_scores {{.*}} bounds[%[[SQ]], %[[SKV]]] {causal
//       CHECK:     %[[ROW:.*]] = arith.addi %[[QSTART]], %[[Q0]] : index
//       CHECK:     scf.forall.in_parallel
//       CHECK:       tensor.parallel_insert_slice %{{.*}} into %{{.*}}[%[[ROW]], %[[H]], 0] [%{{.*}}, 1, 32] [1, 1, 1] : tensor<?x32xf32> into tensor<?x4x32xf32>
// The counters of a varlen batch are per (sequence, query head).
// STATS-LABEL: func.func @varlen
//  STATS-SAME:   %{{.*}}: f32, %[[ST:[a-z0-9]+]]: memref<?x4x2xi64>)
//       STATS:   scf.forall (%[[B:[a-z0-9]+]], %[[H:[a-z0-9]+]], %{{.*}}) in
//       STATS:     memref.atomic_rmw addi %{{.*}}, %[[ST]][%[[B]], %[[H]], %{{.*}}]
// PACK: error: attn-tile: pack-gqa does not apply to attn.varlen_attention
func.func @varlen(%q: tensor<?x4x32xf32>, %k: tensor<?x2x32xf32>, %v: tensor<?x2x32xf32>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> tensor<?x4x32xf32> {
  %o = attn.varlen_attention %q, %k, %v, %cq, %ck {causal, skip = #attn.skip<threshold = 1.0e-2>}
       : tensor<?x4x32xf32>, tensor<?x2x32xf32>, tensor<?x2x32xf32>, tensor<?xi32>, tensor<?xi32> -> tensor<?x4x32xf32>
  return %o : tensor<?x4x32xf32>
}
