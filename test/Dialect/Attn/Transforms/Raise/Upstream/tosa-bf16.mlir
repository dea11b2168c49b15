// bf16 Q, K and V: the matmuls accumulate in f32, the softmax runs in f32,
// P goes back to bf16 for P·V, and the result is cast to bf16.
// RUN: mlir-opt %s --tosa-to-linalg-pipeline | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} : tensor<1x4x8x64xbf16>, tensor<1x4x8x64xbf16>, tensor<1x4x8x64xbf16> -> tensor<1x4x8x64xbf16>
//   CHECK-NOT:   math.exp
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<4x8x64xbf16>, %k: tensor<4x8x64xbf16>, %v: tensor<4x8x64xbf16>) -> tensor<4x8x64xbf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xbf16>}> : () -> tensor<1xbf16>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.125> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<4x8x64xbf16>) -> tensor<4x64x8xbf16>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<4x8x64xbf16>, tensor<4x64x8xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<4x8x8xf32>
  %ss = tosa.mul %s, %scale, %shift : (tensor<4x8x8xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<4x8x8xf32>
  %mx = tosa.reduce_max %ss {axis = 2 : i32} : (tensor<4x8x8xf32>) -> tensor<4x8x1xf32>
  %sub = tosa.sub %ss, %mx : (tensor<4x8x8xf32>, tensor<4x8x1xf32>) -> tensor<4x8x8xf32>
  %e = tosa.exp %sub : (tensor<4x8x8xf32>) -> tensor<4x8x8xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<4x8x8xf32>) -> tensor<4x8x1xf32>
  %r = tosa.reciprocal %sum : (tensor<4x8x1xf32>) -> tensor<4x8x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<4x8x8xf32>, tensor<4x8x1xf32>, tensor<1xi8>) -> tensor<4x8x8xf32>
  %pb = tosa.cast %p : (tensor<4x8x8xf32>) -> tensor<4x8x8xbf16>
  %o = tosa.matmul %pb, %v, %zp, %zp : (tensor<4x8x8xbf16>, tensor<4x8x64xbf16>, tensor<1xbf16>, tensor<1xbf16>) -> tensor<4x8x64xf32>
  %ob = tosa.cast %o : (tensor<4x8x64xf32>) -> tensor<4x8x64xbf16>
  return %ob : tensor<4x8x64xbf16>
}
