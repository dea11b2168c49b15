//===- DeviceBundle.cpp - the GPU bundle: PTX kernels ---------------------===//
//
// For `--target gpu`, the entry goes through the front of skipattn's compile
// pipeline (attn-tile, attn-insert-block-skip) and convert-attn-to-gpu
// without the launch; the generated gpu.module
// is lowered alone to PTX (gpu-module-to-binary, format isa) and written as
// kernel.ptx, and ptxas makes kernel.cubin for the chip when it is there.
// The manifest then describes how to launch each kernel, from the
// #attn.kernel attribute convert-attn-to-gpu left on it; the host side of
// the entry is not needed, since kernels_runtime launches the kernels itself.
// The PTX (and so the cubin) also holds the kernel's descriptor, a global
// `skipattn_bundle_descriptor` with the manifest's kernel keys, which the
// runtime compares with the manifest when it loads the bundle.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "skipattn/Conversion/Passes.h"
#include "skipattn/Pipelines/Pipelines.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace skipattn;

static LogicalResult writeFile(StringRef path, StringRef contents) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    llvm::errs() << "skipattn-compile: error: cannot write " << path << ": "
                 << ec.message() << "\n";
    return failure();
  }
  os << contents;
  return success();
}

/// Runs ptxas on `ptx` for the chip; a missing ptxas is not an error (the
/// driver JIT-compiles the PTX), a failing one is.
static LogicalResult assemble(StringRef ptx, StringRef cubin, StringRef chip,
                              bool &made) {
  made = false;
  llvm::ErrorOr<std::string> ptxas = llvm::sys::findProgramByName("ptxas");
  if (!ptxas)
    ptxas = llvm::sys::findProgramByName("ptxas", {"/usr/local/cuda/bin"});
  if (!ptxas)
    return success();
  std::string arch = ("-arch=" + chip).str();
  SmallVector<StringRef> args = {*ptxas, arch, ptx, "-o", cubin};
  std::string error;
  if (llvm::sys::ExecuteAndWait(*ptxas, args, std::nullopt, {}, 0, 0, &error) !=
      0) {
    llvm::errs() << "skipattn-compile: error: ptxas " << arch << " failed on "
                 << ptx << (error.empty() ? "" : ": ") << error << "\n";
    return failure();
  }
  made = true;
  return success();
}

/// Adds `skipattn_bundle_descriptor`, the NUL-terminated descriptor text, as
/// an external constant in global memory: PTX prints it as a byte list the
/// runtime reads before loading, and the driver finds it in a cubin.
static void addDescriptor(gpu::GPUModuleOp module, StringRef descriptor) {
  MLIRContext *ctx = module.getContext();
  std::string bytes = descriptor.str();
  bytes.push_back('\0');
  auto type = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), bytes.size());
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  LLVM::GlobalOp::create(b, module.getLoc(), type, /*isConstant=*/true,
                         LLVM::Linkage::External, kDescriptorSymbol,
                         b.getStringAttr(bytes), /*alignment=*/1,
                         /*addrSpace=*/1);
}

LogicalResult skipattn::emitDeviceBundle(ModuleOp module, BundleSpec &spec,
                                         StringRef dir) {
  MLIRContext *ctx = module.getContext();
  // The front of the compile pipeline and the kernels; the runtime launches
  // them itself, so the entry's host code is not needed.
  if (failed(runPasses(module, [&](OpPassManager &pm) {
        CompileOptions options;
        setCompileOptions(spec, options);
        buildAttentionFrontPipeline(pm, options);
        ConvertAttnToGPUOptions gpu;
        gpu.decodeKernels = true;
        gpu.decodeSharedMax = spec.decodeSharedMax;
        gpu.chip = spec.chip;
        gpu.launchKernels = false;
        pm.addPass(createConvertAttnToGPU(gpu));
      })))
    return failure();

  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>("skipattn_kernels");
  if (!kernels)
    return module.emitError("convert-attn-to-gpu produced no kernels");
  for (auto func : kernels.getOps<gpu::GPUFuncOp>()) {
    auto info =
        func->getAttrOfType<attn::KernelAttr>(attn::KernelAttr::getAttrName());
    if (!info)
      return func.emitError("convert-attn-to-gpu left no #attn.kernel on "
                            "this kernel");
    DeviceKernel k;
    k.function = func.getName().str();
    k.role = info.getRole().str();
    k.threads = info.getThreads();
    k.sharedBytes = info.getSharedBytes();
    k.blockM = info.getBlockM();
    k.blockN = info.getBlockN();
    k.maxQueryLen = info.getMaxQLen();
    k.persistent = info.getPersistent();
    for (Attribute p : info.getParams())
      k.params.push_back(cast<StringAttr>(p).str());
    spec.kernels.push_back(k);
  }

  // The kernels alone, to PTX, with the descriptor.
  OpBuilder b(ctx);
  OwningOpRef<ModuleOp> device = ModuleOp::create(module.getLoc());
  (*device)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                     b.getUnitAttr());
  b.setInsertionPointToEnd(device->getBody());
  auto copy = cast<gpu::GPUModuleOp>(b.clone(*kernels));
  addDescriptor(copy, kernelDescriptor(spec));
  LowerToNVVMOptions options;
  options.chip = spec.chip;
  options.format = "isa";
  if (failed(runPasses(*device, [&](OpPassManager &pm) {
        buildKernelsToPTXPipeline(pm, options);
      })))
    return failure();
  auto binary = device->lookupSymbol<gpu::BinaryOp>("skipattn_kernels");
  if (!binary || binary.getObjects().size() != 1)
    return device->emitError("gpu-module-to-binary produced no PTX");
  auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);

  SmallString<256> ptxPath(dir), cubinPath(dir);
  llvm::sys::path::append(ptxPath, "kernel.ptx");
  llvm::sys::path::append(cubinPath, "kernel.cubin");
  if (failed(writeFile(ptxPath, object.getObject().getValue())))
    return failure();
  bool madeCubin;
  if (failed(assemble(ptxPath, cubinPath, spec.chip, madeCubin)))
    return failure();
  spec.cubin = madeCubin;
  return success();
}
