//===- DeviceBundle.cpp - gpu bundles: module and launches ------*- C++ -*-===//
//
// Runs gpu bundles through the driver API. The PTX and cubin are read when
// the bundle loads (so that a missing file is a load error on any machine);
// the CUDA module is created on the first run in each context, from the
// cubin when the device's compute capability is exactly the chip's, else
// from the PTX through the driver's JIT, whose error log is kept for the
// message. The PTX's descriptor is compared with the manifest at load; a
// cubin's only when the driver has loaded it (cuModuleGetGlobal), since
// reading machine code is the driver's business, so a cubin that does not
// match its manifest fails the first run instead of running. A run plans the launches (Launch.cpp), checks them against the
// device's limits, allocates the statistics counters and the workspace
// stream-ordered (cuMemAllocAsync, freed with cuMemFreeAsync after the
// launches), opts functions into large dynamic shared memory before their
// first such launch, and packs each launch's parameters as the manifest
// lists them.
//
// The device memory helpers of the C API (skipattn_device_*) live here too:
// they are what a host without its own CUDA runtime (skipattn-run, ctypes)
// needs to call skipattn_run_device.
//
//===----------------------------------------------------------------------===//

#include "DeviceBundle.h"
#include "CudaDriver.h"
#include "Descriptor.h"
#include "TensorMap.h"
#include "Errors.h"
#include "Json.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sys/stat.h>

using namespace skipattn::runtime;

struct DeviceKernel::Module {
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  /// Indexed like Manifest::functions.
  std::vector<CUfunction> functions;
  /// The dynamic shared memory each function has been opted into.
  std::vector<uint32_t> sharedLimit;
  /// TMA descriptors of the tensors this context's launches read.
  TensorMapCache tensorMaps;
};

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

/// PTX for a large attention kernel is a few megabytes; a file past this is
/// not a kernel, and reading it whole would only exhaust memory.
static constexpr long maxKernelFileBytes = 256L << 20;

static skipattn_status readKernelFile(const Manifest &manifest,
                                      const std::string &dir,
                                      const std::string &name, const char *what,
                                      std::string &path,
                                      std::string &contents) {
  path =
      name.front() == '/' ? name : dir + (dir.back() == '/' ? "" : "/") + name;
  auto cannot = [&](int error) {
    return fail(SKIPATTN_ERROR_BUNDLE, manifest.path + ": cannot read the " +
                                           what + " '" + path +
                                           "': " + std::strerror(error));
  };
  struct stat info;
  if (stat(path.c_str(), &info) != 0)
    return cannot(errno);
  if (!S_ISREG(info.st_mode))
    return fail(SKIPATTN_ERROR_BUNDLE, manifest.path + ": the " + what + " '" +
                                           path + "' is not a regular file");
  if (info.st_size > maxKernelFileBytes)
    return fail(SKIPATTN_ERROR_BUNDLE, manifest.path + ": the " + what + " '" +
                                           path + "' is too large (over " +
                                           std::to_string(maxKernelFileBytes) +
                                           " bytes)");
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return cannot(errno);
  contents.resize(static_cast<size_t>(info.st_size));
  size_t count = std::fread(contents.data(), 1, contents.size(), file);
  int readError = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (readError)
    return cannot(readError);
  contents.resize(count);
  if (contents.empty())
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": the " + what + " '" + path + "' is empty");
  return SKIPATTN_OK;
}

skipattn_status DeviceKernel::open(const std::string &dir,
                                   const Manifest &manifest,
                                   std::unique_ptr<DeviceKernel> &result) {
  std::unique_ptr<DeviceKernel> kernel(new DeviceKernel());
  if (skipattn_status status = readKernelFile(
          manifest, dir, manifest.ptx, "PTX", kernel->ptxPath, kernel->ptx))
    return status;
  // The JIT reads PTX as a NUL-terminated string.
  if (kernel->ptx.find('\0') != std::string::npos)
    return fail(SKIPATTN_ERROR_BUNDLE, manifest.path + ": the PTX '" +
                                           kernel->ptxPath +
                                           "' is not text (it contains NUL "
                                           "bytes)");
  if (skipattn_status status =
          checkPtxDescriptor(manifest, kernel->ptx, kernel->ptxPath))
    return status;
  if (!manifest.cubin.empty())
    if (skipattn_status status =
            readKernelFile(manifest, dir, manifest.cubin, "cubin",
                           kernel->cubinPath, kernel->cubin))
      return status;
  result = std::move(kernel);
  return SKIPATTN_OK;
}

