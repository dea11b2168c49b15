// RUN: skipattn-opt %s --attn-tile="block-n=128" --convert-attn-to-gpu=decode-kernels | FileCheck %s

// The lse result on the GPU: the output kernels (the mma.sync prefill, which
// an lse attention keeps on sm_90a too, and the decode kernels) take the
// address of an f32 [B, Hq, Sq] buffer as their last argument and write
// ln(sum) of each row there; the host allocates it like the output.
// CHECK-LABEL: func.func @lse
//       CHECK:   %[[OUT:.*]] = gpu.alloc  (%{{.*}}, %{{.*}}) : memref<?x8x?x128xbf16>
//       CHECK:   %[[LSE:.*]] = gpu.alloc  (%{{.*}}, %{{.*}}) : memref<?x8x?xf32>
//       CHECK:   %[[IDX:.*]] = memref.extract_aligned_pointer_as_index %[[LSE]]
//       CHECK:   %[[ADDR:.*]] = arith.index_cast %[[IDX]] : index to i64
//       CHECK:   gpu.launch_func  @skipattn_kernels::@skipattn_prefill_bf16_h8x2_d128_m64n128_lse {{.*}} args({{.*}}, %[[ADDR]] : i64)
//       CHECK:   %[[O:.*]] = bufferization.to_tensor %[[OUT]]
//       CHECK:   %[[L:.*]] = bufferization.to_tensor %[[LSE]]
//       CHECK:   return %[[O]], %[[L]]
// CHECK-LABEL: gpu.func @skipattn_prefill_bf16_h8x2_d128_m64n128_lse(
//  CHECK-SAME:     %{{.*}}: i32, %[[LA:[a-z0-9]+]]: i64) kernel
//  CHECK-SAME:     params = ["q", "k", "v", "out", "batch", "q_len", "kv_len", "lse"]
//       CHECK:   llvm.inline_asm "lg2.approx.f32 $0, $1;"
//       CHECK:   llvm.store %{{.*}} : f32, !llvm.ptr<1>
// The decode kernel (dense here: K and V of a kv-block in flight together)
// writes lse in the merge of the last split to finish.
// CHECK-LABEL: gpu.func @skipattn_decode_bf16_h8x2_d128_m64n128_lse(
//  CHECK-SAME:     %{{.*}}: i32, %[[CL:[a-z0-9]+]]: i64) kernel
//  CHECK-SAME:     params = ["q", "k", "v", "out", "workspace_zeroed", "batch", "q_len", "kv_len", "num_splits", "lse"]
//       CHECK:   llvm.atomicrmw add {{.*}} syncscope("device") monotonic
//       CHECK:   %[[LG:.*]] = llvm.inline_asm "lg2.approx.f32 $0, $1;"
//       CHECK:   %[[SUM:.*]] = arith.addf %{{.*}}, %[[LG]]
//       CHECK:   %[[LN:.*]] = arith.mulf %[[SUM]], %{{.*}}
//       CHECK:   %[[V:.*]] = arith.select %{{.*}}, %{{.*}}, %[[LN]] : f32
//       CHECK:   llvm.inttoptr %[[CL]]
//       CHECK:   llvm.store %[[V]], %{{.*}} : f32, !llvm.ptr<1>
func.func @lse(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>, %v: tensor<?x2x?x128xbf16>) -> (tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x8x?x128xbf16>
  %s = tensor.dim %q, %c2 : tensor<?x8x?x128xbf16>
  %e = tensor.empty(%b, %s) : tensor<?x8x?x128xbf16>
  %el = tensor.empty(%b, %s) : tensor<?x8x?xf32>
  %o, %l = attn.attention %q, %k, %v : tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>, tensor<?x2x?x128xbf16> -> tensor<?x8x?x128xbf16>, tensor<?x8x?xf32> outs(%e, %el : tensor<?x8x?xf32>)
  return %o, %l : tensor<?x8x?x128xbf16>, tensor<?x8x?xf32>
}
