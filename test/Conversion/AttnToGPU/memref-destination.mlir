// RUN: skipattn-opt %s --attn-tile --convert-attn-to-gpu --split-input-file | FileCheck %s

// A result materialized into a memref: the kernel writes the memref itself
// (it must be device memory, as q, k and v are); no gpu.alloc, no copy.
// CHECK-LABEL: func.func @into_memref
//  CHECK-SAME:   %[[OUT:[a-z0-9]+]]: memref<1x4x?x64xf16>)
//   CHECK-NOT:   gpu.alloc
//       CHECK:   memref.extract_aligned_pointer_as_index %[[OUT]]
//       CHECK:   gpu.launch_func
//   CHECK-NOT:   bufferization.materialize_in_destination
//       CHECK:   return
func.func @into_memref(%q: memref<1x4x?x64xf16>, %k: memref<1x4x?x64xf16>,
                       %v: memref<1x4x?x64xf16>, %out: memref<1x4x?x64xf16>) {
  %qt = bufferization.to_tensor %q restrict : memref<1x4x?x64xf16> to tensor<1x4x?x64xf16>
  %kt = bufferization.to_tensor %k restrict : memref<1x4x?x64xf16> to tensor<1x4x?x64xf16>
  %vt = bufferization.to_tensor %v restrict : memref<1x4x?x64xf16> to tensor<1x4x?x64xf16>
  %init_o_c2 = arith.constant 2 : index
  %init_o_d2 = tensor.dim %qt, %init_o_c2 : tensor<1x4x?x64xf16>
  %init_o = tensor.empty(%init_o_d2) : tensor<1x4x?x64xf16>
  %o = attn.attention %qt, %kt, %vt : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16> -> tensor<1x4x?x64xf16> outs(%init_o)
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<1x4x?x64xf16>, memref<1x4x?x64xf16>) -> ()
  return
}

// -----

// A strided destination cannot be the kernel's output: the result gets a
// buffer of its own and is then copied.
// CHECK-LABEL: func.func @into_strided
//       CHECK:   %[[BUF:.*]] = gpu.alloc
//       CHECK:   gpu.launch_func
//       CHECK:   %[[T:.*]] = bufferization.to_tensor %[[BUF]]
//       CHECK:   bufferization.materialize_in_destination %[[T]]
func.func @into_strided(%q: tensor<1x4x64x64xf16>, %k: tensor<1x4x64x64xf16>,
                        %v: tensor<1x4x64x64xf16>,
                        %out: memref<1x4x64x64xf16, strided<[32768, 8192, 128, 1]>>) {
  %init_o = tensor.empty() : tensor<1x4x64x64xf16>
  %o = attn.attention %q, %k, %v : tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16>, tensor<1x4x64x64xf16> -> tensor<1x4x64x64xf16> outs(%init_o)
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<1x4x64x64xf16>, memref<1x4x64x64xf16, strided<[32768, 8192, 128, 1]>>) -> ()
  return
}