DeviceKernel::~DeviceKernel() {
  // Modules exist only if the driver loaded. Each is unloaded in its own
  // context; a failure (a context the host already destroyed) leaves
  // nothing to clean up.
  for (const std::unique_ptr<Module> &loaded : modules) {
    if (cuda().cuCtxPushCurrent(loaded->context) != CUDA_SUCCESS)
      continue;
    cuda().cuModuleUnload(loaded->module);
    cuda().cuCtxPopCurrent(nullptr);
  }
}

/// "CUDA device 0 (NVIDIA H100 80GB HBM3)".
static std::string describeDevice(const DeviceInfo &info) {
  return "CUDA device " + std::to_string(info.ordinal) + " (" + info.name + ")";
}

/// Whether code compiled for the manifest's chip runs on the device: an
/// arch-specific chip (sm_90a) only on exactly its compute capability, a
/// family chip (sm_100f) on its major version from its minor on, a plain
/// one (sm_80) on that capability and later ones through the PTX JIT.
static skipattn_status checkChip(const Manifest &manifest,
                                 const DeviceInfo &info) {
  int chip = manifest.chipMajor * 10 + manifest.chipMinor;
  int device = info.major * 10 + info.minor;
  std::string capability = std::to_string(manifest.chipMajor) + "." +
                           std::to_string(manifest.chipMinor);
  bool runs;
  std::string rule;
  switch (manifest.chipSuffix) {
  case 'a':
    runs = device == chip;
    rule = "compute capability " + capability + " only";
    break;
  case 'f':
    runs = info.major == manifest.chipMajor && device >= chip;
    rule = "compute capability " + std::to_string(manifest.chipMajor) +
           ".x from " + capability + " on";
    break;
  default:
    runs = device >= chip;
    rule = "compute capability " + capability + " or later";
    break;
  }
  if (runs)
    return SKIPATTN_OK;
  return fail(SKIPATTN_ERROR_TARGET,
              "this bundle is compiled for " + manifest.chip +
                  ", which runs on " + rule + ", but " + describeDevice(info) +
                  " has compute capability " + std::to_string(info.major) +
                  "." + std::to_string(info.minor));
}

/// The JIT log on one line: skipattn-run and most hosts print one line per
/// error.
static std::string flattenLog(const char *log) {
  std::string result;
  for (const char *c = log; *c; ++c) {
    if (*c != '\n') {
      result += *c;
      continue;
    }
    while (!result.empty() && result.back() == ' ')
      result.pop_back();
    if (c[1])
      result += "; ";
  }
  return result;
}

/// Bytes a parameter takes in the kernel's parameter buffer.
static size_t paramBytes(LaunchParam param) {
  switch (param) {
  case LaunchParam::Q:
  case LaunchParam::K:
  case LaunchParam::V:
  case LaunchParam::Out:
  case LaunchParam::Mask:
  case LaunchParam::Lse:
  case LaunchParam::InitMax:
  case LaunchParam::Max:
  case LaunchParam::BlockTable:
  case LaunchParam::SeqLens:
  case LaunchParam::CuSeqlensQ:
  case LaunchParam::CuSeqlensK:
  case LaunchParam::Stats:
  case LaunchParam::Workspace:
  case LaunchParam::WorkspaceZeroed:
  case LaunchParam::TensorMapQ:
  case LaunchParam::TensorMapK:
  case LaunchParam::TensorMapV:
    return sizeof(CUdeviceptr);
  case LaunchParam::Batch:
  case LaunchParam::QHeads:
  case LaunchParam::KvHeads:
  case LaunchParam::QLen:
  case LaunchParam::KvLen:
  case LaunchParam::NumSplits:
  case LaunchParam::MaxPages:
  case LaunchParam::MaskBatch:
  case LaunchParam::MaskHeads:
  case LaunchParam::MaskQLen:
  case LaunchParam::MaskKvLen:
    return sizeof(int32_t);
  case LaunchParam::Threshold:
  case LaunchParam::ScaleFactor:
    return sizeof(float);
  }
  return 0;
}

