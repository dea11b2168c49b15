// RUN: skipattn-opt %s --split-input-file --verify-diagnostics

func.func @query_rank(%q: tensor<4x128x64xf16>, %k: tensor<1x4x128x64xf16>,
                      %v: tensor<1x4x128x64xf16>) -> tensor<1x4x128x64xf16> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf16>
  // expected-error @+1 {{query must have rank 4 ([B, H, S, D]), got rank 3}}
  %0 = attn.attention %q, %k, %v : tensor<4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16> -> tensor<1x4x128x64xf16> outs(%init_0)
  return %0 : tensor<1x4x128x64xf16>
}

// -----

func.func @value_rank(%q: tensor<1x4x128x64xf16>, %k: tensor<1x4x128x64xf16>,
                      %v: tensor<1x1x4x128x64xf16>) -> tensor<1x4x128x64xf16> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf16>
  // expected-error @+1 {{value must have rank 4 ([B, H, S, D]), got rank 5}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x1x4x128x64xf16> -> tensor<1x4x128x64xf16> outs(%init_0)
  return %0 : tensor<1x4x128x64xf16>
}

// -----

func.func @unsupported_element_type(%q: tensor<1x4x128x64xi32>, %k: tensor<1x4x128x64xi32>,
                                    %v: tensor<1x4x128x64xi32>) -> tensor<1x4x128x64xi32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xi32>
  // expected-error @+1 {{query element type must be f16, bf16 or f32, got 'i32'}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xi32>, tensor<1x4x128x64xi32>, tensor<1x4x128x64xi32> -> tensor<1x4x128x64xi32> outs(%init_0)
  return %0 : tensor<1x4x128x64xi32>
}

// -----

func.func @mixed_element_types(%q: tensor<1x4x128x64xf16>, %k: tensor<1x4x128x64xbf16>,
                               %v: tensor<1x4x128x64xf16>) -> tensor<1x4x128x64xf16> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf16>
  // expected-error @+1 {{key element type ('bf16') must match query element type ('f16')}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xf16> -> tensor<1x4x128x64xf16> outs(%init_0)
  return %0 : tensor<1x4x128x64xf16>
}

// -----

func.func @batch_mismatch(%q: tensor<1x4x128x64xf32>, %k: tensor<2x4x128x64xf32>,
                          %v: tensor<2x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{key batch size (2) must match query batch size (1)}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xf32>, tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @dynamic_heads(%q: tensor<1x?x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                         %v: tensor<1x4x128x64xf32>) -> tensor<1x?x128x64xf32> {
  %init_0_c1 = arith.constant 1 : index
  %init_0_d1 = tensor.dim %q, %init_0_c1 : tensor<1x?x128x64xf32>
  %init_0 = tensor.empty(%init_0_d1) : tensor<1x?x128x64xf32>
  // expected-error @+1 {{number of query heads must be static}}
  %0 = attn.attention %q, %k, %v : tensor<1x?x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x?x128x64xf32> outs(%init_0)
  return %0 : tensor<1x?x128x64xf32>
}

// -----

func.func @zero_heads(%q: tensor<1x0x128x64xf32>, %k: tensor<1x0x128x64xf32>,
                      %v: tensor<1x0x128x64xf32>) -> tensor<1x0x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x0x128x64xf32>
  // expected-error @+1 {{number of heads must be positive}}
  %0 = attn.attention %q, %k, %v : tensor<1x0x128x64xf32>, tensor<1x0x128x64xf32>, tensor<1x0x128x64xf32> -> tensor<1x0x128x64xf32> outs(%init_0)
  return %0 : tensor<1x0x128x64xf32>
}

// -----

func.func @value_heads(%q: tensor<1x8x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                       %v: tensor<1x2x128x64xf32>) -> tensor<1x8x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x8x128x64xf32>
  // expected-error @+1 {{number of value heads (2) must match key heads (4)}}
  %0 = attn.attention %q, %k, %v : tensor<1x8x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x2x128x64xf32> -> tensor<1x8x128x64xf32> outs(%init_0)
  return %0 : tensor<1x8x128x64xf32>
}

// -----

