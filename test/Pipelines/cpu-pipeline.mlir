// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats --attn-lower-to-cpu | FileCheck %s
// RUN: not skipattn-opt %s --attn-tile --attn-lower-to-cpu 2>&1 | FileCheck %s --check-prefix=NOSKIP

// attn-lower-to-cpu takes tiled, predicated attention all the way to the
// LLVM dialect: nothing of attn, linalg, tensor, scf or memref is left.
// CHECK:       llvm.func @malloc
// CHECK-LABEL: llvm.func @causal_skip
// CHECK-SAME:    f32
// CHECK:         llvm.intr.log
// CHECK:         llvm.atomicrmw add
// CHECK:         llvm.intr.exp
// CHECK-NOT:     attn.
// CHECK-NOT:     linalg.
// CHECK-NOT:     scf.
// CHECK-NOT:     memref.
// NOSKIP: error: convert-attn-to-loops: this kv loop asks for Skip-Softmax; run attn-insert-block-skip first
func.func @causal_skip(%q: tensor<1x4x?x64xf32>, %k: tensor<1x1x?x64xf32>, %v: tensor<1x1x?x64xf32>) -> tensor<1x4x?x64xf32> {
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %q, %init_o_c2 : tensor<1x4x?x64xf32>
  %init_o = tensor.empty(%init_o_d2) : tensor<1x4x?x64xf32>
  %o = attn.attention %q, %k, %v {causal, skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x?x64xf32>, tensor<1x1x?x64xf32>, tensor<1x1x?x64xf32> -> tensor<1x4x?x64xf32> outs(%init_o)
  return %o : tensor<1x4x?x64xf32>
}
