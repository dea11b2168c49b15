// A causal self-attention block as a TOSA author writes it: Q, K and V
// projected from x [B, S, E] by tosa.matmul, split into heads (reshape
// [B, S, H, D] and transpose), f16 throughout, the causal mask from two
// integer iota constants compared with tosa.greater_equal, and the heads
// merged back to [B, S, H*D] before the output projection. The attention in
// the middle is raised; the projections stay.
// RUN: mlir-opt %s --tosa-to-linalg-pipeline | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --tosa-to-tensor --tosa-to-arith | skipattn-opt --attn-raise | FileCheck %s
// RUN: mlir-opt %s --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fold-unit-extent-dims --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --attn-raise | FileCheck %s
// RUN: %python %S/check_raise.py --bin %skipattn_bin %s -- --tosa-to-linalg-pipeline --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | FileCheck %s --check-prefix=NUM

// CHECK-LABEL: func.func @attention
//       CHECK:   linalg.{{batch_matmul|generic}}
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 2.500000e-01 : f32} : tensor<2x2x8x16xf16>, tensor<2x2x8x16xf16>, tensor<2x2x8x16xf16> -> tensor<2x2x8x16xf16>
//   CHECK-NOT:   math.exp
//       CHECK:   return
// NUM: PASS
func.func @attention(%x: tensor<2x8x32xf16>, %wq: tensor<1x32x32xf16>, %wk: tensor<1x32x32xf16>, %wv: tensor<1x32x32xf16>, %wo: tensor<1x32x32xf16>) -> tensor<2x8x32xf16> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf16>}> : () -> tensor<1xf16>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %scale = "tosa.const"() <{values = dense<0.25> : tensor<1x1x1xf16>}> : () -> tensor<1x1x1xf16>
  %ninf = "tosa.const"() <{values = dense<0xFC00> : tensor<1x1x1xf16>}> : () -> tensor<1x1x1xf16>
  %rows = "tosa.const"() <{values = dense<[[[0]], [[1]], [[2]], [[3]], [[4]], [[5]], [[6]], [[7]]]> : tensor<8x1x1xi32>}> : () -> tensor<8x1x1xi32>
  %cols = "tosa.const"() <{values = dense<[[[0, 1, 2, 3, 4, 5, 6, 7]]]> : tensor<1x1x8xi32>}> : () -> tensor<1x1x8xi32>
  %s1 = tosa.const_shape {values = dense<[1, 16, 32]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s4 = tosa.const_shape {values = dense<[2, 8, 2, 16]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %s3 = tosa.const_shape {values = dense<[4, 8, 16]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %s3t = tosa.const_shape {values = dense<[4, 16, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %sh = tosa.const_shape {values = dense<[2, 2, 8, 16]> : tensor<4xindex>} : () -> !tosa.shape<4>
  %sm = tosa.const_shape {values = dense<[2, 8, 32]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %x1 = tosa.reshape %x, %s1 : (tensor<2x8x32xf16>, !tosa.shape<3>) -> tensor<1x16x32xf16>
  %qp = tosa.matmul %x1, %wq, %zp, %zp : (tensor<1x16x32xf16>, tensor<1x32x32xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x16x32xf16>
  %kp = tosa.matmul %x1, %wk, %zp, %zp : (tensor<1x16x32xf16>, tensor<1x32x32xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x16x32xf16>
  %vp = tosa.matmul %x1, %wv, %zp, %zp : (tensor<1x16x32xf16>, tensor<1x32x32xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x16x32xf16>
  %q4 = tosa.reshape %qp, %s4 : (tensor<1x16x32xf16>, !tosa.shape<4>) -> tensor<2x8x2x16xf16>
  %k4 = tosa.reshape %kp, %s4 : (tensor<1x16x32xf16>, !tosa.shape<4>) -> tensor<2x8x2x16xf16>
  %v4 = tosa.reshape %vp, %s4 : (tensor<1x16x32xf16>, !tosa.shape<4>) -> tensor<2x8x2x16xf16>
  %qt = tosa.transpose %q4 {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x8x2x16xf16>) -> tensor<2x2x8x16xf16>
  %kt = tosa.transpose %k4 {perms = array<i32: 0, 2, 3, 1>} : (tensor<2x8x2x16xf16>) -> tensor<2x2x16x8xf16>
  %vt = tosa.transpose %v4 {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x8x2x16xf16>) -> tensor<2x2x8x16xf16>
  %q3 = tosa.reshape %qt, %s3 : (tensor<2x2x8x16xf16>, !tosa.shape<3>) -> tensor<4x8x16xf16>
  %k3 = tosa.reshape %kt, %s3t : (tensor<2x2x16x8xf16>, !tosa.shape<3>) -> tensor<4x16x8xf16>
  %v3 = tosa.reshape %vt, %s3 : (tensor<2x2x8x16xf16>, !tosa.shape<3>) -> tensor<4x8x16xf16>
  %s = tosa.matmul %q3, %k3, %zp, %zp : (tensor<4x8x16xf16>, tensor<4x16x8xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<4x8x8xf16>
  %ss = tosa.mul %s, %scale, %shift : (tensor<4x8x8xf16>, tensor<1x1x1xf16>, tensor<1xi8>) -> tensor<4x8x8xf16>
  %keep = tosa.greater_equal %rows, %cols : (tensor<8x1x1xi32>, tensor<1x1x8xi32>) -> tensor<8x1x8xi1>
  %s8 = tosa.const_shape {values = dense<[1, 8, 8]> : tensor<3xindex>} : () -> !tosa.shape<3>
  %keep3 = tosa.reshape %keep, %s8 : (tensor<8x1x8xi1>, !tosa.shape<3>) -> tensor<1x8x8xi1>
  %m = tosa.select %keep3, %ss, %ninf : (tensor<1x8x8xi1>, tensor<4x8x8xf16>, tensor<1x1x1xf16>) -> tensor<4x8x8xf16>
  %mx = tosa.reduce_max %m {axis = 2 : i32} : (tensor<4x8x8xf16>) -> tensor<4x8x1xf16>
  %sub = tosa.sub %m, %mx : (tensor<4x8x8xf16>, tensor<4x8x1xf16>) -> tensor<4x8x8xf16>
  %e = tosa.exp %sub : (tensor<4x8x8xf16>) -> tensor<4x8x8xf16>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<4x8x8xf16>) -> tensor<4x8x1xf16>
  %r = tosa.reciprocal %sum : (tensor<4x8x1xf16>) -> tensor<4x8x1xf16>
  %p = tosa.mul %e, %r, %shift : (tensor<4x8x8xf16>, tensor<4x8x1xf16>, tensor<1xi8>) -> tensor<4x8x8xf16>
  %o3 = tosa.matmul %p, %v3, %zp, %zp : (tensor<4x8x8xf16>, tensor<4x8x16xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<4x8x16xf16>
  %o4 = tosa.reshape %o3, %sh : (tensor<4x8x16xf16>, !tosa.shape<4>) -> tensor<2x2x8x16xf16>
  %ot = tosa.transpose %o4 {perms = array<i32: 0, 2, 1, 3>} : (tensor<2x2x8x16xf16>) -> tensor<2x8x2x16xf16>
  %om = tosa.reshape %ot, %s1 : (tensor<2x8x2x16xf16>, !tosa.shape<3>) -> tensor<1x16x32xf16>
  %out = tosa.matmul %om, %wo, %zp, %zp : (tensor<1x16x32xf16>, tensor<1x32x32xf16>, tensor<1xf16>, tensor<1xf16>) -> tensor<1x16x32xf16>
  %o = tosa.reshape %out, %sm : (tensor<1x16x32xf16>, !tosa.shape<3>) -> tensor<2x8x32xf16>
  return %o : tensor<2x8x32xf16>
}
