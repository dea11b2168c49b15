// An attention whose result is used twice (issue 12: convert-attn-to-gpu
// dereferenced null here).
func.func @twice(%q: tensor<1x8x128x64xbf16>, %k: tensor<1x2x128x64xbf16>, %v: tensor<1x2x128x64xbf16>) -> (tensor<1x8x128x64xbf16>, tensor<1x8x128x64xbf16>) {
  %init_o = tensor.empty() : tensor<1x8x128x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x8x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x8x128x64xbf16> outs(%init_o)
  return %o, %o : tensor<1x8x128x64xbf16>, tensor<1x8x128x64xbf16>
}
