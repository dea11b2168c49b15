// Decode: one query per (batch, head), so Sq = 1 is not even a dim. The
// scores are linalg.batch_matvec of K [B*H, Skv, D] and q [B*H, D], the
// output linalg.batch_vecmat of P [B*H, Skv] and V. The op gets Sq = 1.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} : tensor<1x8x1x64xf32>, tensor<1x8x16x64xf32>, tensor<1x8x16x64xf32> -> tensor<1x8x1x64xf32>
//   CHECK-NOT:   linalg.softmax
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<8x64xf32>, %k: tensor<8x16x64xf32>, %v: tensor<8x16x64xf32>) -> tensor<8x64xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %es = tensor.empty() : tensor<8x16xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x16xf32>) -> tensor<8x16xf32>
  %s = linalg.batch_matvec ins(%k, %q : tensor<8x16x64xf32>, tensor<8x64xf32>) outs(%fs : tensor<8x16xf32>) -> tensor<8x16xf32>
  %c = linalg.fill ins(%scale : f32) outs(%es : tensor<8x16xf32>) -> tensor<8x16xf32>
  %ss = linalg.mul ins(%s, %c : tensor<8x16xf32>, tensor<8x16xf32>) outs(%es : tensor<8x16xf32>) -> tensor<8x16xf32>
  %p = linalg.softmax dimension(1) ins(%ss : tensor<8x16xf32>) outs(%es : tensor<8x16xf32>) -> tensor<8x16xf32>
  %eo = tensor.empty() : tensor<8x64xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x64xf32>) -> tensor<8x64xf32>
  %o = linalg.batch_vecmat ins(%p, %v : tensor<8x16xf32>, tensor<8x16x64xf32>) outs(%fo : tensor<8x64xf32>) -> tensor<8x64xf32>
  return %o : tensor<8x64xf32>
}