/// The number of parameters of `.entry function(...)` in the PTX text, or -1
/// where the PTX has no such entry.
static long ptxParamCount(const std::string &ptx, const std::string &function) {
  std::string entry = ".entry " + function;
  for (size_t at = ptx.find(entry); at != std::string::npos;
       at = ptx.find(entry, at + 1)) {
    size_t open = ptx.find_first_not_of(" \t\r\n", at + entry.size());
    if (open == std::string::npos || ptx[open] != '(')
      continue; // a longer name that starts with this one
    size_t close = ptx.find(')', open);
    if (close == std::string::npos)
      return -1;
    long count = 0;
    for (size_t p = ptx.find(".param", open); p < close;
         p = ptx.find(".param", p + 1))
      ++count;
    return count;
  }
  return -1;
}

/// Checks a launch's "params" against the parameters the kernel really has:
/// their number from the PTX entry, their sizes from the driver where it can
/// say (cuFuncGetParamInfo, CUDA 12.4 and later). A launch with too few
/// values, or a 4-byte value for an 8-byte pointer, would have the kernel
/// read past its arguments instead of failing. Only indices that exist are
/// queried, so a correct bundle makes no failing driver call.
static skipattn_status checkParams(const Manifest &manifest,
                                   const std::string &ptxPath,
                                   const std::string &ptx, size_t variant,
                                   size_t index, CUfunction function) {
  const Launch &launch = manifest.kernels[variant].launches[index];
  std::string key = "kernels[" + std::to_string(variant) + "].launches[" +
                    std::to_string(index) + "].params";
  std::string kernel =
      "kernel " + quote(launch.function) + " in '" + ptxPath + "'";
  long count = ptxParamCount(ptx, launch.function);
  if (count >= 0 && static_cast<size_t>(count) != launch.params.size())
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": " + quote(key) + " lists " +
                    std::to_string(launch.params.size()) + " parameters, but " +
                    kernel + " takes " + std::to_string(count));
  if (!cuda().cuFuncGetParamInfo)
    return SKIPATTN_OK;
  std::vector<size_t> sizes;
  for (size_t p = 0; p < launch.params.size(); ++p) {
    size_t offset = 0, size = 0;
    CUresult result = cuda().cuFuncGetParamInfo(function, p, &offset, &size);
    // Past the last parameter: the kernel takes fewer than listed.
    if (result == CUDA_ERROR_INVALID_VALUE)
      return fail(SKIPATTN_ERROR_BUNDLE,
                  manifest.path + ": " + quote(key) + " lists " +
                      std::to_string(launch.params.size()) +
                      " parameters, but " + kernel + " takes " +
                      std::to_string(p));
    if (result != CUDA_SUCCESS)
      return cudaFailure(result, "cuFuncGetParamInfo",
                         "reading the parameters of kernel " +
                             quote(launch.function));
    sizes.push_back(size);
  }
  for (size_t p = 0; p < sizes.size(); ++p) {
    size_t expected = paramBytes(launch.params[p]);
    if (sizes[p] != expected)
      return fail(SKIPATTN_ERROR_BUNDLE,
                  manifest.path + ": " +
                      quote(key + "[" + std::to_string(p) + "]") + " (" +
                      quote(paramName(launch.params[p])) + ") is " +
                      std::to_string(expected) + " bytes, but parameter " +
                      std::to_string(p) + " of " + kernel + " is " +
                      std::to_string(sizes[p]) + " bytes");
  }
  return SKIPATTN_OK;
}

/// Descriptors are a few hundred bytes; a larger global is not one.
static constexpr size_t maxDescriptorBytes = 1 << 20;

