//===- AttnFuzzer.cpp - libFuzzer target: attn IR through the passes ------===//
//
// The first byte picks a pass pipeline, the rest is MLIR source: parsed
// with the attn dialect (and the dialects the passes produce) registered,
// verified, and run through the pipeline. Invalid IR must be a diagnostic,
// a case a lowering cannot handle must be a diagnostic and a failed pass,
// never a crash, an assertion or an out-of-bounds access. The pipelines
// are the ones skipattn-opt users and skipattn-compile run, up to (not
// including) LLVM's code generators, which are not ours to fuzz.
//
//===----------------------------------------------------------------------===//

#include "skipattn/InitSkipAttn.h"
#include "skipattn/Pipelines/Pipelines.h"
#include "skipattn/Support/ParserGuard.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

using namespace mlir;

static const char *const pipelines[] = {
    "builtin.module(attn-raise)",
    "builtin.module(attn-tile)",
    "builtin.module(attn-tile{block-m=16 block-n=16},"
    "attn-insert-block-skip{stats=true})",
    "builtin.module(attn-tile,attn-insert-block-skip{vote=16},"
    "convert-attn-to-loops)",
    "builtin.module(attn-tile{block-m=4 block-n=4},attn-insert-block-skip,"
    "attn-lower-to-cpu)",
    "builtin.module(attn-tile{block-m=128 block-n=64},"
    "attn-insert-block-skip{stats=true},convert-attn-to-gpu{chip=sm_80 "
    "decode-kernels=true})",
    "builtin.module(attn-tile{block-m=64 block-n=128},"
    "attn-insert-block-skip{stats=true},convert-attn-to-gpu{chip=sm_90a "
    "decode-kernels=true})",
    "builtin.module(convert-attn-to-gpu)",
    "builtin.module(convert-attn-to-loops)",
    "builtin.module(attn-raise,attn-tile,attn-insert-block-skip)",
    "builtin.module(attn-request-skip{threshold=1e-3},attn-tile,"
    "attn-insert-block-skip{stats=true},convert-attn-to-gpu{chip=sm_90a "
    "launch=false},func.func(convert-attn-to-gpu-launch{chip=sm_90a}))",
    "builtin.module(attn-compile{target=cpu skip-scale-factor=4 stats=true})",
};

static MLIRContext &context() {
  static MLIRContext *ctx = [] {
    DialectRegistry registry;
    skipattn::registerSkipAttnDialects(registry);
    skipattn::registerSkipAttnPasses();
    auto *ctx = new MLIRContext(registry);
    ctx->loadAllAvailableDialects();
    ctx->disableMultithreading();
    ctx->printOpOnDiagnostic(false);
    ctx->printStackTraceOnDiagnostic(false);
    return ctx;
  }();
  return *ctx;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  MLIRContext &ctx = context();
  // Diagnostics are the expected outcome for most inputs; keep them quiet.
  ScopedDiagnosticHandler quiet(&ctx, [](Diagnostic &) { return success(); });
  const char *pipeline = pipelines[data[0] % std::size(pipelines)];
  // MLIR's lexer reads up to a NUL terminator, as files and strings have;
  // libFuzzer's bytes end without one.
  std::string source(reinterpret_cast<const char *>(data + 1), size - 1);
  // MLIR 22's own parser crashes on these; the tools refuse them with an
  // error (skipattn/Support/ParserGuard.h), so the fuzzer does too.
  if (skipattn::findParserCrash(source))
    return 0;
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &ctx);
  if (!module || failed(verify(*module)))
    return 0;
  PassManager pm(&ctx);
  if (failed(parsePassPipeline(pipeline, pm)))
    __builtin_trap(); // the table above is wrong
  (void)pm.run(*module);
  return 0;
}
