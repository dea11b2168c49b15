//===- skipattn-run.cpp - run a kernel bundle on .npy files ---------------===//
//
// The command-line face of libskipattn_runtime: loads a bundle, reads q, k,
// v (and a mask) from .npy files, converts them to the bundle's element
// type, runs the kernel once, writes the output as float32 .npy and prints
// one JSON line (shapes, lambda, kernel wall time, skip statistics) that
// scripts parse. A gpu bundle runs on device 0: the inputs are uploaded
// first and the output downloaded after, outside the timed region, which
// ends with a stream synchronize. --plan prints the launches a gpu bundle
// would make instead of running it (with --num-sms, on any machine). It
// links only the runtime, never MLIR or LLVM, so it runs on the machine
// that runs the kernels.
//
// Every failure is one line "skipattn-run: error: <message>" on stderr and
// exit code 1; nothing is written on stdout then.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "skipattn/runtime.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using skipattn::npy::Array;
using skipattn::npy::ElementType;

static const char usage[] =
    "usage: skipattn-run DIR --q q.npy --k k.npy --v v.npy --out o.npy\n"
    "                    [--mask m.npy] [--skip-threshold X | "
    "--skip-scale-factor F |\n"
    "                     --calibration calib.json --target-sparsity T "
    "[--phase P]\n"
    "                     [--layer L]]\n"
    "                    [--stats] [--num-splits N] [--lse lse.npy]\n"
    "                    [--block-table t.npy --seq-lens l.npy]\n"
    "                    [--cu-seqlens-q cq.npy --cu-seqlens-k ck.npy]\n"
    "       skipattn-run DIR --q q.npy --k k.npy --v v.npy --plan "
    "[--num-sms N]\n"
    "\n"
    "Runs the kernel bundle in DIR (written by skipattn-compile) on NumPy\n"
    "arrays: q [B,Hq,Sq,D], k [B,Hkv,Skv,D], v [B,Hkv,Skv,Dv] as float32 or\n"
    "float16, a mask as bool or float, and writes out [B,Hq,Sq,Dv] as\n"
    "float32. Prints one JSON line with the shapes, lambda and the kernel's\n"
    "wall time. A gpu bundle runs on CUDA device 0.\n"
    "\n"
    "  --skip-threshold X      run with lambda = X\n"
    "  --skip-scale-factor F   run with lambda = F / Skv\n"
    "                          (default: the bundle's compiled criterion)\n"
    "  --calibration FILE      with --target-sparsity T: lambda = F / Skv\n"
    "                          with the factor F that skipattn-calibrate's\n"
    "                          FILE gives for T (--phase prefill|decode,\n"
    "                          default prefill; --layer L: layer L's, not\n"
    "                          the one pooled over every sample)\n"
    "  --stats                 report tiles_total and tiles_skipped, and\n"
    "                          both per (batch, query head) as [B][Hq]\n"
    "  --num-splits N          process the kv range in N parts (a cpu bundle\n"
    "                          compiled with --kv-splits; default 1)\n"
    "  --block-table t.npy     a paged bundle's block table, int32\n"
    "                          [B, max_pages]; k and v are then page pools\n"
    "                          [num_pages, page_size, Hkv, D]\n"
    "  --seq-lens l.npy        a paged bundle's kv length per sequence,\n"
    "                          int32 [B]\n"
    "  --cu-seqlens-q cq.npy   a varlen bundle's cumulative lengths, int32\n"
    "  --cu-seqlens-k ck.npy   [B + 1] each; q, k, v (and out) are then\n"
    "                          packed [tokens, H, D]\n"
    "  --lse lse.npy           write the log-sum-exp of each output row,\n"
    "                          float32 [B,Hq,Sq] (a bundle compiled with\n"
    "                          --lse)\n"
    "  --plan                  print the launches a gpu bundle would make\n"
    "                          for these shapes, and run nothing\n"
    "  --num-sms N             plan for a device with N multiprocessors\n"
    "                          (default: ask CUDA device 0)\n";

/// The message travels to main, which prints it and exits with 1.
namespace {
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string bundle;
  std::string q, k, v, out, mask, lse, blockTable, seqLens, cuSeqlensQ,
      cuSeqlensK;
  std::optional<double> threshold, scaleFactor, targetSparsity;
  std::string calibration, phase = "prefill", layer;
  bool stats = false;
  bool plan = false;
  std::optional<int64_t> numSms;
  std::optional<int64_t> numSplits;
};
} // namespace

[[noreturn]] static void error(const std::string &message) {
  throw Failure(message);
}

//===----------------------------------------------------------------------===//
// Command line
//===----------------------------------------------------------------------===//

static double parseNumber(const std::string &flag, const std::string &text) {
  const char *begin = text.c_str();
  char *end = nullptr;
  errno = 0;
  double value = std::strtod(begin, &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value))
    error(flag + " expects a finite number, got '" + text + "'");
  return value;
}

