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
    "                    [--stats]\n"
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
  std::string q, k, v, out, mask;
  std::optional<double> threshold, scaleFactor, targetSparsity;
  std::string calibration, phase = "prefill", layer;
  bool stats = false;
  bool plan = false;
  std::optional<int64_t> numSms;
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
    NumFlags
  };
  std::string threshold, scaleFactor, targetSparsity, numSms;
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
      {"--num-sms", &numSms}};

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
    for (int f : {Out, Mask, Threshold, ScaleFactor, Calibration})
      if (seen(f))
        error("--plan runs nothing, so " + name(f) + " does not apply");
  if (options.plan && options.stats)
    error("--plan runs nothing, so --stats does not apply");
  if (seen(NumSms) && !options.plan)
    error("--num-sms only applies to --plan");
  if (seen(NumSms))
    options.numSms = parseSmCount("--num-sms", numSms);
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
static Array readTensor(const char *name, const std::string &path) {
  Array array;
  std::string message;
  if (!skipattn::npy::readNpy(path, array, message))
    error(message);
  if (array.type == ElementType::Bool)
    error(path + ": " + name + " is bool ('|b1'); " + name +
          " must be float32 ('<f4') or float16 ('<f2')");
  if (array.shape.size() != 4)
    error(path + ": " + name + " must have rank 4 ([B, H, S, D]), got shape " +
          formatShape(array.shape, "(", ")"));
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
  if (isBool)
    error(path + ": the mask is bool ('|b1'), but the bundle takes an " +
          "additive " + skipattn_dtype_name(dtype) + " mask");
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
  float lambda;
  /// [B, Hq, 2] counters, or null when they are not asked for.
  int64_t *headStats;
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
  check(
      call.headStats
          ? skipattn_run_host_head_stats(bundle, &shape, call.q, call.k, call.v,
                                         call.mask, call.maskShape, call.out,
                                         call.lambda, call.headStats)
          : skipattn_run_host(bundle, &shape, call.q, call.k, call.v, call.mask,
                              call.maskShape, call.out, call.lambda, nullptr));
  return millisecondsSince(start);
}

/// Runs a gpu bundle on CUDA device 0. Copies in and out are not timed: the
/// clock starts on an idle device and stops when the launches have
/// finished.
static double runOnDevice(const skipattn_bundle *bundle,
                          const skipattn_shape &shape, const Call &call) {
  DeviceBuffer q(call.q, call.qBytes), k(call.k, call.kBytes),
      v(call.v, call.vBytes), out(nullptr, call.outBytes);
  std::optional<DeviceBuffer> mask, headStats;
  if (call.mask)
    mask.emplace(call.mask, call.maskBytes);
  size_t statsBytes = static_cast<size_t>(shape.batch) *
                      static_cast<size_t>(shape.q_heads) * 2 * sizeof(int64_t);
  if (call.headStats)
    headStats.emplace(nullptr, statsBytes);
  void *maskPointer = mask ? mask->pointer : nullptr;
  check(skipattn_device_synchronize(nullptr));
  auto start = Clock::now();
  check(headStats ? skipattn_run_device_head_stats(
                        bundle, &shape, q.pointer, k.pointer, v.pointer,
                        maskPointer, call.maskShape, out.pointer, call.lambda,
                        static_cast<int64_t *>(headStats->pointer),
                        /*stream=*/nullptr)
                  : skipattn_run_device(bundle, &shape, q.pointer, k.pointer,
                                        v.pointer, maskPointer, call.maskShape,
                                        out.pointer, call.lambda, nullptr,
                                        /*stream=*/nullptr));
  check(skipattn_device_synchronize(nullptr));
  double wallMs = millisecondsSince(start);
  check(skipattn_device_download(call.out, out.pointer, call.outBytes));
  if (headStats)
    check(skipattn_device_download(call.headStats, headStats->pointer,
                                   statsBytes));
  return wallMs;
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
  Array q = readTensor("q", options.q);
  Array k = readTensor("k", options.k);
  Array v = readTensor("v", options.v);
  skipattn_shape shape;
  check(skipattn_shape_from_tensors(bundle, q.shape.data(), k.shape.data(),
                                    v.shape.data(), &shape));
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

  Array q = readTensor("q", options.q);
  Array k = readTensor("k", options.k);
  Array v = readTensor("v", options.v);
  skipattn_shape shape;
  check(skipattn_shape_from_tensors(bundle.get(), q.shape.data(),
                                    k.shape.data(), v.shape.data(), &shape));

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

  std::vector<int64_t> outShape = {shape.batch, shape.q_heads, shape.q_len,
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
  double wallMs = onDevice ? runOnDevice(bundle.get(), shape, call)
                           : runOnHost(bundle.get(), shape, call);

  std::vector<float> result(outCount);
  check(skipattn_convert(out.data(), dtype, result.data(), SKIPATTN_DTYPE_F32,
                         outCount));
  std::string message;
  if (!skipattn::npy::writeNpyFloat32(options.out, outShape, result.data(),
                                      message))
    error(message);

  std::string line =
      "{\"bundle\":" + jsonString(options.bundle) + ",\"target\":\"" +
      skipattn_bundle_target_name(bundle.get()) + "\",\"dtype\":\"" +
      skipattn_dtype_name(dtype) + "\",\"q\":" + jsonShape(q.shape) +
      ",\"k\":" + jsonShape(k.shape) + ",\"v\":" + jsonShape(v.shape);
  if (hasMask)
    line += ",\"mask\":" + jsonShape(mask.shape);
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
