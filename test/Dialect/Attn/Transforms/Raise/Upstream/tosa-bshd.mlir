// [B, S, H, D] tensors transposed and reshaped to [B*H, S, D] for
// tosa.matmul, the result reshaped and transposed back: the layout is
// absorbed around the op, whose operands are the [B, S, H, D] arguments
// transposed.
// RUN: mlir-opt %s --tosa-to-linalg-pipeline | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//  CHECK-SAME:   (%[[Q:.*]]: tensor<2x8x3x16xf32>, %[[K:.*]]: tensor<2x8x3x16xf32>, %[[V:.*]]: tensor<2x8x3x16xf32>)
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32> -> tensor<2x3x8x16xf32>
//   CHECK-NOT:   math.exp
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<2x8x3x16xf32>, %k: tensor<2x8x3x16xf32>, %v: tensor<2x8x3x16xf32>) -> tensor<2x8x3x16xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.25> : tensor<1x1x1x1xf32>}> : () -> tensor<1x1x1x1xf32>
  %s3 = tosa.const_shape {values = dense<[6, 8, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s3k = tosa.const_shape {values = dense<[6, 16, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s4 = tosa.const_shape {values = dense<[2, 3, 8, 16]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %qs = tosa.mul %q, %scale, %shift : (tensor<2x8x3x16xf32>, tensor<1x1x1x1xf32>, tensor<1xi8>) -> tensor<2x8x3x16xf32>
  %qt = tosa.transpose %qs {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x8x3x16xf32>) -> tensor<2x3x8x16xf32>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 3, 1>} : (tensor<2x8x3x16xf32>) -> tensor<2x3x16x8xf32>
  %vt = tosa.transpose %v {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x8x3x16xf32>) -> tensor<2x3x8x16xf32>
  %q3 = tosa.reshape %qt, %s3 : (tensor<2x3x8x16xf32>, !tosa.shape<3>) -> tensor<6x8x16xf32>
  %k3 = tosa.reshape %kt, %s3k : (tensor<2x3x16x8xf32>, !tosa.shape<3>) -> tensor<6x16x8xf32>
  %v3 = tosa.reshape %vt, %s3 : (tensor<2x3x8x16xf32>, !tosa.shape<3>) -> tensor<6x8x16xf32>
  %s = tosa.matmul %q3, %k3, %zp, %zp : (tensor<6x8x16xf32>, tensor<6x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x8x8xf32>
  %mx = tosa.reduce_max %s {axis = 2 : i32} : (tensor<6x8x8xf32>) -> tensor<6x8x1xf32>
  %sub = tosa.sub %s, %mx : (tensor<6x8x8xf32>, tensor<6x8x1xf32>) -> tensor<6x8x8xf32>
  %e = tosa.exp %sub : (tensor<6x8x8xf32>) -> tensor<6x8x8xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<6x8x8xf32>) -> tensor<6x8x1xf32>
  %r = tosa.reciprocal %sum : (tensor<6x8x1xf32>) -> tensor<6x8x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<6x8x8xf32>, tensor<6x8x1xf32>, tensor<1xi8>) -> tensor<6x8x8xf32>
  %o3 = tosa.matmul %p, %v3, %zp, %zp : (tensor<6x8x8xf32>, tensor<6x8x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x8x16xf32>
  %o4 = tosa.reshape %o3, %s4 : (tensor<6x8x16xf32>, !tosa.shape<4>) -> tensor<2x3x8x16xf32>
  %o = tosa.transpose %o4 {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x3x8x16xf32>) -> tensor<2x8x3x16xf32>
  return %o : tensor<2x8x3x16xf32>
}