/// A multiprocessor count. Devices have at most a few hundred; the bound
/// only keeps absurd values from overflowing the manifest's expressions.
static int64_t parseSmCount(const std::string &flag, const std::string &text) {
  const char *begin = text.c_str();
  char *end = nullptr;
  errno = 0;
  long long value = std::strtoll(begin, &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < 1 ||
      value > (1 << 20))
    error(flag + " expects a multiprocessor count from 1 to 1048576, got '" +
          text + "'");
  return value;
}

/// A split count: 1 to 2^31 - 1, the range of the kernels' i32 argument.
static int64_t parseSplitCount(const std::string &flag,
                               const std::string &text) {
  const char *begin = text.c_str();
  char *end = nullptr;
  errno = 0;
  long long value = std::strtoll(begin, &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < 1 ||
      value > 2147483647LL)
    error(flag + " expects a split count from 1 to 2147483647, got '" + text +
          "'");
  return value;
}

/// Returns false when --help was asked for. CLI11 reads the command line
/// (values, repeats, unknown arguments); what the flags mean together is
/// checked here.
static bool parseArguments(int argc, char **argv, Options &options) {
  // The flags that take a value; the first four are required (--out not
  // with --plan).
  enum {
    Q,
    K,
    V,
    Out,
    Mask,
    Threshold,
    ScaleFactor,
    Calibration,
    TargetSparsity,
    Phase,
    Layer,
    NumSms,
    NumSplits,
    Lse,
    BlockTable,
    SeqLens,
    CuSeqlensQ,
    CuSeqlensK,
    NumFlags
  };
  std::string threshold, scaleFactor, targetSparsity, numSms, numSplits;
  const std::pair<const char *, std::string *> valueFlags[NumFlags] = {
      {"--q", &options.q},
      {"--k", &options.k},
      {"--v", &options.v},
      {"--out", &options.out},
      {"--mask", &options.mask},
      {"--skip-threshold", &threshold},
      {"--skip-scale-factor", &scaleFactor},
      {"--calibration", &options.calibration},
      {"--target-sparsity", &targetSparsity},
      {"--phase", &options.phase},
      {"--layer", &options.layer},
      {"--num-sms", &numSms},
      {"--num-splits", &numSplits},
      {"--lse", &options.lse},
      {"--block-table", &options.blockTable},
      {"--seq-lens", &options.seqLens},
      {"--cu-seqlens-q", &options.cuSeqlensQ},
      {"--cu-seqlens-k", &options.cuSeqlensK}};

  CLI::App app("Runs a skipattn kernel bundle on .npy files", "skipattn-run");
  // --help prints the usage above, which says more than CLI11's would.
  app.set_help_flag("-h,--help");
  app.add_option("DIR", options.bundle);
  CLI::Option *flags[NumFlags];
  for (int f = 0; f < NumFlags; ++f)
    flags[f] = app.add_option(valueFlags[f].first, *valueFlags[f].second)
                   ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  for (auto [name, value] : {std::pair{"--stats", &options.stats},
                             std::pair{"--plan", &options.plan}})
    app.add_flag(name, *value)
        ->disable_flag_override()
        ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  // CLI11 reads "--q=" as "--q" and takes the next argument for its value.
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 3 && arg.compare(0, 2, "--") == 0 && arg.back() == '=')
      error(arg.substr(0, arg.size() - 1) + " needs a value");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &) {
    return false;
  } catch (const CLI::ParseError &e) {
    error(std::string(e.what()) + " (see skipattn-run --help)");
  }
  auto seen = [&](int f) { return flags[f]->count() > 0; };
  auto name = [&](int f) { return std::string(valueFlags[f].first); };
  for (int f = 0; f < NumFlags; ++f)
    if (seen(f) && valueFlags[f].second->empty())
      error(name(f) + " needs a value");

  if (options.bundle.empty())
    error("missing the bundle directory (usage: skipattn-run DIR --q q.npy "
          "--k k.npy --v v.npy --out o.npy)");
  for (int f : {Q, K, V, Out})
    if (!seen(f) && !(f == Out && options.plan))
      error("missing required flag " + name(f));
  // A plan runs nothing, so the flags about a run do not apply to it.
  if (options.plan)
    for (int f : {Out, Mask, Threshold, ScaleFactor, Calibration, NumSplits,
                  Lse})
      if (seen(f))
        error("--plan runs nothing, so " + name(f) + " does not apply");
  if (options.plan && options.stats)
    error("--plan runs nothing, so --stats does not apply");
  if (seen(NumSms) && !options.plan)
    error("--num-sms only applies to --plan");
  if (seen(NumSms))
    options.numSms = parseSmCount("--num-sms", numSms);
  if (seen(NumSplits))
    options.numSplits = parseSplitCount("--num-splits", numSplits);
  if (seen(CuSeqlensQ) != seen(CuSeqlensK))
    error("--cu-seqlens-q and --cu-seqlens-k go together (a varlen bundle "
          "takes both)");
  if (seen(BlockTable) != seen(SeqLens))
    error("--block-table and --seq-lens go together (a paged bundle takes "
          "both)");
  if (seen(Threshold) && seen(ScaleFactor))
    error("--skip-threshold and --skip-scale-factor are exclusive; give one");
  if (seen(Calibration) != seen(TargetSparsity))
    error("--calibration and --target-sparsity go together");
  for (int f : {Phase, Layer})
    if (seen(f) && !seen(Calibration))
      error(name(f) + " only applies to --calibration");
  if (seen(Calibration) && (seen(Threshold) || seen(ScaleFactor)))
    error(std::string("--calibration and ") +
          (seen(Threshold) ? "--skip-threshold" : "--skip-scale-factor") +
          " are exclusive; give one");
  if (seen(Phase) && options.phase != "prefill" && options.phase != "decode")
    error("--phase must be prefill or decode, got '" + options.phase + "'");
  if (seen(TargetSparsity))
    options.targetSparsity = parseNumber("--target-sparsity", targetSparsity);
  // The runtime's rule for lambda (runtime.h), stated in the flags' terms.
  if (seen(Threshold)) {
    options.threshold = parseNumber("--skip-threshold", threshold);
    if (!(*options.threshold >= 0.0 && *options.threshold < 1.0))
      error("--skip-threshold must be in [0, 1) (0 turns skipping off), got " +
            threshold);
  }
  if (seen(ScaleFactor)) {
    options.scaleFactor = parseNumber("--skip-scale-factor", scaleFactor);
    if (*options.scaleFactor < 0.0)
      error("--skip-scale-factor must be at least 0 (0 turns skipping off), "
            "got " +
            scaleFactor);
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

static std::string formatShape(const std::vector<int64_t> &shape,
                               const char *open = "[",
                               const char *close = "]") {
  std::string result = open;
  for (size_t i = 0; i < shape.size(); ++i)
    result += (i ? ", " : "") + std::to_string(shape[i]);
  return result + close;
}

/// Reads a q, k or v tensor: rank 4, float32 or float16.
static Array readTensor(const char *name, const std::string &path,
                        bool packed = false) {
  Array array;
  std::string message;
  if (!skipattn::npy::readNpy(path, array, message))
    error(message);
  if (array.type == ElementType::Bool || array.type == ElementType::Int32)
    error(path + ": " + name + " is " + skipattn::npy::typeName(array.type) +
          " ('" + skipattn::npy::descr(array.type) + "'); " + name +
          " must be float32 ('<f4') or float16 ('<f2')");
  if (array.shape.size() != (packed ? 3u : 4u))
    error(path + ": " + name + " must have rank " +
          (packed ? "3 ([tokens, H, D], a varlen bundle)" : "4 ([B, H, S, D])") +
          ", got shape " + formatShape(array.shape, "(", ")"));
  return array;
}

/// Reads an int32 array of the given rank (block tables, lengths).
static Array readInt32(const char *name, const std::string &path, size_t rank,
                       const char *layout) {
  Array array;
  std::string message;
  if (!skipattn::npy::readNpy(path, array, message))
    error(message);
  if (array.type != ElementType::Int32)
    error(path + ": " + name + " is " + skipattn::npy::typeName(array.type) +
          " ('" + skipattn::npy::descr(array.type) + "'); " + name +
          " must be int32 ('<i4')");
  if (array.shape.size() != rank)
    error(path + ": " + name + " must have rank " + std::to_string(rank) +
          " (" + layout + "), got shape " + formatShape(array.shape, "(", ")"));
  return array;
}

static skipattn_dtype floatDtype(ElementType type) {
  return type == ElementType::Float16 ? SKIPATTN_DTYPE_F16 : SKIPATTN_DTYPE_F32;
}

static size_t elementCount(const std::vector<int64_t> &shape) {
  size_t count = 1;
  for (int64_t dim : shape)
    count *= static_cast<size_t>(dim);
  return count;
}

/// The array's elements in dtype: the file's bytes when they already are,
/// else a converted copy in storage.
static const void *asDtype(const Array &array, skipattn_dtype dtype,
                           std::vector<unsigned char> &storage) {
  skipattn_dtype from = floatDtype(array.type);
  if (from == dtype)
    return array.data.data();
  size_t count = elementCount(array.shape);
  storage.resize(count * skipattn_dtype_size(dtype));
  if (skipattn_convert(array.data.data(), from, storage.data(), dtype, count))
    error(skipattn_last_error());
  return storage.data();
}

/// The mask in the bundle's mask dtype. A bool mask feeds an i1 bundle and a
/// float mask an additive one; turning one into the other would need a
/// convention (what "false" adds) that the user should pick in numpy.
static const void *maskAsDtype(const std::string &path, const Array &array,
                               skipattn_dtype dtype,
                               std::vector<unsigned char> &storage) {
  bool isBool = array.type == ElementType::Bool;
  if (dtype == SKIPATTN_DTYPE_I1) {
    if (!isBool)
      error(path + ": the mask is " + skipattn::npy::typeName(array.type) +
            " ('" + skipattn::npy::descr(array.type) +
            "'), but the bundle takes a boolean (i1) mask");
    // numpy bools are 0/1 bytes, but a view can hold other values; the
    // kernel reads bit 0 only, so normalize.
    storage.resize(array.data.size());
    for (size_t i = 0; i < storage.size(); ++i)
      storage[i] = array.data[i] != 0;
    return storage.data();
  }
  if (isBool || array.type == ElementType::Int32)
    error(path + ": the mask is " + skipattn::npy::typeName(array.type) +
          " ('" + skipattn::npy::descr(array.type) +
          "'), but the bundle takes an additive " + skipattn_dtype_name(dtype) +
          " mask");
  return asDtype(array, dtype, storage);
}

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

static std::string jsonString(const std::string &text) {
  std::string result = "\"";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      result += '\\';
      result += c;
    } else if (u < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", u);
      result += buffer;
    } else {
      result += c;
    }
  }
  return result + "\"";
}

