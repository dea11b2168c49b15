// RUN: skipattn-opt %s --split-input-file --attn-tile --convert-attn-to-gpu --verify-diagnostics
// RUN: not skipattn-opt %s --split-input-file --attn-tile="block-m=32" --convert-attn-to-gpu 2>&1 | FileCheck %s --check-prefix=BLOCKM

// What the GPU kernels do not cover is refused with a diagnostic.

func.func @f32(%q: tensor<1x4x128x64xf32>) -> tensor<1x4x128x64xf32> {
  %init_o = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{convert-attn-to-gpu: element type 'f32' has no tensor-core path; use bf16 or f16 (or the CPU pipeline)}}
  %o = attn.attention %q, %q, %q : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_o)
  return %o : tensor<1x4x128x64xf32>
}

// -----

func.func @head_dim(%q: tensor<1x4x128x96xbf16>) -> tensor<1x4x128x96xbf16> {
  %init_o = tensor.empty() : tensor<1x4x128x96xbf16>
  // expected-error @+1 {{convert-attn-to-gpu: head dim 96 is not supported (64 and 128 are)}}
  %o = attn.attention %q, %q, %q : tensor<1x4x128x96xbf16>, tensor<1x4x128x96xbf16>, tensor<1x4x128x96xbf16> -> tensor<1x4x128x96xbf16> outs(%init_o)
  return %o : tensor<1x4x128x96xbf16>
}

// -----

func.func @value_head_dim(%q: tensor<1x4x128x64xbf16>, %v: tensor<1x4x128x128xbf16>) -> tensor<1x4x128x128xbf16> {
  %init_o = tensor.empty() : tensor<1x4x128x128xbf16>
  // expected-error @+1 {{convert-attn-to-gpu: value head dim 128 must equal the head dim 64}}
  %o = attn.attention %q, %q, %v : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x128xbf16> -> tensor<1x4x128x128xbf16> outs(%init_o)
  return %o : tensor<1x4x128x128xbf16>
}

// -----

// BLOCKM: error: convert-attn-to-gpu: block-m 32 is not supported (64 or 128: 16 rows per warp)
func.func @block_m(%q: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
  %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
  %o = attn.attention %q, %q, %q : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
  return %o : tensor<1x4x128x64xbf16>
}
