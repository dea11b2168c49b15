//===- Pipelines.h - skipattn's lowering pipelines --------------*- C++ -*-===//
//
// The pipelines that take tiled attention to LLVM: attn-lower-to-cpu (host
// code for the CPU bundle) and, with the GPU work, attn-lower-to-nvvm.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_PIPELINES_PIPELINES_H
#define SKIPATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace skipattn {

/// Tiled (and possibly skip-predicated) attention to the LLVM dialect, for
/// the host: convert-attn-to-loops, bufferization, loops, LLVM.
void buildLowerToCPUPipeline(mlir::OpPassManager &pm);

/// Options of attn-lower-to-nvvm.
struct LowerToNVVMOptions
    : public mlir::PassPipelineOptions<LowerToNVVMOptions> {
  Option<std::string> chip{
      *this, "chip", llvm::cl::desc("GPU chip: sm_90a (default) or sm_80"),
      llvm::cl::init("sm_90a")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary: isa (PTX), bin (cubin) or fatbin (PTX "
                     "and cubin, needs ptxas)"),
      llvm::cl::init("isa")};
};

/// Tiled attention to host code that launches PTX kernels: the kernels and
/// launches (convert-attn-to-gpu), host bufferization, then MLIR's GPU to
/// NVVM pipeline ending in gpu-module-to-binary.
void buildLowerToNVVMPipeline(mlir::OpPassManager &pm,
                              const LowerToNVVMOptions &options);

/// Only the device part: a module of gpu.modules to gpu.binary ops.
void buildKernelsToPTXPipeline(mlir::OpPassManager &pm,
                               const LowerToNVVMOptions &options);

/// Whether ptxas can be found (on PATH or in /usr/local/cuda/bin).
bool havePtxas();

/// Sets the NVPTX back end options the kernels are written for (32-bit
/// shared-memory pointers). Call once at tool start-up, before any
/// pipeline runs.
void configureNVPTXBackend();

/// Registers attn-lower-to-cpu (and the other pipelines) for skipattn-opt.
void registerSkipAttnPipelines();

} // namespace skipattn

#endif // SKIPATTN_PIPELINES_PIPELINES_H
