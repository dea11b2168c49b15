//===- InitSkipAttn.h - register what skipattn tools need -------*- C++ -*-===//
//
// One place that lists the dialects, extensions and passes of the skipattn
// tools, so that skipattn-opt and skipattn-compile accept the same IR.
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
/// memref, vector, gpu, nvgpu, nvvm, llvm and their helpers) to `registry`,
/// with the NVVM target interface.
void registerSkipAttnDialects(mlir::DialectRegistry &registry);

/// Registers skipattn's passes and pipelines and the upstream passes the
/// pipeline uses, for command-line use.
void registerSkipAttnPasses();

} // namespace skipattn

#endif // SKIPATTN_INITSKIPATTN_H
