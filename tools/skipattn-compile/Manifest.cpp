//===- Manifest.cpp - the bundle's manifest.json --------------------------===//
//
// The manifest is the contract between skipattn-compile and
// kernels_runtime: everything the runtime needs to check inputs and call the
// entry, with -1 for dynamic extents. All of it but the file names is also
// the kernel's descriptor, a string compiled into kernel.so and the PTX, so
// that the runtime can refuse a manifest edited (or swapped) away from the
// kernel it describes: a kernel called with the wrong head count or dtype
// reads and writes out of bounds.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace skipattn;

static int64_t extent(int64_t d) { return ShapedType::isDynamic(d) ? -1 : d; }

static std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

using Json = llvm::json::Value;

static Json launch(const DeviceKernel &k, Json grid) {
  llvm::json::Array params;
  for (const std::string &p : k.params)
    params.push_back(p);
  return llvm::json::Object{{"function", k.function},
                            {"block", llvm::json::Array{k.threads, 1, 1}},
                            {"shared_bytes", k.sharedBytes},
                            {"grid", std::move(grid)},
                            {"params", std::move(params)}};
}

static Json op(StringRef name, std::initializer_list<Json> args) {
  llvm::json::Array a{Json(name)};
  for (const Json &v : args)
    a.push_back(v);
  return a;
}

/// The kernel alternatives of a GPU bundle, tried in order: split-KV decode
/// when every query head of a GQA group fits the 16 rows of its CTA, the
/// wide decode kernel when they fit its rows (up to 8 query tokens per
/// sequence), then prefill for any shape.
static Json deviceKernels(const BundleSpec &spec) {
  const DeviceKernel *prefill = nullptr;
  SmallVector<const DeviceKernel *> decodes;
  for (const DeviceKernel &k : spec.kernels) {
    if (k.role == "prefill")
      prefill = &k;
    if (k.role == "decode" || k.role == "decode_wide")
      decodes.push_back(&k);
  }
  llvm::sort(decodes, [](const DeviceKernel *a, const DeviceKernel *b) {
    return a->maxQueryLen < b->maxQueryLen;
  });
  llvm::json::Array kernels;
  for (const DeviceKernel *decode : decodes) {
    // Splits: enough CTAs to give every SM as many as fit in its shared
    // memory (227 KiB usable) in one wave, each split at least
    // kMinSplitBlocks kv-blocks long, never fewer than one. A short
    // context at batch 1 thus gets many short splits; a long one at a large
    // batch a few long ones. Every split of a skip kernel past block 0 also
    // scores its seed (block 0, DESIGN.md section 4), one K tile on top of
    // its own: skip bundles keep splits of kMinSkipSplitBlocks so that the
    // seeds cost at most an eighth of the K traffic. Dense splits take at
    // least 4 blocks: at batch 1 and 8K keys (GQA 32/8, D=128, H100, bench/
    // RESULTS.md runs 8 and 9) 2, 4 and 8 give 49, 32 and 16 splits and
    // 32.8, 29.3 and 28.5 us; 4 keeps short contexts (2K: 8 splits) from
    // running long serial splits. skipattn-compile --decode-split-blocks
    // sets the minimum instead, --decode-waves allows more than one wave
    // (run 9: no faster for skipping at 70%, 6, 12 or 24 splits at B=8).
    constexpr int64_t kMinSplitBlocks = 4, kMinSkipSplitBlocks = 8;
    int64_t perSM = std::max<int64_t>(
                        1, std::min<int64_t>(
                               32, 227 * 1024 / decode->sharedBytes)) *
                    std::max<int64_t>(1, spec.decodeWaves);
    int64_t minBlocks = spec.decodeSplitBlocks ? spec.decodeSplitBlocks
                        : spec.skip           ? kMinSkipSplitBlocks
                                              : kMinSplitBlocks;
    int64_t splitKeys = decode->blockN * minBlocks;
    Json splits = op(
        "max", {1, op("min", {op("ceil_div", {"kv_len", splitKeys}),
                              op("div", {op("mul", {perSM, "num_sms"}),
                                         op("mul", {"batch", "kv_heads"})})})});
    // The workspace (DecodeKernel.cpp): one u32 arrival counter per (batch,
    // kv head) and, with --decode-shared-max, one published row max per
    // output row, zeroed before the launch and padded to 16 bytes; then each
    // split's partial result [O[Dv], m, l] (f32, padded to 16 bytes) of
    // every output row.
    int64_t rowBytes = 4 * (spec.value.getDimSize(3) + 4);
    Json counters = op("mul", {"batch", "kv_heads"});
    if (spec.decodeSharedMax)
      counters =
          op("add", {counters, op("mul", {"batch", "q_heads", "q_len"})});
    Json counterBytes = op("mul", {16, op("ceil_div", {counters, 4})});
    kernels.push_back(llvm::json::Object{
        {"name", decode->role},
        {"when", op("le", {"q_len", decode->maxQueryLen})},
        // The decode kernel's own kv-block, which its skip decisions (and
        // their simulation) are made on.
        {"block_n", decode->blockN},
        {"num_splits", std::move(splits)},
        {"workspace_bytes",
         op("add", {counterBytes, op("mul", {"batch", "q_heads", "q_len",
                                             "num_splits", rowBytes})})},
        {"workspace_zero_bytes", counterBytes},
        // Skip counts that depend on timing (docs/serving.md).
        {"shared_max", spec.decodeSharedMax},
        {"launches", llvm::json::Array{launch(
                         *decode, llvm::json::Array{"num_splits", "kv_heads",
                                                    "batch"})}}});
  }
  if (prefill) {
    // A varlen grid covers the longest sequence (max_q_len, which the call
    // gives); its CTAs find their sequence's rows themselves.
    Json qTiles =
        op("ceil_div", {spec.varlen ? "max_q_len" : "q_len", prefill->blockM});
    llvm::json::Array grid{qTiles, "q_heads", "batch"};
    if (prefill->persistent)
      grid = llvm::json::Array{
          op("min", {"num_sms", op("mul", {qTiles, "q_heads", "batch"})}), 1,
          1};
    // The persistent kernel's CTAs take their tiles from a u32 counter that
    // starts at zero: the workspace, zeroed.
    int64_t counterBytes = prefill->persistent ? 16 : 0;
    kernels.push_back(llvm::json::Object{
        {"name", "prefill"},
        {"when", 1},
        {"num_splits", 1},
        {"workspace_bytes", counterBytes},
        {"workspace_zero_bytes", counterBytes},
        {"launches", llvm::json::Array{launch(*prefill, std::move(grid))}}});
  }
  return kernels;
}

