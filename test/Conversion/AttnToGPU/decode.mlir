// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu=decode-kernels | FileCheck %s

// The split-KV decode kernel: one warp per (split, kv head, batch), the
// vote is the warp's (the whole GQA group), and V is loaded only for a
// kept tile; the last split of each kv head to finish merges the splits.
// CHECK-LABEL: gpu.func @skipattn_decode_f16_h4x1_d64_m64n64_skipsf_stats(
//  CHECK-SAME:     attn.kernel = #attn.kernel<role = "decode", params = ["q", "k", "v", "out", "workspace_zeroed", "batch", "q_len", "kv_len", "num_splits", "scale_factor", "stats"], threads = 32, shared_bytes = {{[0-9]+}}, block_n = 64, max_q_len = 4>
//  CHECK-SAME:     known_block_size = array<i32: 32, 1, 1>
// The seed (docs/serving.md): with skipping on, a split that starts past
// kv-block 0 loads K_0 with Q and starts its running max from block 0's row
// max; only block 0 is exempt from the vote.
//       CHECK:   %[[PAST:.*]] = arith.cmpi sgt, %[[J0:.*]], %{{.*}} : i32
//       CHECK:   %[[WHERE:.*]] = arith.andi %[[PAST]], %{{.*}} : i1
//       CHECK:   %[[SEEDED:.*]] = arith.andi %{{.*}}, %[[WHERE]] : i1
//       CHECK:   scf.if %[[SEEDED]] {
//       CHECK:     nvvm.cp.async.shared.global
//       CHECK:   nvvm.cp.async.commit.group
//       CHECK:   nvvm.cp.async.wait.group 2
//       CHECK:   %[[SEED:.*]]:2 = scf.if %[[SEEDED]] -> (f32, f32) {
//       CHECK:     nvvm.mma.sync
//       CHECK:     nvvm.shfl.sync  bfly
// K is prefetched two tiles ahead: K_j and K_j+1 in flight at the top.
//       CHECK:   scf.for %[[J:.*]] = %[[J0]] to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[SEED]]#0, %{{.*}} = %[[SEED]]#1,
//       CHECK:     arith.remui %{{.*}}, %c3_i32
//       CHECK:     nvvm.cp.async.wait.group 1
//       CHECK:     nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
//       CHECK:     %[[VOTE:.*]] = nvvm.vote.sync  all
//   CHECK-NOT:     nvvm.barrier #nvvm.reduction
//       CHECK:     %[[NOT0:.*]] = arith.cmpi sgt, %[[J]], %c0_i32{{[_0-9]*}} : i32
//       CHECK:     %[[ON:.*]] = arith.andi %{{.*}}, %[[NOT0]] : i1
//       CHECK:     %[[SKIP:.*]] = arith.andi %[[ON]], %[[VOTE]] : i1
//       CHECK:     %[[KEEP:.*]] = arith.xori %[[SKIP]], %{{.*}} : i1
//       CHECK:     scf.if %[[KEEP]] {
//       CHECK:       nvvm.cp.async.shared.global
//       CHECK:     nvvm.cp.async.commit.group
//       CHECK:     scf.if %[[SKIP]]
// The counters: thread g < 4 adds the split's tiles to query head kvh * 4 + g
// of the GQA group, at stats + (b * 4 + head) * 16.
//       CHECK:   %[[TIDOK:.*]] = arith.cmpi ult, %[[TID:.*]], %c4_i32{{.*}} : i32
//       CHECK:   scf.if %[[TIDOK]] {
//       CHECK:     %[[G:.*]] = arith.muli %{{.*}}, %c4_i32{{.*}} : i32
//       CHECK:     %[[HEAD:.*]] = arith.addi %[[G]], %[[TID]] : i32
//       CHECK:     %[[BH4:.*]] = arith.muli %{{.*}}, %c4_i32{{.*}} : i32
//       CHECK:     %[[BH:.*]] = arith.addi %[[BH4]], %[[HEAD]] : i32
//       CHECK:     arith.muli %{{.*}}, %c16_i64{{[_0-9]*}} : i64
//       CHECK:     llvm.atomicrmw add
//       CHECK:     llvm.atomicrmw add
// The merge, in the same launch: after a barrier (every partial result
// stored), thread 0 releases the CTA's stores (fence), counts the CTA in at
// workspace + (b * Hkv + kvh) * 4 and acquires the earlier arrivals' (fence);
// the CTA that sees num_splits - 1 earlier arrivals merges: the partials
// come into shared memory with cp.async.cg (L2: other CTAs wrote them), a
// round of splits at a time, slot 0 carrying the merge of earlier rounds.
//       CHECK:   nvvm.barrier0
//       CHECK:   %[[TID0:.*]] = arith.cmpi eq, %{{.*}}, %c0_i32{{.*}} : i32
//  CHECK-NEXT:   scf.if %[[TID0]] {
//       CHECK:     llvm.fence syncscope("device") acq_rel
//       CHECK:     %[[ARRIVED:.*]] = llvm.atomicrmw add %{{.*}}, %{{.*}} syncscope("device") monotonic : !llvm.ptr<1>, i32
//  CHECK-NEXT:     llvm.fence syncscope("device") acq_rel
//       CHECK:     %[[LASTN:.*]] = arith.subi %arg8, %{{.*}} : i32
//       CHECK:     arith.cmpi eq, %[[ARRIVED]], %[[LASTN]] : i32
//       CHECK:   nvvm.barrier0
//       CHECK:   %[[FLAG:.*]] = llvm.load %{{.*}} : !llvm.ptr<3> -> i32
//       CHECK:   %[[LAST:.*]] = arith.cmpi ne, %[[FLAG]], %{{.*}} : i32
//       CHECK:   scf.if %[[LAST]] {
//       CHECK:     scf.for
//       CHECK:       scf.for
//       CHECK:         nvvm.barrier0
//       CHECK:         scf.for
//       CHECK:           scf.for
//       CHECK:             nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg
//       CHECK:         nvvm.cp.async.commit.group
//       CHECK:         nvvm.cp.async.wait.group 0
//       CHECK:         nvvm.barrier0
//       CHECK:         scf.for
//       CHECK:           scf.for
//       CHECK:             llvm.load %{{.*}} : !llvm.ptr<3> -> f32
//       CHECK:             arith.maxnumf
//       CHECK:           nvvm.shfl.sync  bfly
//       CHECK:           scf.for
//       CHECK:             llvm.load %{{.*}} : !llvm.ptr<3> -> vector<2xf32>
//       CHECK:             "ex2.approx.ftz.f32 $0, $1;"
//       CHECK:           nvvm.bar.warp.sync
//       CHECK:           scf.if
//       CHECK:             arith.divf
//       CHECK:             llvm.store %{{.*}}, %{{.*}} {alignment = 4 : i64} : i32, !llvm.ptr<1>
//       CHECK:           } else {
//       CHECK:             llvm.store %{{.*}}, %{{.*}} {alignment = 8 : i64} : vector<2xf32>, !llvm.ptr<3>
// Up to 8 query tokens per sequence (speculative decoding): the wide
// kernel has a warp per 16 of the group's 4 x 8 rows, and its warps' votes
// meet in bar.red.and.
//       CHECK: gpu.func @skipattn_decode_wide_f16_h4x1_d64_m64n64_skipsf_stats(
//  CHECK-SAME:     attn.kernel = #attn.kernel<role = "decode_wide", {{.*}}, threads = 64, {{.*}}, max_q_len = 8>
//  CHECK-SAME:     known_block_size = array<i32: 64, 1, 1>
//       CHECK:   scf.for
//   CHECK-NOT:     nvvm.vote.sync
//       CHECK:     %[[WVOTE:.*]] = nvvm.barrier #nvvm.reduction<and>
//       CHECK:     arith.andi %{{.*}}, %{{.*}} : i1
// One launch: no combine kernel.
//   CHECK-NOT: skipattn_combine
func.func @attention(%q: tensor<?x4x?x64xf16>, %k: tensor<?x1x?x64xf16>, %v: tensor<?x1x?x64xf16>) -> tensor<?x4x?x64xf16> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x4x?x64xf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x4x?x64xf16>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x4x?x64xf16>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<scale_factor = 4.0>} : tensor<?x4x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16> -> tensor<?x4x?x64xf16> outs(%init_o)
  return %o : tensor<?x4x?x64xf16>
}
