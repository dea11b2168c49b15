// RUN: skipattn-opt %s --split-input-file --attn-raise | FileCheck %s
// The same inputs after upstream's generalization and elementwise fusion
// raise to the same attn.attention ops (attributes and types):
// RUN: skipattn-opt %s --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.plain
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops | skipattn-opt --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.generalized
// RUN: diff %t.plain %t.generalized
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.fused
// RUN: diff %t.plain %t.fused

// Contractions, scales and softmax forms of linalg, each raised to one
// attn.attention with the scale it carries.

// CHECK-LABEL: func.func @bmm_softmax
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x4x128x64xf32>, %[[K:[a-z0-9]+]]: tensor<2x4x128x64xf32>, %[[V:[a-z0-9]+]]: tensor<2x4x128x64xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 1.250000e-01 : f32} : tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32> -> tensor<2x4x128x64xf32>
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
func.func @bmm_softmax(%q: tensor<2x4x128x64xf32>, %k: tensor<2x4x128x64xf32>, %v: tensor<2x4x128x64xf32>) -> tensor<2x4x128x64xf32> {
    %cst0 = arith.constant 0.0 : f32
    %scale = arith.constant 0.125 : f32
    %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x4x128x64xf32> into tensor<8x128x64xf32>
    %k3 = tensor.collapse_shape %k [[0, 1], [2], [3]] : tensor<2x4x128x64xf32> into tensor<8x128x64xf32>
    %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<2x4x128x64xf32> into tensor<8x128x64xf32>
    %e0 = tensor.empty() : tensor<8x64x128xf32>
    %kt = linalg.transpose ins(%k3 : tensor<8x128x64xf32>) outs(%e0 : tensor<8x64x128xf32>) permutation = [0, 2, 1]
    %e1 = tensor.empty() : tensor<8x128x128xf32>
    %f1 = linalg.fill ins(%cst0 : f32) outs(%e1 : tensor<8x128x128xf32>) -> tensor<8x128x128xf32>
    %s = linalg.batch_matmul ins(%q3, %kt : tensor<8x128x64xf32>, tensor<8x64x128xf32>) outs(%f1 : tensor<8x128x128xf32>) -> tensor<8x128x128xf32>
    %ss = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>],
                          iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%s : tensor<8x128x128xf32>) outs(%e1 : tensor<8x128x128xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.mulf %in, %scale : f32
      linalg.yield %m : f32
    } -> tensor<8x128x128xf32>
    %p = linalg.softmax dimension(2) ins(%ss : tensor<8x128x128xf32>) outs(%e1 : tensor<8x128x128xf32>) -> tensor<8x128x128xf32>
    %e2 = tensor.empty() : tensor<8x128x64xf32>
    %f2 = linalg.fill ins(%cst0 : f32) outs(%e2 : tensor<8x128x64xf32>) -> tensor<8x128x64xf32>
    %o = linalg.batch_matmul ins(%p, %v3 : tensor<8x128x128xf32>, tensor<8x128x64xf32>) outs(%f2 : tensor<8x128x64xf32>) -> tensor<8x128x64xf32>
    %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [2, 4, 128, 64] : tensor<8x128x64xf32> into tensor<2x4x128x64xf32>
    return %o4 : tensor<2x4x128x64xf32>
}

// -----

