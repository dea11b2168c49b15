//===- Pipelines.h - skipattn's lowering pipelines --------------*- C++ -*-===//
//
// The pipelines that take tiled attention to LLVM: attn-lower-to-cpu (host
// code for the CPU bundle) and, with the GPU work, attn-lower-to-nvvm.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_PIPELINES_PIPELINES_H
#define SKIPATTN_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace skipattn {

/// Tiled (and possibly skip-predicated) attention to the LLVM dialect, for
/// the host: convert-attn-to-loops, bufferization, loops, LLVM.
void buildLowerToCPUPipeline(mlir::OpPassManager &pm);

/// Registers attn-lower-to-cpu (and the other pipelines) for skipattn-opt.
void registerSkipAttnPipelines();

} // namespace skipattn

#endif // SKIPATTN_PIPELINES_PIPELINES_H
