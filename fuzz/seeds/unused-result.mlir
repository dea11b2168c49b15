// An attention whose result nobody uses (issue 12: convert-attn-to-gpu
// dereferenced null here).
func.func @unused(%q: tensor<1x8x128x64xbf16>, %k: tensor<1x2x128x64xbf16>, %v: tensor<1x2x128x64xbf16>) {
  %init_o = tensor.empty() : tensor<1x8x128x64xbf16>
  %o = attn.attention %q, %k, %v {causal, skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x8x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16> -> tensor<1x8x128x64xbf16> outs(%init_o)
  return
}