/// Compares the descriptor in a module loaded from the cubin with the
/// manifest.
static skipattn_status checkCubinDescriptor(const Manifest &manifest,
                                            CUmodule module,
                                            const std::string &cubinPath) {
  std::string source = "the cubin '" + cubinPath + "'";
  CUdeviceptr address = 0;
  size_t bytes = 0;
  CUresult found =
      cuda().cuModuleGetGlobal(&address, &bytes, module, descriptorSymbol);
  if (found == CUDA_ERROR_NOT_FOUND)
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": " + source + " has no " + descriptorSymbol +
                    " (it is not from skipattn-compile, or from one that "
                    "wrote bundle version 1)");
  if (found != CUDA_SUCCESS)
    return cudaFailure(found, "cuModuleGetGlobal",
                       "looking up the descriptor of " + source);
  if (bytes > maxDescriptorBytes)
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": " + source + " has a " + descriptorSymbol +
                    " of " + std::to_string(bytes) +
                    " bytes, too large to be one");
  std::string text(bytes, '\0');
  if (bytes)
    SKIPATTN_CUDA_TRY(cuMemcpyDtoH, (text.data(), address, bytes),
                      "reading the descriptor of " + source);
  return checkDescriptor(manifest, text, source);
}

skipattn_status DeviceKernel::module(const Manifest &manifest,
                                     CUctx_st *context, const DeviceInfo &info,
                                     Module *&result) const {
  std::lock_guard<std::mutex> lock(mutex);
  for (const std::unique_ptr<Module> &loaded : modules)
    if (loaded->context == context) {
      result = loaded.get();
      return SKIPATTN_OK;
    }

  // Unloads the module again if a later step fails.
  struct Pending {
    CUmodule module = nullptr;
    ~Pending() {
      if (module)
        cuda().cuModuleUnload(module);
    }
  } pending;

  // A cubin is machine code for one capability: use it only there, and
  // fall back to the PTX if the driver refuses it anyway.
  std::string cubinNote;
  bool cubinMatches =
      info.major == manifest.chipMajor && info.minor == manifest.chipMinor;
  if (!cubin.empty() && cubinMatches) {
    CUresult loaded = cuda().cuModuleLoadData(&pending.module, cubin.data());
    if (loaded != CUDA_SUCCESS) {
      pending.module = nullptr;
      cubinNote = " (the cubin '" + cubinPath + "' did not load either: " +
                  describeFailure(loaded, "cuModuleLoadData") + ")";
    } else if (skipattn_status status = checkCubinDescriptor(
                   manifest, pending.module, cubinPath)) {
      // A cubin that is not the manifest's kernel is a corrupt bundle, not
      // a reason to fall back to the PTX.
      return status;
    }
  }
  if (!pending.module) {
    char log[16384] = {};
    CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                              CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1)};
    CUresult loaded = cuda().cuModuleLoadDataEx(&pending.module, ptx.c_str(), 2,
                                                options, values);
    if (loaded != CUDA_SUCCESS) {
      pending.module = nullptr;
      skipattn_status status = cudaFailure(loaded, "cuModuleLoadDataEx",
                                           "loading the PTX '" + ptxPath +
                                               "' on " + describeDevice(info));
      std::string message = lastError();
      if (log[0])
        message += "; JIT log: " + flattenLog(log);
      return fail(status, message + cubinNote);
    }
  }

  auto loaded = std::make_unique<Module>();
  loaded->context = context;
  loaded->functions.resize(manifest.functions.size());
  loaded->sharedLimit.assign(manifest.functions.size(), 0);
  for (size_t i = 0; i < manifest.functions.size(); ++i) {
    const std::string &name = manifest.functions[i];
    CUresult found = cuda().cuModuleGetFunction(&loaded->functions[i],
                                                pending.module, name.c_str());
    if (found == CUDA_ERROR_NOT_FOUND)
      return fail(SKIPATTN_ERROR_BUNDLE,
                  manifest.path + ": the PTX '" + ptxPath + "' has no kernel " +
                      quote(name) + " (a \"function\" of \"kernels\")");
    if (found != CUDA_SUCCESS)
      return cudaFailure(found, "cuModuleGetFunction",
                         "looking up kernel " + quote(name));
  }
  for (size_t v = 0; v < manifest.kernels.size(); ++v)
    for (size_t l = 0; l < manifest.kernels[v].launches.size(); ++l) {
      const Launch &launch = manifest.kernels[v].launches[l];
      if (skipattn_status status =
              checkParams(manifest, ptxPath, ptx, v, l,
                          loaded->functions[launch.functionIndex]))
        return status;
    }
  loaded->module = pending.module;
  pending.module = nullptr;
  modules.push_back(std::move(loaded));
  result = modules.back().get();
  return SKIPATTN_OK;
}