// torch-mlir: transpose as a generic, scores expanded to 4-D, division by
// sqrt(D), and the max/sub/exp/sum/div softmax with keepdim reshapes.
// CHECK-LABEL: func.func @torch_mlir_softmax
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<1x12x197x64xf32>, %[[K:[a-z0-9]+]]: tensor<1x12x197x64xf32>, %[[V:[a-z0-9]+]]: tensor<1x12x197x64xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 1.250000e-01 : f32}
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#red4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#bc4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @torch_mlir_softmax(%q: tensor<1x12x197x64xf32>, %k: tensor<1x12x197x64xf32>, %v: tensor<1x12x197x64xf32>) -> tensor<1x12x197x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %sqrtd = arith.constant 8.0 : f32
  %kt0 = tensor.empty() : tensor<1x12x64x197xf32>
  %kt = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%k : tensor<1x12x197x64xf32>) outs(%kt0 : tensor<1x12x64x197xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<1x12x64x197xf32>
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x12x197x64xf32> into tensor<12x197x64xf32>
  %kt3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x12x64x197xf32> into tensor<12x64x197xf32>
  %se = tensor.empty() : tensor<12x197x197xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<12x197x197xf32>) -> tensor<12x197x197xf32>
  %s3 = linalg.batch_matmul ins(%q3, %kt3 : tensor<12x197x64xf32>, tensor<12x64x197xf32>) outs(%sf : tensor<12x197x197xf32>) -> tensor<12x197x197xf32>
  %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] output_shape [1, 12, 197, 197] : tensor<12x197x197xf32> into tensor<1x12x197x197xf32>
  %e4 = tensor.empty() : tensor<1x12x197x197xf32>
  %ss = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x12x197x197xf32>) outs(%e4 : tensor<1x12x197x197xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %sqrtd : f32
    linalg.yield %d : f32
  } -> tensor<1x12x197x197xf32>
  %me = tensor.empty() : tensor<1x12x197xf32>
  %mf = linalg.fill ins(%ninf : f32) outs(%me : tensor<1x12x197xf32>) -> tensor<1x12x197xf32>
  %max = linalg.generic {indexing_maps = [#id4, #red4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%ss : tensor<1x12x197x197xf32>) outs(%mf : tensor<1x12x197xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<1x12x197xf32>
  %maxk = tensor.expand_shape %max [[0], [1], [2, 3]] output_shape [1, 12, 197, 1] : tensor<1x12x197xf32> into tensor<1x12x197x1xf32>
  %sub = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ss, %maxk : tensor<1x12x197x197xf32>, tensor<1x12x197x1xf32>) outs(%e4 : tensor<1x12x197x197xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x12x197x197xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sub : tensor<1x12x197x197xf32>) outs(%e4 : tensor<1x12x197x197xf32>) {
  ^bb0(%a: f32, %out: f32):
    %d = math.exp %a : f32
    linalg.yield %d : f32
  } -> tensor<1x12x197x197xf32>
  %sf2 = linalg.fill ins(%zero : f32) outs(%me : tensor<1x12x197xf32>) -> tensor<1x12x197xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #red4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%exp : tensor<1x12x197x197xf32>) outs(%sf2 : tensor<1x12x197xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x12x197xf32>
  %sumk = tensor.expand_shape %sum [[0], [1], [2, 3]] output_shape [1, 12, 197, 1] : tensor<1x12x197xf32> into tensor<1x12x197x1xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%exp, %sumk : tensor<1x12x197x197xf32>, tensor<1x12x197x1xf32>) outs(%e4 : tensor<1x12x197x197xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x12x197x197xf32>
  %p3 = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x12x197x197xf32> into tensor<12x197x197xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x12x197x64xf32> into tensor<12x197x64xf32>
  %oe = tensor.empty() : tensor<12x197x64xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<12x197x64xf32>) -> tensor<12x197x64xf32>
  %o3 = linalg.batch_matmul ins(%p3, %v3 : tensor<12x197x197xf32>, tensor<12x197x64xf32>) outs(%of : tensor<12x197x64xf32>) -> tensor<12x197x64xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 12, 197, 64] : tensor<12x197x64xf32> into tensor<1x12x197x64xf32>
  return %o : tensor<1x12x197x64xf32>
}

// -----

// One head, 2-D: K^T as the transposed indexing map of linalg.matmul, the
// scale as a multiply by a splat tensor.
// CHECK-LABEL: func.func @matmul_transposed_map
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<77x32xf32>, %[[K:[a-z0-9]+]]: tensor<90x32xf32>, %[[V:[a-z0-9]+]]: tensor<90x48xf32>)
//   CHECK-DAG:   %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1, 2], [3]] output_shape [1, 1, 77, 32]
//   CHECK-DAG:   %[[K4:.*]] = tensor.expand_shape %[[K]] {{\[}}[0, 1, 2], [3]] output_shape [1, 1, 90, 32]
//   CHECK-DAG:   %[[V4:.*]] = tensor.expand_shape %[[V]] {{\[}}[0, 1, 2], [3]] output_shape [1, 1, 90, 48]
//       CHECK:   %[[O:.*]] = attn.attention %[[Q4]], %[[K4]], %[[V4]] {scale = 2.500000e-01 : f32} : tensor<1x1x77x32xf32>, tensor<1x1x90x32xf32>, tensor<1x1x90x48xf32> -> tensor<1x1x77x48xf32>
//       CHECK:   %[[O2:.*]] = tensor.collapse_shape %[[O]] {{\[}}[0, 1, 2], [3]] : tensor<1x1x77x48xf32> into tensor<77x48xf32>
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O2]]
func.func @matmul_transposed_map(%q: tensor<77x32xf32>, %k: tensor<90x32xf32>, %v: tensor<90x48xf32>) -> tensor<77x48xf32> {
  %zero = arith.constant 0.0 : f32
  %c = arith.constant dense<0.25> : tensor<77x90xf32>
  %e = tensor.empty() : tensor<77x90xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<77x90xf32>) -> tensor<77x90xf32>
  %s = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
       ins(%q, %k : tensor<77x32xf32>, tensor<90x32xf32>) outs(%f : tensor<77x90xf32>) -> tensor<77x90xf32>
  %ss = linalg.mul ins(%s, %c : tensor<77x90xf32>, tensor<77x90xf32>) outs(%e : tensor<77x90xf32>) -> tensor<77x90xf32>
  %p = linalg.softmax dimension(1) ins(%ss : tensor<77x90xf32>) outs(%e : tensor<77x90xf32>) -> tensor<77x90xf32>
  %oe = tensor.empty() : tensor<77x48xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<77x48xf32>) -> tensor<77x48xf32>
  %o = linalg.matmul ins(%p, %v : tensor<77x90xf32>, tensor<90x48xf32>) outs(%of : tensor<77x48xf32>) -> tensor<77x48xf32>
  return %o : tensor<77x48xf32>
}

