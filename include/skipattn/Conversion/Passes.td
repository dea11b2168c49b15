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
  let summary = "Generate the tensor-core GPU kernels of tiled attention (and, by default, their launch)";
  let description = [{
    Generates a kernel for each tiled attention (the scf.forall that
    attn-tile builds, predicated or not by attn-insert-block-skip) into
    `gpu.module @skipattn_kernels` of the module that holds the attention,
    and, with `launch` (the default), replaces the attention by the host
    code that launches it, as `convert-attn-to-gpu-launch` does. With
    `launch=false` the tiled attention stays for convert-attn-to-gpu-launch
    (run on the functions) or for a compiler that launches the kernels
    itself.

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

    With `decode-kernels`, the module also gets the split-KV decode kernel
    and its combine kernel (for decode: G query heads x Sq <= 16 rows), for
    a runtime that picks a kernel by shape, as kernel bundles do; the host
    launch itself always uses the prefill kernel.

    With `chip=sm_90a` and block-m 64, block-n 64 or 128 and a vote group
    of the q-block, the prefill kernel is the Hopper one (DESIGN.md section
    5, phase 2): a CTA of a producer and two consumer warpgroups, each
    consumer owning one q-block; its q, k and v arguments are the addresses
    of CUtensorMaps, which the host code gets from
    `mgpuSkipattnTensorMapEncode` (libskipattn_runtime), declared in the
    module by this pass.

    Each generated gpu.func carries `attn.kernel = #attn.kernel<...>`: its
    role, parameter names, threads, dynamic shared memory and block sizes,
    which is what a runtime needs to launch it (skipattn-compile writes it
    into the bundle manifest).

    attn.paged_attention (its tiled form, with attn.load_paged_tile) gets
    the decode kernels only, which read K and V from the pages through the
    block table; it has no host launch (the split count is the runtime's),
    so it needs `launch=false`, which bundles use.

    The mask operand (i1 or additive) is read by the mma.sync prefill and
    the decode kernels; an attention with a mask or the lse result keeps
    the mma.sync prefill kernel on sm_90a.

    Cases the kernel does not cover are refused with a diagnostic that
    names them, before anything is rewritten: f32 element type, head dims
    other than 64 and 128, value head dim different from the head dim,
    block sizes the warp layout cannot tile, vote groups
    other than the q-block or a warp, tiled attention inside device code.
  }];
  let options = [
    Option<"decodeKernels", "decode-kernels", "bool", /*default=*/"false",
           "Also generate the split-KV decode kernels">,
    Option<"decodeSharedMax", "decode-shared-max", "bool", /*default=*/"false",
           "Opt-in: skipping decode kernels also vote against the running "
           "maxima other splits publish in global memory (atomic max); "
           "faster, but skip counts depend on timing (docs/serving.md)">,
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "Target chip: sm_90a gets the Hopper prefill kernel (TMA, wgmma, "
           "warp specialization) where the tiling allows it; sm_80 and "
           "newer the mma.sync kernels">,
    Option<"launchKernels", "launch", "bool", /*default=*/"true",
           "Also replace each tiled attention by its launch "
           "(convert-attn-to-gpu-launch)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def ConvertAttnToGPULaunch : Pass<"convert-attn-to-gpu-launch"> {
  let summary = "Replace tiled attention by host code that launches its GPU kernel";
  let description = [{
    The host side of convert-attn-to-gpu, on its own so that it runs on a
    function (or any op) and leaves the module alone: each tiled attention
    becomes a `gpu.launch_func` of the prefill kernel that
    `convert-attn-to-gpu{launch=false}` generated for it with the same
    `chip`, named by its configuration in `@skipattn_kernels` (a launch of a
    kernel that was not generated fails verification).

    Q, K and V must be device buffers. Batch and lengths are run-time kernel
    arguments (i32), pointers are passed as i64, the Hopper kernel's inputs
    as tensor maps. Every user of the attention's result is kept: the result
    becomes a tensor over a gpu.alloc'ed output buffer, or, when its only use
    materializes it into a row-major memref, the kernel writes that memref
    directly; the buffer of an unused result is freed after the launch.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"sm_90a\"",
           "The chip convert-attn-to-gpu generated the kernels for">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // SKIPATTN_CONVERSION_PASSES_TD
