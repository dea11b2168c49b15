// GQA by repetition: K and V [B, Hkv, S, D] reshaped to [B, Hkv, 1, S, D],
// tiled to [B, Hkv, G, S, D] and reshaped to the [B*Hq, S, D] of tosa.matmul.
// The op takes K and V with their 2 heads, the queries with 6.
// RUN: mlir-opt %s --tosa-to-linalg-pipeline | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f32} : tensor<2x6x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32> -> tensor<2x6x8x16xf32>
//   CHECK-NOT:   math.exp
//       CHECK:   return
// NUM: PASS
func.func @attention(%q: tensor<2x6x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x6x8x16xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.25> : tensor<1x1x1xf32>}> : () -> tensor<1x1x1xf32>
  %s5 = tosa.const_shape {values = dense<[2, 2, 1, 8, 16]> : tensor<5xindex>} : () -> !tosa.shape<5>
  %mult = tosa.const_shape {values = dense<[1, 1, 3, 1, 1]> : tensor<5xindex>} : () -> !tosa.shape<5>
  %s3 = tosa.const_shape {values = dense<[12, 8, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s4 = tosa.const_shape {values = dense<[2, 6, 8, 16]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %k5 = tosa.reshape %k, %s5 : (tensor<2x2x8x16xf32>, !tosa.shape<5>) -> tensor<2x2x1x8x16xf32>
  %kr = tosa.tile %k5, %mult : (tensor<2x2x1x8x16xf32>, !tosa.shape<5>) -> tensor<2x2x3x8x16xf32>
  %k3 = tosa.reshape %kr, %s3 : (tensor<2x2x3x8x16xf32>, !tosa.shape<3>) -> tensor<12x8x16xf32>
  %v5 = tosa.reshape %v, %s5 : (tensor<2x2x8x16xf32>, !tosa.shape<5>) -> tensor<2x2x1x8x16xf32>
  %vr = tosa.tile %v5, %mult : (tensor<2x2x1x8x16xf32>, !tosa.shape<5>) -> tensor<2x2x3x8x16xf32>
  %v3 = tosa.reshape %vr, %s3 : (tensor<2x2x3x8x16xf32>, !tosa.shape<3>) -> tensor<12x8x16xf32>
  %q3 = tosa.reshape %q, %s3 : (tensor<2x6x8x16xf32>, !tosa.shape<3>) -> tensor<12x8x16xf32>
  %kt = tosa.transpose %k3 {perms = array<i32: 0, 2, 1>} : (tensor<12x8x16xf32>) -> tensor<12x16x8xf32>
  %s = tosa.matmul %q3, %kt, %zp, %zp : (tensor<12x8x16xf32>, tensor<12x16x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<12x8x8xf32>
  %ss = tosa.mul %s, %scale, %shift : (tensor<12x8x8xf32>, tensor<1x1x1xf32>, tensor<1xi8>) -> tensor<12x8x8xf32>
  %mx = tosa.reduce_max %ss {axis = 2 : i32} : (tensor<12x8x8xf32>) -> tensor<12x8x1xf32>
  %sub = tosa.sub %ss, %mx : (tensor<12x8x8xf32>, tensor<12x8x1xf32>) -> tensor<12x8x8xf32>
  %e = tosa.exp %sub : (tensor<12x8x8xf32>) -> tensor<12x8x8xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<12x8x8xf32>) -> tensor<12x8x1xf32>
  %r = tosa.reciprocal %sum : (tensor<12x8x1xf32>) -> tensor<12x8x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<12x8x8xf32>, tensor<12x8x1xf32>, tensor<1xi8>) -> tensor<12x8x8xf32>
  %o3 = tosa.matmul %p, %v3, %zp, %zp : (tensor<12x8x8xf32>, tensor<12x8x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<12x8x16xf32>
  %o = tosa.reshape %o3, %s4 : (tensor<12x8x16xf32>, !tosa.shape<4>) -> tensor<2x6x8x16xf32>
  return %o : tensor<2x6x8x16xf32>
}
