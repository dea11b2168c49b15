// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip --convert-attn-to-gpu="decode-kernels chip=sm_80" | FileCheck %s

// The mask operand on the GPU: the prefill and decode kernels take its
// address and its four extents (1 broadcasts) as their last arguments and
// apply it to every tile before the row max, so the skip test sees masked
// scores. An additive entry is added to the raw logit as entry / scale.
// CHECK-LABEL: func.func @additive
//       CHECK:   %[[MIDX:.*]] = memref.extract_aligned_pointer_as_index
//       CHECK:   %[[MB:.*]] = tensor.dim %[[M:.*]], %c0
//       CHECK:   gpu.launch_func  @skipattn_kernels::@skipattn_prefill_f16_h8x2_d64_m64n64_skip_maska {{.*}} args({{.*}} : f32, %{{.*}} : i64, %{{.*}} : i32, %{{.*}} : i32, %{{.*}} : i32, %{{.*}} : i32)
// CHECK-LABEL: gpu.func @skipattn_prefill_f16_h8x2_d64_m64n64_skip_maska(
//  CHECK-SAME:     %[[MADDR:[a-z0-9]+]]: i64, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32, %[[MK:[a-z0-9]+]]: i32) kernel
//  CHECK-SAME:     "mask", "mask_batch", "mask_heads", "mask_q_len", "mask_kv_len"]
//       CHECK:   scf.for
//       CHECK:     nvvm.mma.sync
//       CHECK:     arith.cmpi eq, %[[MK]], %c1_i32
//       CHECK:     %[[E:.*]] = llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> f16
//       CHECK:     %[[W:.*]] = arith.extf %[[E]] : f16 to f32
//       CHECK:     llvm.intr.fma(%[[W]], %{{.*}}, %{{.*}}) : (f32, f32, f32) -> f32
//       CHECK:     nvvm.shfl.sync  bfly
// CHECK-LABEL: gpu.func @skipattn_decode_f16_h8x2_d64_m64n64_skip_maska(
//  CHECK-SAME:     "mask", "mask_batch", "mask_heads", "mask_q_len", "mask_kv_len"]
//       CHECK:   llvm.load %{{.*}} {alignment = 2 : i64} : !llvm.ptr<1> -> f16
func.func @additive(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x64xf16>, %m: tensor<?x1x?x?xf16>) -> tensor<?x8x?x64xf16> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x8x?x64xf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x8x?x64xf16>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x8x?x64xf16>
  %o = attn.attention %q, %k, %v mask %m {skip = #attn.skip<threshold = 1.0e-3>} : tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x1x?x?xf16> -> tensor<?x8x?x64xf16> outs(%init_o)
  return %o : tensor<?x8x?x64xf16>
}

// -----

// An i1 mask: one byte per entry; a zero byte makes the score -inf.
// CHECK-LABEL: gpu.func @skipattn_prefill_bf16_h4x4_d128_m64n64_causal_maskb(
//       CHECK:   %[[BYTE:.*]] = llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr<1> -> i8
//       CHECK:   %[[KEEP:.*]] = arith.cmpi ne, %[[BYTE]], %{{.*}} : i8
//       CHECK:   arith.select %[[KEEP]], %{{.*}}, %{{.*}} : f32
func.func @bool(%q: tensor<1x4x?x128xbf16>, %m: tensor<1x1x?x?xi1>) -> tensor<1x4x?x128xbf16> {
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<1x4x?x128xbf16>
  %init_o = tensor.empty(%init_o_d2) : tensor<1x4x?x128xbf16>
  %o = attn.attention %q, %q, %q mask %m {causal} : tensor<1x4x?x128xbf16>, tensor<1x4x?x128xbf16>, tensor<1x4x?x128xbf16>, tensor<1x1x?x?xi1> -> tensor<1x4x?x128xbf16> outs(%init_o)
  return %o : tensor<1x4x?x128xbf16>
}
