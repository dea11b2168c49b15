//===- skipattn-compile.cpp - build a kernel bundle -----------------------===//
//
// Compiles one attention into a kernel bundle (DESIGN.md section 6): from an
// .mlir file that holds it (as attn.attention, or in a form attn-raise
// recognises), or from shape flags. Every mistake in the input is reported
// as `skipattn-compile: error: ...` with exit code 1.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "skipattn/Conversion/Passes.h"
#include "skipattn/InitSkipAttn.h"
#include "skipattn/Pipelines/Pipelines.h"
#include "skipattn/Support/ParserGuard.h"
#include "skipattn/runtime.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace skipattn;
namespace cl = llvm::cl;

static cl::OptionCategory category("skipattn-compile options");
static cl::opt<std::string> input(cl::Positional, cl::desc("[input.mlir]"),
                                  cl::init(""), cl::cat(category));
static cl::opt<std::string> outDir("o", cl::desc("Bundle directory to write"),
                                   cl::value_desc("DIR"), cl::cat(category));
static cl::opt<std::string> target("target", cl::desc("cpu or gpu"),
                                   cl::init("cpu"), cl::cat(category));
static cl::opt<std::string> chip("chip", cl::desc("GPU chip (sm_90a, sm_80)"),
                                 cl::init("sm_90a"), cl::cat(category));
static cl::opt<std::string>
    cpu("cpu",
        cl::desc("CPU of a cpu bundle: x86-64, x86-64-v2 (default), "
                 "x86-64-v3, x86-64-v4 or native"),
        cl::cat(category));
static cl::opt<std::string> batch("batch", cl::desc("B, or ? for dynamic"),
                                  cl::cat(category));
static cl::opt<std::string> qHeads("q-heads", cl::desc("Hq"),
                                   cl::cat(category));
static cl::opt<std::string> kvHeads("kv-heads", cl::desc("Hkv"),
                                    cl::cat(category));
static cl::opt<std::string> qLen("q-len", cl::desc("Sq, or ? for dynamic"),
                                 cl::cat(category));
static cl::opt<std::string> kvLen("kv-len", cl::desc("Skv, or ? for dynamic"),
                                  cl::cat(category));
static cl::opt<std::string> headDim("head-dim", cl::desc("D"),
                                    cl::cat(category));
static cl::opt<std::string> valueHeadDim("value-head-dim",
                                         cl::desc("Dv (default: the head dim)"),
                                         cl::cat(category));
static cl::opt<std::string>
    dtype("dtype",
          cl::desc("f32, f16 or bf16 (with an .mlir input: retypes its "
                   "attention, e.g. an f32 model for the tensor cores)"),
          cl::cat(category));
static cl::opt<bool> causal("causal", cl::desc("Causal (bottom-right) mask"),
                            cl::cat(category));
static cl::opt<bool> skip("skip", cl::desc("Skip-Softmax kernel with counters"),
                          cl::cat(category));
static cl::opt<double>
    skipThreshold("skip-threshold",
                  cl::desc("Default lambda of the skip kernel (implies --skip; "
                           "default 1e-3)"),
                  cl::init(0.0), cl::cat(category));
static cl::opt<double> skipScaleFactor(
    "skip-scale-factor",
    cl::desc("TensorRT-LLM form: lambda = F / Skv (implies --skip)"),
    cl::init(0.0), cl::cat(category));
static cl::opt<std::string> calibration(
    "calibration",
    cl::desc("skipattn-calibrate JSON: the skip kernel's default is the "
             "scale factor it gives for --target-sparsity (implies --skip)"),
    cl::value_desc("FILE"), cl::cat(category));
static cl::opt<double>
    targetSparsity("target-sparsity",
                   cl::desc("Target tile sparsity for --calibration"),
                   cl::init(0.0), cl::cat(category));