static std::string jsonShape(const std::vector<int64_t> &shape) {
  std::string result = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    result += (i ? "," : "") + std::to_string(shape[i]);
  return result + "]";
}

/// The shortest decimal that reads back as the same float: lambda 0.001
/// prints as 0.001, not as its binary expansion 0.00100000005.
static std::string shortestFloat(float value) {
  char buffer[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision,
                  static_cast<double>(value));
    if (std::strtof(buffer, nullptr) == value)
      break;
  }
  return buffer;
}

//===----------------------------------------------------------------------===//
// Main
//===----------------------------------------------------------------------===//

namespace {
struct BundleDeleter {
  void operator()(skipattn_bundle *bundle) const {
    skipattn_bundle_free(bundle);
  }
};
using BundlePtr = std::unique_ptr<skipattn_bundle, BundleDeleter>;
} // namespace

static void check(skipattn_status status) {
  if (status != SKIPATTN_OK)
    error(skipattn_last_error());
}

namespace {
/// Device memory holding a copy of host data (or nothing yet), freed on
/// every way out of the run.
class DeviceBuffer {
public:
  DeviceBuffer(const void *host, size_t bytes) {
    check(skipattn_device_alloc(bytes, &pointer));
    if (!host)
      return;
    if (skipattn_device_upload(pointer, host, bytes) != SKIPATTN_OK) {
      std::string message = skipattn_last_error();
      skipattn_device_free(pointer);
      error(message);
    }
  }
  ~DeviceBuffer() { skipattn_device_free(pointer); }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

