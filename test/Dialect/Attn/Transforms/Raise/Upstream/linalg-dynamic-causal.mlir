// Causal self-attention with dynamic batch and sequence length: Q, K and V
// are one tensor, so Sq = Skv is known (ValueBoundsOpInterface), and the
// triangle compares linalg.index values inside the op that scales the
// scores and fills -inf: `causal`.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --transform-preload-library=transform-library-paths=%S/decompose-softmax.transform --transform-interpreter --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin --shapes 2x4x9x16 %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   (%[[X:[a-z0-9]+]]: tensor<?x4x?x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[X]], %[[X]], %[[X]] {causal, scale = 2.500000e-01 : f32} : tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32>, tensor<?x4x?x16xf32> -> tensor<?x4x?x16xf32>
//   CHECK-NOT:   linalg.index
//       CHECK:   return %[[O]]
// NUM: PASS
#id = affine_map<(b, i, j) -> (b, i, j)>
func.func @attention(%x: tensor<?x4x?x16xf32>) -> tensor<?x4x?x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.25 : f32
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %b = tensor.dim %x, %c0 : tensor<?x4x?x16xf32>
  %s = tensor.dim %x, %c2 : tensor<?x4x?x16xf32>
  %bh = arith.muli %b, %c4 : index
  %x3 = tensor.collapse_shape %x [[0, 1], [2], [3]] : tensor<?x4x?x16xf32> into tensor<?x?x16xf32>
  %es = tensor.empty(%bh, %s, %s) : tensor<?x?x?xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %sc = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
      ins(%x3, %x3 : tensor<?x?x16xf32>, tensor<?x?x16xf32>) outs(%fs : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %masked = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%sc : tensor<?x?x?xf32>) outs(%es : tensor<?x?x?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %keep = arith.cmpi ule, %j, %i : index
    %m = arith.mulf %a, %scale : f32
    %r = arith.select %keep, %m, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<?x?x?xf32>
  %p = linalg.softmax dimension(2) ins(%masked : tensor<?x?x?xf32>) outs(%es : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %eo = tensor.empty(%bh, %s) : tensor<?x?x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %x3 : tensor<?x?x?xf32>, tensor<?x?x16xf32>) outs(%fo : tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [%b, 4, %s, 16] : tensor<?x?x16xf32> into tensor<?x4x?x16xf32>
  return %o : tensor<?x4x?x16xf32>
}
