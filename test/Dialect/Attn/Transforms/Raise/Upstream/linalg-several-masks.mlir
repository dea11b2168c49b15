// Two boolean padding masks (keys [B, Skv] and queries [B, Sq]) kept by one
// select, and an additive bias [H, Sq, Skv]: attn.attention takes one mask,
// so the three become one computed additive mask (0 / -inf for the boolean
// ones, plus the bias).
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin --seed 2 %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   %[[M:.*]] = linalg.generic
//  CHECK-SAME:     outs(%{{.*}} : tensor<2x4x8x8xf32>)
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask %[[M]] {scale = 2.500000e-01 : f32} : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x8xf32> -> tensor<2x4x8x16xf32>
//   CHECK-NOT:   linalg.softmax
//       CHECK:   return
// NUM: PASS: {{.*}} in fully masked rows
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>
#kpad = affine_map<(b, h, i, j) -> (b, j)>
#qpad = affine_map<(b, h, i, j) -> (b, i)>
#bias = affine_map<(b, h, i, j) -> (h, i, j)>
func.func @attention(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>, %v: tensor<2x4x8x16xf32>, %kp: tensor<2x8xi1>, %qp: tensor<2x8xi1>, %bias: tensor<4x8x8xf32>) -> tensor<2x4x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.25 : f32
  %es = tensor.empty() : tensor<2x4x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(b, h, i, j, d) -> (b, h, i, d)>, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, affine_map<(b, h, i, j, d) -> (b, h, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) outs(%fs : tensor<2x4x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8x8xf32>
  %masked = linalg.generic {indexing_maps = [#id, #kpad, #qpad, #bias, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s, %kp, %qp, %bias : tensor<2x4x8x8xf32>, tensor<2x8xi1>, tensor<2x8xi1>, tensor<4x8x8xf32>) outs(%es : tensor<2x4x8x8xf32>) {
  ^bb0(%a: f32, %pk: i1, %pq: i1, %bb: f32, %o: f32):
    %keep = arith.andi %pk, %pq : i1
    %sc = arith.mulf %a, %scale : f32
    %biased = arith.addf %sc, %bb : f32
    %r = arith.select %keep, %biased, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%masked : tensor<2x4x8x8xf32>) outs(%es : tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %eo = tensor.empty() : tensor<2x4x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  %o = linalg.generic {indexing_maps = [affine_map<(b, h, i, d, j) -> (b, h, i, j)>, affine_map<(b, h, i, d, j) -> (b, h, j, d)>, affine_map<(b, h, i, d, j) -> (b, h, i, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x4x8x8xf32>, tensor<2x4x8x16xf32>) outs(%fo : tensor<2x4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %mm = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %mm : f32
    linalg.yield %r : f32
  } -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}
