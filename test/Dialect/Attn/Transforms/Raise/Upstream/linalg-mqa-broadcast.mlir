// MQA: one K and V head per batch, [B, S, D], broadcast over the 4 query
// heads with linalg.broadcast and collapsed to [B*H, S, D].
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<2x4x8x16xf32>, tensor<2x1x10x16xf32>, tensor<2x1x10x16xf32> -> tensor<2x4x8x16xf32>
//   CHECK-NOT:   linalg.broadcast
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<2x4x8x16xf32>, %k: tensor<2x10x16xf32>, %v: tensor<2x10x16xf32>) -> tensor<2x4x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %quarter = arith.constant 0.25 : f32
  %e4 = tensor.empty() : tensor<2x4x10x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<2x10x16xf32>) outs(%e4 : tensor<2x4x10x16xf32>) dimensions = [1]
  %vb = linalg.broadcast ins(%v : tensor<2x10x16xf32>) outs(%e4 : tensor<2x4x10x16xf32>) dimensions = [1]
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %k3 = tensor.collapse_shape %kb [[0, 1], [2], [3]] : tensor<2x4x10x16xf32> into tensor<8x10x16xf32>
  %v3 = tensor.collapse_shape %vb [[0, 1], [2], [3]] : tensor<2x4x10x16xf32> into tensor<8x10x16xf32>
  %es = tensor.empty() : tensor<8x8x10xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8x10xf32>) -> tensor<8x8x10xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
      ins(%q3, %k3 : tensor<8x8x16xf32>, tensor<8x10x16xf32>) outs(%fs : tensor<8x8x10xf32>) -> tensor<8x8x10xf32>
  %c = linalg.fill ins(%quarter : f32) outs(%es : tensor<8x8x10xf32>) -> tensor<8x8x10xf32>
  %ss = linalg.mul ins(%s, %c : tensor<8x8x10xf32>, tensor<8x8x10xf32>) outs(%es : tensor<8x8x10xf32>) -> tensor<8x8x10xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<8x8x10xf32>) outs(%es : tensor<8x8x10xf32>) -> tensor<8x8x10xf32>
  %eo = tensor.empty() : tensor<8x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<8x8x10xf32>, tensor<8x10x16xf32>) outs(%fo : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 4, 8, 16] : tensor<8x8x16xf32> into tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
