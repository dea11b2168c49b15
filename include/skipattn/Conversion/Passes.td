//===- Passes.td - conversions out of the attn dialect -----*- tablegen -*-===//
//
// The lowerings of tiled attention: to CPU loops, and to GPU kernels.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_CONVERSION_PASSES_TD
#define SKIPATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLoops : Pass<"convert-attn-to-loops"> {
  let summary = "Lower tiled attention (attn tile ops) to linalg, tensor and scf";
  let description = [{
    Replaces every attn tile op that attn-tile and attn-insert-block-skip
    produce with the computation it stands for, on tensors: tile loads
    become `tensor.generate` with bounds checks, the two contractions
    `linalg.matmul`, the masking, exponentials, row reductions and votes
    `linalg.generic` / `linalg.reduce`. The loop structure (scf.forall over
    q-blocks, scf.for over kv-blocks, scf.if of the skip predicate) is kept.
    attn-lower-to-cpu then bufferizes the result and turns the linalg ops
    into scf loops.

    An `attn.attention` that was not tiled, or a kv loop still marked for
    attn-insert-block-skip, is an error that says which pass to run.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertAttnToGPU : Pass<"convert-attn-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower tiled attention to a tensor-core GPU kernel and its launch";
  let description = [{
    Replaces each tiled attention (the scf.forall that attn-tile builds,
    predicated or not by attn-insert-block-skip) with a `gpu.launch_func` of
    a kernel generated into `gpu.module @skipattn_kernels`.

    The kernel follows FlashAttention-2 on mma.sync (DESIGN.md section 5):
    one CTA per (q-block, query head, batch) with 16 query rows per warp
    (BM = 64: 4 warps, BM = 128: 8 warps); Q kept in registers as ldmatrix
    fragments; K and V tiles double-buffered through swizzled shared memory
    with cp.async; `mma.sync.m16n8k16` with f32 accumulation for Q K^T and
    P V, P kept in registers; exp2 with the scale folded in. The tiled IR
    fixes what the kernel computes: block sizes, scale, causal, GQA, and,
    with the predicate, the Skip-Softmax test as a warp vote (vote.sync)
    followed by a CTA vote (bar.red.and), a run-time threshold argument, and
    counters when the IR counts tiles.

    On the host side, Q, K and V must be device buffers; the output is
    allocated with gpu.alloc. Batch and lengths are run-time kernel
    arguments (i32), pointers are passed as i64.

    With `decode-kernels`, the module also gets the split-KV decode kernel
    and its combine kernel (for decode: G query heads x Sq <= 16 rows), for
    a runtime that picks a kernel by shape, as kernel bundles do; the host
    launch itself always uses the prefill kernel.

    With `chip=sm_90a` and block-m 64, block-n 64 or 128 and a vote group
    of the q-block, the prefill kernel is the Hopper one (DESIGN.md section
    5, phase 2): a CTA of a producer and two consumer warpgroups, each
    consumer owning one q-block; its q, k and v arguments are the addresses
    of CUtensorMaps, which the host code gets from
    `mgpuSkipattnTensorMapEncode` (libskipattn_runtime).

    attn.paged_attention (its tiled form, with attn.load_paged_tile) gets
    the decode kernels only, which read K and V from the pages through the
    block table; it has no host launch (the split count is the runtime's),
    so it needs `kernels-only`, which bundles use: the kernels are
    generated and the attention's results become ub.poison.
    Cases the kernel does not cover are refused with a diagnostic that
    names them: f32 element type, head dims other than 64 and 128, value
    head dim different from the head dim, the mask operand, block sizes the
    warp layout cannot tile, vote groups other than the q-block or a warp.
  }];
  let options = [
    Option<"decodeKernels", "decode-kernels", "bool", /*default=*/"false",
           "Also generate the split-KV decode and combine kernels">,
    Option<"kernelsOnly", "kernels-only", "bool", /*default=*/"false",
           "Generate the kernels but no host launch: the attention's "
           "results become ub.poison (for kernel bundles, whose runtime "
           "launches the kernels; paged attention needs it)">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "Target chip: sm_90a gets the Hopper prefill kernel (TMA, wgmma, "
           "warp specialization) where the tiling allows it; sm_80 and "
           "newer the mma.sync kernels">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::ub::UBDialect"
  ];
}

#endif // SKIPATTN_CONVERSION_PASSES_TD
