//===- Bundle.h - what skipattn-compile builds ------------------*- C++ -*-===//
//
// The description of one kernel bundle (shapes, element type, attributes,
// tiling) and the steps that turn it into files: the entry function, the
// target code, the manifest.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_TOOLS_SKIPATTN_COMPILE_BUNDLE_H
#define SKIPATTN_TOOLS_SKIPATTN_COMPILE_BUNDLE_H

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace skipattn {

/// A kernel of a GPU bundle and how to launch it.
struct DeviceKernel {
  std::string function, role; // prefill, decode, decode_wide
  int64_t threads = 0, sharedBytes = 0;
  int64_t blockM = 0, blockN = 0, maxQueryLen = 0;
  /// One CTA loops over tiles of blockM query rows: launch at most one per
  /// SM.
  bool persistent = false;
  llvm::SmallVector<std::string> params;
};

/// One attention, as a bundle computes it.
struct BundleSpec {
  std::string target = "cpu"; // "cpu" or "gpu"
  std::string chip = "sm_90a";
  /// Where the attention comes from (the input's op, or the shape flags):
  /// the location of the entry's ops and of diagnostics about them.
  mlir::LocationAttr origin;
  mlir::RankedTensorType query, key, value;
  mlir::RankedTensorType mask; // null without a mask
  bool causal = false;
  std::optional<float> scale;
  attn::SkipAttr skip; // null for a dense bundle
  int64_t blockM = 64, blockN = 64;
  int64_t voteRows = 0;
  /// The CPU a cpu bundle is compiled for (validateSpec resolves it).
  CPUTarget cpu;
  /// The decode kernel's tiling on the CPU (docs/serving.md): the query
  /// heads of a GQA group packed into the q-blocks, and the kv range in a
  /// run-time number of parts (an entry argument after out).
  bool packGQA = false, kvSplits = false;
  /// The log-sum-exp of each output row as a second output, f32 [B, Hq, Sq].
  bool lse = false;
  /// The carry of a ring (docs/distributed.md): an init_max input (f32
  /// [B, Hq, Sq], after the mask) that starts each row's running max, and
  /// the final max as an output (after the lse).
  bool initMax = false;
  /// GPU decode kernels also vote against the maxima other splits publish
  /// (opt-in; docs/serving.md).
  bool decodeSharedMax = false;
  /// GPU decode: the fewest kv-blocks a split takes (0: the default, 4
  /// without skipping and 8 with it; Manifest.cpp says why).
  int64_t decodeSplitBlocks = 0;
  /// GPU decode: the most waves of split CTAs (0: the default, 1).
  int64_t decodeWaves = 0;
  /// Paged K/V (attn.paged_attention): keys per page, 0 for contiguous.
  /// `key` and `value` then keep the logical [B, Hkv, Skv, D] shapes; the
  /// entry takes the page pools, the block table and the lengths.
  int64_t pageSize = 0;
  /// A varlen batch (attn.varlen_attention): the entry takes q, k, v and out
  /// packed as [tokens, heads, head dim] and cu_seqlens_q, cu_seqlens_k
  /// (i32 [B + 1]); `query` etc. keep the logical [B, H, S, D] shapes.
  bool varlen = false;
  // Filled by emitDeviceBundle.
  llvm::SmallVector<DeviceKernel> kernels;
  bool cubin = false;

  mlir::Type elementType() const { return query.getElementType(); }
  mlir::RankedTensorType result() const {
    return attn::inferAttentionResultType(query, value);
  }
  /// The type of the log-sum-exp output: f32 [B, Hq, Sq].
  mlir::RankedTensorType lseType() const;
  /// The entry's arguments, in order: q, k, v, [mask], [init_max],
  /// [block_table, seq_lens], [cu_seqlens_q, cu_seqlens_k], out, [lse],
  /// [max], [num_splits], [skip, stats].
  llvm::SmallVector<std::string> argumentNames() const;
};

/// The spec of the one attn.attention in `module` (after attn-raise), or a
/// diagnostic when there is none or more than one.
llvm::FailureOr<BundleSpec> specFromModule(mlir::ModuleOp module);

/// A module with the bundle's entry `skipattn_attention`: memref arguments
/// (q, k, v, [mask], out) holding one attn.attention, with the C interface.
mlir::OwningOpRef<mlir::ModuleOp> buildEntryModule(mlir::MLIRContext &ctx,
                                                   const BundleSpec &spec);

/// Sets `options` of skipattn's compile pipeline for the bundle's entry:
/// its target, chip, block sizes, vote group and counters, no raising (the
/// entry is built around an attn.attention).
void setCompileOptions(const BundleSpec &spec, CompileOptions &options);

/// Runs the passes that `build` adds on `module`, in a pass manager set up
/// from MLIR's command-line options (--mlir-print-ir-after-all,
/// --mlir-timing, ...).
llvm::LogicalResult
runPasses(mlir::ModuleOp module,
          llvm::function_ref<void(mlir::OpPassManager &)> build);

/// Tiles, predicates and lowers the entry to the LLVM dialect for the host,
/// then writes `dir/kernel.so`.
llvm::LogicalResult emitHostLibrary(mlir::ModuleOp module,
                                    const BundleSpec &spec,
                                    llvm::StringRef dir);

/// Tiles, predicates and converts the entry to GPU kernels, writes
/// `dir/kernel.ptx` (and `kernel.cubin` when ptxas is there) and records the
/// kernels' launch descriptions in `spec`.
llvm::LogicalResult emitDeviceBundle(mlir::ModuleOp module, BundleSpec &spec,
                                     llvm::StringRef dir);

/// Checks what the flags or the input left in spec, with an error that
/// names the flag and the accepted range (the one validation of
/// skipattn-compile's options); resolves spec.cpu from cpuName.
llvm::LogicalResult validateSpec(BundleSpec &spec, llvm::StringRef cpuName);

/// The manifest's keys that describe the compiled kernel: all but the file
/// names. The kernel carries them too (its descriptor), and the runtime
/// refuses a bundle whose manifest and kernel disagree.
llvm::json::Object describeKernel(const BundleSpec &spec);

/// describeKernel as one line of JSON: the text of the kernel's
/// `skipattn_bundle_descriptor`.
std::string kernelDescriptor(const BundleSpec &spec);

/// The symbol that holds the descriptor in kernel.so and in the PTX.
inline constexpr const char *kDescriptorSymbol = "skipattn_bundle_descriptor";

/// A bundle directory that is written in a temporary sibling and moved into
/// place by commit(), so that a failed compile leaves nothing behind and a
/// reader never sees a half-written bundle.
class StagedOutput {
public:
  /// Makes the temporary directory beside dir; fails (with an error) when
  /// dir exists and is neither empty nor a bundle.
  static llvm::FailureOr<StagedOutput> create(llvm::StringRef dir);
  StagedOutput(StagedOutput &&other);
  StagedOutput &operator=(StagedOutput &&) = delete;
  ~StagedOutput();

  /// Where to write the bundle's files.
  llvm::StringRef path() const { return staging; }
  /// Moves the written bundle to its place, replacing an old bundle there.
  llvm::LogicalResult commit();

private:
  StagedOutput(std::string target, std::string staging)
      : target(std::move(target)), staging(std::move(staging)) {}
  std::string target, staging;
};

/// Writes `dir/manifest.json`.
llvm::LogicalResult writeManifest(const BundleSpec &spec, llvm::StringRef dir,
                                  llvm::StringRef library,
                                  llvm::StringRef entry);

} // namespace skipattn

#endif // SKIPATTN_TOOLS_SKIPATTN_COMPILE_BUNDLE_H
