// RUN: skipattn-opt %s | FileCheck %s
// RUN: skipattn-opt %s | skipattn-opt | FileCheck %s
// RUN: skipattn-opt %s --mlir-print-op-generic | skipattn-opt | FileCheck %s

// CHECK-LABEL: func.func @gqa_causal_skip
// CHECK:         %[[O:.*]] = attn.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 1.250000e-01 : f32, skip = #attn.skip<threshold = 1.000000e-03>} : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16>
// CHECK:         return %[[O]]
func.func @gqa_causal_skip(%q: tensor<1x32x4096x128xbf16>, %k: tensor<1x8x4096x128xbf16>,
                           %v: tensor<1x8x4096x128xbf16>) -> tensor<1x32x4096x128xbf16> {
  %init_o = tensor.empty() : tensor<1x32x4096x128xbf16>
  %o = attn.attention %q, %k, %v {causal, scale = 0.125 : f32, skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<1x32x4096x128xbf16>, tensor<1x8x4096x128xbf16>, tensor<1x8x4096x128xbf16> -> tensor<1x32x4096x128xbf16> outs(%init_o)
  return %o : tensor<1x32x4096x128xbf16>
}

// CHECK-LABEL: func.func @bool_mask
// CHECK:         attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} : tensor<2x12x197x64xf32>, tensor<2x12x197x64xf32>, tensor<2x12x197x64xf32>, tensor<2x1x1x197xi1> -> tensor<2x12x197x64xf32>
func.func @bool_mask(%q: tensor<2x12x197x64xf32>, %k: tensor<2x12x197x64xf32>, %v: tensor<2x12x197x64xf32>,
                     %m: tensor<2x1x1x197xi1>) -> tensor<2x12x197x64xf32> {
  %init_p = tensor.empty() : tensor<2x12x197x64xf32>
  %p = attn.attention %q, %k, %v mask %m
       : tensor<2x12x197x64xf32>, tensor<2x12x197x64xf32>, tensor<2x12x197x64xf32>, tensor<2x1x1x197xi1> -> tensor<2x12x197x64xf32> outs(%init_p)
  return %p : tensor<2x12x197x64xf32>
}

// CHECK-LABEL: func.func @additive_mask_and_causal
// CHECK:         attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} {causal} : tensor<1x4x7x32xf16>, tensor<1x4x9x32xf16>, tensor<1x4x9x16xf16>, tensor<1x4x7x9xf16> -> tensor<1x4x7x16xf16>
func.func @additive_mask_and_causal(%q: tensor<1x4x7x32xf16>, %k: tensor<1x4x9x32xf16>, %v: tensor<1x4x9x16xf16>,
                                    %m: tensor<1x4x7x9xf16>) -> tensor<1x4x7x16xf16> {
  %init_o = tensor.empty() : tensor<1x4x7x16xf16>
  %o = attn.attention %q, %k, %v mask %m {causal}
       : tensor<1x4x7x32xf16>, tensor<1x4x9x32xf16>, tensor<1x4x9x16xf16>, tensor<1x4x7x9xf16> -> tensor<1x4x7x16xf16> outs(%init_o)
  return %o : tensor<1x4x7x16xf16>
}

// CHECK-LABEL: func.func @dynamic_scale_factor
// CHECK:         attn.attention %{{.*}}, %{{.*}}, %{{.*}} {skip = #attn.skip<scale_factor = 2.500000e+00>} : tensor<?x4x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32> -> tensor<?x4x?x64xf32>
func.func @dynamic_scale_factor(%q: tensor<?x4x?x64xf32>, %k: tensor<?x1x?x64xf32>,
                                %v: tensor<?x1x?x64xf32>) -> tensor<?x4x?x64xf32> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x4x?x64xf32>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x4x?x64xf32>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x4x?x64xf32>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<scale_factor = 2.5>}
       : tensor<?x4x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32> -> tensor<?x4x?x64xf32> outs(%init_o)
  return %o : tensor<?x4x?x64xf32>
}

// A dynamic mask dim broadcasts like any extent.
// CHECK-LABEL: func.func @dynamic_mask
// CHECK:         attn.attention {{.*}} mask {{.*}} : tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x1x?x?xbf16> -> tensor<?x2x?x32xbf16>
func.func @dynamic_mask(%q: tensor<?x2x?x32xbf16>, %k: tensor<?x2x?x32xbf16>, %v: tensor<?x2x?x32xbf16>,
                        %m: tensor<?x1x?x?xbf16>) -> tensor<?x2x?x32xbf16> {
  %init_o_c0 = arith.constant 0 : index
  %init_o_d0 = tensor.dim %q, %init_o_c0 : tensor<?x2x?x32xbf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<?x2x?x32xbf16>
  %init_o = tensor.empty(%init_o_d0, %init_o_d2) : tensor<?x2x?x32xbf16>
  %o = attn.attention %q, %k, %v mask %m
       : tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x2x?x32xbf16>, tensor<?x1x?x?xbf16> -> tensor<?x2x?x32xbf16> outs(%init_o)
  return %o : tensor<?x2x?x32xbf16>
}

// How convert-attn-to-gpu describes a kernel it generated.
// CHECK-LABEL: gpu.func @described
//  CHECK-SAME:   attn.kernel = #attn.kernel<role = "prefill", params = ["q", "k", "v", "out", "batch", "q_len", "kv_len"], threads = 128, shared_bytes = 57344, block_m = 64>
gpu.module @kernels {
  gpu.func @described() kernel attributes {attn.kernel = #attn.kernel<role = "prefill", params = ["q", "k", "v", "out", "batch", "q_len", "kv_len"], threads = 128, shared_bytes = 57344, block_m = 64>} {
    gpu.return
  }
}

