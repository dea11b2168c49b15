// RUN: skipattn-opt %s --split-input-file --attn-raise | FileCheck %s
// The same inputs after upstream's generalization and elementwise fusion
// raise to the same attn.attention ops (attributes and types):
// RUN: skipattn-opt %s --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.plain
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops | skipattn-opt --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.generalized
// RUN: diff %t.plain %t.generalized
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.fused
// RUN: diff %t.plain %t.fused

// TOSA: tosa.matmul, tosa.transpose, tosa.reduce_max, tosa.sub, tosa.exp,
// tosa.reduce_sum, tosa.reciprocal and tosa.mul, as TF and onnx-mlir emit
// them.

// CHECK-LABEL: func.func @tosa_3d
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<8x128x64xf32>, %[[K:[a-z0-9]+]]: tensor<8x128x64xf32>, %[[V:[a-z0-9]+]]: tensor<8x128x64xf32>)
//   CHECK-DAG:   %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1], [2], [3]] output_shape [1, 8, 128, 64]
//   CHECK-DAG:   %[[K4:.*]] = tensor.expand_shape %[[K]] {{\[}}[0, 1], [2], [3]] output_shape [1, 8, 128, 64]
//   CHECK-DAG:   %[[V4:.*]] = tensor.expand_shape %[[V]] {{\[}}[0, 1], [2], [3]] output_shape [1, 8, 128, 64]
//       CHECK:   %[[O:.*]] = attn.attention %[[Q4]], %[[K4]], %[[V4]] {scale = 1.250000e-01 : f32} : tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32> -> tensor<1x8x128x64xf32>
//       CHECK:   %[[O3:.*]] = tensor.collapse_shape %[[O]] {{\[}}[0, 1], [2], [3]]
//   CHECK-NOT:   tosa.
//       CHECK:   return %[[O3]]
func.func @tosa_3d(%q: tensor<8x128x64xf32>, %k: tensor<8x128x64xf32>, %v: tensor<8x128x64xf32>) -> tensor<8x128x64xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.125> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 1>} : (tensor<8x128x64xf32>) -> tensor<8x64x128xf32>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x128x128xf32>
  %ss = tosa.mul %s, %scale, %shift : (tensor<8x128x128xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<8x128x128xf32>
  %mx = tosa.reduce_max %ss {axis = 2 : i32} : (tensor<8x128x128xf32>) -> tensor<8x128x1xf32>
  %sub = tosa.sub %ss, %mx : (tensor<8x128x128xf32>, tensor<8x128x1xf32>) -> tensor<8x128x128xf32>
  %e = tosa.exp %sub : (tensor<8x128x128xf32>) -> tensor<8x128x128xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<8x128x128xf32>) -> tensor<8x128x1xf32>
  %r = tosa.reciprocal %sum : (tensor<8x128x1xf32>) -> tensor<8x128x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<8x128x128xf32>, tensor<8x128x1xf32>, tensor<1xi8>) -> tensor<8x128x128xf32>
  %o = tosa.matmul %p, %v, %zp, %zp : (tensor<8x128x128xf32>, tensor<8x128x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x128x64xf32>
  return %o : tensor<8x128x64xf32>
}

// -----

// 4-D [B, S, H, D] tensors reshaped for tosa.matmul, the scale on Q, the
// result transposed and reshaped back.
// CHECK-LABEL: func.func @tosa_bshd
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x40x3x16xf32>, %[[K:[a-z0-9]+]]: tensor<2x40x3x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x40x3x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<2x3x40x16xf32>, tensor<2x3x40x16xf32>, tensor<2x3x40x16xf32> -> tensor<2x3x40x16xf32>
//   CHECK-NOT:   tosa.matmul
//   CHECK-NOT:   tosa.exp
//       CHECK:   return
func.func @tosa_bshd(%q: tensor<2x40x3x16xf32>, %k: tensor<2x40x3x16xf32>, %v: tensor<2x40x3x16xf32>) -> tensor<2x40x3x16xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.25> : tensor<1x1x1x1xf32>}> : () -> tensor<1x1x1x1xf32>
  %s3 = tosa.const_shape {values = dense<[6, 40, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s4 = tosa.const_shape {values = dense<[2, 3, 40, 16]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %qs = tosa.mul %q, %scale, %shift : (tensor<2x40x3x16xf32>, tensor<1x1x1x1xf32>, tensor<1xi8>) -> tensor<2x40x3x16xf32>
  %qt = tosa.transpose %qs {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x40x3x16xf32>) -> tensor<2x3x40x16xf32>
  %kt = tosa.transpose %k {perms = array<i32: 0, 2, 3, 1>} : (tensor<2x40x3x16xf32>) -> tensor<2x3x16x40xf32>
  %vt = tosa.transpose %v {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x40x3x16xf32>) -> tensor<2x3x40x16xf32>
  %q3 = tosa.reshape %qt, %s3 : (tensor<2x3x40x16xf32>, !tosa.shape<3>) -> tensor<6x40x16xf32>
  %s3k = tosa.const_shape {values = dense<[6, 16, 40]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %k3 = tosa.reshape %kt, %s3k : (tensor<2x3x16x40xf32>, !tosa.shape<3>) -> tensor<6x16x40xf32>
  %v3 = tosa.reshape %vt, %s3 : (tensor<2x3x40x16xf32>, !tosa.shape<3>) -> tensor<6x40x16xf32>
  %s = tosa.matmul %q3, %k3, %zp, %zp : (tensor<6x40x16xf32>, tensor<6x16x40xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x40x40xf32>
  %mx = tosa.reduce_max %s {axis = 2 : i32} : (tensor<6x40x40xf32>) -> tensor<6x40x1xf32>
  %sub = tosa.sub %s, %mx : (tensor<6x40x40xf32>, tensor<6x40x1xf32>) -> tensor<6x40x40xf32>
  %e = tosa.exp %sub : (tensor<6x40x40xf32>) -> tensor<6x40x40xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<6x40x40xf32>) -> tensor<6x40x1xf32>
  %r = tosa.reciprocal %sum : (tensor<6x40x1xf32>) -> tensor<6x40x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<6x40x40xf32>, tensor<6x40x1xf32>, tensor<1xi8>) -> tensor<6x40x40xf32>
  %o3 = tosa.matmul %p, %v3, %zp, %zp : (tensor<6x40x40xf32>, tensor<6x40x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<6x40x16xf32>
  %o4 = tosa.reshape %o3, %s4 : (tensor<6x40x16xf32>, !tosa.shape<4>) -> tensor<2x3x40x16xf32>
  %o = tosa.transpose %o4 {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x3x40x16xf32>) -> tensor<2x40x3x16xf32>
  return %o : tensor<2x40x3x16xf32>
}