// -----

// Generic contractions over 4-D operands (K^T in the indexing map), the
// scale on Q, exp(x - max) fused in one generic and the normalisation as a
// multiply by 1 / sum.
#qmap = affine_map<(b, h, i, j, d) -> (b, h, i, d)>
#kmap = affine_map<(b, h, i, j, d) -> (b, h, j, d)>
#smap = affine_map<(b, h, i, j, d) -> (b, h, i, j)>
#pmap = affine_map<(b, h, i, d, j) -> (b, h, i, j)>
#vmap = affine_map<(b, h, i, d, j) -> (b, h, j, d)>
#omap = affine_map<(b, h, i, d, j) -> (b, h, i, d)>
#id = affine_map<(b, h, i, j) -> (b, h, i, j)>
#row = affine_map<(b, h, i, j) -> (b, h, i)>
// CHECK-LABEL: func.func @generic_contractions
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x8x64x32xf16>, %[[K:[a-z0-9]+]]: tensor<2x8x80x32xf16>, %[[V:[a-z0-9]+]]: tensor<2x8x80x32xf16>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 0.176757813 : f32} : tensor<2x8x64x32xf16>, tensor<2x8x80x32xf16>, tensor<2x8x80x32xf16> -> tensor<2x8x64x32xf16>
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
func.func @generic_contractions(%q: tensor<2x8x64x32xf16>, %k: tensor<2x8x80x32xf16>, %v: tensor<2x8x80x32xf16>) -> tensor<2x8x64x32xf16> {
  %zero = arith.constant 0.0 : f16
  %ninf = arith.constant 0xFC00 : f16
  %c = arith.constant 0.176776695 : f16
  %one = arith.constant 1.0 : f16
  %qe = tensor.empty() : tensor<2x8x64x32xf16>
  %qs = linalg.generic {indexing_maps = [affine_map<(b, h, i, d) -> (b, h, i, d)>, affine_map<(b, h, i, d) -> (b, h, i, d)>],
                        iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%q : tensor<2x8x64x32xf16>) outs(%qe : tensor<2x8x64x32xf16>) {
  ^bb0(%a: f16, %o: f16):
    %m = arith.mulf %c, %a : f16
    linalg.yield %m : f16
  } -> tensor<2x8x64x32xf16>
  %se = tensor.empty() : tensor<2x8x64x80xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%se : tensor<2x8x64x80xf16>) -> tensor<2x8x64x80xf16>
  %s = linalg.generic {indexing_maps = [#qmap, #kmap, #smap],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%qs, %k : tensor<2x8x64x32xf16>, tensor<2x8x80x32xf16>) outs(%sf : tensor<2x8x64x80xf16>) {
  ^bb0(%a: f16, %b: f16, %acc: f16):
    %m = arith.mulf %a, %b : f16
    %r = arith.addf %acc, %m : f16
    linalg.yield %r : f16
  } -> tensor<2x8x64x80xf16>
  %re = tensor.empty() : tensor<2x8x64xf16>
  %mf = linalg.fill ins(%ninf : f16) outs(%re : tensor<2x8x64xf16>) -> tensor<2x8x64xf16>
  %max = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%s : tensor<2x8x64x80xf16>) outs(%mf : tensor<2x8x64xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %m = arith.maxnumf %a, %acc : f16
    linalg.yield %m : f16
  } -> tensor<2x8x64xf16>
  %e = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s, %max : tensor<2x8x64x80xf16>, tensor<2x8x64xf16>) outs(%se : tensor<2x8x64x80xf16>) {
  ^bb0(%a: f16, %m: f16, %o: f16):
    %d = arith.subf %a, %m : f16
    %x = math.exp %d : f16
    linalg.yield %x : f16
  } -> tensor<2x8x64x80xf16>
  %zf = linalg.fill ins(%zero : f16) outs(%re : tensor<2x8x64xf16>) -> tensor<2x8x64xf16>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%e : tensor<2x8x64x80xf16>) outs(%zf : tensor<2x8x64xf16>) {
  ^bb0(%a: f16, %acc: f16):
    %r = arith.addf %acc, %a : f16
    linalg.yield %r : f16
  } -> tensor<2x8x64xf16>
  %p = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%e, %sum : tensor<2x8x64x80xf16>, tensor<2x8x64xf16>) outs(%se : tensor<2x8x64x80xf16>) {
  ^bb0(%a: f16, %s0: f16, %o: f16):
    %r = arith.divf %one, %s0 : f16
    %x = arith.mulf %a, %r : f16
    linalg.yield %x : f16
  } -> tensor<2x8x64x80xf16>
  %oe = tensor.empty() : tensor<2x8x64x32xf16>
  %of = linalg.fill ins(%zero : f16) outs(%oe : tensor<2x8x64x32xf16>) -> tensor<2x8x64x32xf16>
  %o = linalg.generic {indexing_maps = [#pmap, #vmap, #omap],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<2x8x64x80xf16>, tensor<2x8x80x32xf16>) outs(%of : tensor<2x8x64x32xf16>) {
  ^bb0(%a: f16, %b: f16, %acc: f16):
    %m = arith.mulf %a, %b : f16
    %r = arith.addf %acc, %m : f16
    linalg.yield %r : f16
  } -> tensor<2x8x64x32xf16>
  return %o : tensor<2x8x64x32xf16>
}