  void *pointer = nullptr;
};

/// One call's host-side operands, in the bundle's dtypes.
struct Call {
  const void *q, *k, *v, *mask;
  size_t qBytes, kBytes, vBytes, maskBytes;
  const int64_t *maskShape;
  void *out;
  size_t outBytes;
  /// The log-sum-exp output (host memory), when the bundle writes one.
  float *lse;
  size_t lseBytes;
  /// Paged bundles: the table and the lengths (host memory).
  size_t tableBytes, lensBytes;
  /// Varlen bundles: the bytes of each cumulative-length array.
  size_t cuBytes;
  float lambda;
  /// [B, Hq, 2] counters, or null when they are not asked for.
  int64_t *headStats;
  skipattn_run_options options;
};
} // namespace

using Clock = std::chrono::steady_clock;

static double millisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

/// Runs a cpu bundle; returns the kernel's wall time in milliseconds.
static double runOnHost(const skipattn_bundle *bundle,
                        const skipattn_shape &shape, const Call &call) {
  auto start = Clock::now();
  skipattn_run_options options = call.options;
  options.lse = call.lse;
  options.head_stats = call.headStats;
  check(skipattn_run_host_ex(bundle, &shape, call.q, call.k, call.v, call.mask,
                             call.maskShape, call.out, call.lambda, nullptr,
                             &options));
  return millisecondsSince(start);
}

