// A boolean padding mask [B, 1, 1, Skv] applied as masked_fill(~mask, -inf):
// the negation (xori with true) and the select that fills where it is true.
// The mask operand is the argument itself, keeping the true positions.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   %[[PAD:[a-z0-9]+]]: tensor<2x1x1x8xi1>
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask %[[PAD]] {scale = 2.500000e-01 : f32} : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x1x1x8xi1> -> tensor<2x4x8x16xf32>
//   CHECK-NOT:   arith.select
//       CHECK:   return
// NUM: PASS
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>
#pad = affine_map<(b, h, i, j) -> (b, 0, 0, j)>
func.func @attention(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %pad: tensor<2x1x1x8xi1>) -> tensor<2x4x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %true = arith.constant true
  %quarter = arith.constant 0.25 : f32
  %em = tensor.empty() : tensor<2x1x1x8xi1>
  %notpad = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%pad : tensor<2x1x1x8xi1>) outs(%em : tensor<2x1x1x8xi1>) {
  ^bb0(%m: i1, %o: i1):
    %n = arith.xori %m, %true : i1
    linalg.yield %n : i1
  } -> tensor<2x1x1x8xi1>
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<2x4x8x16xf32> into tensor<8x8x16xf32>
  %es = tensor.empty() : tensor<8x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %s3 = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
      ins(%q3, %k3 : tensor<8x8x16xf32>, tensor<8x8x16xf32>) outs(%fs : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %c = linalg.fill ins(%quarter : f32) outs(%es : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %ss3 = linalg.mul ins(%s3, %c : tensor<8x8x8xf32>, tensor<8x8x8xf32>) outs(%es : tensor<8x8x8xf32>) -> tensor<8x8x8xf32>
  %ss = tensor.expand_shape %ss3 [[0, 1], [2], [3]] output_shape [2, 4, 8, 8] : tensor<8x8x8xf32> into tensor<2x4x8x8xf32>
  %e4 = tensor.empty() : tensor<2x4x8x8xf32>
  %masked = linalg.generic {indexing_maps = [#id, #pad, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ss, %notpad : tensor<2x4x8x8xf32>, tensor<2x1x1x8xi1>) outs(%e4 : tensor<2x4x8x8xf32>) {
  ^bb0(%a: f32, %m: i1, %o: f32):
    %r = arith.select %m, %ninf, %a : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%masked : tensor<2x4x8x8xf32>) outs(%e4 : tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %p3 = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<2x4x8x8xf32> into tensor<8x8x8xf32>
  %eo = tensor.empty() : tensor<8x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p3, %v3 : tensor<8x8x8xf32>, tensor<8x8x16xf32>) outs(%fo : tensor<8x8x16xf32>) -> tensor<8x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 4, 8, 16] : tensor<8x8x16xf32> into tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
