//===- CudaDriver.cpp - libcuda, loaded at run time -------------*- C++ -*-===//
//
// dlopen of libcuda.so.1 and dlsym of the versioned entry points, once per
// process; the mapping of driver results to statuses; the context scope and
// the per-device property cache. The driver handle is never closed: kernels,
// modules and contexts may outlive any one bundle, and unloading the driver
// under them would turn a clean exit into a crash.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "Errors.h"

#include <cstring>
#include <dlfcn.h>
#include <map>
#include <mutex>
#include <vector>

using namespace skipattn::runtime;

/// Stringizes after expanding, so that a macro of cuda.h yields the symbol
/// it stands for: SKIPATTN_SYMBOL(cuMemAlloc) is "cuMemAlloc_v2".
#define SKIPATTN_STRINGIZE(x) #x
#define SKIPATTN_SYMBOL(x) SKIPATTN_STRINGIZE(x)

namespace {
struct DriverState {
  std::once_flag once;
  skipattn_status status = SKIPATTN_OK;
  std::string message;
  CudaDriver table;
};
} // namespace

static DriverState &driverState() {
  static DriverState state;
  return state;
}

/// Runs once: fills state or records why the driver is unusable.
static void openDriver(DriverState &state) {
  auto failWith = [&](skipattn_status status, std::string message) {
    state.status = status;
    state.message = std::move(message);
  };

  // RTLD_LOCAL: the driver's symbols stay out of the global namespace, where
  // they could clash with a host that links its own copy.
  void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    if (!why || std::strstr(why, "No such file"))
      return failWith(SKIPATTN_ERROR_NO_DRIVER,
                      "libcuda.so.1 not found: no NVIDIA driver on this "
                      "machine");
    return failWith(SKIPATTN_ERROR_NO_DRIVER,
                    std::string("cannot load libcuda.so.1: ") + why);
  }

  CudaDriver table;
  const char *missing = nullptr;
#define SKIPATTN_CUDA_RESOLVE_AS(member, symbol)                               \
  table.member =                                                               \
      reinterpret_cast<decltype(table.member)>(dlsym(handle, symbol));         \
  if (!table.member && !missing)                                               \
    missing = symbol;
#define SKIPATTN_CUDA_RESOLVE(name)                                            \
  SKIPATTN_CUDA_RESOLVE_AS(name, SKIPATTN_SYMBOL(name))
  SKIPATTN_CUDA_FUNCTIONS(SKIPATTN_CUDA_RESOLVE)
#undef SKIPATTN_CUDA_RESOLVE
#undef SKIPATTN_CUDA_RESOLVE_AS
#define SKIPATTN_CUDA_RESOLVE_OPTIONAL_AS(member, symbol)                      \
  table.member =                                                               \
      reinterpret_cast<decltype(table.member)>(dlsym(handle, symbol));
#define SKIPATTN_CUDA_RESOLVE_OPTIONAL(name)                                   \
  SKIPATTN_CUDA_RESOLVE_OPTIONAL_AS(name, SKIPATTN_SYMBOL(name))
  SKIPATTN_CUDA_OPTIONAL_FUNCTIONS(SKIPATTN_CUDA_RESOLVE_OPTIONAL)
#undef SKIPATTN_CUDA_RESOLVE_OPTIONAL
#undef SKIPATTN_CUDA_RESOLVE_OPTIONAL_AS
  if (missing)
    return failWith(SKIPATTN_ERROR_NO_DRIVER,
                    std::string("libcuda.so.1 has no ") + missing +
                        ": the NVIDIA driver is older than this runtime "
                        "needs (CUDA 12.0 or later)");

  state.table = table;
  CUresult result = table.cuInit(0);
  if (result != CUDA_SUCCESS) {
    // The table is complete, so describeFailure can name the error.
    if (result == CUDA_ERROR_NO_DEVICE)
      return failWith(SKIPATTN_ERROR_DEVICE,
                      "no CUDA device: " + describeFailure(result, "cuInit"));
    return failWith(SKIPATTN_ERROR_DEVICE,
                    "cannot initialize the NVIDIA driver: " +
                        describeFailure(result, "cuInit"));
  }
}

skipattn_status skipattn::runtime::loadDriver() {
  DriverState &state = driverState();
  std::call_once(state.once, openDriver, std::ref(state));
  if (state.status != SKIPATTN_OK)
    return fail(state.status, state.message);
  return SKIPATTN_OK;
}

const CudaDriver &skipattn::runtime::cuda() { return driverState().table; }