skipattn_status DeviceKernel::check(const Manifest &manifest) const {
  ContextScope scope;
  if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
    return status;
  const DeviceInfo *info;
  if (skipattn_status status = deviceInfo(scope.device, info))
    return status;
  return checkChip(manifest, *info);
}

skipattn_status DeviceKernel::deviceSms(int64_t &numSms) {
  ContextScope scope;
  if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
    return status;
  const DeviceInfo *info;
  if (skipattn_status status = deviceInfo(scope.device, info))
    return status;
  numSms = info->numSms;
  return SKIPATTN_OK;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

namespace {
/// A device buffer that lives for one call. It is stream-ordered where the
/// device has memory pools, so that freeing it waits for the launches that
/// use it without blocking the host; elsewhere it falls back to a
/// synchronous free after the stream drains.
class CallBuffer {
public:
  CallBuffer() = default;
  CallBuffer(const CallBuffer &) = delete;
  CallBuffer &operator=(const CallBuffer &) = delete;
  ~CallBuffer() {
    if (!pointer)
      return;
    if (pooled) {
      cuda().cuMemFreeAsync(pointer, stream);
      return;
    }
    cuda().cuStreamSynchronize(stream);
    cuda().cuMemFree(pointer);
  }

  skipattn_status allocate(size_t bytes, CUstream onStream,
                           const DeviceInfo &info, const char *what) {
    stream = onStream;
    pooled = info.memoryPools;
    std::string context = std::string("allocating ") + what + " (" +
                          std::to_string(bytes) + " bytes) on " +
                          describeDevice(info);
    if (pooled)
      SKIPATTN_CUDA_TRY(cuMemAllocAsync, (&pointer, bytes, stream), context);
    else
      SKIPATTN_CUDA_TRY(cuMemAlloc, (&pointer, bytes), context);
    return SKIPATTN_OK;
  }

  CUdeviceptr pointer = 0;

private:
  CUstream stream = nullptr;
  bool pooled = false;
};

/// One kernel parameter; the driver reads as many bytes as the kernel's
/// parameter has from the start of it.
union ParamValue {
  CUdeviceptr pointer;
  int32_t integer;
  float real;
};
} // namespace

static CUdeviceptr devicePointer(const void *pointer) {
  return reinterpret_cast<CUdeviceptr>(pointer);
}

/// "launches[0] (skipattn_prefill, grid [2, 4, 1], block [128, 1, 1],
/// 81920 bytes of dynamic shared memory)", for launch errors.
static std::string describeLaunch(const LaunchPlan &plan, size_t index) {
  const PlannedLaunch &planned = plan.launches[index];
  const Launch &launch = *planned.launch;
  auto triple = [](const uint32_t *v) {
    return "[" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " +
           std::to_string(v[2]) + "]";
  };
  return "kernels[" + std::to_string(plan.variant) + "].launches[" +
         std::to_string(index) + "] (" + launch.function + ", grid " +
         triple(planned.grid) + ", block " + triple(launch.block) + ", " +
         std::to_string(planned.sharedBytes) +
         " bytes of dynamic shared memory)";
}

/// Checks the plan against the device: grid extents and shared memory.
static skipattn_status checkPlan(const Manifest &manifest,
                                 const LaunchPlan &plan,
                                 const DeviceInfo &info) {
  static const char axes[] = "xyz";
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const PlannedLaunch &planned = plan.launches[i];
    for (int d = 0; d < 3; ++d)
      if (planned.grid[d] > static_cast<uint32_t>(info.maxGrid[d]))
        return fail(SKIPATTN_ERROR_SHAPE,
                    manifest.path + ": " + describeLaunch(plan, i) + ": grid " +
                        axes[d] + " exceeds the limit of " +
                        describeDevice(info) + " (" +
                        std::to_string(info.maxGrid[d]) + ")");
    if (planned.sharedBytes > static_cast<uint32_t>(info.maxSharedOptin))
      return fail(SKIPATTN_ERROR_TARGET,
                  manifest.path + ": " + describeLaunch(plan, i) +
                      " needs more dynamic shared memory than " +
                      describeDevice(info) + " allows per block (" +
                      std::to_string(info.maxSharedOptin) + " bytes)");
  }
  return SKIPATTN_OK;
}