// -----

// bf16 attention with the softmax in f32: extf before, truncf after.
// CHECK-LABEL: func.func @bf16_softmax_in_f32
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<4x100x64xbf16>, %[[K:[a-z0-9]+]]: tensor<4x100x64xbf16>, %[[V:[a-z0-9]+]]: tensor<4x100x64xbf16>)
//       CHECK:   %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1], [2], [3]] output_shape [1, 4, 100, 64]
//       CHECK:   %[[O:.*]] = attn.attention %[[Q4]], %{{.*}}, %{{.*}} {scale = 1.250000e-01 : f32} : tensor<1x4x100x64xbf16>, tensor<1x4x100x64xbf16>, tensor<1x4x100x64xbf16> -> tensor<1x4x100x64xbf16>
//       CHECK:   %[[O3:.*]] = tensor.collapse_shape %[[O]]
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O3]]
#id3 = affine_map<(b, i, j) -> (b, i, j)>
func.func @bf16_softmax_in_f32(%q: tensor<4x100x64xbf16>, %k: tensor<4x100x64xbf16>, %v: tensor<4x100x64xbf16>) -> tensor<4x100x64xbf16> {
  %zero = arith.constant 0.0 : bf16
  %c = arith.constant 0.125 : bf16
  %ke = tensor.empty() : tensor<4x64x100xbf16>
  %kt = linalg.transpose ins(%k : tensor<4x100x64xbf16>) outs(%ke : tensor<4x64x100xbf16>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<4x100x100xbf16>
  %sf = linalg.fill ins(%zero : bf16) outs(%se : tensor<4x100x100xbf16>) -> tensor<4x100x100xbf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<4x100x64xbf16>, tensor<4x64x100xbf16>) outs(%sf : tensor<4x100x100xbf16>) -> tensor<4x100x100xbf16>
  %fe = tensor.empty() : tensor<4x100x100xf32>
  %s32 = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<4x100x100xbf16>) outs(%fe : tensor<4x100x100xf32>) {
  ^bb0(%a: bf16, %o: f32):
    %m = arith.mulf %a, %c : bf16
    %x = arith.extf %m : bf16 to f32
    linalg.yield %x : f32
  } -> tensor<4x100x100xf32>
  %p32 = linalg.softmax dimension(2) ins(%s32 : tensor<4x100x100xf32>) outs(%fe : tensor<4x100x100xf32>) -> tensor<4x100x100xf32>
  %p = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%p32 : tensor<4x100x100xf32>) outs(%se : tensor<4x100x100xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %x = arith.truncf %a : f32 to bf16
    linalg.yield %x : bf16
  } -> tensor<4x100x100xbf16>
  %oe = tensor.empty() : tensor<4x100x64xbf16>
  %of = linalg.fill ins(%zero : bf16) outs(%oe : tensor<4x100x64xbf16>) -> tensor<4x100x64xbf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<4x100x100xbf16>, tensor<4x100x64xbf16>) outs(%of : tensor<4x100x64xbf16>) -> tensor<4x100x64xbf16>
  return %o : tensor<4x100x64xbf16>
}

