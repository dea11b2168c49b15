// Flattened [B*H, S, D] arguments: K^T by linalg.transpose, divided by
// sqrt(D) (the scale on K), softmax without the max, and the normalisation
// after P·V as a division of the [B*H, S, Dv] result by the row sums.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} : tensor<1x6x8x64xf32>, tensor<1x6x12x64xf32>, tensor<1x6x12x32xf32> -> tensor<1x6x8x32xf32>
//   CHECK-NOT:   linalg.exp
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<6x8x64xf32>, %k: tensor<6x12x64xf32>, %v: tensor<6x12x32xf32>) -> tensor<6x8x32xf32> {
  %zero = arith.constant 0.0 : f32
  %eight = arith.constant 8.0 : f32
  %kte = tensor.empty() : tensor<6x64x12xf32>
  %kt = linalg.transpose ins(%k : tensor<6x12x64xf32>) outs(%kte : tensor<6x64x12xf32>) permutation = [0, 2, 1]
  %d = linalg.fill ins(%eight : f32) outs(%kte : tensor<6x64x12xf32>) -> tensor<6x64x12xf32>
  %kts = linalg.div ins(%kt, %d : tensor<6x64x12xf32>, tensor<6x64x12xf32>) outs(%kte : tensor<6x64x12xf32>) -> tensor<6x64x12xf32>
  %es = tensor.empty() : tensor<6x8x12xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<6x8x12xf32>) -> tensor<6x8x12xf32>
  %s = linalg.batch_matmul ins(%q, %kts : tensor<6x8x64xf32>, tensor<6x64x12xf32>) outs(%fs : tensor<6x8x12xf32>) -> tensor<6x8x12xf32>
  %e = linalg.exp ins(%s : tensor<6x8x12xf32>) outs(%es : tensor<6x8x12xf32>) -> tensor<6x8x12xf32>
  %er = tensor.empty() : tensor<6x8xf32>
  %fr = linalg.fill ins(%zero : f32) outs(%er : tensor<6x8xf32>) -> tensor<6x8xf32>
  %sum = linalg.reduce ins(%e : tensor<6x8x12xf32>) outs(%fr : tensor<6x8xf32>) dimensions = [2]
    (%a: f32, %acc: f32) {
      %t = arith.addf %a, %acc : f32
      linalg.yield %t : f32
    }
  %eo = tensor.empty() : tensor<6x8x32xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<6x8x32xf32>) -> tensor<6x8x32xf32>
  %u = linalg.batch_matmul ins(%e, %v : tensor<6x8x12xf32>, tensor<6x12x32xf32>) outs(%fo : tensor<6x8x32xf32>) -> tensor<6x8x32xf32>
  %sb = linalg.broadcast ins(%sum : tensor<6x8xf32>) outs(%eo : tensor<6x8x32xf32>) dimensions = [2]
  %o = linalg.div ins(%u, %sb : tensor<6x8x32xf32>, tensor<6x8x32xf32>) outs(%eo : tensor<6x8x32xf32>) -> tensor<6x8x32xf32>
  return %o : tensor<6x8x32xf32>
}
