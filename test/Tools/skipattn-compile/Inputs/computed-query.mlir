func.func @scaled_query(%q: tensor<1x2x16x32xf32>, %k: tensor<1x2x16x32xf32>,
                        %v: tensor<1x2x16x32xf32>) -> tensor<1x2x16x32xf32> {
  %q2 = arith.addf %q, %q : tensor<1x2x16x32xf32>
  %e = tensor.empty() : tensor<1x2x16x32xf32>
  %o = attn.attention %q2, %k, %v : tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32>, tensor<1x2x16x32xf32> -> tensor<1x2x16x32xf32> outs(%e)
  return %o : tensor<1x2x16x32xf32>
}
