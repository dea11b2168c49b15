// RUN: skipattn-opt %s --split-input-file --attn-raise | FileCheck %s
// The same inputs after upstream's generalization and elementwise fusion
// raise to the same attn.attention ops (attributes and types):
// RUN: skipattn-opt %s --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.plain
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops | skipattn-opt --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.generalized
// RUN: diff %t.plain %t.generalized
// RUN: mlir-opt %s --split-input-file --linalg-generalize-named-ops --linalg-fuse-elementwise-ops --canonicalize --cse | skipattn-opt --split-input-file --attn-raise | grep -o "attn.attention.*" | sed -e "s/%[a-z0-9_]*//g" > %t.fused
// RUN: diff %t.plain %t.fused

// Layouts: [B, S, H, D] behind transposes, [B*H, S, D] arguments, GQA
// broadcasts and dynamic extents.

// [B, S, H, D] inputs transposed to [B, H, S, D] and the result transposed
// back: the raise keeps transposes around attn.attention.
// CHECK-LABEL: func.func @bshd_layout
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x64x4x32xf32>, %[[K:[a-z0-9]+]]: tensor<2x64x4x32xf32>, %[[V:[a-z0-9]+]]: tensor<2x64x4x32xf32>)
//   CHECK-DAG:   %[[QT:.*]] = linalg.transpose ins(%[[Q]] : tensor<2x64x4x32xf32>) {{.*}} permutation = [0, 2, 1, 3]
//   CHECK-DAG:   %[[KT:.*]] = linalg.transpose ins(%[[K]] : tensor<2x64x4x32xf32>) {{.*}} permutation = [0, 2, 1, 3]
//   CHECK-DAG:   %[[VT:.*]] = linalg.transpose ins(%[[V]] : tensor<2x64x4x32xf32>) {{.*}} permutation = [0, 2, 1, 3]
//       CHECK:   %[[O:.*]] = attn.attention %[[QT]], %[[KT]], %[[VT]] {scale = 0.176776692 : f32} : tensor<2x4x64x32xf32>, tensor<2x4x64x32xf32>, tensor<2x4x64x32xf32> -> tensor<2x4x64x32xf32>
//       CHECK:   %[[OT:.*]] = linalg.transpose ins(%[[O]] : tensor<2x4x64x32xf32>) {{.*}} permutation = [0, 2, 1, 3]
//       CHECK:   return %[[OT]]
func.func @bshd_layout(%q: tensor<2x64x4x32xf32>, %k: tensor<2x64x4x32xf32>, %v: tensor<2x64x4x32xf32>) -> tensor<2x64x4x32xf32> {
  %zero = arith.constant 0.0 : f32
  %c = arith.constant 0.176776695 : f32
  %e = tensor.empty() : tensor<2x4x64x32xf32>
  %qt = linalg.transpose ins(%q : tensor<2x64x4x32xf32>) outs(%e : tensor<2x4x64x32xf32>) permutation = [0, 2, 1, 3]
  %kt0 = tensor.empty() : tensor<2x4x32x64xf32>
  %kt = linalg.transpose ins(%k : tensor<2x64x4x32xf32>) outs(%kt0 : tensor<2x4x32x64xf32>) permutation = [0, 2, 3, 1]
  %vt = linalg.transpose ins(%v : tensor<2x64x4x32xf32>) outs(%e : tensor<2x4x64x32xf32>) permutation = [0, 2, 1, 3]
  %q3 = tensor.collapse_shape %qt [[0, 1], [2], [3]] : tensor<2x4x64x32xf32> into tensor<8x64x32xf32>
  %k3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<2x4x32x64xf32> into tensor<8x32x64xf32>
  %v3 = tensor.collapse_shape %vt [[0, 1], [2], [3]] : tensor<2x4x64x32xf32> into tensor<8x64x32xf32>
  %se = tensor.empty() : tensor<8x64x64xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %s = linalg.batch_matmul ins(%q3, %k3 : tensor<8x64x32xf32>, tensor<8x32x64xf32>) outs(%sf : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %ss = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<8x64x64xf32>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<8x64x64xf32>) outs(%se : tensor<8x64x64xf32>) -> tensor<8x64x64xf32>
  %oe = tensor.empty() : tensor<8x64x32xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<8x64x64xf32>, tensor<8x64x32xf32>) outs(%of : tensor<8x64x32xf32>) -> tensor<8x64x32xf32>
  %o4 = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 4, 64, 32] : tensor<8x64x32xf32> into tensor<2x4x64x32xf32>
  %ob = tensor.empty() : tensor<2x64x4x32xf32>
  %o = linalg.transpose ins(%o4 : tensor<2x4x64x32xf32>) outs(%ob : tensor<2x64x4x32xf32>) permutation = [0, 2, 1, 3]
  return %o : tensor<2x64x4x32xf32>
}

