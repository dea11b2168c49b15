// bf16 Q, K and V on [B*H, S, D]: linalg.batch_matmul reads bf16 and
// accumulates into f32, the softmax runs in f32 (linalg.softmax), P is
// truncated to bf16 for P·V (again accumulating in f32) and the result is
// truncated to bf16.
// RUN: mlir-opt %s | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-morph-ops=named-to-category | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} : tensor<1x4x8x64xbf16>, tensor<1x4x8x64xbf16>, tensor<1x4x8x64xbf16> -> tensor<1x4x8x64xbf16>
//   CHECK-NOT:   linalg.softmax
//       CHECK:   return
// NUM: PASS
#id = affine_map<(b, i, j) -> (b, i, j)>
func.func @attention(%q: tensor<4x8x64xbf16>, %k: tensor<4x8x64xbf16>, %v: tensor<4x8x64xbf16>) -> tensor<4x8x64xbf16> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %es = tensor.empty() : tensor<4x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
      ins(%q, %k : tensor<4x8x64xbf16>, tensor<4x8x64xbf16>) outs(%fs : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %ss = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<4x8x8xf32>) outs(%es : tensor<4x8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %scale : f32
    linalg.yield %m : f32
  } -> tensor<4x8x8xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<4x8x8xf32>) outs(%es : tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %eb = tensor.empty() : tensor<4x8x8xbf16>
  %pb = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%p : tensor<4x8x8xf32>) outs(%eb : tensor<4x8x8xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %t = arith.truncf %a : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<4x8x8xbf16>
  %eo = tensor.empty() : tensor<4x8x64xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<4x8x64xf32>) -> tensor<4x8x64xf32>
  %o = linalg.batch_matmul ins(%pb, %v : tensor<4x8x8xbf16>, tensor<4x8x64xbf16>) outs(%fo : tensor<4x8x64xf32>) -> tensor<4x8x64xf32>
  %ebo = tensor.empty() : tensor<4x8x64xbf16>
  %ob = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%o : tensor<4x8x64xf32>) outs(%ebo : tensor<4x8x64xbf16>) {
  ^bb0(%a: f32, %x: bf16):
    %t = arith.truncf %a : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<4x8x64xbf16>
  return %ob : tensor<4x8x64xbf16>
}
