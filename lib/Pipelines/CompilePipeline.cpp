//===- CompilePipeline.cpp - attention from linalg/TOSA to LLVM -----------===//
//
// attn-compile, the whole pipeline behind skipattn-compile as one
// OpPassManager builder that any compiler can call: the front half finds
// attention in upstream dialects (attn-raise), turns skipping on where the
// options ask for it (attn-request-skip), tiles it into the flash loop
// (attn-tile) and inserts the skip predicate (attn-insert-block-skip); the
// target half is attn-lower-to-cpu or attn-lower-to-nvvm. Options are
// checked when the pipeline is built: invalid ones become a pass that
// reports them, never passes that would crash on them.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Pipelines/Pipelines.h"

#include "InvalidOptions.h"

#include "skipattn/Conversion/Passes.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <optional>

using namespace mlir;
using namespace skipattn;

int64_t CompileOptions::getBlockM() const {
  if (blockM > 0)
    return blockM;
  // Measured on the H100 (bench/RESULTS.md): 128-row q-blocks halve the K/V
  // traffic per FLOP of the mma.sync kernel; the Hopper kernel gives each
  // consumer warpgroup a 64-row q-block.
  return target == "gpu" && chip == "sm_80" ? 128 : 64;
}

int64_t CompileOptions::getBlockN() const {
  if (blockN > 0)
    return blockN;
  // FlashAttention-3's tile on sm_90a.
  return target == "gpu" && chip == "sm_90a" ? 128 : 64;
}

/// The first error in the options that attn-compile checks itself (the
/// target half checks chip and format).
static std::optional<std::string> invalidOptions(const CompileOptions &o) {
  if (o.target != "cpu" && o.target != "gpu")
    return "attn-compile: target must be cpu or gpu, got '" + o.target + "'";
  if (o.blockM < 0 || o.blockN < 0)
    return "attn-compile: block-m and block-n must be positive (or 0 for the "
           "target's default)";
  if (o.voteRows < 0)
    return "attn-compile: vote must be 0 (the q-block) or positive, got " +
           std::to_string(o.voteRows);
  if ((o.packGQA || o.kvSplits) && o.target != "cpu")
    return std::string("attn-compile: pack-gqa and kv-splits are CPU tilings "
                       "(the GPU decode kernel packs and splits on its own)");
  if (o.skipThreshold != 0.0 && o.skipScaleFactor != 0.0)
    return std::string(
        "attn-compile: give skip-threshold or skip-scale-factor, not both");
  return std::nullopt;
}

void skipattn::buildAttentionFrontPipeline(OpPassManager &pm,
                                           const CompileOptions &options) {
  if (std::optional<std::string> error = invalidOptions(options))
    return pm.addPass(createInvalidOptionsPass(*error));
  // On each op of the module (functions, nested modules), in parallel.
  OpPassManager &perOp = pm.nestAny();
  if (options.raise)
    perOp.addPass(attn::createAttnRaise());
  if (options.skipThreshold != 0.0 || options.skipScaleFactor != 0.0) {
    attn::AttnRequestSkipOptions skip;
    skip.threshold = options.skipThreshold;
    skip.scaleFactor = options.skipScaleFactor;
    perOp.addPass(attn::createAttnRequestSkip(skip));
  }
  attn::AttnTileOptions tile;
  tile.blockM = options.getBlockM();
  tile.blockN = options.getBlockN();
  tile.packGQA = options.packGQA;
  tile.kvSplits = options.kvSplits;
  perOp.addPass(attn::createAttnTile(tile));
  // Module level: it adds the threshold and counter arguments to the
  // functions, which must have no callers.
  attn::AttnInsertBlockSkipOptions skip;
  skip.voteRows = options.voteRows;
  skip.stats = options.stats;
  pm.addPass(attn::createAttnInsertBlockSkip(skip));
}

void skipattn::buildCompilePipeline(OpPassManager &pm,
                                    const CompileOptions &options) {
  if (std::optional<std::string> error = invalidOptions(options))
    return pm.addPass(createInvalidOptionsPass(*error));
  buildAttentionFrontPipeline(pm, options);
  if (options.target == "cpu") {
    LowerToCPUOptions cpu;
    cpu.cpu = options.cpu;
    return buildLowerToCPUPipeline(pm, cpu);
  }
  LowerToNVVMOptions gpu;
  gpu.chip = options.chip;
  gpu.format = options.format;
  gpu.decodeKernels = options.decodeKernels;
  buildLowerToNVVMPipeline(pm, gpu);
}

void skipattn::registerCompilePipeline() {
  PassPipelineRegistration<CompileOptions>(
      "attn-compile",
      "Attention from linalg or TOSA to the LLVM dialect: attn-raise, "
      "attn-request-skip, attn-tile, attn-insert-block-skip, then "
      "attn-lower-to-cpu or attn-lower-to-nvvm",
      buildCompilePipeline);
}
