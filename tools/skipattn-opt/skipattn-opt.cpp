//===- skipattn-opt.cpp - the skipattn optimizer driver -------------------===//
//
// mlir-opt with the attn dialect and skipattn's passes and pipelines: the
// front door of the whole pipeline.
//
//===----------------------------------------------------------------------===//

#include "skipattn/InitSkipAttn.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  skipattn::registerSkipAttnDialects(registry);
  skipattn::registerSkipAttnToolPasses();
  skipattn::setToolDefaultLLVMOptions();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv,
                        "skipattn optimizer driver: attention to fused, "
                        "Skip-Softmax kernels\n",
                        registry));
}
