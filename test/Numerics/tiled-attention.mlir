// The tiles TilingInterface makes compute what the whole attention does:
// a causal GQA attention with more queries than keys (its first 16 rows
// see no key and are zero) is run whole and tiled by batch, query heads,
// queries and value columns (transform.structured.tile_using_forall), both
// through attn-tile and the CPU pipeline, on the same inputs.
// RUN: skipattn-opt %s --transform-preload-library="transform-library-paths=%S/Inputs/tile-heads-queries-columns.mlir" --transform-interpreter --attn-tile="block-m=16 block-n=16" --attn-lower-to-cpu | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils | FileCheck %s

// The tiled result equals the whole one (max |difference| < 1e-5), which is
// not zero (sum |o| > 1).
// CHECK: equal 1
// CHECK: nonzero 1

func.func @attention_whole(%q: tensor<2x4x96x32xf32>, %k: tensor<2x2x80x32xf32>,
                           %v: tensor<2x2x80x32xf32>) -> tensor<2x4x96x32xf32> {
  %e = tensor.empty() : tensor<2x4x96x32xf32>
  %o = attn.attention %q, %k, %v {causal} : tensor<2x4x96x32xf32>, tensor<2x2x80x32xf32>, tensor<2x2x80x32xf32> -> tensor<2x4x96x32xf32> outs(%e)
  return %o : tensor<2x4x96x32xf32>
}

func.func @attention_tiled(%q: tensor<2x4x96x32xf32>, %k: tensor<2x2x80x32xf32>,
                           %v: tensor<2x2x80x32xf32>) -> tensor<2x4x96x32xf32> {
  %e = tensor.empty() : tensor<2x4x96x32xf32>
  %o = attn.attention %q, %k, %v {causal} : tensor<2x4x96x32xf32>, tensor<2x2x80x32xf32>, tensor<2x2x80x32xf32> -> tensor<2x4x96x32xf32> outs(%e)
  return %o : tensor<2x4x96x32xf32>
}

// A deterministic input: sin of a different linear form of the indices.
func.func @input(%seed: f32) -> tensor<2x4x96x32xf32> {
  %t = tensor.generate {
  ^bb0(%b: index, %h: index, %s: index, %d: index):
    %c = arith.constant 1.7 : f32
    %i0 = arith.index_cast %b : index to i32
    %i1 = arith.index_cast %h : index to i32
    %i2 = arith.index_cast %s : index to i32
    %i3 = arith.index_cast %d : index to i32
    %f0 = arith.sitofp %i0 : i32 to f32
    %f1 = arith.sitofp %i1 : i32 to f32
    %f2 = arith.sitofp %i2 : i32 to f32
    %f3 = arith.sitofp %i3 : i32 to f32
    %a0 = arith.mulf %f0, %seed : f32
    %a1 = arith.mulf %f1, %c : f32
    %a2 = arith.mulf %f2, %seed : f32
    %a3 = arith.mulf %f3, %c : f32
    %s01 = arith.addf %a0, %a1 : f32
    %s23 = arith.addf %a2, %a3 : f32
    %x = arith.addf %s01, %s23 : f32
    %y = math.sin %x : f32
    %z = arith.mulf %y, %c : f32
    tensor.yield %z : f32
  } : tensor<2x4x96x32xf32>
  return %t : tensor<2x4x96x32xf32>
}

func.func @main() {
  %s1 = arith.constant 0.37 : f32
  %s2 = arith.constant 0.59 : f32
  %s3 = arith.constant 0.83 : f32
  %q = call @input(%s1) : (f32) -> tensor<2x4x96x32xf32>
  %k4 = call @input(%s2) : (f32) -> tensor<2x4x96x32xf32>
  %v4 = call @input(%s3) : (f32) -> tensor<2x4x96x32xf32>
  %k = tensor.extract_slice %k4[0, 0, 0, 0] [2, 2, 80, 32] [1, 1, 1, 1] : tensor<2x4x96x32xf32> to tensor<2x2x80x32xf32>
  %v = tensor.extract_slice %v4[0, 1, 3, 0] [2, 2, 80, 32] [1, 1, 1, 1] : tensor<2x4x96x32xf32> to tensor<2x2x80x32xf32>
  %whole = call @attention_whole(%q, %k, %v) : (tensor<2x4x96x32xf32>, tensor<2x2x80x32xf32>, tensor<2x2x80x32xf32>) -> tensor<2x4x96x32xf32>
  %tiled = call @attention_tiled(%q, %k, %v) : (tensor<2x4x96x32xf32>, tensor<2x2x80x32xf32>, tensor<2x2x80x32xf32>) -> tensor<2x4x96x32xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %stats:2 = linalg.generic {
      indexing_maps = [affine_map<(b, h, s, d) -> (b, h, s, d)>,
                       affine_map<(b, h, s, d) -> (b, h, s, d)>,
                       affine_map<(b, h, s, d) -> ()>,
                       affine_map<(b, h, s, d) -> ()>],
      iterator_types = ["reduction", "reduction", "reduction", "reduction"]}
      ins(%whole, %tiled : tensor<2x4x96x32xf32>, tensor<2x4x96x32xf32>)
      outs(%acc, %acc : tensor<f32>, tensor<f32>) {
  ^bb0(%w: f32, %t: f32, %maxdiff: f32, %sum: f32):
    %d = arith.subf %w, %t : f32
    %ad = math.absf %d : f32
    %m = arith.maximumf %maxdiff, %ad : f32
    %aw = math.absf %w : f32
    %s = arith.addf %sum, %aw : f32
    linalg.yield %m, %s : f32, f32
  } -> (tensor<f32>, tensor<f32>)
  %maxdiff = tensor.extract %stats#0[] : tensor<f32>
  %sum = tensor.extract %stats#1[] : tensor<f32>
  %tol = arith.constant 1.0e-5 : f32
  %one = arith.constant 1.0 : f32
  %equal = arith.cmpf olt, %maxdiff, %tol : f32
  %nonzero = arith.cmpf ogt, %sum, %one : f32
  %equal32 = arith.extui %equal : i1 to i32
  %nonzero32 = arith.extui %nonzero : i1 to i32
  vector.print str "equal "
  vector.print %equal32 : i32
  vector.print str "nonzero "
  vector.print %nonzero32 : i32
  return
}
