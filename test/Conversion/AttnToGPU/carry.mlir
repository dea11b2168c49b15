// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --convert-attn-to-gpu="chip=sm_90a decode-kernels" | FileCheck %s
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --convert-attn-to-gpu="chip=sm_80 decode-kernels" | FileCheck %s
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --convert-attn-to-gpu="chip=sm_90a decode-kernels" | FileCheck %s --check-prefix=DECODE

// The carry of a ring on the GPU (docs/distributed.md): attn.attention's
// init_max and max go to the mma.sync prefill kernel (on sm_90a too) as two
// addresses after the lse's. The kernel starts each row's running max (raw
// logits) at init_max / scale (rows past Sq at -inf), votes every kv-block,
// block 0 included, and writes the final max beside the lse. Such an
// attention gets no decode kernels: the prefill kernel serves every query
// length.
// CHECK-LABEL: func.func @carry(
//  CHECK-SAME:     %[[IM:[a-z0-9]+]]: tensor<?x8x?xf32>
//       CHECK:   %[[LSE:.*]] = gpu.alloc  (%{{.*}}, %{{.*}}) : memref<?x8x?xf32>
//       CHECK:   %[[MAX:.*]] = gpu.alloc  (%{{.*}}, %{{.*}}) : memref<?x8x?xf32>
//       CHECK:   %[[IMB:.*]] = bufferization.to_buffer %[[IM]]
//       CHECK:   %[[IMI:.*]] = memref.extract_aligned_pointer_as_index %[[IMB]]
//       CHECK:   %[[IMA:.*]] = arith.index_cast %[[IMI]] : index to i64
//       CHECK:   %[[MXI:.*]] = memref.extract_aligned_pointer_as_index %[[MAX]]
//       CHECK:   %[[MXA:.*]] = arith.index_cast %[[MXI]] : index to i64
//       CHECK:   gpu.launch_func  @skipattn_kernels::@skipattn_prefill_bf16_h8x2_d128_m64n64_causal_skip_lse_carry {{.*}} args({{.*}}, %[[IMA]] : i64, %[[MXA]] : i64)
//       CHECK:   %[[O:.*]] = bufferization.to_tensor
//       CHECK:   %[[L:.*]] = bufferization.to_tensor %[[LSE]]
//       CHECK:   %[[M:.*]] = bufferization.to_tensor %[[MAX]]
//       CHECK:   return %[[O]], %[[L]], %[[M]]
// CHECK-LABEL: func.func @plain(
//       CHECK:   gpu.launch_func  @skipattn_kernels::@skipattn_prefill_bf16_h8x2_d128_m64n64_causal_skip_lse blocks
// One query row (a decode step) launches the prefill kernel too.
// CHECK-LABEL: func.func @one_row(
//       CHECK:   gpu.launch_func  @skipattn_kernels::@skipattn_prefill_bf16_h8x2_d64_m64n64_skip_lse_carry blocks