/// The int32 parameters: an extent that does not fit cannot be passed.
static skipattn_status checkInt32(const char *name, int64_t value,
                                  int32_t &out) {
  if (value > std::numeric_limits<int32_t>::max())
    return fail(SKIPATTN_ERROR_SHAPE,
                std::string(name) + " (" + std::to_string(value) +
                    ") does not fit the kernel's 32-bit parameter");
  out = static_cast<int32_t>(value);
  return SKIPATTN_OK;
}

skipattn_status DeviceKernel::run(const Manifest &manifest,
                                  const skipattn_shape &shape, const void *q,
                                  const void *k, const void *v,
                                  const void *mask, const int64_t *maskShape,
                                  void *out, float lambda,
                                  int64_t *hostHeadStats, void *headStats,
                                  void *stream,
                                  const skipattn_run_options &options) const {
  ContextScope scope;
  if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
    return status;
  const DeviceInfo *info;
  if (skipattn_status status = deviceInfo(scope.device, info))
    return status;
  if (skipattn_status status = checkChip(manifest, *info))
    return status;
  LaunchPlan plan;
  if (skipattn_status status =
          planLaunches(manifest, shape, info->numSms, plan,
                       options.max_seqlen_q))
    return status;
  if (skipattn_status status = checkPlan(manifest, plan, *info))
    return status;
  Module *loaded;
  if (skipattn_status status = module(manifest, scope.context, *info, loaded))
    return status;

  auto cuStream = static_cast<CUstream>(stream);
  // The kernels increment the counters, [B, Hq, 2] int64, so they start at
  // zero; a kernel with stats gets them even when the host does not ask.
  CallBuffer counters, workspace;
  size_t counterBytes = static_cast<size_t>(shape.batch) *
                        static_cast<size_t>(shape.q_heads) * 2 *
                        sizeof(int64_t);
  CUdeviceptr counterPointer = devicePointer(headStats);
  if (manifest.stats) {
    if (!headStats) {
      if (skipattn_status status = counters.allocate(
              counterBytes, cuStream, *info, "the skip counters"))
        return status;
      counterPointer = counters.pointer;
    }
    SKIPATTN_CUDA_TRY(cuMemsetD8Async,
                      (counterPointer, 0, counterBytes, cuStream),
                      "clearing the skip counters");
  }
  if (plan.workspaceBytes > 0)
    if (skipattn_status status =
            workspace.allocate(static_cast<size_t>(plan.workspaceBytes),
                               cuStream, *info, "the kernel workspace"))
      return status;
  if (plan.workspaceZeroBytes > 0)
    SKIPATTN_CUDA_TRY(cuMemsetD8Async,
                      (workspace.pointer, 0,
                       static_cast<size_t>(plan.workspaceZeroBytes), cuStream),
                      "clearing the workspace's counters");

  ParamValue extents[5];
  const char *extentNames[5] = {"batch", "query heads", "kv heads",
                                "query length", "kv length"};
  int64_t extentValues[5] = {shape.batch, shape.q_heads, shape.kv_heads,
                             shape.q_len, shape.kv_len};
  for (int i = 0; i < 5; ++i)
    if (skipattn_status status =
            checkInt32(extentNames[i], extentValues[i], extents[i].integer))
      return status;
  // A scale-factor kernel takes F and computes lambda = F / kv_len itself.
  float scaleFactor = lambda * static_cast<float>(shape.kv_len);

  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const PlannedLaunch &planned = plan.launches[i];
    const Launch &launch = *planned.launch;
    CUfunction function = loaded->functions[launch.functionIndex];

    // The default limit is 48 KiB; beyond it each function must opt in, and
    // the opt-in is per function, so it is raised once to the largest size
    // seen.
    if (planned.sharedBytes > 48 * 1024) {
      std::lock_guard<std::mutex> lock(mutex);
      uint32_t &limit = loaded->sharedLimit[launch.functionIndex];
      if (planned.sharedBytes > limit) {
        SKIPATTN_CUDA_TRY(cuFuncSetAttribute,
                          (function,
                           CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                           static_cast<int>(planned.sharedBytes)),
                          "opting " + launch.function + " into " +
                              std::to_string(planned.sharedBytes) +
                              " bytes of dynamic shared memory");
        limit = planned.sharedBytes;
      }
    }

    std::vector<ParamValue> values(launch.params.size());
    std::vector<void *> pointers(launch.params.size());
    for (size_t p = 0; p < launch.params.size(); ++p) {
      ParamValue &value = values[p];
      value.pointer = 0;
      switch (launch.params[p]) {
      case LaunchParam::Q:
        value.pointer = devicePointer(q);
        break;
      case LaunchParam::K:
        value.pointer = devicePointer(k);
        break;
      case LaunchParam::V:
        value.pointer = devicePointer(v);
        break;
      case LaunchParam::Out:
        value.pointer = devicePointer(out);
        break;
      case LaunchParam::Mask:
        value.pointer = devicePointer(mask);
        break;
      case LaunchParam::Lse:
        value.pointer = devicePointer(options.lse);
        break;
      case LaunchParam::InitMax:
        value.pointer = devicePointer(options.init_max);
        break;
      case LaunchParam::Max:
        value.pointer = devicePointer(options.max);
        break;
      case LaunchParam::BlockTable:
        value.pointer = devicePointer(options.block_table);
        break;
      case LaunchParam::SeqLens:
        value.pointer = devicePointer(options.seq_lens);
        break;
      case LaunchParam::MaxPages:
        value.integer = static_cast<int32_t>(options.max_pages);
        break;
      case LaunchParam::CuSeqlensQ:
        value.pointer = devicePointer(options.cu_seqlens_q);
        break;
      case LaunchParam::CuSeqlensK:
        value.pointer = devicePointer(options.cu_seqlens_k);
        break;
      case LaunchParam::MaskBatch:
      case LaunchParam::MaskHeads:
      case LaunchParam::MaskQLen:
      case LaunchParam::MaskKvLen: {
        // checkMask has bounded each extent by the call's (int32) extents.
        int which = static_cast<int>(launch.params[p]) -
                    static_cast<int>(LaunchParam::MaskBatch);
        value.integer = static_cast<int32_t>(maskShape[which]);
        break;
      }
      case LaunchParam::Stats:
        value.pointer = counterPointer;
        break;
      case LaunchParam::Workspace:
      case LaunchParam::WorkspaceZeroed:
        value.pointer = workspace.pointer;
        break;
      case LaunchParam::Batch:
        value = extents[0];
        break;
      case LaunchParam::QHeads:
        value = extents[1];
        break;
      case LaunchParam::KvHeads:
        value = extents[2];
        break;
      case LaunchParam::QLen:
        value = extents[3];
        break;
      case LaunchParam::KvLen:
        value = extents[4];
        break;
      case LaunchParam::NumSplits:
        value.integer = static_cast<int32_t>(plan.numSplits);
        break;
      case LaunchParam::Threshold:
        value.real = lambda;
        break;
      case LaunchParam::ScaleFactor:
        value.real = scaleFactor;
        break;
      case LaunchParam::TensorMapQ:
      case LaunchParam::TensorMapK:
      case LaunchParam::TensorMapV: {
        // Boxes of block_m query rows or block_n keys, as the kernel loads;
        // a varlen call's q_len and kv_len count the packed tokens.
        bool isQ = launch.params[p] == LaunchParam::TensorMapQ;
        bool isV = launch.params[p] == LaunchParam::TensorMapV;
        TensorMapKey key;
        key.data = devicePointer(isQ ? q : isV ? v : k);
        key.bf16 = manifest.dtype == SKIPATTN_DTYPE_BF16;
        key.packed = manifest.varlen;
        key.inner = isV ? shape.value_head_dim : shape.head_dim;
        key.rows = isQ ? shape.q_len : shape.kv_len;
        key.outer = (manifest.varlen ? 1 : shape.batch) *
                    (isQ ? shape.q_heads : shape.kv_heads);
        key.boxRows = isQ ? manifest.blockM : manifest.blockN;
        if (skipattn_status status = loaded->tensorMaps.get(
                key, cuStream, isQ ? "q" : isV ? "v" : "k", value.pointer))
          return status;
        break;
      }
      }
      pointers[p] = &value;
    }
    SKIPATTN_CUDA_TRY(cuLaunchKernel,
                      (function, planned.grid[0], planned.grid[1],
                       planned.grid[2], launch.block[0], launch.block[1],
                       launch.block[2], planned.sharedBytes, cuStream,
                       pointers.data(), nullptr),
                      manifest.path + ": " + describeLaunch(plan, i));
  }

  if (hostHeadStats) {
    SKIPATTN_CUDA_TRY(cuMemcpyDtoHAsync,
                      (hostHeadStats, counterPointer, counterBytes, cuStream),
                      "reading the skip counters");
    SKIPATTN_CUDA_TRY(cuStreamSynchronize, (cuStream),
                      "waiting for the kernels");
  }
  return SKIPATTN_OK;
}

