// RUN: skipattn-opt %s --split-input-file --attn-raise --remarks-filter=attn-raise -verify-diagnostics

// Attention that attn-raise recognises but does not raise gets a missed
// remark (MLIR's remark engine, category attn-raise) at the P·V op saying
// why; what is not attention gets none. Without --remarks-filter the pass
// prints nothing.

func.func @probabilities_returned(%q: tensor<8x16x32xf32>, %k: tensor<8x16x32xf32>, %v: tensor<8x16x32xf32>) -> (tensor<8x16x32xf32>, tensor<8x16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<8x16x16xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x16x32xf32>, tensor<8x16x32xf32>) outs(%sf : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<8x16x16xf32>) outs(%se : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %oe = tensor.empty() : tensor<8x16x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  // expected-remark @below {{attention not raised: an intermediate result (linalg.softmax) is used outside the attention}}
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x16x16xf32>, tensor<8x16x32xf32>) outs(%of : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  return %o, %p : tensor<8x16x32xf32>, tensor<8x16x16xf32>
}

// -----

#id = affine_map<(b, i, j) -> (b, i, j)>
func.func @bool_mask_finite_fill(%q: tensor<8x16x32xf32>, %k: tensor<8x16x32xf32>, %v: tensor<8x16x32xf32>, %m: tensor<8x16x16xi1>) -> tensor<8x16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %big = arith.constant -1.0e9 : f32
  %se = tensor.empty() : tensor<8x16x16xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x16x32xf32>, tensor<8x16x32xf32>) outs(%sf : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %masked = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %m : tensor<8x16x16xf32>, tensor<8x16x16xi1>) outs(%se : tensor<8x16x16xf32>) {
  ^bb0(%a: f32, %c: i1, %o: f32):
    %r = arith.select %c, %a, %big : f32
    linalg.yield %r : f32
  } -> tensor<8x16x16xf32>
  %p = linalg.softmax dimension(2) ins(%masked : tensor<8x16x16xf32>) outs(%se : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %oe = tensor.empty() : tensor<8x16x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  // expected-remark @below {{attention not raised: a boolean mask fills with a finite value}}
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x16x16xf32>, tensor<8x16x32xf32>) outs(%of : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  return %o : tensor<8x16x32xf32>
}

// -----

#id = affine_map<(b, i, j) -> (b, i, j)>
func.func @additive_mask_then_scale(%q: tensor<8x16x32xf32>, %k: tensor<8x16x32xf32>, %v: tensor<8x16x32xf32>, %m: tensor<8x16x16xf32>) -> tensor<8x16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %scale = arith.constant 0.125 : f32
  %se = tensor.empty() : tensor<8x16x16xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<8x16x32xf32>, tensor<8x16x32xf32>) outs(%sf : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %masked = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s, %m : tensor<8x16x16xf32>, tensor<8x16x16xf32>) outs(%se : tensor<8x16x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %t = arith.addf %a, %b : f32
    %r = arith.mulf %t, %scale : f32
    linalg.yield %r : f32
  } -> tensor<8x16x16xf32>
  %p = linalg.softmax dimension(2) ins(%masked : tensor<8x16x16xf32>) outs(%se : tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %oe = tensor.empty() : tensor<8x16x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  // expected-remark @below {{attention not raised: an additive mask is scaled after it is added}}
  %o = linalg.batch_matmul ins(%p, %v : tensor<8x16x16xf32>, tensor<8x16x32xf32>) outs(%of : tensor<8x16x32xf32>) -> tensor<8x16x32xf32>
  return %o : tensor<8x16x32xf32>
}

// -----

