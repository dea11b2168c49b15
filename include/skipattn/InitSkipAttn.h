//===- InitSkipAttn.h - register skipattn's dialects and passes -*- C++ -*-===//
//
// One place that lists the dialects, extensions and passes of skipattn, so
// that skipattn-opt, skipattn-compile, the mlir-opt plugin and a compiler
// that embeds the pipeline accept the same IR.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_INITSKIPATTN_H
#define SKIPATTN_INITSKIPATTN_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace skipattn {

/// Adds the attn dialect and the upstream dialects and extensions the
/// pipeline reads or produces (func, arith, math, tensor, linalg, tosa, scf,
/// memref, vector, gpu, nvgpu, nvvm, llvm, transform and their helpers) to
/// `registry`, with the NVVM target interface.
void registerSkipAttnDialects(mlir::DialectRegistry &registry);

/// Registers skipattn's own passes and pipelines (attn-*, convert-attn-*,
/// attn-lower-to-*, attn-compile) for textual pipelines and the command
/// line. Safe to call more than once.
void registerSkipAttnPasses();

/// registerSkipAttnPasses, and the upstream passes that skipattn-opt offers
/// beside them. For tools; a host tool such as mlir-opt has its own.
void registerSkipAttnToolPasses();

/// The LLVM options skipattn's own executables start with, before they parse
/// their command line (which can still override them): -nvptx-short-ptr, so
/// that shared-memory addresses in the kernels are 32-bit (one register per
/// address). A global of the process: libraries and the plugin never set
/// it; a compiler that embeds the pipeline chooses for its own process.
void setToolDefaultLLVMOptions();

} // namespace skipattn

#endif // SKIPATTN_INITSKIPATTN_H
