// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu=chip=sm_80 | FileCheck %s

// convert-attn-to-gpu keeps every op it does not own: the attention's users
// read a tensor over the kernel's output, whatever their number and
// wherever the attention sits.

// A user op after the attention survives.
// CHECK-LABEL: func.func @negf
//       CHECK:   %[[BUF:.*]] = gpu.alloc () : memref<1x4x128x64xbf16>
//       CHECK:   gpu.launch_func @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64
//       CHECK:   %[[T:.*]] = bufferization.to_tensor %[[BUF]] restrict writable
//       CHECK:   %[[N:.*]] = arith.negf %[[T]] : tensor<1x4x128x64xbf16>
//       CHECK:   return %[[N]]
func.func @negf(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                %v: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
  %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
  %n = arith.negf %o : tensor<1x4x128x64xbf16>
  return %n : tensor<1x4x128x64xbf16>
}

// -----

// An unused result (the attention runs for its tile counters): the kernel
// is launched and its output buffer freed.
// CHECK-LABEL: func.func @unused
//  CHECK-SAME:   %{{.*}}: f32, %{{.*}}: memref<1x4x2xi64>)
//       CHECK:   %[[BUF:.*]] = gpu.alloc () : memref<1x4x128x64xbf16>
//       CHECK:   gpu.launch_func @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64_skip_stats
//       CHECK:   gpu.dealloc %[[BUF]] : memref<1x4x128x64xbf16>
//   CHECK-NOT:   bufferization.to_tensor
//       CHECK:   return
func.func @unused(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                  %v: tensor<1x4x128x64xbf16>) {
  %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
  return
}

// -----

// Two uses of one result read the same tensor.
// CHECK-LABEL: func.func @two_uses
//       CHECK:   gpu.launch_func
//       CHECK:   %[[T:.*]] = bufferization.to_tensor
//       CHECK:   %[[A:.*]] = arith.addf %[[T]], %[[T]]
//       CHECK:   return %[[T]], %[[A]]
func.func @two_uses(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                    %v: tensor<1x4x128x64xbf16>) -> (tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>) {
  %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
  %a = arith.addf %o, %o : tensor<1x4x128x64xbf16>
  return %o, %a : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>
}

// -----

// A result materialized into a memref and also read: the kernel gets a
// buffer of its own and both users stay.
// CHECK-LABEL: func.func @materialized_and_read
//       CHECK:   gpu.alloc
//       CHECK:   gpu.launch_func
//       CHECK:   %[[T:.*]] = bufferization.to_tensor
//       CHECK:   bufferization.materialize_in_destination %[[T]] in restrict writable %{{.*}}
//       CHECK:   %[[N:.*]] = arith.negf %[[T]]
//       CHECK:   return %[[N]]
func.func @materialized_and_read(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                                 %v: tensor<1x4x128x64xbf16>, %out: memref<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
  %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<1x4x128x64xbf16>, memref<1x4x128x64xbf16>) -> ()
  %n = arith.negf %o : tensor<1x4x128x64xbf16>
  return %n : tensor<1x4x128x64xbf16>
}

// -----

// Attention in the body of a loop (one layer per iteration) and of an
// scf.if: the launch takes its place there.
// CHECK-LABEL: func.func @in_regions
//       CHECK:   scf.for
//       CHECK:     gpu.launch_func
//       CHECK:     %[[T:.*]] = bufferization.to_tensor
//       CHECK:     scf.yield %[[T]]
//       CHECK:   scf.if
//       CHECK:     gpu.launch_func
//       CHECK:     %[[U:.*]] = bufferization.to_tensor
//       CHECK:     scf.yield %[[U]]
//       CHECK:   } else {
//       CHECK:     scf.yield %{{.*}}
func.func @in_regions(%x: tensor<1x4x128x64xbf16>, %kv: tensor<1x4x128x64xbf16>,
                      %layers: index, %flag: i1) -> tensor<1x4x128x64xbf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %h = scf.for %i = %c0 to %layers step %c1 iter_args(%acc = %x) -> tensor<1x4x128x64xbf16> {
    %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
    %o = attn.attention %acc, %kv, %kv : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
    scf.yield %o : tensor<1x4x128x64xbf16>
  }
  %r = scf.if %flag -> tensor<1x4x128x64xbf16> {
    %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
    %o = attn.attention %h, %kv, %kv {causal} : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
    scf.yield %o : tensor<1x4x128x64xbf16>
  } else {
    scf.yield %h : tensor<1x4x128x64xbf16>
  }
  return %r : tensor<1x4x128x64xbf16>
}

// -----

// Several attentions in one function: one launch each, one kernel per
// configuration.
// CHECK-LABEL: func.func @three_attentions
//       CHECK:   gpu.launch_func @skipattn_kernels::@[[DENSE:skipattn_prefill_bf16_h4x4_d64_m64n64]] blocks
//       CHECK:   gpu.launch_func @skipattn_kernels::@[[DENSE]] blocks
//       CHECK:   gpu.launch_func @skipattn_kernels::@[[CAUSAL:skipattn_prefill_bf16_h4x4_d64_m64n64_causal]] blocks
//       CHECK: gpu.module @skipattn_kernels
//   CHECK-DAG:   gpu.func @[[DENSE]](
//   CHECK-DAG:   gpu.func @[[CAUSAL]](
func.func @three_attentions(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                            %v: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
  %init_a = tensor.empty() : tensor<1x4x128x64xbf16>
  %a = attn.attention %q, %k, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_a)
  %init_b = tensor.empty() : tensor<1x4x128x64xbf16>
  %b = attn.attention %a, %k, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_b)
  %init_c = tensor.empty() : tensor<1x4x128x64xbf16>
  %c = attn.attention %b, %k, %v {causal} : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_c)
  return %c : tensor<1x4x128x64xbf16>
}

// -----

// Attention in a nested module: its kernels go into that module, where
// the launch's symbol reference resolves.
// CHECK-LABEL: module @inner attributes {gpu.container_module}
//       CHECK:   func.func @nested
//       CHECK:     gpu.launch_func @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64
//       CHECK:   gpu.module @skipattn_kernels
module @outer {
  module @inner {
    func.func @nested(%q: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
      %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
      %o = attn.attention %q, %q, %q : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
      return %o : tensor<1x4x128x64xbf16>
    }
  }
}
