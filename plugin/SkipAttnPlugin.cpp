//===- SkipAttnPlugin.cpp - skipattn as an mlir-opt plugin ----------------===//
//
// The entry points that mlir-opt's --load-dialect-plugin and
// --load-pass-plugin look up. The dialect plugin adds the attn dialect (and
// the dialects, extensions and translations the pipelines need) to the
// tool's registry and registers skipattn's passes and pipelines, so that one
// plugin flag is enough to parse attn IR and run it; the pass plugin
// registers the passes and pipelines alone. Registration happens once
// however many times the plugin is loaded.
//
//===----------------------------------------------------------------------===//

#include "skipattn/InitSkipAttn.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

extern "C" LLVM_ATTRIBUTE_WEAK mlir::DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "SkipAttn", LLVM_VERSION_STRING,
          [](mlir::DialectRegistry *registry) {
            skipattn::registerSkipAttnDialects(*registry);
            skipattn::registerSkipAttnPasses();
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK mlir::PassPluginLibraryInfo
mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "SkipAttnPasses", LLVM_VERSION_STRING,
          []() { skipattn::registerSkipAttnPasses(); }};
}
