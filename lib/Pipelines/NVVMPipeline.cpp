//===- NVVMPipeline.cpp - tiled attention to PTX --------------------------===//
//
// attn-lower-to-nvvm: convert-attn-to-gpu generates the kernels and
// convert-attn-to-gpu-launch, on each function, their launches; host
// tensors are bufferized; MLIR's GPU-to-NVVM pipeline then
// lowers the kernels to NVVM and PTX (gpu-module-to-binary) and the host
// code to LLVM calls of the mgpu* runtime ABI that libskipattn_runtime
// implements. The binary is PTX text (`isa`), or a fatbin holding PTX and a
// cubin when ptxas is there to make one.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Pipelines/Pipelines.h"

#include "InvalidOptions.h"

#include "skipattn/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/Program.h"

#include <optional>

using namespace mlir;

bool skipattn::havePtxas() {
  if (llvm::sys::findProgramByName("ptxas"))
    return true;
  return static_cast<bool>(
      llvm::sys::findProgramByName("ptxas", {"/usr/local/cuda/bin"}));
}

namespace {
struct InvalidOptionsPass
    : public PassWrapper<InvalidOptionsPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(InvalidOptionsPass)
  explicit InvalidOptionsPass(std::string message)
      : message(std::move(message)) {}
  StringRef getArgument() const override { return "attn-invalid-options"; }
  void runOnOperation() override {
    getOperation()->emitError(message);
    signalPassFailure();
  }
  std::string message;
};
} // namespace

std::unique_ptr<Pass> skipattn::createInvalidOptionsPass(std::string message) {
  return std::make_unique<InvalidOptionsPass>(std::move(message));
}

/// The error in attn-lower-to-nvvm's options, if any.
static std::optional<std::string>
invalidOptions(const skipattn::LowerToNVVMOptions &options) {
  if (!skipattn::isSupportedGPUChip(options.chip))
    return "attn-lower-to-nvvm: chip must be " +
           std::string(skipattn::kSupportedGPUChips) + ", got '" +
           options.chip + "'";
  // gpu-module-to-binary's own spellings of the three formats. It reports
  // any other value but does not fail.
  StringRef format = options.format;
  if (!llvm::is_contained(
          {"isa", "assembly", "bin", "binary", "fatbin", "fatbinary"}, format))
    return "attn-lower-to-nvvm: format must be isa, bin or fatbin, got '" +
           options.format + "'";
  return std::nullopt;
}

/// Runs the upstream GPU pipeline for a chip, with PTX ISA 8.0, which sm_80
/// and sm_90a both accept.
static void buildGPUPipeline(OpPassManager &pm,
                             const skipattn::LowerToNVVMOptions &options) {
  gpu::GPUToNVVMPipelineOptions gpu;
  gpu.cubinChip = options.chip;
  gpu.cubinFeatures = "+ptx80";
  gpu.cubinFormat = options.format;
  gpu.optLevel = 3;
  gpu::buildLowerToNVVMPassPipeline(pm, gpu);
}

void skipattn::buildKernelsToPTXPipeline(OpPassManager &pm,
                                         const LowerToNVVMOptions &options) {
  if (std::optional<std::string> error = invalidOptions(options))
    return pm.addPass(createInvalidOptionsPass(*error));
  buildGPUPipeline(pm, options);
}

void skipattn::buildLowerToNVVMPipeline(OpPassManager &pm,
                                        const LowerToNVVMOptions &options) {
  if (std::optional<std::string> error = invalidOptions(options))
    return pm.addPass(createInvalidOptionsPass(*error));
  ConvertAttnToGPUOptions kernels;
  kernels.chip = options.chip;
  kernels.decodeKernels = options.decodeKernels;
  kernels.launchKernels = false;
  pm.addPass(createConvertAttnToGPU(kernels));
  ConvertAttnToGPULaunchOptions launch;
  launch.chip = options.chip;
  pm.nestAny().addPass(createConvertAttnToGPULaunch(launch));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createConvertBufferizationToMemRefPass());
  buildGPUPipeline(pm, options);
}
