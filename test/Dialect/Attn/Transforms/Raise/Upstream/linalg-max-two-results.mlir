// The row max as torch-mlir lowers torch.max(dim) (values and indices): a
// generic with two results, of which only the values are used. Generic
// contractions on [B, H, S, D] with K^T in the indexing map, the scale on
// the scores, the normalisation by a divide.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x2x8x16xf32>, %[[K:[a-z0-9]+]]: tensor<2x2x8x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x2x8x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 2.500000e-01 : f32} : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> -> tensor<2x2x8x16xf32>
//   CHECK-NOT:   math.exp
//       CHECK:   return %[[O]]
// NUM: PASS
#q = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#k = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#s = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#p = affine_map<(b, h, i, d, j) -> (b, h, i, j)>
#v = affine_map<(b, h, i, d, j) -> (b, h, j, d)>
#o = affine_map<(b, h, i, d, j) -> (b, h, i, d)>
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>
#row = affine_map<(b, h, i, j) -> (b, h, i)>
func.func @attention(%q: tensor<2x2x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c0 = arith.constant 0 : i64
  %scale = arith.constant 0.25 : f32
  %es = tensor.empty() : tensor<2x2x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<2x2x8x8xf32>) -> tensor<2x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [#q, #k, #s], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) outs(%fs : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x8xf32>
  %ss = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<2x2x8x8xf32>) outs(%es : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %scale : f32
    linalg.yield %m : f32
  } -> tensor<2x2x8x8xf32>
  %er = tensor.empty() : tensor<2x2x8xf32>
  %ei = tensor.empty() : tensor<2x2x8xi64>
  %mf = linalg.fill ins(%ninf : f32) outs(%er : tensor<2x2x8xf32>) -> tensor<2x2x8xf32>
  %if = linalg.fill ins(%c0 : i64) outs(%ei : tensor<2x2x8xi64>) -> tensor<2x2x8xi64>
  %max:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%ss : tensor<2x2x8x8xf32>) outs(%mf, %if : tensor<2x2x8xf32>, tensor<2x2x8xi64>) {
  ^bb0(%a: f32, %m: f32, %i: i64):
    %j = linalg.index 3 : index
    %ji = arith.index_cast %j : index to i64
    %gt = arith.cmpf ogt, %a, %m : f32
    %nm = arith.select %gt, %a, %m : f32
    %ni = arith.select %gt, %ji, %i : i64
    linalg.yield %nm, %ni : f32, i64
  } -> (tensor<2x2x8xf32>, tensor<2x2x8xi64>)
  %x = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ss, %max#0 : tensor<2x2x8x8xf32>, tensor<2x2x8xf32>) outs(%es : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  } -> tensor<2x2x8x8xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%er : tensor<2x2x8xf32>) -> tensor<2x2x8xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x : tensor<2x2x8x8xf32>) outs(%sf : tensor<2x2x8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %t = arith.addf %a, %acc : f32
    linalg.yield %t : f32
  } -> tensor<2x2x8xf32>
  %p = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x, %sum : tensor<2x2x8x8xf32>, tensor<2x2x8xf32>) outs(%es : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %d = arith.divf %a, %t : f32
    linalg.yield %d : f32
  } -> tensor<2x2x8x8xf32>
  %eo = tensor.empty() : tensor<2x2x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32>
  %o = linalg.generic {indexing_maps = [#p, #v, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x2x8x8xf32>, tensor<2x2x8x16xf32>) outs(%fo : tensor<2x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x16xf32>
  return %o : tensor<2x2x8x16xf32>
}
