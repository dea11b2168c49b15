// The scale on K (before its transpose), and the normalisation after P·V:
// (exp(s - max) · V) * (1 / sum).
// RUN: mlir-opt %s --tosa-to-linalg-pipeline | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 0.176776692 : f32} : tensor<1x3x8x32xf32>, tensor<1x3x10x32xf32>, tensor<1x3x10x16xf32> -> tensor<1x3x8x16xf32>
//   CHECK-NOT:   math.exp
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<3x8x32xf32>, %k: tensor<3x10x32xf32>, %v: tensor<3x10x16xf32>) -> tensor<3x8x16xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.176776695> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %ks = tosa.mul %k, %scale, %shift : (tensor<3x10x32xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<3x10x32xf32>
  %kt = tosa.transpose %ks {perms = array<i32: 0, 2, 1>} : (tensor<3x10x32xf32>) -> tensor<3x32x10xf32>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<3x8x32xf32>, tensor<3x32x10xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<3x8x10xf32>
  %mx = tosa.reduce_max %s {axis = 2 : i32} : (tensor<3x8x10xf32>) -> tensor<3x8x1xf32>
  %sub = tosa.sub %s, %mx : (tensor<3x8x10xf32>, tensor<3x8x1xf32>) -> tensor<3x8x10xf32>
  %e = tosa.exp %sub : (tensor<3x8x10xf32>) -> tensor<3x8x10xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<3x8x10xf32>) -> tensor<3x8x1xf32>
  %r = tosa.reciprocal %sum : (tensor<3x8x1xf32>) -> tensor<3x8x1xf32>
  %u = tosa.matmul %e, %v, %zp, %zp : (tensor<3x8x10xf32>, tensor<3x10x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<3x8x16xf32>
  %o = tosa.mul %u, %r, %shift : (tensor<3x8x16xf32>, tensor<3x8x1xf32>, tensor<1xi8>) -> tensor<3x8x16xf32>
  return %o : tensor<3x8x16xf32>
}