/// The manifest format this compiler writes; kernels_runtime's
/// SKIPATTN_BUNDLE_FORMAT_VERSION is the one it reads. Version 2 added the
/// kernel's descriptor and the cpu bundle's "cpu".
static constexpr int64_t kBundleFormatVersion = 2;

llvm::json::Object skipattn::describeKernel(const BundleSpec &spec) {
  llvm::json::Object shapes{{"batch", extent(spec.query.getDimSize(0))},
                            {"q_heads", spec.query.getDimSize(1)},
                            {"kv_heads", spec.key.getDimSize(1)},
                            {"q_len", extent(spec.query.getDimSize(2))},
                            {"kv_len", extent(spec.key.getDimSize(2))},
                            {"head_dim", spec.query.getDimSize(3)},
                            {"value_head_dim", spec.value.getDimSize(3)}};
  llvm::json::Value mask = nullptr;
  if (spec.mask) {
    llvm::json::Array shape;
    for (int64_t d : spec.mask.getShape())
      shape.push_back(extent(d));
    mask = llvm::json::Object{{"dtype", typeName(spec.mask.getElementType())},
                              {"shape", std::move(shape)}};
  }
  llvm::json::Value paged = nullptr;
  if (spec.pageSize)
    paged = llvm::json::Object{{"page_size", spec.pageSize}};
  llvm::json::Value skip = nullptr;
  if (spec.skip)
    skip = llvm::json::Object{
        {"kind", attn::stringifySkipKind(spec.skip.getKind())},
        {"value", spec.skip.getValueAsDouble()},
        {"vote_rows", spec.voteRows == 0 ? spec.blockM : spec.voteRows}};
  llvm::json::Array arguments;
  for (const std::string &name : spec.argumentNames())
    arguments.push_back(name);
  float scale =
      spec.scale
          ? *spec.scale
          : 1.0f / std::sqrt(static_cast<float>(spec.query.getDimSize(3)));
  bool gpu = spec.target == "gpu";
  llvm::json::Value cpu = nullptr;
  if (!gpu) {
    llvm::json::Array features;
    for (const std::string &feature : spec.cpu.features)
      features.push_back(feature);
    cpu = llvm::json::Object{{"name", spec.cpu.name},
                             {"tune", spec.cpu.tuneCpu},
                             {"features", std::move(features)}};
  }
  // The counters are per (batch, query head): int64 [B, Hq, 2].
  llvm::json::Value statsLayout =
      spec.skip ? llvm::json::Value("per_head") : llvm::json::Value(nullptr);
  llvm::json::Object description{
      {"format", "skipattn-bundle"},
      {"version", kBundleFormatVersion},
      {"target", spec.target},
      {"chip", gpu ? llvm::json::Value(spec.chip) : llvm::json::Value(nullptr)},
      {"cpu", std::move(cpu)},
      {"dtype", typeName(spec.elementType())},
      {"shapes", std::move(shapes)},
      {"causal", spec.causal},
      {"scale", scale},
      {"mask", std::move(mask)},
      {"skip", std::move(skip)},
      {"stats", static_cast<bool>(spec.skip)},
      {"stats_layout", std::move(statsLayout)},
      {"block_m", spec.blockM},
      {"block_n", spec.blockN},
      {"pack_gqa", spec.packGQA},
      {"kv_splits", spec.kvSplits},
      {"lse", spec.lse},
      {"init_max", spec.initMax},
      {"paged", std::move(paged)},
      {"varlen", spec.varlen},
      {"arguments", std::move(arguments)}};
  if (gpu)
    description["kernels"] = deviceKernels(spec);
  return description;
}

std::string skipattn::kernelDescriptor(const BundleSpec &spec) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::json::Value(describeKernel(spec));
  return text;
}

LogicalResult skipattn::writeManifest(const BundleSpec &spec, StringRef dir,
                                      StringRef library,
                                      StringRef entry) {
  llvm::json::Object manifest = describeKernel(spec);
  if (spec.target == "gpu") {
    manifest["ptx"] = "kernel.ptx";
    manifest["cubin"] = spec.cubin ? llvm::json::Value("kernel.cubin")
                                   : llvm::json::Value(nullptr);
  } else {
    manifest["library"] = library;
    manifest["entry"] = entry;
  }

  SmallString<256> path(dir);
  llvm::sys::path::append(path, "manifest.json");
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec) {
    llvm::errs() << "skipattn-compile: error: cannot write " << path << ": "
                 << ec.message() << "\n";
    return failure();
  }
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  os.close();
  if (os.has_error()) {
    llvm::errs() << "skipattn-compile: error: cannot write " << path << ": "
                 << os.error().message() << "\n";
    os.clear_error();
    return failure();
  }
  return success();
}