// CHECK-NOT: _sm90
// No decode kernel takes the carry; the plain attention has its own.
// DECODE-NOT: gpu.func @skipattn_decode{{.*}}_carry
// DECODE: gpu.func @skipattn_decode_bf16_h8x2_d128_m64n64_causal_skip_lse(
// DECODE-NOT: gpu.func @skipattn_decode{{.*}}_carry
// CHECK-LABEL: gpu.func @skipattn_prefill_bf16_h8x2_d128_m64n64_causal_skip_lse_carry(
//  CHECK-SAME:     %[[IMARG:[a-z0-9]+]]: i64, %[[MXARG:[a-z0-9]+]]: i64) kernel
//  CHECK-SAME:     params = ["q", "k", "v", "out", "batch", "q_len", "kv_len", "threshold", "lse", "init_max", "max"]
// init_max of the thread's two rows, -inf past Sq, in raw logits.
//       CHECK:   %[[R0:.*]] = scf.if %{{.*}} -> (f32) {
//       CHECK:     llvm.inttoptr %[[IMARG]]
//       CHECK:     llvm.load {{.*}} -> f32
//       CHECK:   } else {
//       CHECK:     arith.constant 0xFF800000 : f32
//       CHECK:   %[[M0:.*]] = arith.divf %[[R0]], %{{.*}} : f32
//       CHECK:   %[[R1:.*]] = scf.if %{{.*}} -> (f32) {
//       CHECK:   %[[M1:.*]] = arith.divf %[[R1]], %{{.*}} : f32
//       CHECK:   scf.for %[[J:[a-z0-9]+]] = {{.*}} iter_args(%{{.*}} = %[[M0]], %{{.*}} = %[[M1]],
// Block 0 is voted: the decision is not gated on j > 0.
//   CHECK-NOT:   arith.cmpi sgt, %[[J]], %c0
//       CHECK:   nvvm.barrier #nvvm.reduction<and>
//   CHECK-NOT:   arith.cmpi sgt, %[[J]], %c0
//       CHECK:   scf.if
// The max: init_max itself where the row's max did not rise, else scaled.
//       CHECK:   arith.cmpf oeq
//       CHECK:   arith.select
//       CHECK:   llvm.inttoptr %[[MXARG]]
//       CHECK:   llvm.store {{.*}} : f32, !llvm.ptr<1>
//       CHECK:   gpu.return
// The attention without the carry keeps block 0 out of the vote.
// CHECK-LABEL: gpu.func @skipattn_prefill_bf16_h8x2_d128_m64n64_causal_skip_lse(
//       CHECK:   scf.for %[[J:[a-z0-9]+]] =
//       CHECK:   nvvm.barrier #nvvm.reduction<and>
//       CHECK:   arith.cmpi sgt, %[[J]], %c0
func.func @carry(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>, %m: tensor<?x8x?xf32>) -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>, tensor<?x8x?xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x8x?x128xbf16>
  %s = tensor.dim %q, %c2 : tensor<?x8x?x128xbf16>
  %e = tensor.empty(%b, %s) : tensor<?x8x?x128xbf16>
  %el = tensor.empty(%b, %s) : tensor<?x8x?xf32>
  %em = tensor.empty(%b, %s) : tensor<?x8x?xf32>
  %o, %l, %mx = attn.attention %q, %k, %v init_max(%m : tensor<?x8x?xf32>) {causal, skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>, max tensor<?x8x?xf32>
         outs(%e, %el : tensor<?x8x?xf32>, max %em : tensor<?x8x?xf32>)
  return %o, %l, %mx : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>, tensor<?x8x?xf32>
}

func.func @plain(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>) -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x8x?x128xbf16>
  %s = tensor.dim %q, %c2 : tensor<?x8x?x128xbf16>
  %e = tensor.empty(%b, %s) : tensor<?x8x?x128xbf16>
  %el = tensor.empty(%b, %s) : tensor<?x8x?xf32>
  %o, %l = attn.attention %q, %k, %v {causal, skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32> outs(%e, %el : tensor<?x8x?xf32>)
  return %o, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}

func.func @one_row(%q: tensor<1x8x1x64xbf16>, %k: tensor<1x2x?x64xbf16>, %m: tensor<1x8x1xf32>) -> (tensor<1x8x1x64xbf16>, tensor<1x8x1xf32>, tensor<1x8x1xf32>) {
  %e = tensor.empty() : tensor<1x8x1x64xbf16>
  %el = tensor.empty() : tensor<1x8x1xf32>
  %em = tensor.empty() : tensor<1x8x1xf32>
  %o, %l, %mx = attn.attention %q, %k, %k init_max(%m : tensor<1x8x1xf32>) {skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<1x8x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x8x1x64xbf16>, tensor<1x8x1xf32>, max tensor<1x8x1xf32>
         outs(%e, %el : tensor<1x8x1xf32>, max %em : tensor<1x8x1xf32>)
  return %o, %l, %mx : tensor<1x8x1x64xbf16>, tensor<1x8x1xf32>, tensor<1x8x1xf32>
}
