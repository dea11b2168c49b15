//===- Pipelines.h - skipattn's compile pipelines ---------------*- C++ -*-===//
//
// The pipelines that take attention from upstream dialects to LLVM, for a
// compiler that adds them to its own pass manager:
//
//   mlir::PassManager pm(ctx);
//   skipattn::CompileOptions options;
//   options.target = "gpu";
//   options.skipThreshold = 1e-3;
//   skipattn::buildCompilePipeline(pm, options);
//
// buildCompilePipeline is the whole of it (registered as `attn-compile`):
// the front half (buildAttentionFrontPipeline: attn-raise, the skip request,
// attn-tile, attn-insert-block-skip) and a target half, attn-lower-to-cpu or
// attn-lower-to-nvvm. The passes that work inside one function are nested
// under the module (on each function, or nested module, in parallel) and
// stay inside it; only the ones that change the module (kernels, function
// signatures, bufferization across calls) run on the module itself. None of
// them sets a global LLVM option (see setToolDefaultLLVMOptions in
// InitSkipAttn.h).
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

/// Options of the whole compile pipeline, attn-compile.
struct CompileOptions : public mlir::PassPipelineOptions<CompileOptions> {
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("cpu (host code in the LLVM dialect) or gpu (PTX "
                     "kernels and host code that launches them)"),
      llvm::cl::init("cpu")};
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU chip: sm_90a or sm_80"),
                           llvm::cl::init("sm_90a")};
  Option<std::string> format{
      *this, "format",
      llvm::cl::desc("GPU kernel binary: isa (PTX), bin or fatbin"),
      llvm::cl::init("isa")};
  Option<bool> raise{*this, "raise",
                     llvm::cl::desc("Raise attention written in linalg or "
                                    "TOSA first (attn-raise)"),
                     llvm::cl::init(true)};
  Option<double> skipThreshold{
      *this, "skip-threshold",
      llvm::cl::desc("Ask every attention that has no skip attribute for "
                     "Skip-Softmax with this lambda (0: no request)"),
      llvm::cl::init(0.0)};
  Option<double> skipScaleFactor{
      *this, "skip-scale-factor",
      llvm::cl::desc("The same with lambda = F / Skv (0: no request)"),
      llvm::cl::init(0.0)};
  Option<int64_t> blockM{
      *this, "block-m",
      llvm::cl::desc("Query rows per q-block (0: 64; 128 for sm_80)"),
      llvm::cl::init(0)};
  Option<int64_t> blockN{
      *this, "block-n",
      llvm::cl::desc("Keys per kv-block (0: 64; 128 for sm_90a)"),
      llvm::cl::init(0)};
  Option<int64_t> voteRows{
      *this, "vote",
      llvm::cl::desc("Rows per skip vote group (0: the q-block)"),
      llvm::cl::init(0)};
  Option<bool> packGQA{
      *this, "pack-gqa",
      llvm::cl::desc("CPU: tile as the split-KV decode kernel does, the "
                     "query heads of a GQA group packed into the q-blocks "
                     "(attn-tile pack-gqa)"),
      llvm::cl::init(false)};
  Option<bool> kvSplits{
      *this, "kv-splits",
      llvm::cl::desc("CPU: cut each q-block's kv range into a run-time "
                     "number of parts (attn-tile kv-splits)"),
      llvm::cl::init(false)};
  Option<bool> stats{*this, "stats",
                     llvm::cl::desc("Count visited and skipped tiles into a "
                                    "memref<2xi64> argument"),
                     llvm::cl::init(false)};
  Option<bool> decodeKernels{
      *this, "decode-kernels",
      llvm::cl::desc("GPU: also generate the split-KV decode kernels"),
      llvm::cl::init(false)};
  Option<std::string> cpu{
      *this, "cpu",
      llvm::cl::desc("CPU target: x86-64, x86-64-v2 (default), x86-64-v3, "
                     "x86-64-v4, or native (this machine's extensions)"),
      llvm::cl::init(kDefaultCPU)};

  /// The block sizes with the target's defaults filled in.
  int64_t getBlockM() const;
  int64_t getBlockN() const;
};

/// The whole pipeline (attn-compile) into `pm`, a pass manager on
/// builtin.module: buildAttentionFrontPipeline, then attn-lower-to-cpu or
/// attn-lower-to-nvvm. Invalid options make the pipeline a single pass that
/// reports them.
void buildCompilePipeline(mlir::OpPassManager &pm,
                          const CompileOptions &options);

/// The target-independent front half: attn-raise (with `raise`), the skip
/// request for attentions without one (attn-request-skip), attn-tile and
/// attn-insert-block-skip.
void buildAttentionFrontPipeline(mlir::OpPassManager &pm,
                                 const CompileOptions &options);

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
  Option<bool> decodeKernels{
      *this, "decode-kernels",
      llvm::cl::desc("Also generate the split-KV decode kernels"),
      llvm::cl::init(false)};
};

/// Tiled attention to host code that launches PTX kernels: the kernels
/// (convert-attn-to-gpu{launch=false}) and, on each function, the launches
/// (convert-attn-to-gpu-launch); host bufferization, then MLIR's GPU to NVVM
/// pipeline ending in gpu-module-to-binary.
void buildLowerToNVVMPipeline(mlir::OpPassManager &pm,
                              const LowerToNVVMOptions &options);

/// Only the device part: a module of gpu.modules to gpu.binary ops.
void buildKernelsToPTXPipeline(mlir::OpPassManager &pm,
                               const LowerToNVVMOptions &options);

/// Whether ptxas can be found (on PATH or in /usr/local/cuda/bin).
bool havePtxas();

/// Registers attn-lower-to-cpu and attn-lower-to-nvvm.
void registerSkipAttnPipelines();

/// Registers attn-compile.
void registerCompilePipeline();

} // namespace skipattn

#endif // SKIPATTN_PIPELINES_PIPELINES_H