// -----

// GQA as Hugging Face's repeat_kv: K and V [B, Hkv, S, D] expanded to
// [B, Hkv, 1, S, D], broadcast to [B, Hkv, G, S, D] and collapsed to
// [B, Hq, S, D]. The raise keeps the 8 key/value heads.
#bcast = affine_map<(b, h, g, s, d) -> (b, h, 0, s, d)>
#id5 = affine_map<(b, h, g, s, d) -> (b, h, g, s, d)>
// CHECK-LABEL: func.func @gqa_repeat_kv
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<1x32x128x64xbf16>, %[[K:[a-z0-9]+]]: tensor<1x8x128x64xbf16>, %[[V:[a-z0-9]+]]: tensor<1x8x128x64xbf16>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 1.250000e-01 : f32} : tensor<1x32x128x64xbf16>, tensor<1x8x128x64xbf16>, tensor<1x8x128x64xbf16> -> tensor<1x32x128x64xbf16>
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
func.func @gqa_repeat_kv(%q: tensor<1x32x128x64xbf16>, %k: tensor<1x8x128x64xbf16>, %v: tensor<1x8x128x64xbf16>) -> tensor<1x32x128x64xbf16> {
  %zero = arith.constant 0.0 : bf16
  %c = arith.constant 0.125 : bf16
  %k5 = tensor.expand_shape %k [[0], [1, 2], [3], [4]] output_shape [1, 8, 1, 128, 64] : tensor<1x8x128x64xbf16> into tensor<1x8x1x128x64xbf16>
  %v5 = tensor.expand_shape %v [[0], [1, 2], [3], [4]] output_shape [1, 8, 1, 128, 64] : tensor<1x8x128x64xbf16> into tensor<1x8x1x128x64xbf16>
  %e5 = tensor.empty() : tensor<1x8x4x128x64xbf16>
  %kb = linalg.generic {indexing_maps = [#bcast, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%k5 : tensor<1x8x1x128x64xbf16>) outs(%e5 : tensor<1x8x4x128x64xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    linalg.yield %a : bf16
  } -> tensor<1x8x4x128x64xbf16>
  %vb = linalg.generic {indexing_maps = [#bcast, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]}
      ins(%v5 : tensor<1x8x1x128x64xbf16>) outs(%e5 : tensor<1x8x4x128x64xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    linalg.yield %a : bf16
  } -> tensor<1x8x4x128x64xbf16>
  %kr = tensor.collapse_shape %kb [[0], [1, 2], [3], [4]] : tensor<1x8x4x128x64xbf16> into tensor<1x32x128x64xbf16>
  %vr = tensor.collapse_shape %vb [[0], [1, 2], [3], [4]] : tensor<1x8x4x128x64xbf16> into tensor<1x32x128x64xbf16>
  %se = tensor.empty() : tensor<1x32x128x128xbf16>
  %sf = linalg.fill ins(%zero : bf16) outs(%se : tensor<1x32x128x128xbf16>) -> tensor<1x32x128x128xbf16>
  %s = linalg.generic {indexing_maps = [affine_map<(b, h, i, j, d) -> (b, h, i, d)>, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, affine_map<(b, h, i, j, d) -> (b, h, i, j)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kr : tensor<1x32x128x64xbf16>, tensor<1x32x128x64xbf16>) outs(%sf : tensor<1x32x128x128xbf16>) {
  ^bb0(%a: bf16, %b: bf16, %acc: bf16):
    %m = arith.mulf %a, %b : bf16
    %r = arith.addf %acc, %m : bf16
    linalg.yield %r : bf16
  } -> tensor<1x32x128x128xbf16>
  %ss = linalg.generic {indexing_maps = [affine_map<(b, h, i, j) -> (b, h, i, j)>, affine_map<(b, h, i, j) -> (b, h, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x32x128x128xbf16>) outs(%se : tensor<1x32x128x128xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    %m = arith.mulf %a, %c : bf16
    linalg.yield %m : bf16
  } -> tensor<1x32x128x128xbf16>
  %p = linalg.softmax dimension(3) ins(%ss : tensor<1x32x128x128xbf16>) outs(%se : tensor<1x32x128x128xbf16>) -> tensor<1x32x128x128xbf16>
  %oe = tensor.empty() : tensor<1x32x128x64xbf16>
  %of = linalg.fill ins(%zero : bf16) outs(%oe : tensor<1x32x128x64xbf16>) -> tensor<1x32x128x64xbf16>
  %o = linalg.generic {indexing_maps = [affine_map<(b, h, i, d, j) -> (b, h, i, j)>, affine_map<(b, h, i, d, j) -> (b, h, j, d)>, affine_map<(b, h, i, d, j) -> (b, h, i, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %vr : tensor<1x32x128x128xbf16>, tensor<1x32x128x64xbf16>) outs(%of : tensor<1x32x128x64xbf16>) {
  ^bb0(%a: bf16, %b: bf16, %acc: bf16):
    %m = arith.mulf %a, %b : bf16
    %r = arith.addf %acc, %m : bf16
    linalg.yield %r : bf16
  } -> tensor<1x32x128x64xbf16>
  return %o : tensor<1x32x128x64xbf16>
}

// -----

// GQA with linalg.broadcast into [B, Hkv, G, S, D] and batch and heads fused
// into the batch of linalg.batch_matmul.
// CHECK-LABEL: func.func @gqa_broadcast_fused_batch
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<2x6x50x32xf32>, %[[K:[a-z0-9]+]]: tensor<2x2x70x32xf32>, %[[V:[a-z0-9]+]]: tensor<2x2x70x16xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 1.000000e+00 : f32} : tensor<2x6x50x32xf32>, tensor<2x2x70x32xf32>, tensor<2x2x70x16xf32> -> tensor<2x6x50x16xf32>
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
func.func @gqa_broadcast_fused_batch(%q: tensor<2x6x50x32xf32>, %k: tensor<2x2x70x32xf32>, %v: tensor<2x2x70x16xf32>) -> tensor<2x6x50x16xf32> {
  %zero = arith.constant 0.0 : f32
  %ke = tensor.empty() : tensor<2x2x3x70x32xf32>
  %kb = linalg.broadcast ins(%k : tensor<2x2x70x32xf32>) outs(%ke : tensor<2x2x3x70x32xf32>) dimensions = [2]
  %ve = tensor.empty() : tensor<2x2x3x70x16xf32>
  %vb = linalg.broadcast ins(%v : tensor<2x2x70x16xf32>) outs(%ve : tensor<2x2x3x70x16xf32>) dimensions = [2]
  %k3 = tensor.collapse_shape %kb [[0, 1, 2], [3], [4]] : tensor<2x2x3x70x32xf32> into tensor<12x70x32xf32>
  %v3 = tensor.collapse_shape %vb [[0, 1, 2], [3], [4]] : tensor<2x2x3x70x16xf32> into tensor<12x70x16xf32>
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<2x6x50x32xf32> into tensor<12x50x32xf32>
  %se = tensor.empty() : tensor<12x50x70xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<12x50x70xf32>) -> tensor<12x50x70xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%q3, %k3 : tensor<12x50x32xf32>, tensor<12x70x32xf32>) outs(%sf : tensor<12x50x70xf32>) -> tensor<12x50x70xf32>
  %p = linalg.softmax dimension(2) ins(%s : tensor<12x50x70xf32>) outs(%se : tensor<12x50x70xf32>) -> tensor<12x50x70xf32>
  %oe = tensor.empty() : tensor<12x50x16xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<12x50x16xf32>) -> tensor<12x50x16xf32>
  %o3 = linalg.batch_matmul ins(%p, %v3 : tensor<12x50x70xf32>, tensor<12x70x16xf32>) outs(%of : tensor<12x50x16xf32>) -> tensor<12x50x16xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [2, 6, 50, 16] : tensor<12x50x16xf32> into tensor<2x6x50x16xf32>
  return %o : tensor<2x6x50x16xf32>
}

// -----

// 3-D arguments [B*H, S, D] with nothing to say how B*H splits: one batch of
// 12 heads.
// CHECK-LABEL: func.func @fused_batch_arguments
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<12x33x64xf16>, %[[K:[a-z0-9]+]]: tensor<12x33x64xf16>, %[[V:[a-z0-9]+]]: tensor<12x33x64xf16>)
//       CHECK:   %[[Q4:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0, 1], [2], [3]] output_shape [1, 12, 33, 64]
//       CHECK:   %[[K4:.*]] = tensor.expand_shape %[[K]] {{\[}}[0, 1], [2], [3]] output_shape [1, 12, 33, 64]
//       CHECK:   %[[V4:.*]] = tensor.expand_shape %[[V]] {{\[}}[0, 1], [2], [3]] output_shape [1, 12, 33, 64]
//       CHECK:   %[[O:.*]] = attn.attention %[[Q4]], %[[K4]], %[[V4]] {scale = 1.250000e-01 : f32} : tensor<1x12x33x64xf16>, tensor<1x12x33x64xf16>, tensor<1x12x33x64xf16> -> tensor<1x12x33x64xf16>
//       CHECK:   %[[O3:.*]] = tensor.collapse_shape %[[O]] {{\[}}[0, 1], [2], [3]] : tensor<1x12x33x64xf16> into tensor<12x33x64xf16>
//       CHECK:   return %[[O3]]
func.func @fused_batch_arguments(%q: tensor<12x33x64xf16>, %k: tensor<12x33x64xf16>, %v: tensor<12x33x64xf16>) -> tensor<12x33x64xf16> {
  %zero = arith.constant 0.0 : f16
  %c = arith.constant 8.0 : f16
  %kte = tensor.empty() : tensor<12x64x33xf16>
  %kt = linalg.transpose ins(%k : tensor<12x33x64xf16>) outs(%kte : tensor<12x64x33xf16>) permutation = [0, 2, 1]
  %se = tensor.empty() : tensor<12x33x33xf16>
  %sf = linalg.fill ins(%zero : f16) outs(%se : tensor<12x33x33xf16>) -> tensor<12x33x33xf16>
  %s = linalg.batch_matmul ins(%q, %kt : tensor<12x33x64xf16>, tensor<12x64x33xf16>) outs(%sf : tensor<12x33x33xf16>) -> tensor<12x33x33xf16>
  %ss = linalg.div ins(%s, %c : tensor<12x33x33xf16>, f16) outs(%se : tensor<12x33x33xf16>) -> tensor<12x33x33xf16>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<12x33x33xf16>) outs(%se : tensor<12x33x33xf16>) -> tensor<12x33x33xf16>
  %oe = tensor.empty() : tensor<12x33x64xf16>
  %of = linalg.fill ins(%zero : f16) outs(%oe : tensor<12x33x64xf16>) -> tensor<12x33x64xf16>
  %o = linalg.batch_matmul ins(%p, %v : tensor<12x33x33xf16>, tensor<12x33x64xf16>) outs(%of : tensor<12x33x64xf16>) -> tensor<12x33x64xf16>
  return %o : tensor<12x33x64xf16>
}

// -----

// Dynamic batch and sequence lengths, with the tensors built from tensor.dim
// the way torch-mlir emits them.
// CHECK-LABEL: func.func @dynamic_batch_and_lengths
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<?x8x?x64xf32>, %[[K:[a-z0-9]+]]: tensor<?x8x?x64xf32>, %[[V:[a-z0-9]+]]: tensor<?x8x?x64xf32>)
//       CHECK:   %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] {scale = 1.250000e-01 : f32} : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32> -> tensor<?x8x?x64xf32>
//   CHECK-NOT:   linalg
//       CHECK:   return %[[O]]
func.func @dynamic_batch_and_lengths(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>, %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %zero = arith.constant 0.0 : f32
  %c = arith.constant 0.125 : f32
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x8x?x64xf32>
  %sq = tensor.dim %q, %c2 : tensor<?x8x?x64xf32>
  %skv = tensor.dim %k, %c2 : tensor<?x8x?x64xf32>
  %se = tensor.empty(%b, %sq, %skv) : tensor<?x8x?x?xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(b, h, i, j, d) -> (b, h, i, d)>, affine_map<(b, h, i, j, d) -> (b, h, j, d)>, affine_map<(b, h, i, j, d) -> (b, h, i, j)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>) outs(%sf : tensor<?x8x?x?xf32>) {
  ^bb0(%a: f32, %bb: f32, %acc: f32):
    %m = arith.mulf %a, %bb : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x8x?x?xf32>
  %ss = linalg.generic {indexing_maps = [affine_map<(b, h, i, j) -> (b, h, i, j)>, affine_map<(b, h, i, j) -> (b, h, i, j)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<?x8x?x?xf32>) outs(%se : tensor<?x8x?x?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<?x8x?x?xf32>
  %p = linalg.softmax dimension(3) ins(%ss : tensor<?x8x?x?xf32>) outs(%se : tensor<?x8x?x?xf32>) -> tensor<?x8x?x?xf32>
  %oe = tensor.empty(%b, %sq) : tensor<?x8x?x64xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32>
  %o = linalg.generic {indexing_maps = [affine_map<(b, h, i, d, j) -> (b, h, i, j)>, affine_map<(b, h, i, d, j) -> (b, h, j, d)>, affine_map<(b, h, i, d, j) -> (b, h, i, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%p, %v : tensor<?x8x?x?xf32>, tensor<?x8x?x64xf32>) outs(%of : tensor<?x8x?x64xf32>) {
  ^bb0(%a: f32, %bb: f32, %acc: f32):
    %m = arith.mulf %a, %bb : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<?x8x?x64xf32>
  return %o : tensor<?x8x?x64xf32>
}

// -----

// Dynamic [B*H, S, D] batch_matmuls on dynamic 4-D inputs; the causal mask
// compares indices of a square score tensor whose extents are one SSA
// value, so Sq == Skv is known.
// CHECK-LABEL: func.func @dynamic_self_attention_causal
//       CHECK:   attn.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 1.250000e-01 : f32} : tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32> -> tensor<?x4x?x64xf32>
//   CHECK-NOT:   linalg
func.func @dynamic_self_attention_causal(%x: tensor<?x4x?x64xf32>) -> tensor<?x4x?x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %c = arith.constant 0.125 : f32
  %c0 = arith.constant 0 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %x, %c0 : tensor<?x4x?x64xf32>
  %n = tensor.dim %x, %c2 : tensor<?x4x?x64xf32>
  %x3 = tensor.collapse_shape %x [[0, 1], [2], [3]] : tensor<?x4x?x64xf32> into tensor<?x?x64xf32>
  %bh = tensor.dim %x3, %c0 : tensor<?x?x64xf32>
  %se = tensor.empty(%bh, %n, %n) : tensor<?x?x?xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %s = linalg.batch_matmul indexing_maps = [affine_map<(b, i, j, d) -> (b, i, d)>, affine_map<(b, i, j, d) -> (b, j, d)>, affine_map<(b, i, j, d) -> (b, i, j)>]
       ins(%x3, %x3 : tensor<?x?x64xf32>, tensor<?x?x64xf32>) outs(%sf : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %m = linalg.generic {indexing_maps = [affine_map<(b, i, j) -> (b, i, j)>, affine_map<(b, i, j) -> (b, i, j)>], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%s : tensor<?x?x?xf32>) outs(%se : tensor<?x?x?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %keep = arith.cmpi sle, %j, %i : index
    %sc = arith.mulf %a, %c : f32
    %r = arith.select %keep, %sc, %ninf : f32
    linalg.yield %r : f32
  } -> tensor<?x?x?xf32>
  %p = linalg.softmax dimension(2) ins(%m : tensor<?x?x?xf32>) outs(%se : tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  %oe = tensor.empty(%bh, %n) : tensor<?x?x64xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %o3 = linalg.batch_matmul ins(%p, %x3 : tensor<?x?x?xf32>, tensor<?x?x64xf32>) outs(%of : tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [%b, 4, %n, 64] : tensor<?x?x64xf32> into tensor<?x4x?x64xf32>
  return %o : tensor<?x4x?x64xf32>
}
