// RUN: skipattn-opt %s --attn-tile --convert-attn-to-gpu="chip=sm_80 launch=false" | FileCheck %s --check-prefix=KERNELS
// RUN: skipattn-opt %s --pass-pipeline="builtin.module(func.func(attn-tile),convert-attn-to-gpu{chip=sm_80 launch=false},func.func(convert-attn-to-gpu-launch{chip=sm_80}))" | FileCheck %s --check-prefix=LAUNCH
// RUN: skipattn-opt %s --pass-pipeline="builtin.module(func.func(attn-tile),convert-attn-to-gpu{chip=sm_90a launch=false},func.func(convert-attn-to-gpu-launch{chip=sm_90a}))" | FileCheck %s --check-prefix=SM90
// RUN: not skipattn-opt %s --pass-pipeline="builtin.module(func.func(attn-tile,convert-attn-to-gpu-launch{chip=sm_80}))" 2>&1 | FileCheck %s --check-prefix=NOKERNELS

// Host-code generation is a pass of its own: convert-attn-to-gpu{launch=false}
// only generates the kernels (the tiled loop stays, for a compiler that
// launches them its own way), and convert-attn-to-gpu-launch, on each
// function, replaces the loop by the launch of the kernel of its
// configuration.

// KERNELS-LABEL: func.func @attention
//       KERNELS:   scf.forall
//       KERNELS:     attn.load_tile
//   KERNELS-NOT:   gpu.launch_func
//       KERNELS: gpu.module @skipattn_kernels
//       KERNELS:   gpu.func @skipattn_prefill_bf16_h4x4_d64_m64n64_causal(

// LAUNCH-LABEL: func.func @attention
//   LAUNCH-NOT:   scf.forall
//       LAUNCH:   gpu.launch_func @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64_causal blocks
//       LAUNCH: gpu.module @skipattn_kernels
//       LAUNCH:   gpu.func @skipattn_prefill_bf16_h4x4_d64_m64n64_causal(

// The Hopper kernel's tensor maps come from the runtime function that the
// kernel pass declares.
// SM90: func.func private @mgpuSkipattnTensorMapEncode(i64, i32, i64, i64, i64, i32) -> i64
// SM90-LABEL: func.func @attention
// SM90-COUNT-3: call @mgpuSkipattnTensorMapEncode
// Its CTAs take tiles from a counter that each launch zeroes (and frees).
// SM90: %[[START:.*]] = gpu.wait async
// SM90: %[[COUNTER:.*]], %[[ALLOCATED:.*]] = gpu.alloc async [%[[START]]] () : memref<1xi32>
// SM90: %[[ZEROED:.*]] = gpu.memset async [%[[ALLOCATED]]] %[[COUNTER]], %{{.*}} : memref<1xi32>, i32
// SM90: gpu.wait [%[[ZEROED]]]
// SM90: gpu.launch_func @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64_causal_sm90 blocks
// SM90: gpu.dealloc async [%{{.*}}] %[[COUNTER]] : memref<1xi32>
// Launches of kernels that were never generated fail verification.
// NOKERNELS: error: 'gpu.launch_func' op expected the closest surrounding module to have the 'gpu.container_module' attribute

func.func @attention(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x4x?x64xbf16>,
                     %v: tensor<1x4x?x64xbf16>) -> tensor<1x4x?x64xbf16> {
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<1x4x?x64xbf16>
  %init_o = tensor.empty(%init_o_d2) : tensor<1x4x?x64xbf16>
  %o = attn.attention %q, %k, %v {causal} : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16> -> tensor<1x4x?x64xbf16> outs(%init_o)
  return %o : tensor<1x4x?x64xbf16>
}
