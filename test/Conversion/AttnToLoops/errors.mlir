// RUN: skipattn-opt %s --split-input-file --convert-attn-to-loops --verify-diagnostics

func.func @untiled(%q: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  // expected-error @+1 {{convert-attn-to-loops: attn.attention must be tiled first; run attn-tile}}
  %a = attn.attention %q, %q, %q : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  return %a : tensor<1x2x64x32xf32>
}
