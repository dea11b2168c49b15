//===- CPUPipeline.cpp - tiled attention to LLVM for the host -------------===//
//
// attn-lower-to-cpu, in three steps: the attn tile ops become linalg and
// tensor code (convert-attn-to-loops); one-shot bufferization turns tensors
// into buffers, with ownership-based deallocation; then loops and the
// standard conversions reach the LLVM dialect. bf16 arithmetic is expanded
// to integer ops, so the host object needs no bf16 support from the C
// runtime.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Pipelines/Pipelines.h"

#include "skipattn/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {
/// Rewrites memref.copy as linalg.copy, which becomes plain loops: a copy
/// into a strided view would otherwise call memrefCopy from MLIR's C runner
/// library, which a bundle must not depend on.
struct CopiesToLinalgPass
    : public PassWrapper<CopiesToLinalgPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(CopiesToLinalgPass)
  StringRef getArgument() const override { return "attn-copies-to-linalg"; }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<linalg::LinalgDialect>();
  }
  void runOnOperation() override {
    getOperation()->walk([](memref::CopyOp copy) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    });
  }
};
} // namespace

/// Tile ops to linalg/tensor code, cleaned up.
static void buildAttnToLinalg(OpPassManager &pm) {
  pm.nestAny().addPass(skipattn::createConvertAttnToLoops());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// Tensors to buffers: function boundaries too, so that a function on
/// tensors lowers as well as the bundle's memref entry.
static void buildBufferization(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions options;
  options.bufferizeFunctionBoundaries = true;
  // The kv loop yields new (max, sum, acc) tiles each iteration.
  options.allowReturnAllocsFromLoops = true;
  options.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // Write the result straight into the destination buffer.
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  pm.addPass(bufferization::createOneShotBufferizePass(options));
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
}

/// Loops and buffers to the LLVM dialect.
static void buildLoopsToLLVM(OpPassManager &pm) {
  pm.addPass(std::make_unique<CopiesToLinalgPass>());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createForallToForLoopPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
}

void skipattn::buildLowerToCPUPipeline(OpPassManager &pm) {
  buildAttnToLinalg(pm);
  buildBufferization(pm);
  buildLoopsToLLVM(pm);
}

void skipattn::registerSkipAttnPipelines() {
  PassPipelineRegistration<>(
      "attn-lower-to-cpu",
      "Lower tiled attention to the LLVM dialect for the host (CPU bundle)",
      buildLowerToCPUPipeline);
  PassPipelineRegistration<LowerToNVVMOptions>(
      "attn-lower-to-nvvm",
      "Lower tiled attention to PTX kernels (gpu-module-to-binary) and host "
      "code that launches them through the mgpu* runtime ABI",
      buildLowerToNVVMPipeline);
}
