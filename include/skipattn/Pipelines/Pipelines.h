//===- Pipelines.h - skipattn's lowering pipelines --------------*- C++ -*-===//
//
// The pipelines that take tiled attention to LLVM: attn-lower-to-cpu (host
// code for the CPU bundle) and, with the GPU work, attn-lower-to-nvvm.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_PIPELINES_PIPELINES_H
#define SKIPATTN_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace skipattn {

/// The CPU a host bundle is compiled for, when no one says:
/// a level that every x86-64 processor since 2009 runs.
inline constexpr const char *kDefaultCPU = "x86-64-v2";

/// Options of attn-lower-to-cpu.
struct LowerToCPUOptions
    : public mlir::PassPipelineOptions<LowerToCPUOptions> {
  Option<std::string> cpu{
      *this, "cpu",
      llvm::cl::desc("Target CPU: x86-64, x86-64-v2 (default), x86-64-v3, "
                     "x86-64-v4, or native (this machine's extensions)"),
      llvm::cl::init(kDefaultCPU)};
};

/// What a CPU name resolves to: code for the baseline `cpu` plus exactly
/// `features` (LLVM's names of instruction-set extensions, each one the
/// runtime can test on the machine that loads the bundle), scheduled for
/// `tuneCpu`.
struct CPUTarget {
  std::string name;    // as asked: "x86-64-v2", "native", ...
  std::string cpu;     // "x86-64" on x86 hosts
  std::string tuneCpu; // "generic", or this machine's CPU for native
  std::vector<std::string> features;
  /// "+sse3,+ssse3,..." for LLVM's target-features.
  std::string featureString() const;
};

/// Resolves a --cpu / cpu= value; on failure returns nullopt and sets
/// error to a message that names the accepted values.
std::optional<CPUTarget> resolveCPUTarget(llvm::StringRef name,
                                          std::string &error);

/// Tiled (and possibly skip-predicated) attention to the LLVM dialect, for
/// the host: convert-attn-to-loops, bufferization, loops, LLVM; functions
/// are marked with the target CPU and features of options.cpu.
void buildLowerToCPUPipeline(mlir::OpPassManager &pm,
                             const LowerToCPUOptions &options);

/// The same with the default CPU.
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