func.func @gqa_not_divisible(%q: tensor<1x6x128x64xf16>, %k: tensor<1x4x128x64xf16>,
                             %v: tensor<1x4x128x64xf16>) -> tensor<1x6x128x64xf16> {
  %init_0 = tensor.empty() : tensor<1x6x128x64xf16>
  // expected-error @+1 {{number of query heads (6) must be a multiple of key/value heads (4)}}
  %0 = attn.attention %q, %k, %v : tensor<1x6x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16> -> tensor<1x6x128x64xf16> outs(%init_0)
  return %0 : tensor<1x6x128x64xf16>
}

// -----

func.func @dynamic_head_dim(%q: tensor<1x4x128x?xf32>, %k: tensor<1x4x128x?xf32>,
                            %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{query head dim must be static}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x?xf32>, tensor<1x4x128x?xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @head_dim_mismatch(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x32xf32>,
                             %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{key head dim (32) must match query head dim (64)}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xf32>, tensor<1x4x128x32xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @kv_length_mismatch(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                              %v: tensor<1x4x100x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{value sequence length (100) must match key sequence length (128)}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x100x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @result_shape(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x256x64xf32>,
                        %v: tensor<1x4x256x32xf32>) -> tensor<1x4x256x32xf32> {
  %init_0 = tensor.empty() : tensor<1x4x256x32xf32>
  // expected-error @+1 {{result shape [1x4x256x32] must be [B, Hq, Sq, Dv] = [1x4x128x32]}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xf32>, tensor<1x4x256x64xf32>, tensor<1x4x256x32xf32> -> tensor<1x4x256x32xf32> outs(%init_0)
  return %0 : tensor<1x4x256x32xf32>
}

// -----

func.func @result_element_type(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                               %v: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{result element type ('f32') must match query element type ('bf16')}}
  %0 = attn.attention %q, %k, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @mask_rank(%q: tensor<2x4x128x64xf32>, %k: tensor<2x4x128x64xf32>,
                     %v: tensor<2x4x128x64xf32>, %m: tensor<128x128xi1>) -> tensor<2x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<2x4x128x64xf32>
  // expected-error @+1 {{mask must have rank 4 (broadcasting to [B, Hq, Sq, Skv]), got rank 2}}
  %0 = attn.attention %q, %k, %v mask %m : tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32>, tensor<128x128xi1> -> tensor<2x4x128x64xf32> outs(%init_0)
  return %0 : tensor<2x4x128x64xf32>
}

// -----

func.func @mask_element_type(%q: tensor<2x4x128x64xbf16>, %k: tensor<2x4x128x64xbf16>,
                             %v: tensor<2x4x128x64xbf16>, %m: tensor<2x1x1x128xf32>) -> tensor<2x4x128x64xbf16> {
  %init_0 = tensor.empty() : tensor<2x4x128x64xbf16>
  // expected-error @+1 {{mask element type must be i1 or the query element type ('bf16'), got 'f32'}}
  %0 = attn.attention %q, %k, %v mask %m : tensor<2x4x128x64xbf16>, tensor<2x4x128x64xbf16>, tensor<2x4x128x64xbf16>, tensor<2x1x1x128xf32> -> tensor<2x4x128x64xbf16> outs(%init_0)
  return %0 : tensor<2x4x128x64xbf16>
}

// -----

func.func @mask_broadcast(%q: tensor<2x4x128x64xf32>, %k: tensor<2x4x200x64xf32>,
                          %v: tensor<2x4x200x64xf32>, %m: tensor<2x1x128x128xi1>) -> tensor<2x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<2x4x128x64xf32>
  // expected-error @+1 {{mask dimension 3 (128) must be 1 or the key/value length (200)}}
  %0 = attn.attention %q, %k, %v mask %m : tensor<2x4x128x64xf32>, tensor<2x4x200x64xf32>, tensor<2x4x200x64xf32>, tensor<2x1x128x128xi1> -> tensor<2x4x128x64xf32> outs(%init_0)
  return %0 : tensor<2x4x128x64xf32>
}

// -----

func.func @mask_heads(%q: tensor<2x4x128x64xf32>, %k: tensor<2x2x128x64xf32>,
                      %v: tensor<2x2x128x64xf32>, %m: tensor<2x2x1x128xf32>) -> tensor<2x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<2x4x128x64xf32>
  // expected-error @+1 {{mask dimension 1 (2) must be 1 or the number of query heads (4)}}
  %0 = attn.attention %q, %k, %v mask %m : tensor<2x4x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x128x64xf32>, tensor<2x2x1x128xf32> -> tensor<2x4x128x64xf32> outs(%init_0)
  return %0 : tensor<2x4x128x64xf32>
}

