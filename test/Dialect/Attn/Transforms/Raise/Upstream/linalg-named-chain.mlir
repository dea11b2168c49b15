// One head in 2-D, written with linalg named ops only: the scale split
// between Q and K (linalg.mul by a constant), K^T as the transposed indexing
// map of linalg.matmul, the max and the sum as linalg.reduce (the max as a
// compare and select), linalg.broadcast, linalg.sub, linalg.exp, and the
// normalisation as linalg.reciprocal then linalg.mul.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<12x16xf32>, %[[K:[a-z0-9]+]]: tensor<10x16xf32>, %[[V:[a-z0-9]+]]: tensor<10x8xf32>)
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<1x1x12x16xf32>, tensor<1x1x10x16xf32>, tensor<1x1x10x8xf32> -> tensor<1x1x12x8xf32>
//   CHECK-NOT:   linalg.matmul
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<12x16xf32>, %k: tensor<10x16xf32>, %v: tensor<10x8xf32>) -> tensor<12x8xf32> {
  %zero = arith.constant 0.0 : f32
  %lowest = arith.constant -3.40282347E+38 : f32
  %half = arith.constant dense<0.5> : tensor<12x16xf32>
  %halfk = arith.constant dense<0.5> : tensor<10x16xf32>
  %eq = tensor.empty() : tensor<12x16xf32>
  %ek = tensor.empty() : tensor<10x16xf32>
  %qs = linalg.mul ins(%q, %half : tensor<12x16xf32>, tensor<12x16xf32>) outs(%eq : tensor<12x16xf32>) -> tensor<12x16xf32>
  %ks = linalg.mul ins(%k, %halfk : tensor<10x16xf32>, tensor<10x16xf32>) outs(%ek : tensor<10x16xf32>) -> tensor<10x16xf32>
  %es = tensor.empty() : tensor<12x10xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<12x10xf32>) -> tensor<12x10xf32>
  %s = linalg.matmul indexing_maps = [affine_map<(i, j, d) -> (i, d)>, affine_map<(i, j, d) -> (j, d)>, affine_map<(i, j, d) -> (i, j)>]
      ins(%qs, %ks : tensor<12x16xf32>, tensor<10x16xf32>) outs(%fs : tensor<12x10xf32>) -> tensor<12x10xf32>
  %er = tensor.empty() : tensor<12xf32>
  %mf = linalg.fill ins(%lowest : f32) outs(%er : tensor<12xf32>) -> tensor<12xf32>
  %max = linalg.reduce ins(%s : tensor<12x10xf32>) outs(%mf : tensor<12xf32>) dimensions = [1]
    (%a: f32, %acc: f32) {
      %gt = arith.cmpf ogt, %a, %acc : f32
      %m = arith.select %gt, %a, %acc : f32
      linalg.yield %m : f32
    }
  %maxb = linalg.broadcast ins(%max : tensor<12xf32>) outs(%es : tensor<12x10xf32>) dimensions = [1]
  %d = linalg.sub ins(%s, %maxb : tensor<12x10xf32>, tensor<12x10xf32>) outs(%es : tensor<12x10xf32>) -> tensor<12x10xf32>
  %x = linalg.exp ins(%d : tensor<12x10xf32>) outs(%es : tensor<12x10xf32>) -> tensor<12x10xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%er : tensor<12xf32>) -> tensor<12xf32>
  %sum = linalg.reduce ins(%x : tensor<12x10xf32>) outs(%sf : tensor<12xf32>) dimensions = [1]
    (%a: f32, %acc: f32) {
      %t = arith.addf %a, %acc : f32
      linalg.yield %t : f32
    }
  %rs = linalg.reciprocal ins(%sum : tensor<12xf32>) outs(%er : tensor<12xf32>) -> tensor<12xf32>
  %rb = linalg.broadcast ins(%rs : tensor<12xf32>) outs(%es : tensor<12x10xf32>) dimensions = [1]
  %p = linalg.mul ins(%x, %rb : tensor<12x10xf32>, tensor<12x10xf32>) outs(%es : tensor<12x10xf32>) -> tensor<12x10xf32>
  %eo = tensor.empty() : tensor<12x8xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<12x8xf32>) -> tensor<12x8xf32>
  %o = linalg.matmul ins(%p, %v : tensor<12x10xf32>, tensor<10x8xf32>) outs(%fo : tensor<12x8xf32>) -> tensor<12x8xf32>
  return %o : tensor<12x8xf32>
}