static cl::opt<std::string>
    phase("phase",
          cl::desc("Calibration phase for --calibration: prefill or decode"),
          cl::init("prefill"), cl::cat(category));
static cl::opt<std::string>
    layer("layer",
          cl::desc("Calibration layer for --calibration (default: the "
                   "setting pooled over every sample)"),
          cl::cat(category));
static cl::opt<int64_t>
    blockM("block-m",
           cl::desc("Query rows per block (default: 64 on the CPU and on "
                    "sm_90a; on sm_80 128, or 64 for causal head dims "
                    "below 128)"),
           cl::init(64), cl::cat(category));
static cl::opt<int64_t> blockN("block-n",
                               cl::desc("Keys per block (default 64; 128 "
                                        "on sm_90a)"),
                               cl::init(64), cl::cat(category));
static cl::opt<bool>
    packGQA("pack-gqa",
            cl::desc("CPU: pack the query heads of a GQA group into the "
                     "q-blocks, as the GPU decode kernel does"),
            cl::cat(category));
static cl::opt<bool>
    kvSplits("kv-splits",
             cl::desc("CPU: process each q-block's kv range in a run-time "
                      "number of parts (skipattn-run --num-splits), seeded "
                      "and merged as split-KV decode does"),
             cl::cat(category));
static cl::opt<bool>
    lse("lse",
        cl::desc("Also write the log-sum-exp of each output row (f32 "
                 "[B, Hq, Sq]), to merge partial attentions"),
        cl::cat(category));
static cl::opt<bool> initMax(
    "init-max",
    cl::desc("Take init_max (f32 [B, Hq, Sq]), the running max each row "
             "starts from, and write the final max (f32 [B, Hq, Sq]): the "
             "carry of a context-parallel ring (docs/distributed.md; on the "
             "GPU, the mma.sync prefill kernel for every query length)"),
    cl::cat(category));
static cl::opt<bool> decodeSharedMax(
    "decode-shared-max",
    cl::desc("GPU, skipping: the decode kernels also vote against the row "
             "maxima other kv splits publish in global memory (atomic max). "
             "Opt-in: at least the default's skipped tiles, but how many "
             "more depends on timing (docs/serving.md)"),
    cl::cat(category));
static cl::opt<int64_t> decodeSplitBlocks(
    "decode-split-blocks",
    cl::desc("GPU decode: the fewest kv-blocks each kv split takes (default "
             "4, with skipping 8). Fewer, longer splits mean fewer partial "
             "results to merge at a small batch; more, shorter ones more "
             "CTAs in flight"),
    cl::init(0), cl::cat(category));
static cl::opt<int64_t> decodeWaves(
    "decode-waves",
    cl::desc("GPU decode: at most this many waves of split CTAs (default 1: "
             "as many splits as fit on the GPU at once). More waves would "
             "balance skipping splits whose kept tiles differ, at the cost "
             "of more partials to merge and seeds to score; measured no "
             "faster (bench/RESULTS.md run 9)"),
    cl::init(0), cl::cat(category));
static cl::opt<int64_t> pageSize(
    "page-size",
    cl::desc("Paged K/V cache (attn.paged_attention): keys per page, a power "
             "of two from 16 to 256; the bundle takes page pools, a block "
             "table and per-sequence lengths"),
    cl::init(0), cl::cat(category));
static cl::opt<bool> varlen(
    "varlen",
    cl::desc("Variable-length batch (attn.varlen_attention): q, k, v "
             "and out packed as [tokens, heads, head dim] with cu_seqlens_q "
             "and cu_seqlens_k (i32 [B + 1]); --batch, --q-len and --kv-len "
             "must be ?"),
    cl::cat(category));
static cl::opt<std::string> maskFlag(
    "mask",
    cl::desc("A mask operand: bool or additive, and its shape broadcasting "
             "to [B, Hq, Sq, Skv], each dim 1, ? or the extent (e.g. "
             "bool:?,1,1,?)"),
    cl::value_desc("KIND:B,H,Q,K"), cl::cat(category));
