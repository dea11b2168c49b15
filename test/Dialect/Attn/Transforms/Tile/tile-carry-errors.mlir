// RUN: skipattn-opt %s --attn-tile="kv-splits" --verify-diagnostics -o /dev/null

// A part of a split kv range starts from its own seed; an initial max on
// top of it is not built.
func.func @carry_split(%q: tensor<1x2x64x32xf32>, %m: tensor<1x2x64xf32>) -> tensor<1x2x64x32xf32> {
  %e = tensor.empty() : tensor<1x2x64x32xf32>
  // expected-error @+1 {{attn-tile: init_max is not supported with kv-splits}}
  %a = attn.attention %q, %q, %q init_max(%m : tensor<1x2x64xf32>) : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%e)
  return %a : tensor<1x2x64x32xf32>
}