std::string skipattn::runtime::describeFailure(CUresult result,
                                               const char *function) {
  const char *name = nullptr, *text = nullptr;
  const CudaDriver &table = cuda();
  if (table.cuGetErrorName)
    table.cuGetErrorName(result, &name);
  if (table.cuGetErrorString)
    table.cuGetErrorString(result, &text);
  std::string message = std::string(function) + " failed with ";
  message += name ? name : "CUDA error " + std::to_string(result);
  if (text)
    message += std::string(" (") + text + ")";
  return message;
}

skipattn_status skipattn::runtime::cudaFailure(CUresult result,
                                               const char *function,
                                               const std::string &context) {
  std::string message = describeFailure(result, function);
  if (!context.empty())
    message = context + ": " + message;
  return fail(result == CUDA_ERROR_OUT_OF_MEMORY ? SKIPATTN_ERROR_OUT_OF_MEMORY
                                                 : SKIPATTN_ERROR_DEVICE,
              message);
}

//===----------------------------------------------------------------------===//
// Contexts
//===----------------------------------------------------------------------===//

/// The primary context of each device, retained on first use and kept for
/// the life of the process, as the CUDA runtime does: retaining and
/// releasing it around every call would tear it down and rebuild it.
static skipattn_status primaryContext(int ordinal, CUcontext &context,
                                      CUdevice &device) {
  static std::mutex mutex;
  static std::vector<CUcontext> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  int count = 0;
  SKIPATTN_CUDA_TRY(cuDeviceGetCount, (&count), "counting CUDA devices");
  if (ordinal < 0 || ordinal >= count)
    return fail(SKIPATTN_ERROR_DEVICE,
                "CUDA device " + std::to_string(ordinal) +
                    " does not exist (this machine has " +
                    std::to_string(count) + ")");
  SKIPATTN_CUDA_TRY(cuDeviceGet, (&device, ordinal),
                    "opening CUDA device " + std::to_string(ordinal));
  if (contexts.size() <= static_cast<size_t>(ordinal))
    contexts.resize(ordinal + 1, nullptr);
  if (!contexts[ordinal])
    SKIPATTN_CUDA_TRY(cuDevicePrimaryCtxRetain, (&contexts[ordinal], device),
                      "retaining the primary context of CUDA device " +
                          std::to_string(ordinal));
  context = contexts[ordinal];
  return SKIPATTN_OK;
}

skipattn_status ContextScope::enter(int ordinal, bool preferCurrent) {
  if (skipattn_status status = loadDriver())
    return status;
  if (preferCurrent) {
    CUcontext current = nullptr;
    SKIPATTN_CUDA_TRY(cuCtxGetCurrent, (&current),
                      "querying the current CUDA context");
    if (current) {
      SKIPATTN_CUDA_TRY(cuCtxGetDevice, (&device),
                        "querying the device of the current CUDA context");
      context = current;
      return SKIPATTN_OK;
    }
  }
  if (skipattn_status status = primaryContext(ordinal, context, device))
    return status;
  SKIPATTN_CUDA_TRY(cuCtxPushCurrent, (context),
                    "making the primary context of CUDA device " +
                        std::to_string(ordinal) + " current");
  pushed = true;
  return SKIPATTN_OK;
}

ContextScope::~ContextScope() {
  if (pushed)
    cuda().cuCtxPopCurrent(nullptr);
}

//===----------------------------------------------------------------------===//
// Device properties
//===----------------------------------------------------------------------===//

skipattn_status skipattn::runtime::deviceInfo(CUdevice device,
                                              const DeviceInfo *&info) {
  static std::mutex mutex;
  // std::map: node-based, so the pointers handed out stay valid.
  static std::map<CUdevice, DeviceInfo> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = cache.find(device);
  if (found != cache.end()) {
    info = &found->second;
    return SKIPATTN_OK;
  }

  DeviceInfo result;
  result.ordinal = static_cast<int>(device);
  char name[256] = {};
  SKIPATTN_CUDA_TRY(cuDeviceGetName, (name, sizeof(name) - 1, device),
                    "querying the name of CUDA device " +
                        std::to_string(device));
  result.name = name;
  int pools = 0;
  struct Query {
    CUdevice_attribute attribute;
    int *slot;
  } queries[] = {{CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, &result.major},
                 {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, &result.minor},
                 {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, &result.numSms},
                 {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                  &result.maxSharedOptin},
                 {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, &result.maxGrid[0]},
                 {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, &result.maxGrid[1]},
                 {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, &result.maxGrid[2]},
                 {CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, &pools}};
  for (const Query &query : queries)
    SKIPATTN_CUDA_TRY(cuDeviceGetAttribute,
                      (query.slot, query.attribute, device),
                      "querying CUDA device " + std::to_string(device));
  result.memoryPools = pools != 0;
  info = &cache.emplace(device, std::move(result)).first->second;
  return SKIPATTN_OK;
}