// -----

func.func @scale_not_positive(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                              %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{scale must be positive and finite, got -1.250000e-01}}
  %0 = attn.attention %q, %k, %v {scale = -0.125 : f32} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @scale_not_f32(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                         %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{attribute 'scale' failed to satisfy constraint: 32-bit float attribute}}
  %0 = attn.attention %q, %k, %v {scale = 2 : i32} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @threshold_too_large(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                               %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{skip threshold must be in (0, 1), got 1.5}}
  %0 = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.5>} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @threshold_zero(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                          %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{skip threshold must be in (0, 1), got 0}}
  %0 = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 0.0>} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @scale_factor_not_positive(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                                     %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{skip scale_factor must be positive and finite, got -2}}
  %0 = attn.attention %q, %k, %v {skip = #attn.skip<scale_factor = -2.0>} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @skip_unknown_keyword(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                                %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{expected 'threshold' or 'scale_factor', got 'lambda'}}
  %0 = attn.attention %q, %k, %v {skip = #attn.skip<lambda = 0.5>} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @skip_missing_value(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                              %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{expected '='}}
  %0 = attn.attention %q, %k, %v {skip = #attn.skip<threshold>} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @skip_not_skip_attr(%q: tensor<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                              %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{attribute 'skip' failed to satisfy constraint}}
  %0 = attn.attention %q, %k, %v {skip = 0.001 : f32} : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @unranked(%q: tensor<*xf32>, %k: tensor<1x4x128x64xf32>,
                    %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'tensor<*xf32>'}}
  %0 = attn.attention %q, %k, %v : tensor<*xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @memref_operand(%q: memref<1x4x128x64xf32>, %k: tensor<1x4x128x64xf32>,
                          %v: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{invalid kind of type specified: expected builtin.tensor, but found 'memref<1x4x128x64xf32>'}}
  %0 = attn.attention %q, %k, %v : memref<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return %0 : tensor<1x4x128x64xf32>
}

// -----

func.func @unknown_element_type(%k: tensor<1x4x128x64xf32>) {
  %init_0 = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{expected non-function type}}
  %0 = attn.attention %k, %k, %k : tensor<1x4x128x64xfoo>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_0)
  return
}

// -----

func.func @generic_unranked(%q: tensor<*xf32>, %k: tensor<1x4x8x4xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of any type values, but got 'tensor<*xf32>'}}
  %0 = "attn.attention"(%q, %k, %k, %k) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0>}> : (tensor<*xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>) -> tensor<1x4x8x4xf32>
  return
}

// -----

