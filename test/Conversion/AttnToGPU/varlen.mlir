// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu="launch=false chip=sm_80" | FileCheck %s
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu=chip=sm_80 --verify-diagnostics -o /dev/null
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu="launch=false chip=sm_90a" | FileCheck %s --check-prefix=SM90

// Varlen prefill (docs/serving.md): the mma.sync prefill kernel takes the
// addresses of cu_seqlens_q and cu_seqlens_k last; blockIdx.z is the
// sequence, whose first tokens and lengths it reads; Q, K, V and the output
// are addressed as packed rows (token * heads + head); a CTA past its
// sequence's q-blocks visits no kv-block. No decode kernels, no host launch
// (the grid covers the longest sequence, which the runtime is told).
// CHECK-LABEL: gpu.func @skipattn_prefill_f16_h8x2_d64_m64n64_causal_skip_stats_varlen(
//  CHECK-SAME:     %[[Q:[a-z0-9]+]]: i64, %{{.*}}: f32, %{{.*}}: i64, %[[CUQ:[a-z0-9]+]]: i64, %[[CUK:[a-z0-9]+]]: i64) kernel
//  CHECK-SAME:     params = ["q", "k", "v", "out", "batch", "q_len", "kv_len", "threshold", "stats", "cu_seqlens_q", "cu_seqlens_k"]
//       CHECK:   %[[SEQ:.*]] = arith.index_castui %block_id_z : index to i32
//       CHECK:   %[[NEXT:.*]] = arith.addi %[[SEQ]], %c1_i32
//       CHECK:   llvm.inttoptr %[[CUQ]]
//       CHECK:   %[[START:.*]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
//       CHECK:   llvm.inttoptr %[[CUK]]
//       CHECK:   %[[NQB:.*]] = arith.divui %{{.*}}, %c64_i32
//       CHECK:   %[[X:.*]] = arith.index_castui %block_id_x
//       CHECK:   %[[ACTIVE:.*]] = arith.cmpi slt, %[[X]], %[[NQB]] : i32
//       CHECK:   %[[QB:.*]] = arith.select %[[ACTIVE]], %{{.*}}, %[[NQB]] : i32
// The Q base: (start * 8 heads + head) * 128 bytes.
//       CHECK:   %[[S64:.*]] = arith.extui %[[START]] : i32 to i64
//       CHECK:   %[[ROW:.*]] = arith.muli %[[S64]], %c8_i64 : i64
//       CHECK:   llvm.inttoptr %[[Q]]
//       CHECK:   arith.select %[[ACTIVE]], %{{.*}}, %c0_i32{{.*}} : i32
// Q rows are 8 heads x 64 dims x 2 bytes = 1024 bytes apart.
//       CHECK:   arith.muli %{{.*}}, %c1024_i32 : i32
//       CHECK:   nvvm.cp.async.shared.global
//   CHECK-NOT: gpu.func @skipattn_decode

// On sm_90a the Hopper kernel takes them before its tile counter. Its
// positions are slots of a head: sequence b's q-tiles from slot (cu_q[b] +
// 127 b) / 128, (cu_q[B] + 127 B) / 128 slots per head. The producer finds
// a position's sequence by a binary search over cu_seqlens_q, skips a slot
// past the sequence's q-tiles, publishes the sequence with Q, and loads
// boxes at {column, head, first token + row} of the packed tensors.
// SM90-LABEL: gpu.func @skipattn_prefill_f16_h8x2_d64_m64n64_causal_sm90_skip_stats_varlen(
//  SM90-SAME:     %[[B:arg4]]: i32, {{.*}}, %[[CUQ:arg9]]: i64, %[[CUK:arg10]]: i64, %{{.*}}: i64) kernel
//  SM90-SAME:     params = ["tmap_q", "tmap_k", "tmap_v", "out", "batch", "q_len", "kv_len", "threshold", "stats", "cu_seqlens_q", "cu_seqlens_k", "workspace_zeroed"]
//       SM90:   llvm.inttoptr %[[CUQ]]
//       SM90:   %[[TOKENS:.*]] = llvm.load
//       SM90:   %[[PAD:.*]] = arith.muli %[[B]], %c127_i32
//       SM90:   %[[SUM:.*]] = arith.addi %[[TOKENS]], %[[PAD]]
//       SM90:   %[[SLOTS:.*]] = arith.divui %[[SUM]], %c128_i32
//       SM90:   %[[TILES:.*]] = arith.muli %[[SLOTS]], %c8_i32
//       SM90:   scf.while (%[[POS:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}})
//       SM90:     arith.cmpi slt, %[[POS]], %[[TILES]]
//       SM90:     llvm.atomicrmw add
//       SM90:     %[[SLOT:.*]] = arith.remui %[[POS]], %[[SLOTS]]
//       SM90:     %[[HEAD:.*]] = arith.divui %[[POS]], %[[SLOTS]]
//       SM90:     %[[SEQ:.*]]:2 = scf.while (%{{.*}} = %c0_i32{{.*}}, %{{.*}} = %[[B]])
//       SM90:       arith.cmpi sle, %{{.*}}, %[[SLOT]]
//       SM90:     llvm.inttoptr %[[CUQ]]
//       SM90:     %[[QSTART:.*]] = llvm.load
//       SM90:     llvm.inttoptr %[[CUK]]
//       SM90:     %[[VALID:.*]] = arith.cmpi slt
//       SM90:     scf.if %[[VALID]] -> (i32, i32)
//       SM90:       llvm.store %[[SEQ]]#0
//       SM90:       %[[ROW:.*]] = arith.addi %[[QSTART]], %{{.*}}
//       SM90:       nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, box[%{{.*}}, %[[HEAD]], %[[ROW]]]
func.func @varlen(%q: tensor<?x8x64xf16>, %k: tensor<?x2x64xf16>, %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> tensor<?x8x64xf16> {
  // expected-error @+1 {{convert-attn-to-gpu: varlen attention has no host launch}}
  %o = attn.varlen_attention %q, %k, %k, %cq, %ck {causal, skip = #attn.skip<threshold = 1.0e-3>} : tensor<?x8x64xf16>, tensor<?x2x64xf16>, tensor<?x2x64xf16>, tensor<?xi32>, tensor<?xi32> -> tensor<?x8x64xf16>
  return %o : tensor<?x8x64xf16>
}
