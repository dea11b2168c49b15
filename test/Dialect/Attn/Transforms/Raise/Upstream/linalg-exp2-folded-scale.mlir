// The scale folded into one constant with log2(e), FlashAttention style:
// exp2((s - max(s)) * 0.125 * log2(e)); the normalisation by reciprocal and
// multiply in one generic. The raised scale is 0.125.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} : tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32>, tensor<1x4x8x64xf32> -> tensor<1x4x8x64xf32>
//   CHECK-NOT:   math.exp2
//       CHECK:   return
// NUM: PASS
#id = affine_map<(b, i, j) -> (b, i, j)>
#row = affine_map<(b, i, j) -> (b, i)>
func.func @attention(%q: tensor<4x8x64xf32>, %k: tensor<4x8x64xf32>, %v: tensor<4x8x64xf32>) -> tensor<4x8x64xf32> {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %lowest = arith.constant -3.40282347E+38 : f32
  %c = arith.constant 0.180336878 : f32
  %es = tensor.empty() : tensor<4x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
      ins(%q, %k : tensor<4x8x64xf32>, tensor<4x8x64xf32>) outs(%fs : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %er = tensor.empty() : tensor<4x8xf32>
  %mf = linalg.fill ins(%lowest : f32) outs(%er : tensor<4x8xf32>) -> tensor<4x8xf32>
  %max = linalg.reduce ins(%s : tensor<4x8x8xf32>) outs(%mf : tensor<4x8xf32>) dimensions = [2]
    (%a: f32, %acc: f32) {
      %m = arith.maxnumf %a, %acc : f32
      linalg.yield %m : f32
    }
  %x = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %max : tensor<4x8x8xf32>, tensor<4x8xf32>) outs(%es : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %t = arith.mulf %d, %c : f32
    %e = math.exp2 %t : f32
    linalg.yield %e : f32
  } -> tensor<4x8x8xf32>
  %fr = linalg.fill ins(%zero : f32) outs(%er : tensor<4x8xf32>) -> tensor<4x8xf32>
  %sum = linalg.reduce ins(%x : tensor<4x8x8xf32>) outs(%fr : tensor<4x8xf32>) dimensions = [2]
    (%a: f32, %acc: f32) {
      %t = arith.addf %a, %acc : f32
      linalg.yield %t : f32
    }
  %p = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %sum : tensor<4x8x8xf32>, tensor<4x8xf32>) outs(%es : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %r = arith.divf %one, %t : f32
    %m = arith.mulf %a, %r : f32
    linalg.yield %m : f32
  } -> tensor<4x8x8xf32>
  %eo = tensor.empty() : tensor<4x8x64xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x8x64xf32>) -> tensor<4x8x64xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x8x8xf32>, tensor<4x8x64xf32>) outs(%fo : tensor<4x8x64xf32>) -> tensor<4x8x64xf32>
  return %o : tensor<4x8x64xf32>
}
