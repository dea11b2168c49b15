//===- Manifest.cpp - reading and validating manifest.json ------*- C++ -*-===//
//
// Turns manifest.json into a Manifest, checking every field the runtime
// relies on: types, allowed values, and that "arguments" is exactly the
// parameter list the mask/skip/stats fields imply, since the runtime calls
// the entry through a prototype chosen from those fields and a mismatch
// would be a call with the wrong signature. A gpu manifest's chip, PTX and
// cubin names and launch alternatives ("kernels", parsed in Launch.cpp) are
// checked here too, so that a bad launch description fails at load rather
// than at the first call. Unknown keys are ignored so that newer compilers
// can add fields without breaking older runtimes; the version number guards
// incompatible changes, and the kernel's descriptor (Descriptor.cpp) guards
// against a manifest that was edited or swapped.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"
#include "Errors.h"
#include "Json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

using namespace skipattn::runtime;

const char *skipattn::runtime::dtypeName(skipattn_dtype dtype) {
  switch (dtype) {
  case SKIPATTN_DTYPE_F32:
    return "f32";
  case SKIPATTN_DTYPE_F16:
    return "f16";
  case SKIPATTN_DTYPE_BF16:
    return "bf16";
  case SKIPATTN_DTYPE_I1:
    return "i1";
  }
  return nullptr;
}