/// Runs a gpu bundle on CUDA device 0. Copies in and out are not timed: the
/// clock starts on an idle device and stops when the launches have
/// finished.
static double runOnDevice(const skipattn_bundle *bundle,
                          const skipattn_shape &shape, const Call &call) {
  DeviceBuffer q(call.q, call.qBytes), k(call.k, call.kBytes),
      v(call.v, call.vBytes), out(nullptr, call.outBytes);
  std::optional<DeviceBuffer> mask, lse, table, lens, headStats, cuQ, cuK;
  if (call.mask)
    mask.emplace(call.mask, call.maskBytes);
  skipattn_run_options options = call.options;
  if (options.block_table) {
    table.emplace(options.block_table, call.tableBytes);
    lens.emplace(options.seq_lens, call.lensBytes);
    options.block_table = static_cast<const int32_t *>(table->pointer);
    options.seq_lens = static_cast<const int32_t *>(lens->pointer);
  }
  if (call.lse) {
    lse.emplace(nullptr, call.lseBytes);
    options.lse = static_cast<float *>(lse->pointer);
  }
  if (options.cu_seqlens_q) {
    cuQ.emplace(options.cu_seqlens_q, call.cuBytes);
    cuK.emplace(options.cu_seqlens_k, call.cuBytes);
    options.cu_seqlens_q = static_cast<const int32_t *>(cuQ->pointer);
    options.cu_seqlens_k = static_cast<const int32_t *>(cuK->pointer);
  }
  size_t statsBytes = static_cast<size_t>(shape.batch) *
                      static_cast<size_t>(shape.q_heads) * 2 * sizeof(int64_t);
  if (call.headStats) {
    headStats.emplace(nullptr, statsBytes);
    options.head_stats = static_cast<int64_t *>(headStats->pointer);
  }
  check(skipattn_device_synchronize(nullptr));
  auto start = Clock::now();
  check(skipattn_run_device_ex(bundle, &shape, q.pointer, k.pointer, v.pointer,
                               mask ? mask->pointer : nullptr, call.maskShape,
                               out.pointer, call.lambda, nullptr,
                               /*stream=*/nullptr, &options));
  check(skipattn_device_synchronize(nullptr));
  double wallMs = millisecondsSince(start);
  check(skipattn_device_download(call.out, out.pointer, call.outBytes));
  if (call.lse)
    check(skipattn_device_download(call.lse, lse->pointer, call.lseBytes));
  if (headStats)
    check(skipattn_device_download(call.headStats, headStats->pointer,
                                   statsBytes));
  return wallMs;
}

/// The call's shape from q, k and v, checked against the bundle. A paged
/// bundle's k and v are page pools [num_pages, page_size, Hkv, D]; its
/// block table and lengths are read into table and lens, and the shape's
/// kv_len is the table's capacity, max_pages * page_size.
static skipattn_shape callShape(const Options &options,
                                const skipattn_bundle *bundle, const Array &q,
                                const Array &k, const Array &v, Array &table,
                                Array &lens) {
  int64_t pageSize = skipattn_bundle_page_size(bundle);
  if (pageSize && options.blockTable.empty())
    error("the bundle is paged (page size " + std::to_string(pageSize) +
          "); pass --block-table and --seq-lens");
  if (!pageSize && !options.blockTable.empty())
    error("the bundle is not paged (\"paged\": null), but --block-table was "
          "given");
  skipattn_shape shape;
  if (!pageSize) {
    check(skipattn_shape_from_tensors(bundle, q.shape.data(), k.shape.data(),
                                      v.shape.data(), &shape));
    return shape;
  }
  table = readInt32("the block table", options.blockTable, 2, "[B, max_pages]");
  lens = readInt32("seq_lens", options.seqLens, 1, "[B]");
  const std::vector<int64_t> &ks = k.shape, &vs = v.shape;
  if (ks[1] != pageSize)
    error(options.k + ": the pages hold " + std::to_string(ks[1]) +
          " keys (dim 1), but the bundle's page size is " +
          std::to_string(pageSize));
  if (vs[0] != ks[0] || vs[1] != ks[1] || vs[2] != ks[2])
    error(options.v + ": the value pages " + formatShape(vs) +
          " must match the key pages " + formatShape(ks) +
          " in their first three dims");
  if (ks[3] != q.shape[3])
    error(options.k + ": the key head dim (" + std::to_string(ks[3]) +
          ") must match q's (" + std::to_string(q.shape[3]) + ")");
  if (table.shape[0] != q.shape[0] || lens.shape[0] != q.shape[0])
    error("the block table " + formatShape(table.shape) + " and seq_lens " +
          formatShape(lens.shape) + " must have a row per sequence (batch " +
          std::to_string(q.shape[0]) + ")");
  if (table.shape[1] < 1 || ks[0] < 1)
    error("the block table and the page pool must not be empty");
  shape = {q.shape[0], q.shape[1], ks[2], q.shape[2], table.shape[1] * pageSize,
           q.shape[3], vs[3]};
  check(skipattn_check_shape(bundle, &shape, nullptr));
  return shape;
}

