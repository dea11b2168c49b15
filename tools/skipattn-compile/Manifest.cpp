//===- Manifest.cpp - the bundle's manifest.json --------------------------===//
//
// The manifest is the contract between skipattn-compile and
// kernels_runtime: everything the runtime needs to check inputs and call the
// entry, with -1 for dynamic extents.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "llvm/Support/FileSystem.h"
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

LogicalResult skipattn::writeManifest(const BundleSpec &spec, StringRef dir,
                                      StringRef library, StringRef entry) {
  llvm::json::Object shapes{
      {"batch", extent(spec.query.getDimSize(0))},
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
    mask = llvm::json::Object{
        {"dtype", typeName(spec.mask.getElementType())},
        {"shape", std::move(shape)}};
  }
  llvm::json::Value skip = nullptr;
  if (spec.skip)
    skip = llvm::json::Object{
        {"kind", attn::stringifySkipKind(spec.skip.getKind())},
        {"value", spec.skip.getValueAsDouble()},
        {"vote_rows", spec.voteRows == 0 ? spec.blockM : spec.voteRows}};
  llvm::json::Array arguments;
  for (const std::string &name : spec.argumentNames())
    arguments.push_back(name);
  float scale = spec.scale ? *spec.scale
                           : 1.0f / std::sqrt(static_cast<float>(
                                        spec.query.getDimSize(3)));
  llvm::json::Object manifest{
      {"format", "skipattn-bundle"},
      {"version", 1},
      {"target", spec.target},
      {"chip", spec.target == "gpu" ? llvm::json::Value(spec.chip)
                                    : llvm::json::Value(nullptr)},
      {"library", library},
      {"entry", entry},
      {"dtype", typeName(spec.elementType())},
      {"shapes", std::move(shapes)},
      {"causal", spec.causal},
      {"scale", scale},
      {"mask", std::move(mask)},
      {"skip", std::move(skip)},
      {"stats", static_cast<bool>(spec.skip)},
      {"block_m", spec.blockM},
      {"block_n", spec.blockN},
      {"arguments", std::move(arguments)}};
  if (spec.target == "gpu") {
    manifest.erase("library");
    manifest.erase("entry");
    manifest["ptx"] = "kernel.ptx";
    manifest["cubin"] = spec.cubin ? llvm::json::Value("kernel.cubin")
                                   : llvm::json::Value(nullptr);
    llvm::json::Array kernels;
    for (const DeviceKernel &k : spec.kernels) {
      llvm::json::Array params;
      for (const std::string &p : k.params)
        params.push_back(p);
      llvm::json::Object launch{
          {"function", k.function},
          {"block", llvm::json::Array{k.threads, 1, 1}},
          {"shared_bytes", k.sharedBytes},
          {"grid", llvm::json::Array{llvm::json::Array{"ceil_div", "q_len",
                                                       k.blockM},
                                     "q_heads", "batch"}},
          {"params", std::move(params)}};
      kernels.push_back(llvm::json::Object{
          {"name", "prefill"},
          {"when", 1},
          {"launches", llvm::json::Array{std::move(launch)}},
          {"workspace_bytes", 0},
          {"num_splits", 1}});
    }
    manifest["kernels"] = std::move(kernels);
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
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)))
     << "\n";
  return success();
}
