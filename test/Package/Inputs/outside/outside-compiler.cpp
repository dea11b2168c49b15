// Compiles the attention in an .mlir file for the CPU with Skip-Softmax on,
// through skipattn::buildCompilePipeline, and prints the LLVM dialect.
#include "skipattn/InitSkipAttn.h"
#include "skipattn/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: outside-compiler FILE.mlir\n";
    return 2;
  }
  mlir::DialectRegistry registry;
  skipattn::registerSkipAttnDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  mlir::PassManager pm(&context);
  skipattn::CompileOptions options;
  options.target = "cpu";
  options.skipThreshold = 1e-3;
  options.stats = true;
  skipattn::buildCompilePipeline(pm, options);
  if (mlir::failed(pm.run(*module)))
    return 1;
  module->print(llvm::outs());
  return 0;
}