/// The shape of a varlen call from packed q, k and v [tokens, H, D] and
/// the cumulative lengths, read into cuQ and cuK: the batch is the number
/// of sequences, q_len and kv_len the token counts.
static skipattn_shape varlenShape(const Options &options,
                                  const skipattn_bundle *bundle, const Array &q,
                                  const Array &k, const Array &v, Array &cuQ,
                                  Array &cuK) {
  if (options.cuSeqlensQ.empty())
    error("the bundle is varlen; pass --cu-seqlens-q and --cu-seqlens-k");
  cuQ = readInt32("cu_seqlens_q", options.cuSeqlensQ, 1, "[B + 1]");
  cuK = readInt32("cu_seqlens_k", options.cuSeqlensK, 1, "[B + 1]");
  if (cuQ.shape[0] != cuK.shape[0] || cuQ.shape[0] < 1)
    error("cu_seqlens_q " + formatShape(cuQ.shape) + " and cu_seqlens_k " +
          formatShape(cuK.shape) + " must both be [B + 1]");
  if (k.shape[0] != v.shape[0] || k.shape[1] != v.shape[1])
    error(options.v + ": v " + formatShape(v.shape) + " must match k " +
          formatShape(k.shape) + " in tokens and heads");
  if (k.shape[2] != q.shape[2])
    error(options.k + ": the key head dim (" + std::to_string(k.shape[2]) +
          ") must match q's (" + std::to_string(q.shape[2]) + ")");
  skipattn_shape shape = {cuQ.shape[0] - 1, q.shape[1], k.shape[1],
                          q.shape[0],       k.shape[0], q.shape[2],
                          v.shape[2]};
  check(skipattn_check_shape(bundle, &shape, nullptr));
  return shape;
}

/// ,"tiles_total":T,"tiles_skipped":S,"tiles_total_per_head":[[..]..],
/// "tiles_skipped_per_head":[[..]..] from [B, Hq, 2] counters.
static std::string statsJson(const std::vector<int64_t> &headStats,
                             int64_t batch, int64_t heads) {
  int64_t sums[2] = {0, 0};
  std::string perHead[2] = {"[", "["};
  for (int64_t b = 0; b < batch; ++b) {
    for (int slot = 0; slot < 2; ++slot)
      perHead[slot] += b ? ",[" : "[";
    for (int64_t h = 0; h < heads; ++h) {
      for (int slot = 0; slot < 2; ++slot) {
        int64_t count = headStats[(b * heads + h) * 2 + slot];
        sums[slot] += count;
        perHead[slot] += (h ? "," : "") + std::to_string(count);
      }
    }
    for (int slot = 0; slot < 2; ++slot)
      perHead[slot] += "]";
  }
  return ",\"tiles_total\":" + std::to_string(sums[0]) +
         ",\"tiles_skipped\":" + std::to_string(sums[1]) +
         ",\"tiles_total_per_head\":" + perHead[0] +
         "],\"tiles_skipped_per_head\":" + perHead[1] + "]";
}

/// --plan: the launches for the shapes of q, k and v, as one JSON line.
static int printPlan(const Options &options, const skipattn_bundle *bundle) {
  if (skipattn_bundle_target(bundle) != SKIPATTN_TARGET_GPU)
    error("--plan needs a gpu bundle; this one targets cpu");
  bool varlen = skipattn_bundle_varlen(bundle);
  Array q = readTensor("q", options.q, varlen);
  Array k = readTensor("k", options.k, varlen);
  Array v = readTensor("v", options.v, varlen);
  Array table, lens, cuQ, cuK;
  // A varlen plan covers every token (max_q_len = q_len).
  skipattn_shape shape =
      varlen ? varlenShape(options, bundle, q, k, v, cuQ, cuK)
             : callShape(options, bundle, q, k, v, table, lens);
  const char *plan = nullptr;
  check(
      skipattn_plan_device(bundle, &shape, options.numSms.value_or(0), &plan));
  std::string line = "{\"bundle\":" + jsonString(options.bundle) +
                     ",\"target\":\"gpu\",\"q\":" + jsonShape(q.shape) +
                     ",\"k\":" + jsonShape(k.shape) +
                     ",\"v\":" + jsonShape(v.shape) + ",\"plan\":" + plan +
                     "}\n";
  std::fputs(line.c_str(), stdout);
  return 0;
}

