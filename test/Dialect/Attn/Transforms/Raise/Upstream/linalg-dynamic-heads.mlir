// A dynamic number of heads, [B, H?, S, D]: attn.attention's heads are
// static, so batch and heads merge into its (dynamic) batch, one head each,
// and the result is split back.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin --shapes 2x3x8x16,2x3x8x16,2x3x8x16 %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<?x1x8x16xf32>, tensor<?x1x8x16xf32>, tensor<?x1x8x16xf32> -> tensor<?x1x8x16xf32>
//   CHECK-NOT:   linalg.softmax
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<2x?x8x16xf32>, %k: tensor<2x?x8x16xf32>, %v: tensor<2x?x8x16xf32>) -> tensor<2x?x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %c1 = arith.constant 1 : index
  %h = tensor.dim %q, %c1 : tensor<2x?x8x16xf32>
  %es = tensor.empty(%h) : tensor<2x?x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<2x?x8x8xf32>) -> tensor<2x?x8x8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(b, h, i, j, d) -> (b, h, i, d)>, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, affine_map<(b, h, i, j, d) -> (b, h, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x?x8x16xf32>, tensor<2x?x8x16xf32>) outs(%fs : tensor<2x?x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x?x8x8xf32>
  %sc = arith.constant 0.25 : f32
  %ss = linalg.generic {indexing_maps = [affine_map<(b, h, i, j) -> (b, h, i, j)>, affine_map<(b, h, i, j) -> (b, h, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s : tensor<2x?x8x8xf32>) outs(%es : tensor<2x?x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %sc : f32
    linalg.yield %m : f32
  } -> tensor<2x?x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%ss : tensor<2x?x8x8xf32>) outs(%es : tensor<2x?x8x8xf32>) -> tensor<2x?x8x8xf32>
  %eo = tensor.empty(%h) : tensor<2x?x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<2x?x8x16xf32>) -> tensor<2x?x8x16xf32>
  %o = linalg.generic {indexing_maps = [affine_map<(b, h, i, d, j) -> (b, h, i, j)>, affine_map<(b, h, i, d, j) -> (b, h, j, d)>, affine_map<(b, h, i, d, j) -> (b, h, i, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x?x8x8xf32>, tensor<2x?x8x16xf32>) outs(%fo : tensor<2x?x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %mm = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %mm : f32
    linalg.yield %r : f32
  } -> tensor<2x?x8x16xf32>
  return %o : tensor<2x?x8x16xf32>
}
