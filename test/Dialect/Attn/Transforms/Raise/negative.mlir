// RUN: skipattn-opt %s --split-input-file > %t.before
// RUN: skipattn-opt %s --split-input-file --attn-raise > %t.after
// RUN: diff %t.before %t.after
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops --linalg-fuse-elementwise-ops > %t.fused
// RUN: skipattn-opt %t.fused --split-input-file > %t.fused.before
// RUN: skipattn-opt %t.fused --split-input-file --attn-raise > %t.fused.after
// RUN: diff %t.fused.before %t.fused.after
// RUN: FileCheck %s --input-file %t.after

// Look-alikes of attention that attn-raise must leave exactly as they were:
// the output with the pass equals the output without it.

// CHECK-NOT: attn.attention

// Softmax over the query dimension instead of the key dimension.
// CHECK-LABEL: func.func @softmax_wrong_dim
// CHECK:         linalg.softmax dimension(1)
func.func @softmax_wrong_dim(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>) -> tensor<8x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(1) ins(%s : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o : tensor<8x64x32xf32>
}

// -----

// The max runs over the keys, the sum over the queries: not a softmax.
#id = affine_map<(b, i, j) -> (b, i, j)>
#rowj = affine_map<(b, i, j) -> (b, i)>
#rowi = affine_map<(b, j, i) -> (b, j)>
#idt = affine_map<(b, j, i) -> (b, i, j)>
// CHECK-LABEL: func.func @reductions_over_different_axes
// CHECK:         linalg.batch_matmul
func.func @reductions_over_different_axes(%q: tensor<4x16x8xf32>, %k: tensor<4x16x8xf32>, %v: tensor<4x16x8xf32>) -> tensor<4x16x8xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %se = tensor.empty() : tensor<4x16x16xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<4x16x8xf32>, tensor<4x16x8xf32>) outs(%sf : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %re = tensor.empty() : tensor<4x16xf32>
  %mf = linalg.fill ins(%ninf : f32) outs(%re : tensor<4x16xf32>) -> tensor<4x16xf32>
  %max = linalg.generic {indexing_maps = [#id, #rowj], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%s : tensor<4x16x16xf32>) outs(%mf : tensor<4x16xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %m = arith.maximumf %a, %acc : f32
    linalg.yield %m : f32
  } -> tensor<4x16xf32>
  %e = linalg.generic {indexing_maps = [#id, #rowj, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %max : tensor<4x16x16xf32>, tensor<4x16xf32>) outs(%se : tensor<4x16x16xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %x = math.exp %d : f32
    linalg.yield %x : f32
  } -> tensor<4x16x16xf32>
  %zf = linalg.fill ins(%zero : f32) outs(%re : tensor<4x16xf32>) -> tensor<4x16xf32>
  %sum = linalg.generic {indexing_maps = [#idt, #rowi], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%e : tensor<4x16x16xf32>) outs(%zf : tensor<4x16xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  } -> tensor<4x16xf32>
  %p = linalg.generic {indexing_maps = [#id, affine_map<(b, i, j) -> (b, j)>, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%e, %sum : tensor<4x16x16xf32>, tensor<4x16xf32>) outs(%se : tensor<4x16x16xf32>) {
  ^bb0(%a: f32, %t: f32, %o: f32):
    %r = arith.divf %a, %t : f32
    linalg.yield %r : f32
  } -> tensor<4x16x16xf32>
  %oe = tensor.empty() : tensor<4x16x8xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x16x8xf32>) -> tensor<4x16x8xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x16x16xf32>, tensor<4x16x8xf32>) outs(%of : tensor<4x16x8xf32>) -> tensor<4x16x8xf32>
  return %o : tensor<4x16x8xf32>
}

// -----

// The probabilities are also returned: the softmax cannot be fused away.
// CHECK-LABEL: func.func @probabilities_have_another_user
// CHECK:         linalg.softmax
func.func @probabilities_have_another_user(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>) -> (tensor<8x64x32xf32>, tensor<8x64x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o, %p : tensor<8x64x32xf32>, tensor<8x64x64xf32>
}

// -----

// The scores are also used elsewhere.
// CHECK-LABEL: func.func @scores_have_another_user
// CHECK:         linalg.softmax
func.func @scores_have_another_user(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>) -> (tensor<8x64x32xf32>, tensor<8x64x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o, %s : tensor<8x64x32xf32>, tensor<8x64x64xf32>
}

// -----

// exp without the normalisation: no softmax.
// CHECK-LABEL: func.func @no_softmax
// CHECK:         linalg.exp
func.func @no_softmax(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>) -> tensor<8x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %p = linalg.exp ins(%s : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o : tensor<8x64x32xf32>
}

// -----

// P^T V: the second contraction reduces over the query dimension of P.
// CHECK-LABEL: func.func @p_transposed_times_v
// CHECK:         linalg.softmax
func.func @p_transposed_times_v(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>) -> tensor<8x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, t) -> (b, t, m)>, affine_map<(b, m, n, t) -> (b, t, n)>, affine_map<(b, m, n, t) -> (b, m, n)>]
       ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o : tensor<8x64x32xf32>
}

