// RUN: skipattn-opt %s --attn-tile="pack-gqa" --convert-attn-to-gpu --verify-diagnostics -o /dev/null
// RUN: skipattn-opt %s --attn-tile="kv-splits" --convert-attn-to-gpu --verify-diagnostics -o /dev/null

// attn-tile's split-KV decode tilings (docs/serving.md) are for the CPU
// lowering, which simulates the decode kernel with them; the GPU kernels
// are not generated from them.
func.func @decode(%q: tensor<1x8x1x64xbf16>, %k: tensor<1x2x512x64xbf16>) -> tensor<1x8x1x64xbf16> {
  %init_o = tensor.empty() : tensor<1x8x1x64xbf16>
  // expected-error @+1 {{convert-attn-to-gpu: attn-tile's pack-gqa and kv-splits tilings are for the CPU lowering; the GPU decode kernel packs and splits on its own (decode-kernels)}}
  %o = attn.attention %q, %k, %k : tensor<1x8x1x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16> -> tensor<1x8x1x64xbf16> outs(%init_o)
  return %o : tensor<1x8x1x64xbf16>
}