static cl::opt<int64_t> vote("vote",
                             cl::desc("Rows per skip vote group (0: block)"),
                             cl::init(0), cl::cat(category));

/// The location of diagnostics about the flags `names`.
static Location flagLoc(MLIRContext &ctx, StringRef names) {
  return NameLoc::get(StringAttr::get(&ctx, names));
}

static int fail(const Twine &message) {
  llvm::errs() << "skipattn-compile: error: " << message << "\n";
  return 1;
}

/// A dimension flag: a positive integer, or "?" when `dynamicOk`.
static FailureOr<int64_t> parseDim(StringRef flag, StringRef text,
                                   bool dynamicOk) {
  if (text == "?" && dynamicOk)
    return ShapedType::kDynamic;
  int64_t v;
  if (text.getAsInteger(10, v) || v <= 0) {
    fail("--" + flag + " must be a positive integer" +
         (dynamicOk ? " or ?" : "") + ", got '" + text + "'");
    return failure();
  }
  return v;
}

static FailureOr<Type> parseDtype(MLIRContext &ctx) {
  if (dtype == "f32")
    return Type(Float32Type::get(&ctx));
  if (dtype == "f16")
    return Type(Float16Type::get(&ctx));
  if (dtype == "bf16")
    return Type(BFloat16Type::get(&ctx));
  fail("--dtype must be f32, f16 or bf16, got '" + dtype + "'");
  return failure();
}

static FailureOr<BundleSpec> specFromFlags(MLIRContext &ctx) {
  struct Flag {
    const char *name;
    cl::opt<std::string> &opt;
    bool dynamicOk;
  } flags[] = {{"batch", batch, true},       {"q-heads", qHeads, false},
               {"kv-heads", kvHeads, false}, {"q-len", qLen, true},
               {"kv-len", kvLen, true},      {"head-dim", headDim, false}};
  int64_t v[6];
  for (auto [i, f] : llvm::enumerate(flags)) {
    if (f.opt.getNumOccurrences() == 0) {
      fail(Twine("missing --") + f.name + " (or give an .mlir input)");
      return failure();
    }
    FailureOr<int64_t> d = parseDim(f.name, f.opt, f.dynamicOk);
    if (failed(d))
      return failure();
    v[i] = *d;
  }
  int64_t dv = v[5];
  if (valueHeadDim.getNumOccurrences()) {
    FailureOr<int64_t> d = parseDim("value-head-dim", valueHeadDim, false);
    if (failed(d))
      return failure();
    dv = *d;
  }
  FailureOr<Type> elt = parseDtype(ctx);
  if (failed(elt))
    return failure();
  BundleSpec spec;
  spec.origin = flagLoc(ctx, "the attention of the shape flags (--batch, "
                             "--q-heads, --kv-heads, --q-len, --kv-len, "
                             "--head-dim, --value-head-dim, --dtype)");
  if (maskFlag.getNumOccurrences()) {
    auto [kind, dims] = StringRef(maskFlag).split(':');
    SmallVector<StringRef> parts;
    dims.split(parts, ',');
    if ((kind != "bool" && kind != "additive") || parts.size() != 4) {
      fail("--mask must be bool:B,H,Q,K or additive:B,H,Q,K, got '" +
           maskFlag + "'");
      return failure();
    }
    SmallVector<int64_t> shape;
    for (StringRef part : parts) {
      FailureOr<int64_t> d = parseDim("mask", part, /*dynamicOk=*/true);
      if (failed(d))
        return failure();
      shape.push_back(*d);
    }
    Type maskElt =
        kind == "bool" ? Type(IntegerType::get(&ctx, 1)) : Type(*elt);
    spec.mask = RankedTensorType::get(shape, maskElt);
  }
  spec.query = RankedTensorType::get({v[0], v[1], v[3], v[5]}, *elt);
  spec.key = RankedTensorType::get({v[0], v[2], v[4], v[5]}, *elt);
  spec.value = RankedTensorType::get({v[0], v[2], v[4], dv}, *elt);
  spec.causal = causal;
  return spec;
}

