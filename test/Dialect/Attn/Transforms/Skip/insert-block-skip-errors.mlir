// RUN: skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip --verify-diagnostics
// RUN: not skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=vote=48 2>&1 | FileCheck %s --check-prefix=VOTE
// RUN: not skipattn-opt %s --split-input-file --attn-tile=pack-gqa --attn-insert-block-skip=vote=16 2>&1 | FileCheck %s --check-prefix=PACKVOTE
// RUN: not skipattn-opt %s --split-input-file --attn-tile --attn-insert-block-skip=stats 2>&1 | FileCheck %s --check-prefix=STATS

// The threshold must become an argument of an entry function: one with
// callers cannot change its signature.
// expected-error @+1 {{attn-insert-block-skip: cannot add the run-time threshold argument to @callee: it has callers; skip-enabled attention must sit in an entry function}}
func.func private @callee(%q: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  %a = attn.attention %q, %q, %q {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  return %a : tensor<1x2x64x32xf32>
}
func.func @caller(%q: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %a = func.call @callee(%q) : (tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32>
  return %a : tensor<1x2x64x32xf32>
}

// -----

// VOTE: error: attn-insert-block-skip: vote=48 must divide the block rows (64)
func.func @entry(%q: tensor<1x2x64x32xf32>) -> tensor<1x2x64x32xf32> {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  %a = attn.attention %q, %q, %q {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  return %a : tensor<1x2x64x32xf32>
}

// -----

// PACKVOTE: error: attn-insert-block-skip: vote=16 splits a q-block of packed GQA heads; a packed q-block votes as a whole
func.func @packed(%q: tensor<1x4x64x32xf32>, %k: tensor<1x1x64x32xf32>) -> tensor<1x4x64x32xf32> {
  %init_a = tensor.empty() : tensor<1x4x64x32xf32>
  %a = attn.attention %q, %k, %k {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x64x32xf32>, tensor<1x1x64x32xf32>, tensor<1x1x64x32xf32> -> tensor<1x4x64x32xf32> outs(%init_a)
  return %a : tensor<1x4x64x32xf32>
}

// -----

// The skip attentions of one function share one [B, Hq, 2] stats buffer,
// so with stats they must agree on batch and query heads.
// STATS: error: attn-insert-block-skip: cannot add the stats argument 'memref<1x4x2xi64>'; the skip-enabled attentions of one function share it, so they must have the same batch and query heads
func.func @two_shapes(%q: tensor<1x2x64x32xf32>, %p: tensor<1x4x64x32xf32>) -> (tensor<1x2x64x32xf32>, tensor<1x4x64x32xf32>) {
  %init_a = tensor.empty() : tensor<1x2x64x32xf32>
  %a = attn.attention %q, %q, %q {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32>, tensor<1x2x64x32xf32> -> tensor<1x2x64x32xf32> outs(%init_a)
  %init_b = tensor.empty() : tensor<1x4x64x32xf32>
  %b = attn.attention %p, %p, %p {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32>, tensor<1x4x64x32xf32> -> tensor<1x4x64x32xf32> outs(%init_b)
  return %a, %b : tensor<1x2x64x32xf32>, tensor<1x4x64x32xf32>
}