func.func @destination_type(%q: tensor<1x4x128x64xf16>, %init: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf16> {
  // expected-error @+1 {{'attn.attention' op failed to verify that all of {init, result} have same type}}
  %0 = "attn.attention"(%q, %q, %q, %init) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0>}> : (tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf16>
  return %0 : tensor<1x4x128x64xf16>
}

// -----

// Segments that add up to the operand count but leave a single operand
// (init) without a value or give one (value) two: refused before the
// generated verifier reads init (the fuzzer's crash-8e8cb96c).
func.func @segments_init_empty(%q: tensor<1x4x128x64xf16>, %init: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf16> {
  // expected-error @+1 {{'attn.attention' op operand segment 2 must hold one value, but 2 are given}}
  %0 = "attn.attention"(%q, %q, %q, %init) <{operandSegmentSizes = array<i32: 1, 1, 2, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0>}> : (tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf16>, tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf16>
  return %0 : tensor<1x4x128x64xf16>
}

// -----

func.func @segments_query_empty(%q: tensor<1x4x8x4xf32>) {
  // expected-error @+1 {{'attn.attention' op operand segment 0 must hold one value, but 0 are given}}
  %0 = "attn.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 0, 2, 1, 0, 0, 1, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0>}> : (tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>) -> tensor<1x4x8x4xf32>
  return
}

// -----

func.func @segments_result_empty(%q: tensor<1x4x8x4xf32>) {
  // expected-error @+1 {{'attn.attention' op result segment 0 must hold one value, but 0 are given}}
  %0:2 = "attn.attention"(%q, %q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 1, 0, 0>, resultSegmentSizes = array<i32: 0, 1, 1>}> : (tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>) -> (tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>)
  return
}

// -----

func.func @missing_destination(%q: tensor<1x4x8x4xf32>) {
  // expected-error @+1 {{expected 4 or more operands, but found 3}}
  %0 = "attn.attention"(%q, %q, %q) : (tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>, tensor<1x4x8x4xf32>) -> tensor<1x4x8x4xf32>
  return
}

// -----

// expected-error @+1 {{'attn.kernel' must be an #attn.kernel attribute}}
func.func @kernel_info_type() attributes {attn.kernel = 3 : i64} {
  return
}

// -----

// expected-error @+1 {{kernel role must be prefill, decode or combine, got 'backward'}}
func.func @kernel_info_role() attributes {attn.kernel = #attn.kernel<role = "backward", params = [], threads = 32, shared_bytes = 0>} {
  return
}

// -----

func.func @lse_element_type(%q: tensor<1x4x8x32xf16>) {
  %e = tensor.empty() : tensor<1x4x8x32xf16>
  %el = tensor.empty() : tensor<1x4x8xf16>
  // expected-error @+1 {{lse must be tensor<1x4x8xf32> ([B, Hq, Sq] of the query), got 'tensor<1x4x8xf16>'}}
  %o, %l = attn.attention %q, %q, %q : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16> -> tensor<1x4x8x32xf16>, tensor<1x4x8xf16> outs(%e, %el : tensor<1x4x8xf16>)
  return
}

// -----

func.func @lse_missing_destination(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{the lse result needs an lse destination in outs, and an lse destination needs the lse result}}
  %o, %l = attn.attention %q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32>, tensor<1x4x8xf32> outs(%e)
  return
}

// -----

func.func @lse_destination_type(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>, %el: tensor<1x4x?xf32>) {
  // expected-error @+1 {{lse destination type 'tensor<1x4x?xf32>' must match the lse result type 'tensor<1x4x8xf32>'}}
  %o, %l = attn.attention %q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32>, tensor<1x4x8xf32> outs(%e, %el : tensor<1x4x?xf32>)
  return
}

// -----

func.func @lse_shape(%q: tensor<?x4x?x32xf32>, %e: tensor<?x4x?x32xf32>, %el: tensor<?x4xf32>) {
  // expected-error @+1 {{lse must be tensor<?x4x?xf32> ([B, Hq, Sq] of the query), got 'tensor<?x4xf32>'}}
  %o, %l = attn.attention %q, %q, %q : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32> -> tensor<?x4x?x32xf32>, tensor<?x4xf32> outs(%e, %el : tensor<?x4xf32>)
  return
}

// -----

func.func @init_max_shape(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>, %m: tensor<1x2x8xf32>) {
  // expected-error @+1 {{init_max must be tensor<1x4x8xf32> ([B, Hq, Sq] of the query), got 'tensor<1x2x8xf32>'}}
  %o = attn.attention %q, %q, %q init_max(%m : tensor<1x2x8xf32>) : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32> outs(%e)
  return
}

// -----

func.func @init_max_element_type(%q: tensor<1x4x8x32xf16>, %e: tensor<1x4x8x32xf16>, %m: tensor<1x4x8xf16>) {
  // expected-error @+1 {{init_max must be tensor<1x4x8xf32> ([B, Hq, Sq] of the query), got 'tensor<1x4x8xf16>'}}
  %o = attn.attention %q, %q, %q init_max(%m : tensor<1x4x8xf16>) : tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16>, tensor<1x4x8x32xf16> -> tensor<1x4x8x32xf16> outs(%e)
  return
}

// -----

func.func @max_shape(%q: tensor<?x4x?x32xf32>, %e: tensor<?x4x?x32xf32>, %em: tensor<?x4x?x1xf32>) {
  // expected-error @+1 {{max must be tensor<?x4x?xf32> ([B, Hq, Sq] of the query), got 'tensor<?x4x?x1xf32>'}}
  %o, %m = attn.attention %q, %q, %q : tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32>, tensor<?x4x?x32xf32> -> tensor<?x4x?x32xf32>, max tensor<?x4x?x1xf32> outs(%e, max %em : tensor<?x4x?x1xf32>)
  return
}

// -----

func.func @max_missing_destination(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{the max result needs a max destination in outs, and a max destination needs the max result}}
  %o, %m = attn.attention %q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32>, max tensor<1x4x8xf32> outs(%e)
  return
}

// -----

func.func @max_destination_type(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>, %em: tensor<1x4x?xf32>) {
  // expected-error @+1 {{max destination type 'tensor<1x4x?xf32>' must match the max result type 'tensor<1x4x8xf32>'}}
  %o, %m = attn.attention %q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32>, max tensor<1x4x8xf32> outs(%e, max %em : tensor<1x4x?xf32>)
  return
}

// -----

func.func @max_before_lse(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>) {
  // expected-error @+1 {{expected `max` and its type: the lse result type comes first and once}}
  %o, %m, %l = attn.attention %q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32>, max tensor<1x4x8xf32>, tensor<1x4x8xf32> outs(%e)
  return
}

// -----

func.func @max_destination_twice(%q: tensor<1x4x8x32xf32>, %e: tensor<1x4x8x32xf32>, %em: tensor<1x4x8xf32>) {
  // expected-error @+1 {{expected at most an lse destination, then a `max` destination}}
  %o, %m = attn.attention %q, %q, %q : tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32> -> tensor<1x4x8x32xf32>, max tensor<1x4x8xf32> outs(%e, max %em : tensor<1x4x8xf32>, max %em : tensor<1x4x8xf32>)
  return
}

// -----

func.func @paged_page_size(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x24x2x64xf16>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{page size (key pages dim 1) must be a static power of two from 16 to 256, got 24}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x24x2x64xf16>, tensor<9x24x2x64xf16>, tensor<2x4xi32>, tensor<2xi32> -> tensor<2x4x1x64xf16>
  return
}

// -----

func.func @paged_value_pages(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x16x2x64xf16>, %vp: tensor<8x16x2x64xf16>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{value pages dim 0 (8) must match key pages dim 0 (9)}}
  %o = attn.paged_attention %q, %kp, %vp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x16x2x64xf16>, tensor<8x16x2x64xf16>, tensor<2x4xi32>, tensor<2xi32> -> tensor<2x4x1x64xf16>
  return
}

