// An attention with the carry of a ring: init_max in, lse and max out.
func.func @attention(%q: tensor<?x4x?x32xf32>, %k: tensor<?x2x?x32xf32>, %v: tensor<?x2x?x32xf32>,
                     %m: tensor<?x4x?xf32>, %e: tensor<?x4x?x32xf32>, %el: tensor<?x4x?xf32>,
                     %em: tensor<?x4x?xf32>) -> (tensor<?x4x?x32xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>) {
  %o, %l, %mx = attn.attention %q, %k, %v init_max(%m : tensor<?x4x?xf32>) {skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32> -> tensor<?x4x?x32xf32>, tensor<?x4x?xf32>, max tensor<?x4x?xf32>
         outs(%e, %el : tensor<?x4x?xf32>, max %em : tensor<?x4x?xf32>)
  return %o, %l, %mx : tensor<?x4x?x32xf32>, tensor<?x4x?xf32>, tensor<?x4x?xf32>
}