// The optional log-sum-exp result: f32 [B, Hq, Sq].
// CHECK-LABEL: func.func @lse
// CHECK:         %{{.*}}, %{{.*}} = attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32> outs(%{{.*}}, %{{.*}} : tensor<?x8x?xf32>)
func.func @lse(%q: tensor<?x8x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
               %v: tensor<?x2x?x64xbf16>) -> (tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>) {
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x8x?x64xbf16>
  %s = tensor.dim %q, %c2 : tensor<?x8x?x64xbf16>
  %e = tensor.empty(%b, %s) : tensor<?x8x?x64xbf16>
  %el = tensor.empty(%b, %s) : tensor<?x8x?xf32>
  %o, %lse = attn.attention %q, %k, %v
       : tensor<?x8x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16> -> tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
         outs(%e, %el : tensor<?x8x?xf32>)
  return %o, %lse : tensor<?x8x?x64xbf16>, tensor<?x8x?xf32>
}

// The carry of a ring: the init_max operand and the max result, with the
// lse and without it.
// CHECK-LABEL: func.func @carry
// CHECK:         %{{.*}}, %{{.*}}, %{{.*}} = attn.attention %{{.*}}, %{{.*}}, %{{.*}} init_max(%{{.*}} : tensor<?x8x?xf32>) {causal} : tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32> -> tensor<?x8x?x64xf32>, tensor<?x8x?xf32>, max tensor<?x8x?xf32> outs(%{{.*}}, %{{.*}} : tensor<?x8x?xf32>, max %{{.*}} : tensor<?x8x?xf32>)
// CHECK:         %{{.*}}, %{{.*}} = attn.attention %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32> -> tensor<?x8x?x64xf32>, max tensor<?x8x?xf32> outs(%{{.*}}, max %{{.*}} : tensor<?x8x?xf32>)
// CHECK:         attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask %{{.*}} init_max(%{{.*}} : tensor<?x8x?xf32>) : tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x1x?x?xi1> -> tensor<?x8x?x64xf32> outs(%{{.*}})
func.func @carry(%q: tensor<?x8x?x64xf32>, %k: tensor<?x2x?x64xf32>,
                 %v: tensor<?x2x?x64xf32>, %m: tensor<?x8x?xf32>,
                 %mask: tensor<?x1x?x?xi1>, %e: tensor<?x8x?x64xf32>,
                 %el: tensor<?x8x?xf32>, %em: tensor<?x8x?xf32>)
    -> (tensor<?x8x?x64xf32>, tensor<?x8x?xf32>, tensor<?x8x?xf32>, tensor<?x8x?xf32>, tensor<?x8x?x64xf32>) {
  %o, %lse, %mx = attn.attention %q, %k, %v init_max(%m : tensor<?x8x?xf32>) {causal}
       : tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>
         -> tensor<?x8x?x64xf32>, tensor<?x8x?xf32>, max tensor<?x8x?xf32>
         outs(%e, %el : tensor<?x8x?xf32>, max %em : tensor<?x8x?xf32>)
  %o2, %mx2 = attn.attention %q, %k, %v
       : tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>
         -> tensor<?x8x?x64xf32>, max tensor<?x8x?xf32>
         outs(%e, max %em : tensor<?x8x?xf32>)
  %o3 = attn.attention %q, %k, %v mask %mask init_max(%m : tensor<?x8x?xf32>)
       : tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x1x?x?xi1>
         -> tensor<?x8x?x64xf32> outs(%e)
  return %o, %lse, %mx, %mx2, %o3 : tensor<?x8x?x64xf32>, tensor<?x8x?xf32>, tensor<?x8x?xf32>, tensor<?x8x?xf32>, tensor<?x8x?x64xf32>
}

// Paged attention: page pools [num_pages, page_size, Hkv, D], a block table
// and the lengths.
// CHECK-LABEL: func.func @paged
// CHECK:         attn.paged_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal, skip = #attn.skip<threshold = 1.000000e-03>} : tensor<?x32x1x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x?xi32>, tensor<?xi32> -> tensor<?x32x1x128xbf16>
func.func @paged(%q: tensor<?x32x1x128xbf16>, %kp: tensor<?x16x8x128xbf16>, %vp: tensor<?x16x8x128xbf16>,
                 %t: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x32x1x128xbf16> {
  %o = attn.paged_attention %q, %kp, %vp, %t, %l {causal, skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<?x32x1x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x16x8x128xbf16>, tensor<?x?xi32>, tensor<?xi32> -> tensor<?x32x1x128xbf16>
  return %o : tensor<?x32x1x128xbf16>
}

// A varlen batch: packed [tokens, heads, head dim] tensors and the
// cumulative lengths of the sequences.
// CHECK-LABEL: func.func @varlen
// CHECK:         attn.varlen_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal, skip = #attn.skip<threshold = 1.000000e-03>} : tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>, tensor<?xi32>, tensor<?xi32> -> tensor<?x32x128xbf16>
func.func @varlen(%q: tensor<?x32x128xbf16>, %k: tensor<?x8x128xbf16>, %v: tensor<?x8x128xbf16>,
                  %cq: tensor<?xi32>, %ck: tensor<?xi32>) -> tensor<?x32x128xbf16> {
  %o = attn.varlen_attention %q, %k, %v, %cq, %ck {causal, skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>, tensor<?xi32>, tensor<?xi32> -> tensor<?x32x128xbf16>
  return %o : tensor<?x32x128xbf16>
}