// -----

// TOSA softmax with the max over the wrong axis.
// CHECK-LABEL: func.func @tosa_max_wrong_axis
// CHECK:         tosa.reduce_max %{{.*}} {axis = 1 : i32}
func.func @tosa_max_wrong_axis(%q: tensor<8x128x64xf32>, %kt: tensor<8x64x128xf32>, %v: tensor<8x128x64xf32>) -> tensor<8x128x64xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x128x128xf32>
  %mx = tosa.reduce_max %s {axis = 1 : i32} : (tensor<8x128x128xf32>) -> tensor<8x1x128xf32>
  %sub = tosa.sub %s, %mx : (tensor<8x128x128xf32>, tensor<8x1x128xf32>) -> tensor<8x128x128xf32>
  %e = tosa.exp %sub : (tensor<8x128x128xf32>) -> tensor<8x128x128xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<8x128x128xf32>) -> tensor<8x128x1xf32>
  %r = tosa.reciprocal %sum : (tensor<8x128x1xf32>) -> tensor<8x128x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<8x128x128xf32>, tensor<8x128x1xf32>, tensor<1xi8>) -> tensor<8x128x128xf32>
  %o = tosa.matmul %p, %v, %zp, %zp : (tensor<8x128x128xf32>, tensor<8x128x64xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x128x64xf32>
  return %o : tensor<8x128x64xf32>
}

// -----

// A boolean mask filled with a finite value: rows with every entry masked
// would become uniform, not zero, so this is not the mask operand's meaning.
// CHECK-LABEL: func.func @bool_mask_finite_fill
// CHECK:         arith.select
func.func @bool_mask_finite_fill(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>, %m: tensor<8x64x64xi1>) -> tensor<8x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %big = arith.constant -1.0e9 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %sm = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %m : tensor<8x64x64xf32>, tensor<8x64x64xi1>) outs(%se : tensor<8x64x64xf32>) {
  ^bb0(%a: f32, %c: i1, %o: f32):
    %r = arith.select %c, %a, %big : f32
    linalg.yield %r : f32
  } -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%sm : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o : tensor<8x64x32xf32>
}

// -----

// An additive mask that is scaled afterwards: scale * (s + m) is not
// scale * s + m.
// CHECK-LABEL: func.func @additive_mask_then_scale
// CHECK:         arith.addf
func.func @additive_mask_then_scale(%q: tensor<8x64x32xf32>, %k: tensor<8x64x32xf32>, %v: tensor<8x64x32xf32>, %m: tensor<8x64x64xf32>) -> tensor<8x64x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c = arith.constant 0.125 : f32
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x64x32xf32>, tensor<8x64x32xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %sm = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %m : tensor<8x64x64xf32>, tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %x = arith.addf %a, %b : f32
    %r = arith.mulf %x, %c : f32
    linalg.yield %r : f32
  } -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%sm : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  return %o : tensor<8x64x32xf32>
}