static int run(const Options &options) {
  skipattn_bundle *raw = nullptr;
  check(skipattn_bundle_load(options.bundle.c_str(), &raw));
  BundlePtr bundle(raw);
  if (options.plan)
    return printPlan(options, bundle.get());
  // A gpu bundle on a machine without a driver (or with the wrong GPU)
  // fails here, before any file is read.
  bool onDevice = skipattn_bundle_target(bundle.get()) == SKIPATTN_TARGET_GPU;
  check(onDevice ? skipattn_check_device(bundle.get())
                 : skipattn_check_host(bundle.get()));

  // Flags that the bundle cannot honour fail before any file is read.
  bool hasSkip = skipattn_bundle_has_skip(bundle.get());
  if (!hasSkip &&
      (options.threshold || options.scaleFactor || options.targetSparsity))
    error(std::string("the bundle is dense (\"skip\": null), so ") +
          (options.threshold     ? "--skip-threshold"
           : options.scaleFactor ? "--skip-scale-factor"
                                 : "--calibration") +
          " does not apply");
  // A calibration gives a scale factor for the target sparsity.
  std::optional<double> scaleFactor = options.scaleFactor;
  if (options.targetSparsity) {
    double factor;
    check(skipattn_calibration_factor(
        options.calibration.c_str(),
        options.layer.empty() ? nullptr : options.layer.c_str(),
        options.phase.c_str(), *options.targetSparsity, &factor));
    scaleFactor = factor;
  }
  if (options.stats && !skipattn_bundle_has_stats(bundle.get()))
    error("--stats needs a bundle compiled with stats (its manifest has "
          "\"stats\": false)");
  bool kvSplits = skipattn_bundle_kv_splits(bundle.get());
  bool hasLse = skipattn_bundle_has_lse(bundle.get());
  if (!options.lse.empty() && !hasLse)
    error("--lse needs a bundle compiled with --lse (its manifest has no "
          "\"lse\": true)");
  if (options.numSplits && !kvSplits)
    error("--num-splits needs a cpu bundle compiled with --kv-splits (its "
          "manifest has no \"kv_splits\": true)");
  skipattn_dtype maskDtype = SKIPATTN_DTYPE_I1;
  int64_t maskCompiled[4];
  bool hasMask =
      skipattn_bundle_has_mask(bundle.get(), &maskDtype, maskCompiled);
  if (hasMask && options.mask.empty())
    error(std::string("the bundle takes a mask (") +
          skipattn_dtype_name(maskDtype) + ", shape " +
          formatShape(std::vector<int64_t>(maskCompiled, maskCompiled + 4)) +
          "); pass --mask");
  if (!hasMask && !options.mask.empty())
    error("the bundle takes no mask (\"mask\": null), but --mask was given");

  int64_t pageSize = skipattn_bundle_page_size(bundle.get());
  if (pageSize && options.blockTable.empty())
    error("the bundle is paged (page size " + std::to_string(pageSize) +
          "); pass --block-table and --seq-lens");
  if (!pageSize && !options.blockTable.empty())
    error("the bundle is not paged (\"paged\": null), but --block-table was "
          "given");

  bool varlen = skipattn_bundle_varlen(bundle.get());
  if (varlen && options.cuSeqlensQ.empty())
    error("the bundle is varlen; pass --cu-seqlens-q and --cu-seqlens-k");
  if (!varlen && !options.cuSeqlensQ.empty())
    error("the bundle is not varlen (\"varlen\": false), but --cu-seqlens-q "
          "was given");
  Array q = readTensor("q", options.q, varlen);
  Array k = readTensor("k", options.k, varlen);
  Array v = readTensor("v", options.v, varlen);
  Array table, lens, cuQ, cuK;
  skipattn_shape shape =
      varlen ? varlenShape(options, bundle.get(), q, k, v, cuQ, cuK)
             : callShape(options, bundle.get(), q, k, v, table, lens);

  Array mask;
  std::vector<unsigned char> maskStorage;
  const void *maskData = nullptr;
  if (hasMask) {
    std::string message;
    if (!skipattn::npy::readNpy(options.mask, mask, message))
      error(message);
    if (mask.shape.size() != 4)
      error(options.mask +
            ": the mask must have rank 4 (broadcasting to "
            "[B, Hq, Sq, Skv]), got shape " +
            formatShape(mask.shape, "(", ")"));
    check(skipattn_check_shape(bundle.get(), &shape, mask.shape.data()));
    maskData = maskAsDtype(options.mask, mask, maskDtype, maskStorage);
  }

  skipattn_dtype dtype = skipattn_bundle_dtype(bundle.get());
  std::vector<unsigned char> qStorage, kStorage, vStorage;
  const void *qData = asDtype(q, dtype, qStorage);
  const void *kData = asDtype(k, dtype, kStorage);
  const void *vData = asDtype(v, dtype, vStorage);

  float lambda = 0.0f;
  if (options.threshold)
    lambda = static_cast<float>(*options.threshold);
  else if (scaleFactor)
    // A context not longer than the factor gives lambda >= 1: skipping off,
    // as skipattn_bundle_default_lambda has it.
    lambda = *scaleFactor >= static_cast<double>(shape.kv_len)
                 ? 0.0f
                 : static_cast<float>(*scaleFactor /
                                      static_cast<double>(shape.kv_len));
  else
    lambda = skipattn_bundle_default_lambda(bundle.get(), shape.kv_len);

  std::vector<int64_t> outShape =
      varlen ? std::vector<int64_t>{shape.q_len, shape.q_heads,
                                    shape.value_head_dim}
             : std::vector<int64_t>{shape.batch, shape.q_heads, shape.q_len,
                                    shape.value_head_dim};
  size_t outCount = elementCount(outShape);
  size_t elementSize = skipattn_dtype_size(dtype);
  std::vector<unsigned char> out(outCount * elementSize);
  std::vector<int64_t> headStats(
      options.stats ? static_cast<size_t>(shape.batch * shape.q_heads * 2) : 0);

  Call call;
  call.q = qData;
  call.k = kData;
  call.v = vData;
  call.mask = maskData;
  call.qBytes = elementCount(q.shape) * elementSize;
  call.kBytes = elementCount(k.shape) * elementSize;
  call.vBytes = elementCount(v.shape) * elementSize;
  call.maskBytes =
      hasMask ? elementCount(mask.shape) * skipattn_dtype_size(maskDtype) : 0;
  call.maskShape = hasMask ? mask.shape.data() : nullptr;
  call.out = out.data();
  call.outBytes = out.size();
  call.lambda = lambda;
  call.headStats = options.stats ? headStats.data() : nullptr;
  call.options = skipattn_run_options{};
  call.options.num_splits = options.numSplits.value_or(1);
  // A bundle with lse always writes it; it is saved when --lse asks.
  std::vector<int64_t> lseShape = {shape.batch, shape.q_heads, shape.q_len};
  std::vector<float> lse(hasLse ? elementCount(lseShape) : 0);
  call.lse = hasLse ? lse.data() : nullptr;
  call.lseBytes = lse.size() * sizeof(float);
  call.tableBytes = table.data.size();
  call.lensBytes = lens.data.size();
  if (varlen) {
    const auto *cq = reinterpret_cast<const int32_t *>(cuQ.data.data());
    call.options.cu_seqlens_q = cq;
    call.options.cu_seqlens_k =
        reinterpret_cast<const int32_t *>(cuK.data.data());
    call.cuBytes = cuQ.data.size();
    // The grid of a device run covers the longest sequence.
    for (int64_t b = 0; b < shape.batch; ++b)
      call.options.max_seqlen_q = std::max<int64_t>(call.options.max_seqlen_q,
                                                    cq[b + 1] - cq[b]);
  }
  if (skipattn_bundle_page_size(bundle.get())) {
    call.options.block_table =
        reinterpret_cast<const int32_t *>(table.data.data());
    call.options.seq_lens = reinterpret_cast<const int32_t *>(lens.data.data());
    call.options.num_pages = k.shape[0];
    call.options.max_pages = table.shape[1];
  }
  double wallMs = onDevice ? runOnDevice(bundle.get(), shape, call)
                           : runOnHost(bundle.get(), shape, call);

  std::vector<float> result(outCount);
  check(skipattn_convert(out.data(), dtype, result.data(), SKIPATTN_DTYPE_F32,
                         outCount));
  std::string message;
  if (!skipattn::npy::writeNpyFloat32(options.out, outShape, result.data(),
                                      message))
    error(message);
  if (!options.lse.empty() && !skipattn::npy::writeNpyFloat32(
                                  options.lse, lseShape, lse.data(), message))
    error(message);

  std::string line =
      "{\"bundle\":" + jsonString(options.bundle) + ",\"target\":\"" +
      skipattn_bundle_target_name(bundle.get()) + "\",\"dtype\":\"" +
      skipattn_dtype_name(dtype) + "\",\"q\":" + jsonShape(q.shape) +
      ",\"k\":" + jsonShape(k.shape) + ",\"v\":" + jsonShape(v.shape);
  if (hasMask)
    line += ",\"mask\":" + jsonShape(mask.shape);
  if (kvSplits)
    line += ",\"num_splits\":" + std::to_string(call.options.num_splits);
  line += ",\"out\":" + jsonShape(outShape) + ",\"lambda\":" +
          (hasSkip ? shortestFloat(lambda) : std::string("null"));
  char wall[64];
  std::snprintf(wall, sizeof(wall), ",\"wall_ms\":%.3f", wallMs);
  line += wall;
  if (options.stats)
    line += statsJson(headStats, shape.batch, shape.q_heads);
  line += "}\n";
  std::fputs(line.c_str(), stdout);
  return 0;
}

int main(int argc, char **argv) {
  try {
    Options options;
    if (!parseArguments(argc, argv, options)) {
      std::fputs(usage, stdout);
      return 0;
    }
    return run(options);
  } catch (const Failure &failure) {
    std::fprintf(stderr, "skipattn-run: error: %s\n", failure.what());
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "skipattn-run: error: out of memory\n");
  } catch (const std::exception &e) {
    std::fprintf(stderr, "skipattn-run: error: %s\n", e.what());
  }
  return 1;
}
