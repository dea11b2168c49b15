// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu=chip=sm_80 | FileCheck %s
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu=chip=sm_80 | FileCheck %s --check-prefix=DENSE

// The host side: device buffers, a gpu.launch_func of the generated kernel
// with batch and lengths as run-time i32 arguments and the threshold and
// counters passed through.
// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   %[[LAMBDA:[a-z0-9]+]]: f32, %[[STATS:[a-z0-9]+]]: memref<?x8x2xi64>)
//       CHECK:   %[[OUT:.*]] = gpu.alloc (%{{.*}}, %{{.*}}) : memref<?x8x?x128xbf16>
//       CHECK:   gpu.launch_func @skipattn_kernels::@[[KERNEL:skipattn_prefill_bf16_h8x2_d128_m64n64_causal_skip_stats]] blocks in (%{{.*}}, %{{.*}}, %{{.*}}) threads in (%{{.*}}, %{{.*}}, %{{.*}}) dynamic_shared_memory_size %{{.*}} args(%{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i32, %{{.*}} : i32, %{{.*}} : i32, %[[LAMBDA]] : f32, %{{.*}} : i64)
//       CHECK:   bufferization.to_tensor %[[OUT]]

// The kernel: three cp.async stages (groups Q, K_0, V_0, K_1, V_1 in the
// prologue), ldmatrix (plain for Q and K, .trans for V), mma.sync m16n8k16
// on bf16 with f32 accumulation, exp2, the warp vote then the CTA vote, and
// the counters of the CTA's (batch, head). One barrier per kv-block, and it
// is the vote: after S, a
// wait for all but the newest group (V_j+1), then bar.red.and, then the
// prefetch of kv-block j + 2.
//       CHECK: gpu.module @skipattn_kernels
//       CHECK:   llvm.mlir.global external @skipattn_smem() {addr_space = 3 : i32, alignment = 128 : i64} : !llvm.array<0 x i8>
//       CHECK:   gpu.func @[[KERNEL]](%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: f32, %[[STATSADDR:.*]]: i64) kernel
//  CHECK-SAME:     known_block_size = array<i32: 128, 1, 1>
//       CHECK:     %[[HEADIDX:.*]] = gpu.block_id  y
//       CHECK:     %[[HEAD:.*]] = arith.index_castui %[[HEADIDX]] : index to i32
//       CHECK:     %[[BATCHIDX:.*]] = gpu.block_id  z
//       CHECK:     %[[BATCH:.*]] = arith.index_castui %[[BATCHIDX]] : index to i32
//       CHECK:     nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg, %{{.*}} : !llvm.ptr<3>, !llvm.ptr<1>, i32
//       CHECK:     nvvm.cp.async.commit.group
//       CHECK:     nvvm.cp.async.wait.group 3
//  CHECK-NEXT:     nvvm.barrier0
//       CHECK:     nvvm.ldmatrix {{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32
//       CHECK:     scf.for
//   CHECK-NOT:       nvvm.barrier
//       CHECK:       nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
//   CHECK-NOT:       nvvm.barrier
//       CHECK:       nvvm.shfl.sync  bfly
//       CHECK:       %[[WARP:.*]] = nvvm.vote.sync  all %{{.*}}, %{{.*}} -> i1
//       CHECK:       nvvm.cp.async.wait.group 1
//       CHECK:       %[[WARPI:.*]] = arith.extui %[[WARP]] : i1 to i32
//       CHECK:       nvvm.barrier #nvvm.reduction<and> %[[WARPI]] -> i32
//       CHECK:       nvvm.cp.async.shared.global
//       CHECK:       nvvm.cp.async.commit.group
//       CHECK:       scf.if
//       CHECK:         "ex2.approx.ftz.f32 $0, $1;"
//       CHECK:         nvvm.ldmatrix {{.*}} layout = #nvvm.mma_layout<col>
//   CHECK-NOT:       nvvm.barrier
//       CHECK:     nvvm.shfl.sync  bfly
//       CHECK:     nvvm.barrier0
// The counters: {tiles_total, tiles_skipped} at stats + (b * 8 + h) * 16.
//       CHECK:     %[[BH8:.*]] = arith.muli %[[BATCH]], %c8_i32{{.*}} : i32
//       CHECK:     %[[BH:.*]] = arith.addi %[[BH8]], %[[HEAD]] : i32
//       CHECK:     %[[BH64:.*]] = arith.extui %[[BH]] : i32 to i64
//       CHECK:     %[[OFF:.*]] = arith.muli %[[BH64]], %c16_i64 : i64
//       CHECK:     %[[BASE:.*]] = llvm.inttoptr %[[STATSADDR]] : i64 to !llvm.ptr<1>
//       CHECK:     %[[PAIR:.*]] = llvm.getelementptr %[[BASE]][%[[OFF]]]
//       CHECK:     llvm.atomicrmw add %[[PAIR]], %{{.*}} monotonic
//       CHECK:     %[[SKIPPED:.*]] = llvm.getelementptr %[[PAIR]][%c8_i32{{.*}}]
//       CHECK:     llvm.atomicrmw add %[[SKIPPED]], %{{.*}} monotonic
// The dense kernel has no skip machinery at all.
// DENSE-LABEL: gpu.func @skipattn_prefill_bf16_h8x2_d128_m64n64_causal(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32) kernel
//   DENSE-NOT:   nvvm.vote.sync
//   DENSE-NOT:   nvvm.barrier #nvvm.reduction
//       DENSE:   scf.for
//       DENSE:     nvvm.cp.async.wait.group 1
//  DENSE-NEXT:     nvvm.barrier0
//   DENSE-NOT:   llvm.atomicrmw
//       DENSE:   gpu.return
func.func @attention(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>) -> tensor<?x8x?x128xbf16> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x8x?x128xbf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x8x?x128xbf16>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x8x?x128xbf16>
  %o = attn.attention %q, %k, %v {causal, skip = #attn.skip<threshold = 1.0e-3>} : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x8x?x128xbf16> outs(%init_o)
  return %o : tensor<?x8x?x128xbf16>
}

func.func @dense_attention(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>) -> tensor<?x8x?x128xbf16> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x8x?x128xbf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x8x?x128xbf16>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x8x?x128xbf16>
  %o = attn.attention %q, %k, %v {causal} : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x8x?x128xbf16> outs(%init_o)
  return %o : tensor<?x8x?x128xbf16>
}
