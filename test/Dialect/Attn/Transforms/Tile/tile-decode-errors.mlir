// RUN: skipattn-opt %s --attn-tile="kv-splits" --verify-diagnostics -o /dev/null

// The number of parts becomes an argument of an entry function only.
// expected-error @+1 {{attn-tile: cannot add the run-time kv-split argument to @callee: it has callers; split-KV attention must sit in an entry function}}
func.func private @callee(%q: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  %a = attn.attention %q, %q, %q : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  return %a : tensor<1x2x64x32xf32>
}
func.func @caller(%q: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %a = func.call @callee(%q) : (tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32>
  return %a : tensor<1x2x64x32xf32>
}
