//===- skipattn-opt.cpp - the skipattn optimizer driver -------------------===//
//
// mlir-opt with the attn dialect and skipattn's passes and pipelines: the
// front door of the whole pipeline. It is MlirOptMain with one step added:
// the input is checked for the malformed text that MLIR 22's own parser
// crashes on (skipattn/Support/ParserGuard.h) before it is parsed.
//
//===----------------------------------------------------------------------===//

#include "skipattn/InitSkipAttn.h"
#include "skipattn/Support/ParserGuard.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  skipattn::registerSkipAttnDialects(registry);
  skipattn::registerSkipAttnToolPasses();
  skipattn::setToolDefaultLLVMOptions();
  auto [inputFilename, outputFilename] = mlir::registerAndParseCLIOptions(
      argc, argv,
      "skipattn optimizer driver: attention to fused, Skip-Softmax kernels\n",
      registry);
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
  // Listings read no input.
  if (config.shouldShowDialects() || config.shouldListPasses())
    return mlir::asMainReturnCode(mlir::MlirOptMain(
        argc, argv, inputFilename, outputFilename, registry));

  llvm::InitLLVM initLLVM(argc, argv);
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << error << "\n";
    return EXIT_FAILURE;
  }
  if (failed(skipattn::checkParserCrash(*input)))
    return EXIT_FAILURE;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return EXIT_FAILURE;
  }
  if (failed(mlir::MlirOptMain(output->os(), std::move(input), registry,
                               config)))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
