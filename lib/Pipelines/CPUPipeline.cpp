//===- CPUPipeline.cpp - tiled attention to LLVM for the host -------------===//
//
// attn-lower-to-cpu, in three steps: the attn tile ops become linalg and
// tensor code (convert-attn-to-loops, and convert-elementwise-to-linalg for
// the arith ops on whole tensors around them); one-shot bufferization turns
// tensors into buffers, with ownership-based deallocation; then loops and
// the standard conversions reach the LLVM dialect. bf16 arithmetic is
// expanded to integer ops, so the host object needs no bf16 support from the
// C runtime.
//
// The target CPU is an option (cpu=, skipattn-compile --cpu): a portable
// x86-64 level by default, or `native`. It resolves to the x86-64 baseline
// plus an explicit list of instruction-set extensions, which every function
// is marked with (llvm.func target_features), so that the code uses exactly
// the extensions the bundle's manifest lists and the runtime checks on the
// machine that loads it, instead of dying there with SIGILL.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Pipelines/Pipelines.h"

#include "InvalidOptions.h"

#include "skipattn/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
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
#include "llvm/ADT/StringExtras.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

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

//===----------------------------------------------------------------------===//
// Target CPU
//===----------------------------------------------------------------------===//

/// The extensions (LLVM's names) of the x86-64 micro-architecture levels
/// beyond the baseline, each level adding to the one before, as LLVM 22
/// defines x86-64-v2, -v3 and -v4.
static const char *const kLevelFeatures[3][9] = {
    {"cx16", "crc32", "sahf", "popcnt", "sse3", "ssse3", "sse4.1", "sse4.2"},
    {"avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave"},
    {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}};

/// Further extensions a native build may use: the ones the runtime can test
/// (kernels_runtime/lib/HostCpu.cpp has the same list). Others that this
/// machine has are left off, so the code never needs one that no check
/// covers.
static const char *const kNativeExtras[] = {
    "aes",        "pclmul",      "gfni",          "vpclmulqdq",
    "avx512vbmi", "avx512vbmi2", "avx512ifma",    "avx512vnni",
    "avx512bitalg", "avx512vpopcntdq", "avx512bf16", "sha",
    "adx",        "fma4",        "xop",           "sse4a",
    "avxvnni"};

std::string skipattn::CPUTarget::featureString() const {
  std::string result;
  for (const std::string &feature : features)
    result += (result.empty() ? "+" : ",+") + feature;
  return result;
}

std::optional<skipattn::CPUTarget>
skipattn::resolveCPUTarget(StringRef name, std::string &error) {
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  if (triple.getArch() != llvm::Triple::x86_64) {
    error = "cpu: host bundles are compiled for x86-64 only, and this "
            "machine is " +
            triple.str();
    return std::nullopt;
  }
  CPUTarget target;
  target.name = name.str();
  target.cpu = "x86-64";
  target.tuneCpu = "generic";
  int level = llvm::StringSwitch<int>(name)
                  .Case("x86-64", 0)
                  .Case("x86-64-v2", 1)
                  .Case("x86-64-v3", 2)
                  .Case("x86-64-v4", 3)
                  .Case("native", 4)
                  .Default(-1);
  if (level < 0) {
    error = "cpu must be x86-64, x86-64-v2, x86-64-v3, x86-64-v4 or native, "
            "got '" +
            name.str() + "'";
    return std::nullopt;
  }
  if (level < 4) {
    for (int l = 0; l < level; ++l)
      for (const char *feature : kLevelFeatures[l])
        if (feature)
          target.features.push_back(feature);
    return target;
  }
  // native: this machine's share of the levels' and the extras' extensions.
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  auto add = [&](const char *feature) {
    if (feature && host.lookup(feature))
      target.features.push_back(feature);
  };
  for (const auto &levelFeatures : kLevelFeatures)
    llvm::for_each(levelFeatures, add);
  llvm::for_each(kNativeExtras, add);
  target.tuneCpu = llvm::sys::getHostCPUName().str();
  return target;
}

namespace {
/// Marks every defined llvm.func with the target CPU, so that translation
/// to LLVM IR carries target-cpu, target-features and tune-cpu, and code
/// generation uses nothing else.
struct MarkCPUTargetPass
    : public PassWrapper<MarkCPUTargetPass, OperationPass<>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(MarkCPUTargetPass)
  explicit MarkCPUTargetPass(skipattn::CPUTarget target)
      : target(std::move(target)) {}
  StringRef getArgument() const override { return "attn-mark-cpu-target"; }
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    auto cpu = StringAttr::get(ctx, target.cpu);
    auto tune = StringAttr::get(ctx, target.tuneCpu);
    // The baseline has no extensions beyond the CPU's own: no attribute.
    LLVM::TargetFeaturesAttr features;
    if (!target.features.empty())
      features = LLVM::TargetFeaturesAttr::get(ctx, target.featureString());
    getOperation()->walk([&](LLVM::LLVMFuncOp func) {
      if (func.isExternal())
        return;
      func.setTargetCpuAttr(cpu);
      func.setTuneCpuAttr(tune);
      if (features)
        func.setTargetFeaturesAttr(features);
    });
  }
  skipattn::CPUTarget target;
};
} // namespace

//===----------------------------------------------------------------------===//
// Pipeline
//===----------------------------------------------------------------------===//

/// Tile ops to linalg/tensor code, cleaned up. Elementwise arith on whole
/// tensors, which one-shot bufferization cannot bufferize, becomes linalg
/// too: attn-insert-block-skip ANDs the vote groups (vote= finer than the
/// q-block) with "not the first block" as tensor<Gxi1> values.
static void buildAttnToLinalg(OpPassManager &pm) {
  OpPassManager &perOp = pm.nestAny();
  perOp.addPass(skipattn::createConvertAttnToLoops());
  perOp.addPass(createConvertElementwiseToLinalgPass());
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

void skipattn::buildLowerToCPUPipeline(OpPassManager &pm,
                                       const LowerToCPUOptions &options) {
  std::string error;
  std::optional<CPUTarget> target = resolveCPUTarget(options.cpu, error);
  if (!target)
    return pm.addPass(createInvalidOptionsPass("attn-lower-to-cpu: " + error));
  buildAttnToLinalg(pm);
  buildBufferization(pm);
  buildLoopsToLLVM(pm);
  pm.addPass(std::make_unique<MarkCPUTargetPass>(*target));
}

void skipattn::buildLowerToCPUPipeline(OpPassManager &pm) {
  buildLowerToCPUPipeline(pm, LowerToCPUOptions());
}

void skipattn::registerSkipAttnPipelines() {
  PassPipelineRegistration<LowerToCPUOptions>(
      "attn-lower-to-cpu",
      "Lower tiled attention to the LLVM dialect for the host (CPU bundle)",
      [](OpPassManager &pm, const LowerToCPUOptions &options) {
        buildLowerToCPUPipeline(pm, options);
      });
  PassPipelineRegistration<LowerToNVVMOptions>(
      "attn-lower-to-nvvm",
      "Lower tiled attention to PTX kernels (gpu-module-to-binary) and host "
      "code that launches them through the mgpu* runtime ABI",
      buildLowerToNVVMPipeline);
}