// -----

func.func @paged_gqa(%q: tensor<2x6x1x64xf16>, %kp: tensor<9x16x4x64xf16>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{number of query heads (6) must be a multiple of key/value heads (4)}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x6x1x64xf16>, tensor<9x16x4x64xf16>, tensor<9x16x4x64xf16>, tensor<2x4xi32>, tensor<2xi32> -> tensor<2x6x1x64xf16>
  return
}

// -----

func.func @paged_table_type(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x16x2x64xf16>, %t: tensor<2x4xi64>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block_table must be i32 [B, max_pages], got 'tensor<2x4xi64>'}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x16x2x64xf16>, tensor<9x16x2x64xf16>, tensor<2x4xi64>, tensor<2xi32> -> tensor<2x4x1x64xf16>
  return
}

// -----

func.func @paged_table_rows(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x16x2x64xf16>, %t: tensor<3x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block_table has 3 rows, but the batch is 2}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x16x2x64xf16>, tensor<9x16x2x64xf16>, tensor<3x4xi32>, tensor<2xi32> -> tensor<2x4x1x64xf16>
  return
}

// -----

func.func @paged_lens(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x16x2x64xf16>, %t: tensor<2x4xi32>, %l: tensor<2x1xi32>) {
  // expected-error @+1 {{seq_lens must be i32 [B], got 'tensor<2x1xi32>'}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x16x2x64xf16>, tensor<9x16x2x64xf16>, tensor<2x4xi32>, tensor<2x1xi32> -> tensor<2x4x1x64xf16>
  return
}

