// [B, H, S, D] attention on linalg named ops: Q and K^T collapsed to
// [B*H, S, D] for linalg.batch_matmul, the scores divided by sqrt(D) with
// linalg.div of a filled tensor, linalg.softmax, and the result expanded back.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --transform-preload-library=transform-library-paths=%S/decompose-softmax.transform --transform-interpreter --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s | FileCheck %s --check-prefix=NUM
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x3x8x16xf32>, %[[K:[a-z0-9]+]]: tensor<2x3x8x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x3x8x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 2.500000e-01 : f32} : tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32> -> tensor<2x3x8x16xf32>
//   CHECK-NOT:   linalg.batch_matmul
//       CHECK:   return %[[O]]
// NUM: PASS
func.func @attention(%q: tensor<2x3x8x16xf32>, %k: tensor<2x3x8x16xf32>, %v: tensor<2x3x8x16xf32>) -> tensor<2x3x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %sqrtd = arith.constant 4.0 : f32
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x3x8x16xf32> into tensor<6x8x16xf32>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<2x3x8x16xf32> into tensor<6x8x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<2x3x8x16xf32> into tensor<6x8x16xf32>
  %kte = tensor.empty() : tensor<6x16x8xf32>
  %kt = linalg.transpose ins(%k3 : tensor<6x8x16xf32>) outs(%kte : tensor<6x16x8xf32>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<6x8x8xf32>
  %sz = linalg.fill ins(%zero : f32) outs(%se : tensor<6x8x8xf32>) -> tensor<6x8x8xf32>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<6x8x16xf32>, tensor<6x16x8xf32>) outs(%sz : tensor<6x8x8xf32>) -> tensor<6x8x8xf32>
  %d = linalg.fill ins(%sqrtd : f32) outs(%se : tensor<6x8x8xf32>) -> tensor<6x8x8xf32>
  %ss = linalg.div ins(%s, %d : tensor<6x8x8xf32>, tensor<6x8x8xf32>) outs(%se : tensor<6x8x8xf32>) -> tensor<6x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<6x8x8xf32>) outs(%se : tensor<6x8x8xf32>) -> tensor<6x8x8xf32>
  %oe = tensor.empty() : tensor<6x8x16xf32>
  %oz = linalg.fill ins(%zero : f32) outs(%oe : tensor<6x8x16xf32>) -> tensor<6x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<6x8x8xf32>, tensor<6x8x16xf32>) outs(%oz : tensor<6x8x16xf32>) -> tensor<6x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 3, 8, 16] : tensor<6x8x16xf32> into tensor<2x3x8x16xf32>
  return %o : tensor<2x3x8x16xf32>
}