//===----------------------------------------------------------------------===//
// C API: device memory
//===----------------------------------------------------------------------===//

extern "C" skipattn_status skipattn_device_alloc(size_t bytes, void **out) {
  if (out)
    *out = nullptr;
  return guard([&] {
    if (!out)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_device_alloc: out must not be NULL");
    ContextScope scope;
    if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
      return status;
    if (bytes > 0) {
      CUdeviceptr pointer = 0;
      SKIPATTN_CUDA_TRY(cuMemAlloc, (&pointer, bytes),
                        "allocating " + std::to_string(bytes) +
                            " bytes of device memory");
      *out = reinterpret_cast<void *>(pointer);
    }
    clearError();
    return SKIPATTN_OK;
  });
}

extern "C" skipattn_status skipattn_device_free(void *pointer) {
  return guard([&] {
    if (!pointer) {
      clearError();
      return SKIPATTN_OK;
    }
    ContextScope scope;
    if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
      return status;
    SKIPATTN_CUDA_TRY(cuMemFree, (devicePointer(pointer)),
                      "freeing device memory");
    clearError();
    return SKIPATTN_OK;
  });
}

extern "C" skipattn_status
skipattn_device_upload(void *device, const void *host, size_t bytes) {
  return guard([&] {
    if (bytes > 0 && (!device || !host))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_device_upload: device and host must not be NULL");
    ContextScope scope;
    if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
      return status;
    if (bytes > 0)
      SKIPATTN_CUDA_TRY(cuMemcpyHtoD, (devicePointer(device), host, bytes),
                        "copying " + std::to_string(bytes) +
                            " bytes to the device");
    clearError();
    return SKIPATTN_OK;
  });
}

extern "C" skipattn_status
skipattn_device_download(void *host, const void *device, size_t bytes) {
  return guard([&] {
    if (bytes > 0 && (!device || !host))
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_device_download: host and device must not be "
                  "NULL");
    ContextScope scope;
    if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
      return status;
    if (bytes > 0)
      SKIPATTN_CUDA_TRY(cuMemcpyDtoH, (host, devicePointer(device), bytes),
                        "copying " + std::to_string(bytes) +
                            " bytes from the device");
    clearError();
    return SKIPATTN_OK;
  });
}

extern "C" skipattn_status skipattn_device_synchronize(void *stream) {
  return guard([&] {
    ContextScope scope;
    if (skipattn_status status = scope.enter(0, /*preferCurrent=*/true))
      return status;
    SKIPATTN_CUDA_TRY(cuStreamSynchronize, (static_cast<CUstream>(stream)),
                      "waiting for the stream");
    clearError();
    return SKIPATTN_OK;
  });
}