// -----

func.func @paged_head_dim(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x16x2x32xf16>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{key head dim (32) must match query head dim (64)}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x16x2x32xf16>, tensor<9x16x2x32xf16>, tensor<2x4xi32>, tensor<2xi32> -> tensor<2x4x1x32xf16>
  return
}

// -----

func.func @paged_result(%q: tensor<2x4x1x64xf16>, %kp: tensor<9x16x2x64xf16>, %t: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{result shape [2x4x2x64] must be [B, Hq, Sq, Dv] = [2x4x1x64]}}
  %o = attn.paged_attention %q, %kp, %kp, %t, %l : tensor<2x4x1x64xf16>, tensor<9x16x2x64xf16>, tensor<9x16x2x64xf16>, tensor<2x4xi32>, tensor<2xi32> -> tensor<2x4x2x64xf16>
  return
}

// -----

func.func @varlen_rank(%q: tensor<1x9x4x64xf16>, %k: tensor<9x2x64xf16>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{query must have rank 3 ([tokens, heads, head dim]), got rank 4}}
  %o = attn.varlen_attention %q, %k, %k, %cu, %cu : tensor<1x9x4x64xf16>, tensor<9x2x64xf16>, tensor<9x2x64xf16>, tensor<3xi32>, tensor<3xi32> -> tensor<9x4x64xf16>
  return
}

// -----

func.func @varlen_gqa(%q: tensor<9x6x64xf16>, %k: tensor<9x4x64xf16>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{number of query heads (6) must be a multiple of key/value heads (4)}}
  %o = attn.varlen_attention %q, %k, %k, %cu, %cu : tensor<9x6x64xf16>, tensor<9x4x64xf16>, tensor<9x4x64xf16>, tensor<3xi32>, tensor<3xi32> -> tensor<9x6x64xf16>
  return
}

// -----

func.func @varlen_cu_type(%q: tensor<9x4x64xf16>, %k: tensor<9x2x64xf16>, %cu: tensor<3xi64>) {
  // expected-error @+1 {{cu_seqlens_q must be i32 [B + 1], got 'tensor<3xi64>'}}
  %o = attn.varlen_attention %q, %k, %k, %cu, %cu : tensor<9x4x64xf16>, tensor<9x2x64xf16>, tensor<9x2x64xf16>, tensor<3xi64>, tensor<3xi64> -> tensor<9x4x64xf16>
  return
}

// -----

func.func @varlen_cu_count(%q: tensor<9x4x64xf16>, %k: tensor<9x2x64xf16>, %cq: tensor<3xi32>, %ck: tensor<4xi32>) {
  // expected-error @+1 {{cu_seqlens_q has 3 entries but cu_seqlens_k 4}}
  %o = attn.varlen_attention %q, %k, %k, %cq, %ck : tensor<9x4x64xf16>, tensor<9x2x64xf16>, tensor<9x2x64xf16>, tensor<3xi32>, tensor<4xi32> -> tensor<9x4x64xf16>
  return
}

// -----

func.func @varlen_value_tokens(%q: tensor<9x4x64xf16>, %k: tensor<9x2x64xf16>, %v: tensor<8x2x64xf16>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{value dim 0 (8) must match key dim 0 (9)}}
  %o = attn.varlen_attention %q, %k, %v, %cu, %cu : tensor<9x4x64xf16>, tensor<9x2x64xf16>, tensor<8x2x64xf16>, tensor<3xi32>, tensor<3xi32> -> tensor<9x4x64xf16>
  return
}

// -----

func.func @varlen_result(%q: tensor<9x4x64xf16>, %k: tensor<7x2x64xf16>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{result must be [Tq, Hq, Dv] = [9x4x64], got 'tensor<7x4x64xf16>'}}
  %o = attn.varlen_attention %q, %k, %k, %cu, %cu : tensor<9x4x64xf16>, tensor<7x2x64xf16>, tensor<7x2x64xf16>, tensor<3xi32>, tensor<3xi32> -> tensor<7x4x64xf16>
  return
}
