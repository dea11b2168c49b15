// RUN: skipattn-opt %S/decode.mlir --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu="decode-kernels decode-shared-max" | FileCheck %s

// The opt-in shared-max decode (docs/serving.md): before each vote a split
// reads the row maxima the other splits published (relaxed atomic loads,
// at workspace + B * Hkv * 4, after the arrival counters), votes against
// max(own running max, published), and publishes its running max after
// every kept tile (atomic unsigned max of an order-preserving encoding).
// CHECK-LABEL: gpu.func @skipattn_decode_f16_h4x1_d64_m64n64_skipsf_sharedmax_stats(
//       CHECK:   scf.for
//       CHECK:     nvvm.cp.async.wait.group 1
//  CHECK-NEXT:     nvvm.barrier0
//  CHECK-NEXT:     %[[PUB:.*]] = llvm.load %[[SLOT:[0-9]+]] atomic syncscope("device") monotonic {{.*}} -> i32
// Decoded: 0 is "nothing published" (-inf).
//       CHECK:     arith.bitcast %{{.*}} : i32 to f32
//       CHECK:     arith.cmpi eq, %[[PUB]], %c0_i32
//       CHECK:     nvvm.mma.sync
//       CHECK:     %[[BOUND:.*]] = arith.maxnumf %{{.*}}, %{{.*}} : f32
//       CHECK:     nvvm.vote.sync  all
//       CHECK:     scf.if
//       CHECK:       arith.ori %{{.*}}, %c-2147483648_i32 : i32
//       CHECK:       arith.xori %{{.*}}, %c-1_i32{{.*}} : i32
//       CHECK:       llvm.atomicrmw umax %[[SLOT]], %{{.*}} syncscope("device") monotonic : !llvm.ptr<1>, i32
// The default kernel of the same attention publishes nothing.
// RUN: skipattn-opt %S/decode.mlir --attn-tile --attn-insert-block-skip=stats --convert-attn-to-gpu=decode-kernels | FileCheck %s --check-prefix=DEFAULT
//   DEFAULT-NOT: umax
//   DEFAULT-NOT: sharedmax
