// init_max without the max result: not a bundle's interface.
func.func @attention(%q: tensor<?x4x?x32xf32>, %k: tensor<?x2x?x32xf32>, %v: tensor<?x2x?x32xf32>,
                     %m: tensor<?x4x?xf32>, %e: tensor<?x4x?x32xf32>) -> tensor<?x4x?x32xf32> {
  %o = attn.attention %q, %k, %v init_max(%m : tensor<?x4x?xf32>)
       : tensor<?x4x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32> -> tensor<?x4x?x32xf32> outs(%e)
  return %o : tensor<?x4x?x32xf32>
}