// -----

// Named ops throughout: linalg.reduce for the max and the sum,
// linalg.broadcast, linalg.sub, linalg.exp and linalg.div; the scale split
// between Q and K (d^-1/4 each).
// CHECK-LABEL: func.func @named_ops_scale_on_q_and_k
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<1x2x16x16xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x16x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x16x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 2.500000e-01 : f32}
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
func.func @named_ops_scale_on_q_and_k(%q: tensor<1x2x16x16xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x16xf32>) -> tensor<1x2x16x16xf32> {
  %zero = arith.constant 0.0 : f32
  %lowest = arith.constant -3.40282347E+38 : f32
  %half = arith.constant dense<0.5> : tensor<1x2x16x16xf32>
  %e4 = tensor.empty() : tensor<1x2x16x16xf32>
  %qs = linalg.mul ins(%q, %half : tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) outs(%e4 : tensor<1x2x16x16xf32>) -> tensor<1x2x16x16xf32>
  %ks = linalg.mul ins(%k, %half : tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) outs(%e4 : tensor<1x2x16x16xf32>) -> tensor<1x2x16x16xf32>
  %kt = linalg.transpose ins(%ks : tensor<1x2x16x16xf32>) outs(%e4 : tensor<1x2x16x16xf32>) permutation = [0, 1, 3, 2]
  %q3 = tensor.collapse_shape %qs [[0, 1], [2], [3]] : tensor<1x2x16x16xf32> into tensor<2x16x16xf32>
  %kt3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x2x16x16xf32> into tensor<2x16x16xf32>
  %e3 = tensor.empty() : tensor<2x16x16xf32>
  %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %s = linalg.batch_matmul ins(%q3, %kt3 : tensor<2x16x16xf32>, tensor<2x16x16xf32>) outs(%f3 : tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %r = tensor.empty() : tensor<2x16xf32>
  %mf = linalg.fill ins(%lowest : f32) outs(%r : tensor<2x16xf32>) -> tensor<2x16xf32>
  %max = linalg.reduce ins(%s : tensor<2x16x16xf32>) outs(%mf : tensor<2x16xf32>) dimensions = [2]
    (%a: f32, %acc: f32) {
      %gt = arith.cmpf ogt, %a, %acc : f32
      %m = arith.select %gt, %a, %acc : f32
      linalg.yield %m : f32
    }
  %maxb = linalg.broadcast ins(%max : tensor<2x16xf32>) outs(%e3 : tensor<2x16x16xf32>) dimensions = [2]
  %d = linalg.sub ins(%s, %maxb : tensor<2x16x16xf32>, tensor<2x16x16xf32>) outs(%e3 : tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %x = linalg.exp ins(%d : tensor<2x16x16xf32>) outs(%e3 : tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%r : tensor<2x16xf32>) -> tensor<2x16xf32>
  %sum = linalg.reduce ins(%x : tensor<2x16x16xf32>) outs(%sf : tensor<2x16xf32>) dimensions = [2]
    (%a: f32, %acc: f32) {
      %t = arith.addf %a, %acc : f32
      linalg.yield %t : f32
    }
  %sumb = linalg.broadcast ins(%sum : tensor<2x16xf32>) outs(%e3 : tensor<2x16x16xf32>) dimensions = [2]
  %p = linalg.div ins(%x, %sumb : tensor<2x16x16xf32>, tensor<2x16x16xf32>) outs(%e3 : tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x16x16xf32> into tensor<2x16x16xf32>
  %o = linalg.batch_matmul ins(%p, %v3 : tensor<2x16x16xf32>, tensor<2x16x16xf32>) outs(%f3 : tensor<2x16x16xf32>) -> tensor<2x16x16xf32>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 2, 16, 16] : tensor<2x16x16xf32> into tensor<1x2x16x16xf32>
  return %o4 : tensor<1x2x16x16xf32>
}
