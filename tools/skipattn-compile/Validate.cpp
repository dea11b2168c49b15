//===- Validate.cpp - the checks of skipattn-compile's options ------------===//
//
// One place decides what skipattn-compile accepts, whether the attention
// came from flags or from an .mlir file: tile sizes, vote groups, extents
// and the sizes they imply (with overflow-checked arithmetic, so that an
// absurd extent is an error rather than a wrapped size), the GPU chip and
// the CPU level. Every message names the flag and the accepted range. The
// attention's own rules (head counts, head dims, the skip criterion) stay
// with the attn dialect's verifiers, which skipattn-compile calls too.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "skipattn/Conversion/Passes.h"

#include "llvm/Support/raw_ostream.h"

#include <limits>

using namespace mlir;
using namespace skipattn;

static LogicalResult fail(const Twine &message) {
  llvm::errs() << "skipattn-compile: error: " << message << "\n";
  return failure();
}

/// Tile sizes: a CTA has at most 1024 threads and a tile of more than 1024
/// rows or keys fits no shared memory, so nothing larger can compile.
static constexpr int64_t kMaxBlock = 1024;
/// Extents reach the GPU kernels as int32 parameters.
static constexpr int64_t kMaxExtent = std::numeric_limits<int32_t>::max();

static LogicalResult checkRange(StringRef flag, int64_t value, int64_t low,
                                int64_t high) {
  if (value >= low && value <= high)
    return success();
  return fail("--" + flag + " must be between " + Twine(low) + " and " +
              Twine(high) + ", got " + Twine(value));
}

/// Static extents within int32, and every tensor's size in bytes within
/// int64.
static LogicalResult checkTensor(StringRef name, RankedTensorType type,
                                 ArrayRef<StringRef> flags) {
  int64_t bytes = 4; // the widest element type
  for (auto [i, dim] : llvm::enumerate(type.getShape())) {
    if (ShapedType::isDynamic(dim))
      continue;
    if (failed(checkRange(flags[i], dim, 1, kMaxExtent)))
      return failure();
    if (__builtin_mul_overflow(bytes, dim, &bytes))
      return fail(name + " is too large: its size in bytes overflows 64 bits");
  }
  return success();
}

LogicalResult skipattn::validateSpec(BundleSpec &spec, StringRef cpuName) {
  if (failed(checkRange("block-m", spec.blockM, 1, kMaxBlock)) ||
      failed(checkRange("block-n", spec.blockN, 1, kMaxBlock)) ||
      failed(checkRange("vote", spec.voteRows, 0, spec.blockM)))
    return failure();
  if (spec.voteRows > 0 && spec.blockM % spec.voteRows != 0)
    return fail("--vote (" + Twine(spec.voteRows) +
                ") must divide --block-m (" + Twine(spec.blockM) +
                "), or be 0 for the whole block");

  StringRef q[] = {"batch", "q-heads", "q-len", "head-dim"};
  StringRef k[] = {"batch", "kv-heads", "kv-len", "head-dim"};
  StringRef v[] = {"batch", "kv-heads", "kv-len", "value-head-dim"};
  if (failed(checkTensor("q", spec.query, q)) ||
      failed(checkTensor("k", spec.key, k)) ||
      failed(checkTensor("v", spec.value, v)) ||
      failed(checkTensor("out", spec.result(), q)))
    return failure();

  if (spec.target == "gpu") {
    if (!isSupportedGPUChip(spec.chip))
      return fail(std::string("--chip must be ") + kSupportedGPUChips +
                  ", got '" + spec.chip + "'");
    if (!cpuName.empty())
      return fail("--cpu applies to --target cpu (a gpu bundle is compiled "
                  "for --chip)");
    return success();
  }
  std::string error;
  std::optional<CPUTarget> cpu =
      resolveCPUTarget(cpuName.empty() ? kDefaultCPU : cpuName, error);
  if (!cpu)
    return fail("--" + error);
  spec.cpu = *cpu;
  return success();
}