/// Reports diagnostics that point at no input file (those about flags, and
/// those about the attention the flags describe) as one line that says what
/// they are about, instead of SourceMgr's `<unknown>:0:`; the others go on
/// to the source-manager handler, which shows the input line.
static LogicalResult reportWithoutFile(Diagnostic &diag) {
  if (diag.getLocation()->findInstanceOf<FileLineColLoc>())
    return failure();
  llvm::errs() << "skipattn-compile: "
               << (diag.getSeverity() == DiagnosticSeverity::Error ? "error"
                   : diag.getSeverity() == DiagnosticSeverity::Warning
                       ? "warning"
                       : "note")
               << ": ";
  if (auto name = dyn_cast<NameLoc>(diag.getLocation()))
    llvm::errs() << name.getName().getValue() << ": ";
  llvm::errs() << diag.str() << "\n";
  for (Diagnostic &note : diag.getNotes())
    llvm::errs() << "skipattn-compile: note: " << note.str() << "\n";
  return success();
}

/// Shows MLIR's own options (--mlir-print-ir-after-all, --mlir-timing, ...)
/// in --help beside the tool's.
static void showMLIROptions() {
  for (auto &option : cl::getRegisteredOptions())
    if (option.first.starts_with("mlir-"))
      option.second->setHiddenFlag(cl::NotHidden);
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  setToolDefaultLLVMOptions();
  // Every pipeline the tool runs honours MLIR's pass-manager, timing and
  // printing options.
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  cl::HideUnrelatedOptions(category);
  showMLIROptions();
  cl::ParseCommandLineOptions(
      argc, argv,
      "skipattn-compile: build a kernel bundle (manifest + host shared "
      "object or PTX) for one attention\n");

  DialectRegistry registry;
  registerSkipAttnDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  // A failing pass names the case it cannot handle; the IR it stopped on
  // would bury that line.
  ctx.printOpOnDiagnostic(false);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &ctx);
  ScopedDiagnosticHandler flagDiagnostics(&ctx, reportWithoutFile);

  if (outDir.empty())
    return fail("missing -o DIR");
  if (target != "cpu" && target != "gpu")
    return fail("--target must be cpu or gpu, got '" + target + "'");

  FailureOr<BundleSpec> spec;
  if (!input.empty()) {
    for (auto *o :
         {&batch, &qHeads, &kvHeads, &qLen, &kvLen, &headDim, &valueHeadDim})
      if (o->getNumOccurrences())
        return fail("give either an .mlir input or the shape flags, not both");
    std::string error;
    std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(input, &error);
    if (!file)
      return fail(error);
    if (failed(checkParserCrash(*file)))
      return 1;
    sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    OwningOpRef<ModuleOp> module =
        parseSourceFile<ModuleOp>(sourceMgr, &ctx);
    if (!module)
      return fail("cannot parse '" + input + "'");
    spec = specFromModule(*module);
    if (succeeded(spec) && causal)
      spec->causal = true;
    // --dtype retypes the input's attention: an f32 model compiled for the
    // tensor cores.
    if (succeeded(spec) && dtype.getNumOccurrences()) {
      FailureOr<Type> elt = parseDtype(ctx);
      if (failed(elt))
        return 1;
      for (RankedTensorType *t : {&spec->query, &spec->key, &spec->value})
        *t = t->clone(*elt);
      if (spec->mask && isa<FloatType>(spec->mask.getElementType()))
        spec->mask = spec->mask.clone(*elt);
    }
  } else {
    spec = specFromFlags(ctx);
  }
  if (failed(spec))
    return 1;

  spec->target = target;
  spec->chip = chip;
  spec->blockM = blockM;
  // Measured on the H100 (bench/RESULTS.md): 128-row q-blocks halve the K/V
  // traffic per FLOP; with small heads the causal diagonal's waste wins.
  // sm_90a: the Hopper kernel gives each consumer warpgroup a 64-row
  // q-block and takes 128 keys per block (FlashAttention-3's tile).
  bool hopper = target == "gpu" && chip == "sm_90a";
  if (!blockM.getNumOccurrences() && target == "gpu")
    spec->blockM = hopper                                            ? 64
                   : spec->causal && spec->query.getDimSize(3) < 128 ? 64
                                                                     : 128;
  spec->blockN = blockN;
  if (!blockN.getNumOccurrences() && hopper)
    spec->blockN = 128;
  spec->voteRows = vote;
  spec->lse = spec->lse || lse;
  spec->initMax = spec->initMax || initMax;
  spec->pageSize = pageSize;
  if (pageSize.getNumOccurrences() && !input.empty())
    return fail("--page-size builds a paged attention from the shape flags; "
                "it does not apply to an .mlir input");
  if (maskFlag.getNumOccurrences() && !input.empty())
    return fail("--mask adds a mask to the attention of the shape flags; an "
                ".mlir input brings its own");
  if (pageSize.getNumOccurrences() && spec->mask)
    return fail("a paged attention (--page-size) takes no mask");
  if (pageSize.getNumOccurrences() && spec->initMax)
    return fail("a paged attention (--page-size) takes no init_max");
  if (pageSize.getNumOccurrences() &&
      (pageSize < 16 || pageSize > 256 || (pageSize & (pageSize - 1))))
    return fail("--page-size must be a power of two from 16 to 256, got " +
                Twine(pageSize));
  spec->varlen = varlen;
  if (varlen) {
    if (!input.empty())
      return fail("--varlen builds a varlen attention from the shape flags; "
                  "it does not apply to an .mlir input");
    if (spec->mask || pageSize.getNumOccurrences() || spec->lse || packGQA ||
        kvSplits || spec->initMax)
      return fail("--varlen takes no --mask, --page-size, --lse, --pack-gqa, "
                  "--kv-splits or --init-max");
    if (!spec->query.isDynamicDim(0) || !spec->query.isDynamicDim(2) ||
        !spec->key.isDynamicDim(2))
      return fail("--varlen needs --batch ?, --q-len ? and --kv-len ? (the "
                  "sequences and tokens come with each call)");
  }
  spec->packGQA = packGQA;
  spec->kvSplits = kvSplits;
  if (kvSplits && spec->initMax)
    return fail("--kv-splits seeds each part on its own; it does not take "
                "--init-max");
  if ((packGQA || kvSplits) && target != "cpu")
    return fail("--pack-gqa and --kv-splits are tilings of cpu bundles (the "
                "GPU decode kernel packs and splits on its own)");
  if (skipThreshold.getNumOccurrences() + skipScaleFactor.getNumOccurrences() +
          calibration.getNumOccurrences() >
      1)
    return fail("give one of --skip-threshold, --skip-scale-factor and "
                "--calibration");
  if (calibration.getNumOccurrences() != targetSparsity.getNumOccurrences())
    return fail("--calibration and --target-sparsity go together");
  for (auto *o : {&phase, &layer})
    if (o->getNumOccurrences() && !calibration.getNumOccurrences())
      return fail("--" + o->ArgStr + " only applies to --calibration");
  // The runtime reads calibration files for every host; the same rule here.
  double calibratedFactor = 0.0;
  if (calibration.getNumOccurrences() &&
      skipattn_calibration_factor(
          calibration.c_str(), layer.empty() ? nullptr : layer.c_str(),
          phase.c_str(), targetSparsity, &calibratedFactor) != SKIPATTN_OK)
    return fail(skipattn_last_error());
  {
    // The attribute's own verifier names a bad threshold or factor.
    if (skipThreshold.getNumOccurrences())
      spec->skip = attn::SkipAttr::getChecked(
          [&] { return emitError(flagLoc(ctx, "--skip-threshold")); }, &ctx,
          attn::SkipKind::Threshold, APFloat(skipThreshold));
    else if (skipScaleFactor.getNumOccurrences())
      spec->skip = attn::SkipAttr::getChecked(
          [&] { return emitError(flagLoc(ctx, "--skip-scale-factor")); }, &ctx,
          attn::SkipKind::ScaleFactor, APFloat(skipScaleFactor));
    else if (calibration.getNumOccurrences())
      spec->skip = attn::SkipAttr::getChecked(
          [&] { return emitError(flagLoc(ctx, "--calibration")); }, &ctx,
          attn::SkipKind::ScaleFactor, APFloat(calibratedFactor));
    else if (skip && !spec->skip)
      spec->skip =
          attn::SkipAttr::get(&ctx, attn::SkipKind::Threshold, APFloat(1.0e-3));
    if ((skipThreshold.getNumOccurrences() ||
         skipScaleFactor.getNumOccurrences() ||
         calibration.getNumOccurrences()) &&
        !spec->skip)
      return 1;
  }
  spec->decodeSharedMax = decodeSharedMax;
  // The GPU decode kernels' counts: given, they need the GPU target and a
  // value in [1, most].
  auto badDecodeCount = [&](cl::opt<int64_t> &count, int64_t most) {
    if (!count.getNumOccurrences() ||
        (target == "gpu" && count >= 1 && count <= most))
      return false;
    fail("--" + count.ArgStr + " is an option of GPU decode kernels: it " +
         "needs --target gpu and a value from 1 to " + Twine(most) +
         ", got " + Twine(count.getValue()));
    return true;
  };
  if (badDecodeCount(decodeSplitBlocks, 4096) ||
      badDecodeCount(decodeWaves, 64))
    return 1;
  spec->decodeSplitBlocks = decodeSplitBlocks;
  spec->decodeWaves = decodeWaves;
  if (decodeSharedMax && (target != "gpu" || !spec->skip))
    return fail("--decode-shared-max is an option of skipping GPU decode "
                "kernels: it needs --target gpu and skipping");
  // The paged decode kernel has no registers left for it (ptxas spills).
  if (decodeSharedMax && spec->pageSize)
    return fail("--decode-shared-max does not take --page-size yet");
  if (failed(validateSpec(*spec, cpu)))
    return 1;
  if (failed(attn::verifyAttentionTypes(
          [&] { return emitError(spec->origin); }, spec->query, spec->key,
          spec->value, spec->mask ? Type(spec->mask) : Type(), spec->result())))
    return 1;

  FailureOr<StagedOutput> staged = StagedOutput::create(outDir);
  if (failed(staged))
    return 1;
  OwningOpRef<ModuleOp> entry = buildEntryModule(ctx, *spec);
  if (failed(verify(*entry)))
    return 1;
  if (spec->target == "gpu") {
    if (failed(emitDeviceBundle(*entry, *spec, staged->path())) ||
        failed(writeManifest(*spec, staged->path(), "", "")) ||
        failed(staged->commit()))
      return 1;
    llvm::outs() << "skipattn-compile: wrote " << outDir
                 << "/{manifest.json,kernel.ptx"
                 << (spec->cubin ? ",kernel.cubin" : "") << "}\n";
    return 0;
  }
  if (failed(emitHostLibrary(*entry, *spec, staged->path())) ||
      failed(writeManifest(*spec, staged->path(), "kernel.so",
                           "_mlir_ciface_skipattn_attention")) ||
      failed(staged->commit()))
    return 1;
  llvm::outs() << "skipattn-compile: wrote " << outDir
               << "/{manifest.json,kernel.so}\n";
  return 0;
}
