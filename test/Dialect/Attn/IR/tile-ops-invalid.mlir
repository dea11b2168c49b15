// RUN: skipattn-opt %s --split-input-file --verify-diagnostics

func.func @load_tile_rank(%src: tensor<2x?x64xf32>, %i: index) {
  // expected-error @+1 {{source must have rank 4 ([B, H, S, D])}}
  %t = attn.load_tile %src[%i, %i, %i] : tensor<2x?x64xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @load_tile_columns(%src: tensor<1x2x?x64xf32>, %i: index) {
  // expected-error @+1 {{result has 32 columns but the source head dim is 64}}
  %t = attn.load_tile %src[%i, %i, %i] : tensor<1x2x?x64xf32> -> tensor<64x32xf32>
  return
}

// -----

func.func @load_tile_dynamic(%src: tensor<1x2x?x64xf32>, %i: index) {
  // expected-error @+1 {{result must be a static tensor of rank 2, got 'tensor<?x64xf32>'}}
  %t = attn.load_tile %src[%i, %i, %i] : tensor<1x2x?x64xf32> -> tensor<?x64xf32>
  return
}

// -----

func.func @scores_head_dim(%q: tensor<64x64xf32>, %k: tensor<64x32xf32>, %i: index) {
  // expected-error @+1 {{query head dim (64) must match key head dim (32)}}
  %s = attn.tile_scores %q, %k at [%i, %i] bounds [%i, %i] {scale = 1.0 : f32} : tensor<64x64xf32>, tensor<64x32xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @scores_result(%q: tensor<64x64xf32>, %k: tensor<32x64xf32>, %i: index) {
  // expected-error @+1 {{result must be tensor<64x32xf32>}}
  %s = attn.tile_scores %q, %k at [%i, %i] bounds [%i, %i] {scale = 1.0 : f32} : tensor<64x64xf32>, tensor<32x64xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @scores_scale(%q: tensor<64x64xf32>, %k: tensor<64x64xf32>, %i: index) {
  // expected-error @+1 {{scale must be positive}}
  %s = attn.tile_scores %q, %k at [%i, %i] bounds [%i, %i] {scale = 0.0 : f32} : tensor<64x64xf32>, tensor<64x64xf32> -> tensor<64x64xf32>
  return
}

// -----

func.func @vote_groups(%m: tensor<64xf32>, %l: f32) {
  // expected-error @+1 {{group_rows (24) must divide the block rows (64)}}
  %v = attn.skip_vote %m, %m, %l {group_rows = 24 : i64} : tensor<64xf32> -> tensor<2xi1>
  return
}

// -----

func.func @vote_result(%m: tensor<64xf32>, %l: f32) {
  // expected-error @+1 {{result must be tensor<1xi1>, one vote per group}}
  %v = attn.skip_vote %m, %m, %l {group_rows = 64 : i64} : tensor<64xf32> -> tensor<2xi1>
  return
}

// -----

func.func @update_value(%s: tensor<64x64xf32>, %m: tensor<64xf32>, %v: tensor<32x64xf32>, %acc: tensor<64x64xf32>) {
  // expected-error @+1 {{value tile must be 64x64}}
  %a, %b, %c = attn.tile_update %s, %m, %v into (%m, %m, %acc) : tensor<64x64xf32>, tensor<64xf32>, tensor<32x64xf32>, tensor<64x64xf32>
  return
}

// -----

func.func @update_f32(%s: tensor<64x64xf32>, %m: tensor<64xf32>, %v: tensor<64x64xf16>, %acc: tensor<64x64xf16>) {
  // expected-error @+1 {{scores, max, sum and accumulator must be f32}}
  %a, %b, %c = attn.tile_update %s, %m, %v into (%m, %m, %acc) : tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xf16>, tensor<64x64xf16>
  return
}

// -----

func.func @finalize_shape(%acc: tensor<64x64xf32>, %l: tensor<64xf32>) {
  // expected-error @+1 {{result must be a float tile of the accumulator's shape}}
  %o = attn.tile_finalize %acc, %l : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x32xf32>
  return
}

// -----

func.func @packed_heads(%q: tensor<16x64xf32>, %i: index) {
  // expected-error @+1 {{packed_heads must be positive, got 0}}
  %s = attn.tile_scores %q, %q at [%i, %i] bounds [%i, %i] {packed_heads = 0 : i64, scale = 0.125 : f32} : tensor<16x64xf32>, tensor<16x64xf32> -> tensor<16x16xf32>
  return
}

// -----

func.func @merge_rows(%m: tensor<16xf32>, %acc: tensor<32x64xf32>) {
  // expected-error @+1 {{max, sum and accumulator must be f32 with one row count}}
  %a, %b, %c = attn.tile_merge (%m, %m, %acc), (%m, %m, %acc) : tensor<16xf32>, tensor<32x64xf32>
  return
}

// -----

func.func @merge_types(%m: tensor<16xf32>, %m2: tensor<32xf32>, %acc: tensor<16x64xf32>) {
  // expected-error @+1 {{failed to verify that all of {max, sum, otherMax, otherSum, newMax, newSum} have same type}}
  %a, %b, %c = "attn.tile_merge"(%m, %m, %acc, %m2, %m, %acc) : (tensor<16xf32>, tensor<16xf32>, tensor<16x64xf32>, tensor<32xf32>, tensor<16xf32>, tensor<16x64xf32>) -> (tensor<16xf32>, tensor<16xf32>, tensor<16x64xf32>)
  return
}

// -----

func.func @load_max_tile_source(%m: tensor<1x4x?x1xf32>, %i: index) {
  // expected-error @+1 {{source must be f32 of rank 3 ([B, H, S]), got 'tensor<1x4x?x1xf32>'}}
  %t = attn.load_max_tile %m[%i, %i, %i] : tensor<1x4x?x1xf32> -> tensor<64xf32>
  return
}

// -----

func.func @load_max_tile_result(%m: tensor<1x4x?xf32>, %i: index) {
  // expected-error @+1 {{result must be a static tensor of rank 1, got 'tensor<?xf32>'}}
  %t = attn.load_max_tile %m[%i, %i, %i] : tensor<1x4x?xf32> -> tensor<?xf32>
  return
}

// -----

func.func @load_max_tile_type(%m: tensor<1x4x?xf32>, %i: index) {
  // expected-error @+1 {{result must be f32}}
  %t = attn.load_max_tile %m[%i, %i, %i] : tensor<1x4x?xf32> -> tensor<64xf16>
  return
}
