// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --convert-attn-to-gpu=launch=false | FileCheck %s
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip --convert-attn-to-gpu --verify-diagnostics -o /dev/null

// Paged attention (docs/serving.md) gets the decode kernels only: they take
// the page pools as k and v, then the block table, the lengths and
// max_pages; each CTA reads its sequence's length and, per page a tile
// touches, the page number, and addresses rows through it. It has no host
// launch: with launch=false (what bundles use) the tiled form stays for the
// runtime's launch.
// CHECK-LABEL: func.func @paged
//       CHECK:   scf.forall
//       CHECK:     attn.load_paged_tile
//   CHECK-NOT: gpu.func @skipattn_prefill
//       CHECK: gpu.func @skipattn_decode_bf16_h8x2_d128_m64n64_skip_paged16(
//  CHECK-SAME:     %{{.*}}: i32, %[[TABLE:[a-z0-9]+]]: i64, %[[LENS:[a-z0-9]+]]: i64, %[[MAXP:[a-z0-9]+]]: i32, %{{.*}}: f32)
//  CHECK-SAME:     params = ["q", "k", "v", "out", "workspace_zeroed", "batch", "q_len", "kv_len", "num_splits", "block_table", "seq_lens", "max_pages", "threshold"]
//       CHECK:   %[[LP:.*]] = llvm.inttoptr %[[LENS]] : i64 to !llvm.ptr<1>
//       CHECK:   llvm.load %{{.*}} : !llvm.ptr<1> -> i32
//       CHECK:   arith.muli %[[MAXP]], %c16_i32
//       CHECK:   llvm.inttoptr %[[TABLE]] : i64 to !llvm.ptr<1>
//       CHECK:   llvm.load %{{.*}} : !llvm.ptr<1> -> i32
//       CHECK:   nvvm.cp.async.shared.global
//       CHECK: gpu.func @skipattn_decode_wide_bf16_h8x2_d128_m64n64_skip_paged16(
//   CHECK-NOT: gpu.func @skipattn_combine
func.func @paged(%q: tensor<?x8x?x128xbf16>, %kp: tensor<?x16x2x128xbf16>, %vp: tensor<?x16x2x128xbf16>, %t: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x8x?x128xbf16> {
  // expected-error @+1 {{convert-attn-to-gpu: paged attention has no host launch (its decode kernels take a split count that the runtime picks); compile it into a kernel bundle (skipattn-compile), or generate its kernels with convert-attn-to-gpu{launch=false}}}
  %o = attn.paged_attention %q, %kp, %vp, %t, %l {skip = #attn.skip<threshold = 1.0e-3>} : tensor<?x8x?x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x16x2x128xbf16>, tensor<?x?xi32>, tensor<?xi32> -> tensor<?x8x?x128xbf16>
  return %o : tensor<?x8x?x128xbf16>
}
