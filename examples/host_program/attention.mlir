// A host function on device memrefs that calls attn.attention: GQA (8 query
// heads, 2 kv heads), causal, head dim 64, a ragged length (300), and
// Skip-Softmax. examples/host_program/build.sh lowers it with
//   skipattn-opt --attn-tile --attn-insert-block-skip=stats --attn-lower-to-nvvm
// (the kernels become PTX, this function LLVM code that launches them
// through the mgpu* ABI), mlir-translate and llc, and links the object with
// main.c and libskipattn_runtime. attn-insert-block-skip appends the
// threshold and the tile counters to the signature:
//   @attention(q, k, v, out, f32 threshold, memref<1x8x2xi64> counters)
// (the counters per (batch, query head): {tiles_total, tiles_skipped}).
// The result is materialized into %out: the kernel writes it there.
func.func @attention(%q: memref<1x8x300x64xf16>, %k: memref<1x2x300x64xf16>,
                     %v: memref<1x2x300x64xf16>, %out: memref<1x8x300x64xf16>)
    attributes {llvm.emit_c_interface} {
  %qt = bufferization.to_tensor %q restrict : memref<1x8x300x64xf16> to tensor<1x8x300x64xf16>
  %kt = bufferization.to_tensor %k restrict : memref<1x2x300x64xf16> to tensor<1x2x300x64xf16>
  %vt = bufferization.to_tensor %v restrict : memref<1x2x300x64xf16> to tensor<1x2x300x64xf16>
  %e = tensor.empty() : tensor<1x8x300x64xf16>
  %o = attn.attention %qt, %kt, %vt {causal, skip = #attn.skip<threshold = 1.0e-3>}
      : tensor<1x8x300x64xf16>, tensor<1x2x300x64xf16>, tensor<1x2x300x64xf16> -> tensor<1x8x300x64xf16> outs(%e)
  bufferization.materialize_in_destination %o in restrict writable %out
      : (tensor<1x8x300x64xf16>, memref<1x8x300x64xf16>) -> ()
  return
}
