// RUN: skipattn-opt %s --attn-tile=block-m=128 "--attn-insert-block-skip=vote=16 stats" --attn-lower-to-cpu | FileCheck %s
// RUN: skipattn-opt %s --attn-tile="block-m=128 kv-splits" "--attn-insert-block-skip=vote=16 stats" --attn-lower-to-cpu | FileCheck %s

// Vote groups finer than the q-block (a warp's 16 rows of a 128-row block,
// as the GPU's warp vote): attn-insert-block-skip ANDs the groups' votes
// with "not the first block" as a tensor<8xi1>, an arith op on a whole
// tensor that attn-lower-to-cpu turns into linalg before bufferizing, so
// that the function reaches the LLVM dialect; the same with the kv range
// in parts (kv-splits), whose seeded loops vote alike.
// CHECK-LABEL: llvm.func @warp_votes
// CHECK:         llvm.intr.log
// CHECK:         llvm.atomicrmw add
// CHECK:         llvm.intr.exp
// CHECK-NOT:     attn.
// CHECK-NOT:     linalg.
// CHECK-NOT:     tensor.
// CHECK-NOT:     bufferization.
// CHECK-NOT:     scf.
// CHECK-NOT:     memref.
func.func @warp_votes(%q: tensor<1x4x200x64xf32>, %k: tensor<1x2x300x64xf32>, %v: tensor<1x2x300x64xf32>) -> tensor<1x4x200x64xf32> {
  %init = tensor.empty() : tensor<1x4x200x64xf32>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x200x64xf32>, tensor<1x2x300x64xf32>, tensor<1x2x300x64xf32> -> tensor<1x4x200x64xf32> outs(%init)
  return %o : tensor<1x4x200x64xf32>
}
