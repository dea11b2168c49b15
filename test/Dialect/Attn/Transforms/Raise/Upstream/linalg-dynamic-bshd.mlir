// Dynamic batch and sequence lengths in the [B, S, H, D] layout: Q, K and V
// transposed to [B, H, S, D] and collapsed to [B*H, S, D] for
// linalg.batch_matmul, with tensor.dim and tensor.empty as torch-mlir builds
// them; the result expanded and transposed back.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin --shapes 2x8x4x16,2x10x4x16,2x10x4x16 %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
//   CHECK-NOT:   linalg.batch_matmul
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<?x?x4x16xf32>, %k: tensor<?x?x4x16xf32>, %v: tensor<?x?x4x16xf32>) -> tensor<?x?x4x16xf32> {
  %zero = arith.constant 0.0 : f32
  %quarter = arith.constant 0.25 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %b = tensor.dim %q, %c0 : tensor<?x?x4x16xf32>
  %sq = tensor.dim %q, %c1 : tensor<?x?x4x16xf32>
  %skv = tensor.dim %k, %c1 : tensor<?x?x4x16xf32>
  %bh = arith.muli %b, %c4 : index
  %eq = tensor.empty(%b, %sq) : tensor<?x4x?x16xf32>
  %qt = linalg.transpose ins(%q : tensor<?x?x4x16xf32>) outs(%eq : tensor<?x4x?x16xf32>) permutation = [0, 2, 1, 3]
  %ek = tensor.empty(%b, %skv) : tensor<?x4x16x?xf32>
  %kt = linalg.transpose ins(%k : tensor<?x?x4x16xf32>) outs(%ek : tensor<?x4x16x?xf32>) permutation = [0, 2, 3, 1]
  %ev = tensor.empty(%b, %skv) : tensor<?x4x?x16xf32>
  %vt = linalg.transpose ins(%v : tensor<?x?x4x16xf32>) outs(%ev : tensor<?x4x?x16xf32>) permutation = [0, 2, 1, 3]
  %q3 = tensor.collapse_shape %qt [[0, 1], [2], [3]] : tensor<?x4x?x16xf32> into tensor<?x?x16xf32>
  %k3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<?x4x16x?xf32> into tensor<?x16x?xf32>
  %v3 = tensor.collapse_shape %vt [[0, 1], [2], [3]] : tensor<?x4x?x16xf32> into tensor<?x?x16xf32>
  %es = tensor.empty(%bh, %sq, %skv) : tensor<?x?x?xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %s = linalg.batch_matmul ins(%q3, %k3 : tensor<?x?x16xf32>, tensor<?x16x?xf32>) outs(%fs : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %c = linalg.fill ins(%quarter : f32) outs(%es : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %ss = linalg.mul ins(%s, %c : tensor<?x?x?xf32>, tensor<?x?x?xf32>) outs(%es : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<?x?x?xf32>) outs(%es : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %eo = tensor.empty(%bh, %sq) : tensor<?x?x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<?x?x?xf32>, tensor<?x?x16xf32>) outs(%fo : tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %o4 = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [%b, 4, %sq, 16] : tensor<?x?x16xf32> into tensor<?x4x?x16xf32>
  %eout = tensor.empty(%b, %sq) : tensor<?x?x4x16xf32>
  %o = linalg.transpose ins(%o4 : tensor<?x4x?x16xf32>) outs(%eout : tensor<?x?x4x16xf32>) permutation = [0, 2, 1, 3]
  return %o : tensor<?x?x4x16xf32>
}
