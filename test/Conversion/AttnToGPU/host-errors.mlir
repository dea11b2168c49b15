// RUN: skipattn-opt %s --split-input-file --attn-tile --convert-attn-to-gpu --verify-diagnostics

// Tiled attention in device code has nowhere to launch a kernel from: a
// diagnostic, and nothing rewritten.
gpu.module @device {
  gpu.func @in_kernel(%q: tensor<1x4x128x64xbf16>) {
    %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
    // expected-error @+1 {{convert-attn-to-gpu: tiled attention inside device code ('gpu.module') cannot launch a kernel; convert it from host code}}
    %o = attn.attention %q, %q, %q : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
    gpu.return
  }
}

// -----

// One attention the kernels cannot take fails the pass before any other
// is rewritten.
func.func @one_bad(%q: tensor<1x4x128x64xbf16>, %f: tensor<1x4x128x64xf32>) -> (tensor<1x4x128x64xbf16>, tensor<1x4x128x64xf32>) {
  %init_a = tensor.empty() : tensor<1x4x128x64xbf16>
  %a = attn.attention %q, %q, %q : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_a)
  %init_b = tensor.empty() : tensor<1x4x128x64xf32>
  // expected-error @+1 {{convert-attn-to-gpu: element type 'f32' has no tensor-core path}}
  %b = attn.attention %f, %f, %f : tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32>, tensor<1x4x128x64xf32> -> tensor<1x4x128x64xf32> outs(%init_b)
  return %a, %b : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xf32>
}
