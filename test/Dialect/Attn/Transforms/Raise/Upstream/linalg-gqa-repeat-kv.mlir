// GQA as Hugging Face's repeat_kv lowers: K and V [B, Hkv, S, D] expanded
// to [B, Hkv, 1, S, D], broadcast (linalg.broadcast) to [B, Hkv, G, S, D]
// and collapsed to [B, Hq, S, D]; the contractions run on [B*Hq, S, D].
// The op keeps the 2 key/value heads.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --transform-preload-library=transform-library-paths=%S/decompose-softmax.transform --transform-interpreter --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x6x8x16xf32>, %[[K:[a-z0-9]+]]: tensor<2x2x8x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x2x8x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 2.500000e-01 : f32} : tensor<2x6x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> -> tensor<2x6x8x16xf32>
//   CHECK-NOT:   linalg.broadcast
//       CHECK:   return %[[O]]
// NUM: PASS
func.func @attention(%q: tensor<2x6x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x6x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %quarter = arith.constant 0.25 : f32
  %e5 = tensor.empty() : tensor<2x2x3x8x16xf32>
  %kb = linalg.broadcast ins(%k : tensor<2x2x8x16xf32>) outs(%e5 : tensor<2x2x3x8x16xf32>) dimensions = [2]
  %vb = linalg.broadcast ins(%v : tensor<2x2x8x16xf32>) outs(%e5 : tensor<2x2x3x8x16xf32>) dimensions = [2]
  %kr = tensor.collapse_shape %kb [[0, 1, 2], [3], [4]] : tensor<2x2x3x8x16xf32> into tensor<12x8x16xf32>
  %vr = tensor.collapse_shape %vb [[0, 1, 2], [3], [4]] : tensor<2x2x3x8x16xf32> into tensor<12x8x16xf32>
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x6x8x16xf32> into tensor<12x8x16xf32>
  %kte = tensor.empty() : tensor<12x16x8xf32>
  %kt = linalg.transpose ins(%kr : tensor<12x8x16xf32>) outs(%kte : tensor<12x16x8xf32>) permutation = [0, 2, 1]
  %es = tensor.empty() : tensor<12x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<12x8x8xf32>) -> tensor<12x8x8xf32>
  %s = linalg.batch_matmul ins(%q3, %kt : tensor<12x8x16xf32>, tensor<12x16x8xf32>) outs(%fs : tensor<12x8x8xf32>) -> tensor<12x8x8xf32>
  %c = linalg.fill ins(%quarter : f32) outs(%es : tensor<12x8x8xf32>) -> tensor<12x8x8xf32>
  %ss = linalg.mul ins(%s, %c : tensor<12x8x8xf32>, tensor<12x8x8xf32>) outs(%es : tensor<12x8x8xf32>) -> tensor<12x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<12x8x8xf32>) outs(%es : tensor<12x8x8xf32>) -> tensor<12x8x8xf32>
  %eo = tensor.empty() : tensor<12x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<12x8x16xf32>) -> tensor<12x8x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %vr : tensor<12x8x8xf32>, tensor<12x8x16xf32>) outs(%fo : tensor<12x8x16xf32>) -> tensor<12x8x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 6, 8, 16] : tensor<12x8x16xf32> into tensor<2x6x8x16xf32>
  return %o : tensor<2x6x8x16xf32>
}
