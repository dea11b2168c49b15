// RUN: skipattn-opt %s --split-input-file --attn-tile --convert-attn-to-gpu="chip=sm_80" --verify-diagnostics -o /dev/null
// RUN: skipattn-opt %s --split-input-file --attn-tile --convert-attn-to-gpu="chip=sm_90a" --verify-diagnostics -o /dev/null
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip --convert-attn-to-gpu="chip=sm_80 decode-kernels" --verify-diagnostics -o /dev/null
// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip --convert-attn-to-gpu="chip=sm_90a decode-kernels" --verify-diagnostics -o /dev/null

// The carry of a ring (attn.attention's init_max and max): the GPU kernels
// take both or neither (carry.mlir); one without the other is refused by
// name, prefill and decode, on both chips, with skipping and without.
func.func @prefill_init_max(%q: tensor<1x8x?x128xbf16>, %k: tensor<1x2x?x128xbf16>, %m: tensor<1x8x?xf32>) -> tensor<1x8x?x128xbf16> {
  %c2 = arith.constant 2 : index
  %s = tensor.dim %q, %c2 : tensor<1x8x?x128xbf16>
  %e = tensor.empty(%s) : tensor<1x8x?x128xbf16>
  // expected-error @+1 {{convert-attn-to-gpu: the GPU kernels take attn.attention's init_max and max together (the carry of a ring); this attention has only one of them}}
  %o = attn.attention %q, %k, %k init_max(%m : tensor<1x8x?xf32>) {causal, skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<1x8x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16> -> tensor<1x8x?x128xbf16> outs(%e)
  return %o : tensor<1x8x?x128xbf16>
}

// -----

func.func @decode_init_max(%q: tensor<1x8x1x64xbf16>, %k: tensor<1x2x?x64xbf16>, %m: tensor<1x8x1xf32>) -> tensor<1x8x1x64xbf16> {
  %e = tensor.empty() : tensor<1x8x1x64xbf16>
  // expected-error @+1 {{convert-attn-to-gpu: the GPU kernels take attn.attention's init_max and max together (the carry of a ring); this attention has only one of them}}
  %o = attn.attention %q, %k, %k init_max(%m : tensor<1x8x1xf32>)
       : tensor<1x8x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x8x1x64xbf16> outs(%e)
  return %o : tensor<1x8x1x64xbf16>
}

// -----

func.func @prefill_max(%q: tensor<1x8x?x128xbf16>, %k: tensor<1x2x?x128xbf16>) -> (tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>, tensor<1x8x?xf32>) {
  %c2 = arith.constant 2 : index
  %s = tensor.dim %q, %c2 : tensor<1x8x?x128xbf16>
  %e = tensor.empty(%s) : tensor<1x8x?x128xbf16>
  %el = tensor.empty(%s) : tensor<1x8x?xf32>
  %em = tensor.empty(%s) : tensor<1x8x?xf32>
  // expected-error @+1 {{convert-attn-to-gpu: the GPU kernels take attn.attention's init_max and max together (the carry of a ring); this attention has only one of them}}
  %o, %l, %mx = attn.attention %q, %k, %k
       : tensor<1x8x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16> -> tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>, max tensor<1x8x?xf32>
         outs(%e, %el : tensor<1x8x?xf32>, max %em : tensor<1x8x?xf32>)
  return %o, %l, %mx : tensor<1x8x?x128xbf16>, tensor<1x8x?xf32>, tensor<1x8x?xf32>
}

// -----

func.func @decode_max(%q: tensor<1x8x1x64xbf16>, %k: tensor<1x2x?x64xbf16>) -> (tensor<1x8x1x64xbf16>, tensor<1x8x1xf32>) {
  %e = tensor.empty() : tensor<1x8x1x64xbf16>
  %em = tensor.empty() : tensor<1x8x1xf32>
  // expected-error @+1 {{convert-attn-to-gpu: the GPU kernels take attn.attention's init_max and max together (the carry of a ring); this attention has only one of them}}
  %o, %mx = attn.attention %q, %k, %k {skip = #attn.skip<threshold = 1.0e-3>}
       : tensor<1x8x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16> -> tensor<1x8x1x64xbf16>, max tensor<1x8x1xf32>
         outs(%e, max %em : tensor<1x8x1xf32>)
  return %o, %mx : tensor<1x8x1x64xbf16>, tensor<1x8x1xf32>
}
