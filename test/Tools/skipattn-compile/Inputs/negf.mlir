func.func @attention_then_negf(%q: tensor<1x2x16x32xf32>, %k: tensor<1x2x16x32xf32>,
                               %v: tensor<1x2x16x32xf32>) -> tensor<1x2x16x32xf32> {
  %e = tensor.empty() : tensor<1x2x16x32xf32>
  %o = attn.attention %q, %k, %v : tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32> -> tensor<1x2x16x32xf32> outs(%e)
  %n = arith.negf %o : tensor<1x2x16x32xf32>
  return %n : tensor<1x2x16x32xf32>
}