static std::string formatDouble(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

namespace {
/// Typed access to manifest fields. Each getter names the field by its dotted
/// path ("shapes.head_dim") in its message, records the first failure and
/// returns false, so parsing reads as a chain of checks.
class Reader {
public:
  explicit Reader(const std::string &path) : path(path) {}

  skipattn_status status = SKIPATTN_OK;

  bool error(const std::string &what,
             skipattn_status code = SKIPATTN_ERROR_BUNDLE) {
    status = fail(code, path + ": " + what);
    return false;
  }

  const Json *require(const Json &object, const std::string &name) {
    const Json *value = findMember(object, leaf(name).c_str());
    if (!value)
      error("missing key " + quote(name));
    return value;
  }

  bool expectKind(const Json &value, Json::value_t kind,
                  const std::string &name) {
    if (value.type() == kind)
      return true;
    return error(quote(name) + " must be " + describeKind(Json(kind)) +
                 ", got " + describeKind(value));
  }

  bool getString(const Json &object, const std::string &name,
                 std::string &out) {
    const Json *value = require(object, name);
    if (!value || !expectKind(*value, Json::value_t::string, name))
      return false;
    out = value->get<std::string>();
    return true;
  }

  bool getBool(const Json &object, const std::string &name, bool &out) {
    const Json *value = require(object, name);
    if (!value || !expectKind(*value, Json::value_t::boolean, name))
      return false;
    out = value->get<bool>();
    return true;
  }

  /// A key that may be absent, which leaves out as it is.
  bool getOptionalBool(const Json &object, const std::string &name,
                       bool &out) {
    return !findMember(object, leaf(name).c_str()) ||
           getBool(object, name, out);
  }

  bool getNumber(const Json &object, const std::string &name, double &out) {
    const Json *value = require(object, name);
    if (!value)
      return false;
    if (!value->is_number())
      return error(quote(name) + " must be a number, got " +
                   describeKind(*value));
    out = value->get<double>();
    return true;
  }

  bool getInteger(const Json &object, const std::string &name, int64_t &out) {
    const Json *value = require(object, name);
    if (!value)
      return false;
    return toInteger(*value, name, out);
  }

  bool toInteger(const Json &value, const std::string &name, int64_t &out) {
    if (!value.is_number())
      return error(quote(name) + " must be an integer, got " +
                   describeKind(value));
    if (!asInt64(value, out))
      return error(quote(name) + " must be an integer, got " +
                   formatValue(value));
    return true;
  }

  /// An extent: -1 (dynamic) or at least 1.
  bool toExtent(const Json &value, const std::string &name, int64_t &out) {
    if (!toInteger(value, name, out))
      return false;
    if (out == -1 || out >= 1)
      return true;
    return error(quote(name) + " must be -1 (dynamic) or at least 1, got " +
                 std::to_string(out));
  }

private:
  const std::string &path;

  static std::string leaf(const std::string &name) {
    size_t dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
  }
};
} // namespace

static bool parseFloatDtype(Reader &reader, const std::string &text,
                            const std::string &name, bool allowI1,
                            skipattn_dtype &out) {
  if (text == "f32")
    out = SKIPATTN_DTYPE_F32;
  else if (text == "f16")
    out = SKIPATTN_DTYPE_F16;
  else if (text == "bf16")
    out = SKIPATTN_DTYPE_BF16;
  else if (allowI1 && text == "i1")
    out = SKIPATTN_DTYPE_I1;
  else
    return reader.error(quote(name) + " must be " +
                        (allowI1 ? "\"i1\", " : "") +
                        "\"f32\", \"f16\" or \"bf16\", got " + quote(text));
  return true;
}

static bool parseShapes(Reader &reader, const Json &root,
                        skipattn_shape &shape) {
  const Json *shapes = reader.require(root, "shapes");
  if (!shapes || !reader.expectKind(*shapes, Json::value_t::object, "shapes"))
    return false;
  struct Field {
    const char *key;
    int64_t *slot;
  } fields[] = {{"batch", &shape.batch},
                {"q_heads", &shape.q_heads},
                {"kv_heads", &shape.kv_heads},
                {"q_len", &shape.q_len},
                {"kv_len", &shape.kv_len},
                {"head_dim", &shape.head_dim},
                {"value_head_dim", &shape.value_head_dim}};
  for (const Field &field : fields) {
    std::string name = std::string("shapes.") + field.key;
    const Json *value = reader.require(*shapes, name);
    if (!value || !reader.toExtent(*value, name, *field.slot))
      return false;
  }
  if (shape.q_heads > 0 && shape.kv_heads > 0 &&
      shape.q_heads % shape.kv_heads != 0)
    return reader.error("\"shapes.q_heads\" (" + std::to_string(shape.q_heads) +
                        ") must be a multiple of \"shapes.kv_heads\" (" +
                        std::to_string(shape.kv_heads) + ")");
  return true;
}

static bool parseMask(Reader &reader, const Json &root,
                      Manifest &manifest) {
  const Json *mask = reader.require(root, "mask");
  if (!mask)
    return false;
  if (mask->is_null())
    return true;
  if (!mask->is_object())
    return reader.error(
        std::string("\"mask\" must be null or an object, got ") +
        describeKind(*mask));
  manifest.hasMask = true;
  std::string dtype;
  if (!reader.getString(*mask, "mask.dtype", dtype) ||
      !parseFloatDtype(reader, dtype, "mask.dtype", /*allowI1=*/true,
                       manifest.maskDtype))
    return false;
  const Json *shape = reader.require(*mask, "mask.shape");
  if (!shape ||
      !reader.expectKind(*shape, Json::value_t::array, "mask.shape"))
    return false;
  if (shape->size() != 4)
    return reader.error("\"mask.shape\" must have 4 entries ([b, h, sq, skv]), "
                        "got " +
                        std::to_string(shape->size()));
  for (int i = 0; i < 4; ++i)
    if (!reader.toExtent((*shape)[i],
                         "mask.shape[" + std::to_string(i) + "]",
                         manifest.maskShape[i]))
      return false;
  return true;
}

static bool parseSkip(Reader &reader, const Json &root,
                      Manifest &manifest) {
  const Json *skip = reader.require(root, "skip");
  if (!skip)
    return false;
  if (skip->is_null())
    return true;
  if (!skip->is_object())
    return reader.error(
        std::string("\"skip\" must be null or an object, got ") +
        describeKind(*skip));
  std::string kind;
  if (!reader.getString(*skip, "skip.kind", kind))
    return false;
  if (kind == "threshold")
    manifest.skipKind = SKIPATTN_SKIP_THRESHOLD;
  else if (kind == "scale_factor")
    manifest.skipKind = SKIPATTN_SKIP_SCALE_FACTOR;
  else
    return reader.error("\"skip.kind\" must be \"threshold\" or "
                        "\"scale_factor\", got " +
                        quote(kind));
  double value;
  if (!reader.getNumber(*skip, "skip.value", value))
    return false;
  bool isThreshold = manifest.skipKind == SKIPATTN_SKIP_THRESHOLD;
  if (!(value > 0.0) || !std::isfinite(value) || (isThreshold && value >= 1.0))
    return reader.error(std::string("\"skip.value\" must be ") +
                        (isThreshold ? "in (0, 1)" : "positive and finite") +
                        ", got " + formatDouble(value));
  manifest.skipValue = value;
  if (!reader.getInteger(*skip, "skip.vote_rows", manifest.voteRows))
    return false;
  if (manifest.voteRows < 1)
    return reader.error("\"skip.vote_rows\" must be at least 1, got " +
                        std::to_string(manifest.voteRows));
  return true;
}

/// A cpu bundle's "cpu": {"name": ..., "features": [...]}.
static bool parseCpu(Reader &reader, const Json &root, Manifest &manifest) {
  const Json *cpu = reader.require(root, "cpu");
  if (!cpu || !reader.expectKind(*cpu, Json::value_t::object, "cpu") ||
      !reader.getString(*cpu, "cpu.name", manifest.cpuName))
    return false;
  const Json *features = reader.require(*cpu, "cpu.features");
  if (!features ||
      !reader.expectKind(*features, Json::value_t::array, "cpu.features"))
    return false;
  for (size_t i = 0; i < features->size(); ++i) {
    std::string name = "cpu.features[" + std::to_string(i) + "]";
    if (!reader.expectKind((*features)[i], Json::value_t::string, name))
      return false;
    manifest.cpuFeatures.push_back((*features)[i].get<std::string>());
  }
  return true;
}

/// "paged": null (or absent), or {"page_size": P} with P a power of two
/// from 16 to 256.
static bool parsePaged(Reader &reader, const Json &root, Manifest &manifest) {
  const Json *paged = findMember(root, "paged");
  if (!paged || paged->is_null())
    return true;
  if (!reader.expectKind(*paged, Json::value_t::object, "paged") ||
      !reader.getInteger(*paged, "paged.page_size", manifest.pageSize))
    return false;
  int64_t p = manifest.pageSize;
  if (p < 16 || p > 256 || (p & (p - 1)))
    return reader.error("\"paged.page_size\" must be a power of two from 16 "
                        "to 256, got " +
                        std::to_string(p));
  if (manifest.hasMask)
    return reader.error("a paged bundle (\"paged\") takes no mask");
  return true;
}

/// "stats_layout": the counters are per (batch, query head), [B, Hq, 2]
/// int64. Bundles from before per-head counters had two counters per launch
/// and no such key; the runtime would pass them a buffer of another shape.
static bool parseStatsLayout(Reader &reader, const Json &root,
                             const Manifest &manifest) {
  if (!manifest.stats)
    return true;
  const Json *layout = findMember(root, "stats_layout");
  if (!layout)
    return reader.error("\"stats\": true needs \"stats_layout\": "
                        "\"per_head\"; this bundle counts tiles per launch "
                        "(an older skipattn-compile): compile it again");
  std::string value;
  if (!reader.getString(root, "stats_layout", value))
    return false;
  if (value != "per_head")
    return reader.error("unknown \"stats_layout\" " + quote(value) +
                        " (this runtime reads \"per_head\")");
  return true;
}

/// The parameter list the entry must have, given the optional operands.
static std::vector<std::string> expectedArguments(const Manifest &manifest) {
  std::vector<std::string> result = {"q", "k", "v"};
  if (manifest.hasMask)
    result.push_back("mask");
  if (manifest.initMax)
    result.push_back("init_max");
  if (manifest.pageSize) {
    result.push_back("block_table");
    result.push_back("seq_lens");
  }
  if (manifest.varlen) {
    result.push_back("cu_seqlens_q");
    result.push_back("cu_seqlens_k");
  }
  result.push_back("out");
  if (manifest.lse)
    result.push_back("lse");
  if (manifest.initMax)
    result.push_back("max");
  if (manifest.kvSplits)
    result.push_back("num_splits");
  // The run-time skip argument: the threshold lambda itself, or the scale
  // factor F from which the kernel computes lambda = F / kv_len.
  if (manifest.skipKind == SKIPATTN_SKIP_THRESHOLD)
    result.push_back("threshold");
  if (manifest.skipKind == SKIPATTN_SKIP_SCALE_FACTOR)
    result.push_back("scale_factor");
  if (manifest.stats)
    result.push_back("stats");
  return result;
}

static std::string formatList(const std::vector<std::string> &names) {
  std::string result = "[";
  for (size_t i = 0; i < names.size(); ++i)
    result += (i ? ", " : "") + quote(names[i]);
  return result + "]";
}

static bool parseArguments(Reader &reader, const Json &root,
                           Manifest &manifest) {
  const Json *arguments = reader.require(root, "arguments");
  if (!arguments ||
      !reader.expectKind(*arguments, Json::value_t::array, "arguments"))
    return false;
  for (size_t i = 0; i < arguments->size(); ++i) {
    std::string name = "arguments[" + std::to_string(i) + "]";
    if (!reader.expectKind((*arguments)[i], Json::value_t::string, name))
      return false;
    manifest.arguments.push_back((*arguments)[i].get<std::string>());
  }
  std::vector<std::string> expected = expectedArguments(manifest);
  if (manifest.arguments != expected)
    return reader.error("\"arguments\" is " + formatList(manifest.arguments) +
                        ", but \"mask\", \"init_max\", \"paged\", "
                        "\"varlen\", \"lse\", "
                        "\"kv_splits\", \"skip\" and \"stats\" imply " +
                        formatList(expected));
  return true;
}

static bool parseBlock(Reader &reader, const Json &root,
                       const std::string &name, int64_t &out) {
  if (!reader.getInteger(root, name, out))
    return false;
  if (out < 1)
    return reader.error(quote(name) + " must be at least 1, got " +
                        std::to_string(out));
  return true;
}

/// "sm_90a" -> 9, 0, 'a'; "sm_80" -> 8, 0, 0; "sm_100f" -> 10, 0, 'f'.
static bool parseChip(Reader &reader, Manifest &manifest) {
  const std::string &chip = manifest.chip;
  size_t end = 3;
  while (end < chip.size() && end < 7 && chip[end] >= '0' && chip[end] <= '9')
    ++end;
  bool digits = chip.compare(0, 3, "sm_") == 0 && end >= 5;
  int number = digits ? std::stoi(chip.substr(3, end - 3)) : 0;
  std::string suffix = digits ? chip.substr(end) : "";
  if (number < 10 || (suffix != "" && suffix != "a" && suffix != "f"))
    return reader.error("\"chip\" must name a CUDA architecture such as "
                        "\"sm_80\", \"sm_90a\" or \"sm_100f\", got " +
                        quote(chip));
  manifest.chipMajor = number / 10;
  manifest.chipMinor = number % 10;
  manifest.chipSuffix = suffix.empty() ? 0 : suffix[0];
  return true;
}

/// A file name inside the bundle directory: not empty, no NUL.
static bool parseFileName(Reader &reader, const Json &root,
                          const char *key, bool optional, std::string &out) {
  const Json *value = findMember(root, key);
  if (optional && (!value || value->is_null()))
    return true;
  if (!reader.getString(root, key, out))
    return false;
  if (out.empty() || out.find('\0') != std::string::npos)
    return reader.error(quote(key) + " must name a file in the bundle");
  return true;
}

/// The gpu target's keys: PTX, optional cubin and the launch alternatives.
/// Runs after the mask, skip and stats fields, which decide what the
/// launches may pass.
static bool parseGpu(Reader &reader, const Json &root,
                     Manifest &manifest) {
  if (!parseChip(reader, manifest) ||
      !parseFileName(reader, root, "ptx", /*optional=*/false, manifest.ptx) ||
      !parseFileName(reader, root, "cubin", /*optional=*/true, manifest.cubin))
    return false;
  const Json *kernels = reader.require(root, "kernels");
  if (!kernels)
    return false;
  std::string error;
  if (!parseKernels(*kernels, manifest, manifest.kernels, manifest.functions,
                    error))
    return reader.error(error);
  return true;
}

static bool parseRoot(Reader &reader, const Json &root,
                      Manifest &manifest) {
  if (!root.is_object())
    return reader.error(std::string("the manifest must be a JSON object, "
                                    "got ") +
                        describeKind(root));

  std::string format;
  if (!reader.getString(root, "format", format))
    return false;
  if (format != "skipattn-bundle")
    return reader.error("not a skipattn bundle manifest (\"format\" is " +
                        quote(format) + ", expected \"skipattn-bundle\")");
  int64_t version;
  if (!reader.getInteger(root, "version", version))
    return false;
  if (version != SKIPATTN_BUNDLE_FORMAT_VERSION)
    return reader.error("unsupported bundle version " +
                        std::to_string(version) +
                        " (this runtime reads version " +
                        std::to_string(SKIPATTN_BUNDLE_FORMAT_VERSION) + ")");

  std::string target;
  if (!reader.getString(root, "target", target))
    return false;
  if (target == "cpu")
    manifest.target = SKIPATTN_TARGET_CPU;
  else if (target == "gpu")
    manifest.target = SKIPATTN_TARGET_GPU;
  else
    return reader.error("unknown target " + quote(target) +
                            " (this runtime runs \"cpu\" and \"gpu\" bundles)",
                        SKIPATTN_ERROR_TARGET);
  // A cpu bundle may omit the chip; a gpu bundle cannot be matched to a
  // device without one.
  if (const Json *chip = findMember(root, "chip")) {
    if (!chip->is_null() &&
        !reader.expectKind(*chip, Json::value_t::string, "chip"))
      return false;
    if (chip->is_string())
      manifest.chip = chip->get<std::string>();
  }
  if (manifest.target == SKIPATTN_TARGET_GPU && manifest.chip.empty())
    return reader.error("a gpu bundle must name its \"chip\" (e.g. "
                        "\"sm_90a\")");

  // The library and entry are the cpu target's; a gpu manifest describes
  // its PTX and launches with keys that parseGpu reads.
  if (manifest.target == SKIPATTN_TARGET_CPU) {
    if (!reader.getString(root, "library", manifest.library) ||
        !reader.getString(root, "entry", manifest.entry))
      return false;
    if (manifest.library.empty())
      return reader.error("\"library\" must not be empty");
    if (manifest.entry.empty())
      return reader.error("\"entry\" must not be empty");
    if (!parseCpu(reader, root, manifest))
      return false;
  }

  std::string dtype;
  if (!reader.getString(root, "dtype", dtype) ||
      !parseFloatDtype(reader, dtype, "dtype", /*allowI1=*/false,
                       manifest.dtype))
    return false;
  if (!parseShapes(reader, root, manifest.shape))
    return false;
  if (!reader.getBool(root, "causal", manifest.causal) ||
      !reader.getNumber(root, "scale", manifest.scale))
    return false;
  if (!(manifest.scale > 0.0) || !std::isfinite(manifest.scale))
    return reader.error("\"scale\" must be positive and finite, got " +
                        formatDouble(manifest.scale));
  if (!parseMask(reader, root, manifest) ||
      !parseSkip(reader, root, manifest) ||
      !reader.getBool(root, "stats", manifest.stats) ||
      !reader.getOptionalBool(root, "kv_splits", manifest.kvSplits) ||
      !reader.getOptionalBool(root, "lse", manifest.lse) ||
      !reader.getOptionalBool(root, "init_max", manifest.initMax) ||
      !reader.getOptionalBool(root, "varlen", manifest.varlen) ||
      !parseStatsLayout(reader, root, manifest) ||
      !parseBlock(reader, root, "block_m", manifest.blockM) ||
      !parseBlock(reader, root, "block_n", manifest.blockN))
    return false;
  if (!parsePaged(reader, root, manifest))
    return false;
  if (manifest.varlen && (manifest.hasMask || manifest.pageSize ||
                          manifest.lse || manifest.kvSplits))
    return reader.error("\"varlen\" bundles take no mask, pages, lse or kv "
                        "splits");
  if (manifest.initMax &&
      (manifest.varlen || manifest.pageSize || manifest.kvSplits))
    return reader.error("\"init_max\" is for bundles of contiguous K/V "
                        "without kv splits (not varlen, paged or "
                        "kv_splits)");
  if (manifest.kvSplits && manifest.target == SKIPATTN_TARGET_GPU)
    return reader.error("\"kv_splits\" is a tiling of cpu bundles; a gpu "
                        "bundle's kernels split the kv range on their own");
  if (!parseArguments(reader, root, manifest))
    return false;
  return manifest.target != SKIPATTN_TARGET_GPU ||
         parseGpu(reader, root, manifest);
}

skipattn_status skipattn::runtime::parseManifest(const std::string &path,
                                                 std::string_view text,
                                                 Manifest &manifest) {
  manifest = Manifest();
  manifest.path = path;
  Json root;
  std::string jsonError;
  if (!parseJson(text, root, jsonError))
    return fail(SKIPATTN_ERROR_BUNDLE, path + ": invalid JSON: " + jsonError);
  Reader reader(path);
  if (!parseRoot(reader, root, manifest))
    return reader.status;
  manifest.document = std::move(root);
  return SKIPATTN_OK;
}

/// Manifests are a few hundred bytes; anything this large is not one, and
/// reading it whole would only waste memory.
static constexpr long maxManifestBytes = 1 << 20;

skipattn_status skipattn::runtime::loadManifest(const std::string &dir,
                                                Manifest &manifest) {
  struct stat info;
  if (stat(dir.c_str(), &info) != 0)
    return fail(SKIPATTN_ERROR_BUNDLE, "cannot open bundle directory '" + dir +
                                           "': " + std::strerror(errno));
  if (!S_ISDIR(info.st_mode))
    return fail(SKIPATTN_ERROR_BUNDLE,
                "'" + dir +
                    "' is not a directory (a bundle is a directory holding "
                    "manifest.json)");

  std::string path = dir;
  if (path.back() != '/')
    path += '/';
  path += "manifest.json";
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return fail(SKIPATTN_ERROR_BUNDLE,
                "cannot read '" + path + "': " + std::strerror(errno));
  std::string text;
  char buffer[4096];
  size_t count;
  while ((count = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    text.append(buffer, count);
    if (static_cast<long>(text.size()) > maxManifestBytes) {
      std::fclose(file);
      return fail(SKIPATTN_ERROR_BUNDLE,
                  "'" + path + "' is too large for a manifest (over " +
                      std::to_string(maxManifestBytes) + " bytes)");
    }
  }
  int readError = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (readError)
    return fail(SKIPATTN_ERROR_BUNDLE,
                "cannot read '" + path + "': " + std::strerror(readError));
  return parseManifest(path, text, manifest);
}
