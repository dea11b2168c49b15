//===- HostLibrary.cpp - the CPU bundle: a host shared object -------------===//
//
// For `--target cpu`, the entry goes through skipattn's compile pipeline
// (attn-tile, attn-insert-block-skip, attn-lower-to-cpu), is translated to
// LLVM IR, optimised at O3 for the bundle's target CPU (--cpu: a portable
// x86-64 level by default, not the build machine's processor, so that the
// bundle runs elsewhere), emitted as an object file and linked into
// `kernel.so` with the system C compiler driver (which brings libm for
// expf/logf). The library exports the kernel's descriptor (the manifest's
// kernel keys as a string), which the runtime compares with the manifest
// before any call.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "skipattn/Pipelines/Pipelines.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

using namespace mlir;
using namespace skipattn;

/// The tiling, the predicate and the CPU lowering.
static LogicalResult lowerToLLVMDialect(ModuleOp module,
                                        const BundleSpec &spec) {
  if (failed(runPasses(module, [&](OpPassManager &pm) {
        CompileOptions options;
        setCompileOptions(spec, options);
        buildCompilePipeline(pm, options);
      })))
    return failure();
  // The markers of the run-time arguments have no meaning in LLVM IR.
  module.walk([](LLVM::LLVMFuncOp func) {
    for (unsigned i = 0; i < func.getNumArguments(); ++i) {
      SmallVector<StringAttr> names;
      for (NamedAttribute attr :
           cast<FunctionOpInterface>(*func).getArgAttrs(i))
        if (attr.getName().getValue().starts_with("attn."))
          names.push_back(attr.getName());
      for (StringAttr name : names)
        cast<FunctionOpInterface>(*func).removeArgAttr(i, name);
    }
  });
  return success();
}

/// A target machine for the bundle's CPU: the functions carry the same
/// CPU and features (attn-lower-to-cpu marks them), this covers the rest.
static std::unique_ptr<llvm::TargetMachine>
hostTargetMachine(const CPUTarget &cpu) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    llvm::errs() << "skipattn-compile: error: no LLVM target for "
                 << triple.str() << ": " << error << "\n";
    return nullptr;
  }
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu.cpu, cpu.featureString(), llvm::TargetOptions(),
      llvm::Reloc::PIC_));
}

/// Adds the exported, NUL-terminated `skipattn_bundle_descriptor`.
static void addDescriptor(llvm::Module &module, StringRef descriptor) {
  llvm::Constant *text = llvm::ConstantDataArray::getString(
      module.getContext(), descriptor, /*AddNull=*/true);
  new llvm::GlobalVariable(module, text->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, text,
                           kDescriptorSymbol);
}

LogicalResult skipattn::emitHostLibrary(ModuleOp module, const BundleSpec &spec,
                                        StringRef dir) {
  if (failed(lowerToLLVMDialect(module, spec)))
    return failure();

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  module.getContext()->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "skipattn_bundle");
  if (!llvmModule)
    return module.emitError("cannot translate the lowered module to LLVM IR");

  addDescriptor(*llvmModule, kernelDescriptor(spec));
  std::unique_ptr<llvm::TargetMachine> tm = hostTargetMachine(spec.cpu);
  if (!tm)
    return failure();
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(tm->getTargetTriple());
  if (llvm::Error err = makeOptimizingTransformer(
          /*optLevel=*/3, /*sizeLevel=*/0, tm.get())(llvmModule.get())) {
    llvm::errs() << "skipattn-compile: error: LLVM optimisation failed: "
                 << llvm::toString(std::move(err)) << "\n";
    return failure();
  }

  SmallString<256> object(dir), library(dir);
  llvm::sys::path::append(object, "kernel.o");
  llvm::sys::path::append(library, "kernel.so");
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(object, ec, llvm::sys::fs::OF_None);
    if (ec) {
      llvm::errs() << "skipattn-compile: error: cannot write " << object << ": "
                   << ec.message() << "\n";
      return failure();
    }
    llvm::legacy::PassManager codegen;
    if (tm->addPassesToEmitFile(codegen, os, nullptr,
                                llvm::CodeGenFileType::ObjectFile)) {
      llvm::errs() << "skipattn-compile: error: the host target cannot emit "
                      "object files\n";
      return failure();
    }
    codegen.run(*llvmModule);
  }

  llvm::ErrorOr<std::string> cc = llvm::sys::findProgramByName("cc");
  if (!cc) {
    llvm::errs() << "skipattn-compile: error: no C compiler driver (cc) on "
                    "PATH to link "
                 << library << "\n";
    return failure();
  }
  SmallVector<StringRef> args = {*cc, "-shared", "-o", library, object, "-lm"};
#ifdef SKIPATTN_COMPILER_RT_BUILTINS
  // Only the members the object calls are taken from the archive.
  args.push_back(SKIPATTN_COMPILER_RT_BUILTINS);
#endif
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(*cc, args, std::nullopt, {}, 0, 0, &error);
  if (rc != 0) {
    llvm::errs() << "skipattn-compile: error: linking " << library << " failed"
                 << (error.empty() ? "" : ": ") << error << "\n";
    return failure();
  }
  llvm::sys::fs::remove(object);
  return success();
}
