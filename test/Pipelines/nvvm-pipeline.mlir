// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --attn-lower-to-nvvm | FileCheck %s
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --attn-lower-to-nvvm=chip=sm_80 | FileCheck %s --check-prefix=SM80

// attn-lower-to-nvvm ends in gpu-module-to-binary: the kernels become PTX
// for the chip, the host function an LLVM function that launches them.
// On sm_90a the host gets a CUtensorMap per operand from the runtime and
// launches the Hopper kernel (a producer and two consumer warpgroups).
// CHECK: llvm.func @attention
// CHECK-COUNT-3: llvm.call @mgpuSkipattnTensorMapEncode
// CHECK: llvm.call @mgpuMemAlloc
// CHECK: llvm.call @mgpuMemset32
// CHECK: gpu.launch_func  @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64_sm90_skip
// CHECK: gpu.binary @skipattn_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: .maxnreg 168
// CHECK-SAME: setmaxnreg.dec.sync.aligned.u32
// CHECK-SAME: atom.global.add.u32
// CHECK-SAME: cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// CHECK-SAME: setmaxnreg.inc.sync.aligned.u32
// CHECK-SAME: mbarrier.try_wait.parity
// The consumers learn each tile from shared memory once its Q has landed.
// CHECK-SAME: ld.shared.b32
// Intra-warpgroup pipelining: S_j = Q K_j^T, then P_{j-1} V_{j-1} (A from
// registers), two groups; the softmax of S_j waits for the first only.
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// CHECK-SAME: wgmma.commit_group.sync.aligned
// CHECK-SAME: , p, 1, 1, 1;
// CHECK-SAME: wgmma.commit_group.sync.aligned
// CHECK-SAME: wgmma.wait_group.sync.aligned {{\\09}}1;
// CHECK-SAME: bar.red.and.pred
// CHECK-SAME: ex2.approx.ftz.f32
// CHECK-SAME: wgmma.wait_group.sync.aligned 0;
// SM80-NOT: mgpuSkipattnTensorMapEncode
// SM80: gpu.launch_func  @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64_skip
// SM80: #nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">
// SM80-SAME: .target sm_80
// SM80-SAME: cp.async.cg.shared.global
// SM80-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// SM80-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// SM80-SAME: vote.sync.all.pred
// SM80-SAME: bar.red.and.pred
// SM80-SAME: ex2.approx.ftz.f32
// SM80-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
func.func @attention(%q: tensor<2x4x?x64xbf16>, %k: tensor<2x4x?x64xbf16>, %v: tensor<2x4x?x64xbf16>) -> tensor<2x4x?x64xbf16> {
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<2x4x?x64xbf16>
  %init_o = tensor.empty(%init_o_d2) : tensor<2x4x?x64xbf16>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<2x4x?x64xbf16>, tensor<2x4x?x64xbf16>, tensor<2x4x?x64xbf16> -> tensor<2x4x?x64xbf16> outs(%init_o)
  return %o : tensor<2x4x?x64xbf16>
}
