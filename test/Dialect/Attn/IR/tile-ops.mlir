// RUN: skipattn-opt %s | skipattn-opt | FileCheck %s

// The tile ops print and parse back.
// CHECK-LABEL: func.func @tile_ops
// CHECK:         attn.load_tile %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<1x2x?x64xbf16> -> tensor<64x64xbf16>
// CHECK:         attn.load_mask_tile %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : tensor<1x1x?x?xi1> -> tensor<64x64xi1>
// CHECK:         attn.tile_scores %{{.*}}, %{{.*}} mask %{{.*}} at[%{{.*}}, %{{.*}}] bounds[%{{.*}}, %{{.*}}] {causal, scale = 1.250000e-01 : f32} : tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<64x64xi1> -> tensor<64x64xf32>
// CHECK:         attn.tile_row_max %{{.*}} : tensor<64x64xf32> -> tensor<64xf32>
// CHECK:         attn.skip_vote %{{.*}}, %{{.*}}, %{{.*}} {group_rows = 16 : i64} : tensor<64xf32> -> tensor<4xi1>
// CHECK:         attn.tile_update %{{.*}}, %{{.*}}, %{{.*}} into(%{{.*}}, %{{.*}}, %{{.*}}) skip %{{.*}} : tensor<4xi1> : tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xbf16>, tensor<64x64xf32>
// CHECK:         attn.tile_finalize %{{.*}}, %{{.*}} : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
func.func @tile_ops(%q: tensor<1x2x?x64xbf16>, %mask: tensor<1x1x?x?xi1>, %i: index, %lambda: f32,
                    %m: tensor<64xf32>, %l: tensor<64xf32>, %acc: tensor<64x64xf32>) -> tensor<64x64xbf16> {
  %t = attn.load_tile %q[%i, %i, %i] : tensor<1x2x?x64xbf16> -> tensor<64x64xbf16>
  %mt = attn.load_mask_tile %mask[%i, %i, %i, %i] : tensor<1x1x?x?xi1> -> tensor<64x64xi1>
  %s = attn.tile_scores %t, %t mask %mt at [%i, %i] bounds [%i, %i] {causal, scale = 0.125 : f32} : tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<64x64xi1> -> tensor<64x64xf32>
  %rm = attn.tile_row_max %s : tensor<64x64xf32> -> tensor<64xf32>
  %votes = attn.skip_vote %rm, %m, %lambda {group_rows = 16 : i64} : tensor<64xf32> -> tensor<4xi1>
  %a, %b, %c = attn.tile_update %s, %rm, %t into (%m, %l, %acc) skip %votes : tensor<4xi1> : tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xbf16>, tensor<64x64xf32>
  %o = attn.tile_finalize %c, %b : tensor<64x64xf32>, tensor<64xf32> -> tensor<64x64xbf16>
  return %o : tensor<64x64xbf16>
}

// The tiles of the split-KV decode tiling: packed rows and the merge of two
// partial states.
// CHECK-LABEL: func.func @decode_tile_ops
// CHECK:         attn.load_mask_tile %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] packed %{{.*}} : tensor<1x4x?x?xf32> -> tensor<16x64xf32>
// CHECK:         attn.tile_scores %{{.*}}, %{{.*}} mask %{{.*}} at[%{{.*}}, %{{.*}}] bounds[%{{.*}}, %{{.*}}] {packed_heads = 4 : i64, scale = 1.250000e-01 : f32}
// CHECK:         attn.tile_merge(%{{.*}}, %{{.*}}, %{{.*}}), (%{{.*}}, %{{.*}}, %{{.*}}) : tensor<16xf32>, tensor<16x64xf32>
func.func @decode_tile_ops(%q: tensor<16x64xf32>, %k: tensor<64x64xf32>, %mask: tensor<1x4x?x?xf32>, %i: index,
                           %m: tensor<16xf32>, %l: tensor<16xf32>, %acc: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %mt = attn.load_mask_tile %mask[%i, %i, %i, %i] packed %i : tensor<1x4x?x?xf32> -> tensor<16x64xf32>
  %s = attn.tile_scores %q, %k mask %mt at [%i, %i] bounds [%i, %i] {packed_heads = 4 : i64, scale = 0.125 : f32} : tensor<16x64xf32>, tensor<64x64xf32>, tensor<16x64xf32> -> tensor<16x64xf32>
  %a, %b, %c = attn.tile_merge (%m, %l, %acc), (%m, %l, %s) : tensor<16xf32>, tensor<16x64xf32>
  return %c : tensor<16x64xf32>
}

// The initial running max of a q-block (attn.attention's init_max).
// CHECK-LABEL: func.func @load_max_tile
// CHECK:         attn.load_max_tile %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<1x4x?xf32> -> tensor<64xf32>
func.func @load_max_tile(%m: tensor<1x4x?xf32>, %i: index) -> tensor<64xf32> {
  %t = attn.load_max_tile %m[%i, %i, %i] : tensor<1x4x?xf32> -> tensor<64xf32>
  return %t : tensor<64xf32>
}