// The max over the queries, subtracted before the exp: a term that varies
// along the keys, computed from the scores.
func.func @max_over_queries(%q: tensor<8x16x32xf32>, %kt: tensor<8x32x16xf32>, %v: tensor<8x16x32xf32>) -> tensor<8x16x32xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %shift = "tosa.const"() <{values = dense<0> : tensor<1xi8>}> : () -> tensor<1xi8>
  %s = tosa.matmul %q, %kt, %zp, %zp : (tensor<8x16x32xf32>, tensor<8x32x16xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x16x16xf32>
  %mx = tosa.reduce_max %s {axis = 1 : i32} : (tensor<8x16x16xf32>) -> tensor<8x1x16xf32>
  %sub = tosa.sub %s, %mx : (tensor<8x16x16xf32>, tensor<8x1x16xf32>) -> tensor<8x16x16xf32>
  %e = tosa.exp %sub : (tensor<8x16x16xf32>) -> tensor<8x16x16xf32>
  %sum = tosa.reduce_sum %e {axis = 2 : i32} : (tensor<8x16x16xf32>) -> tensor<8x16x1xf32>
  %r = tosa.reciprocal %sum : (tensor<8x16x1xf32>) -> tensor<8x16x1xf32>
  %p = tosa.mul %e, %r, %shift : (tensor<8x16x16xf32>, tensor<8x16x1xf32>, tensor<1xi8>) -> tensor<8x16x16xf32>
  // expected-remark @below {{attention not raised: a term of the logits varies along the keys and depends on the scores}}
  %o = tosa.matmul %p, %v, %zp, %zp : (tensor<8x16x16xf32>, tensor<8x16x32xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<8x16x32xf32>
  return %o : tensor<8x16x32xf32>
}

// -----

// P·V scaled by a constant inside its contraction: attn.attention has no
// output scale.
func.func @output_scaled(%q: tensor<2x2x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  %es = tensor.empty() : tensor<2x2x8x8xf32>
  %fs = linalg.fill ins(%zero : f32) outs(%es : tensor<2x2x8x8xf32>) -> tensor<2x2x8x8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(b, h, i, j, d) -> (b, h, i, d)>, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, affine_map<(b, h, i, j, d) -> (b, h, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>) outs(%fs : tensor<2x2x8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x8xf32>
  %p = linalg.softmax dimension(3) ins(%s : tensor<2x2x8x8xf32>) outs(%es : tensor<2x2x8x8xf32>) -> tensor<2x2x8x8xf32>
  %eo = tensor.empty() : tensor<2x2x8x16xf32>
  %fo = linalg.fill ins(%zero : f32) outs(%eo : tensor<2x2x8x16xf32>) -> tensor<2x2x8x16xf32>
  // expected-remark @below {{attention not raised: P·V is scaled by a constant}}
  %o = linalg.generic {indexing_maps = [affine_map<(b, h, i, d, j) -> (b, h, i, j)>, affine_map<(b, h, i, d, j) -> (b, h, j, d)>, affine_map<(b, h, i, d, j) -> (b, h, i, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x2x8x8xf32>, tensor<2x2x8x16xf32>) outs(%fo : tensor<2x2x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %m2 = arith.mulf %m, %two : f32
    %r = arith.addf %acc, %m2 : f32
    linalg.yield %r : f32
  } -> tensor<2x2x8x16xf32>
  return %o : tensor<2x2x8x16xf32>
}

// -----

// Q in f16, K and V in bf16: no element type for attn.attention.
func.func @mixed_element_types(%q: tensor<4x16x32xf16>, %k: tensor<4x16x32xbf16>, %v: tensor<4x16x32xbf16>) -> tensor<4x16x32xf32> {
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<4x16x16xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q, %k : tensor<4x16x32xf16>, tensor<4x16x32xbf16>) outs(%sf : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<4x16x16xf32>) outs(%se : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %oe = tensor.empty() : tensor<4x16x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
  // expected-remark @below {{attention not raised: Q, K and V have no common element type among f16, bf16 and f32}}
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x16x16xf32>, tensor<4x16x32xbf16>) outs(%of : tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
  return %o : tensor<4x16x32xf32>
}

// -----

// A softmax alone and a chain of matmuls are not attention: no remark.
func.func @not_attention(%a: tensor<4x16x16xf32>, %b: tensor<4x16x16xf32>) -> (tensor<4x16x16xf32>, tensor<4x16x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %sm = linalg.softmax dimension(2) ins(%a : tensor<4x16x16xf32>) outs(%e : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %m1 = linalg.batch_matmul ins(%a, %b : tensor<4x16x16xf32>, tensor<4x16x16xf32>) outs(%f : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %m2 = linalg.batch_matmul ins(%m1, %b : tensor<4x16x16xf32>, tensor<4x16x16xf32>) outs(%f : tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  return %sm, %m2 : tensor<4x16x16xf32>, tensor<4x16x16xf32>
}
