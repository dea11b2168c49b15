//===- CudaDriver.h - libcuda, loaded at run time ---------------*- C++ -*-===//
//
// The runtime must link and load on machines without an NVIDIA driver (cpu
// bundles run there, and gpu bundles must fail with a clear message rather
// than a loader error), so it never links libcuda: the first GPU call
// dlopens libcuda.so.1 and resolves the entry points below with dlsym.
// cuda.h supplies types and enums only, plus, through its macros, the
// versioned symbol each entry point really is (cuMemAlloc is cuMemAlloc_v2),
// which is the name the table resolves.
//
// The C API (DeviceBundle.cpp) and the mgpu* host ABI (MgpuWrappers.cpp)
// share what is here: driver results turned into statuses and messages, the
// context a call runs in, and per-device properties.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_CUDADRIVER_H
#define SKIPATTN_RUNTIME_CUDADRIVER_H

#include "skipattn/runtime.h"

#include <cuda.h>

#include <string>

/// Every driver entry point the runtime calls. X(name) receives the name as
/// the code spells it; the macros of cuda.h turn it into the versioned
/// symbol (cuCtxPushCurrent -> cuCtxPushCurrent_v2) wherever it is expanded.
#define SKIPATTN_CUDA_FUNCTIONS(X)                                             \
  X(cuInit)                                                                    \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDeviceGetName)                                                           \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuCtxGetCurrent)                                                           \
  X(cuCtxGetDevice)                                                            \
  X(cuCtxPushCurrent)                                                          \
  X(cuCtxPopCurrent)                                                           \
  X(cuModuleLoadData)                                                          \
  X(cuModuleLoadDataEx)                                                        \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuModuleGetGlobal)                                                         \
  X(cuFuncSetAttribute)                                                        \
  X(cuLaunchKernel)                                                            \
  X(cuLaunchKernelEx)                                                          \
  X(cuMemGetInfo)                                                              \
  X(cuMemAlloc)                                                                \
  X(cuMemAllocManaged)                                                         \
  X(cuMemAllocAsync)                                                           \
  X(cuMemFree)                                                                 \
  X(cuMemFreeAsync)                                                            \
  X(cuMemHostRegister)                                                         \
  X(cuMemHostUnregister)                                                       \
  X(cuMemcpyHtoD)                                                              \
  X(cuMemcpyDtoH)                                                              \
  X(cuMemcpyDtoHAsync)                                                         \
  X(cuMemcpyAsync)                                                             \
  X(cuMemsetD8Async)                                                           \
  X(cuMemsetD16Async)                                                          \
  X(cuMemsetD32Async)                                                          \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy)                                                           \
  X(cuStreamSynchronize)                                                       \
  X(cuStreamWaitEvent)                                                         \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuTensorMapEncodeTiled)

/// Entry points the runtime uses when the driver has them and does without
/// otherwise: cuFuncGetParamInfo (CUDA 12.4) lets it check a manifest's
/// "params" against the kernel.
#define SKIPATTN_CUDA_OPTIONAL_FUNCTIONS(X) X(cuFuncGetParamInfo)

namespace skipattn::runtime {

/// Pointers to the driver's entry points, named as the code calls them.
/// The optional ones may be null.
struct CudaDriver {
#define SKIPATTN_CUDA_MEMBER(name) decltype(&::name) name = nullptr;
  SKIPATTN_CUDA_FUNCTIONS(SKIPATTN_CUDA_MEMBER)
  SKIPATTN_CUDA_OPTIONAL_FUNCTIONS(SKIPATTN_CUDA_MEMBER)
#undef SKIPATTN_CUDA_MEMBER
};

/// Loads libcuda.so.1, resolves the table and calls cuInit, once per
/// process; later calls return the first outcome (and set the last error
/// again). SKIPATTN_ERROR_NO_DRIVER when the library is missing or too old,
/// SKIPATTN_ERROR_DEVICE when cuInit fails (no device, ...).
skipattn_status loadDriver();

/// The table; only valid after loadDriver() returned SKIPATTN_OK.
const CudaDriver &cuda();

/// "cuMemAlloc failed with CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
std::string describeFailure(CUresult result, const char *function);

/// Records a failed driver call as the last error, prefixed by what the
/// runtime was doing, and returns its status: SKIPATTN_ERROR_OUT_OF_MEMORY
/// for CUDA_ERROR_OUT_OF_MEMORY, SKIPATTN_ERROR_DEVICE otherwise.
skipattn_status cudaFailure(CUresult result, const char *function,
                            const std::string &context);

/// The runtime's CUDA_REPORT_IF_ERROR: calls a driver entry point and, when
/// it fails, returns its status from the enclosing function. context (a
/// std::string expression saying what the call was for) is only evaluated
/// on failure, so the success path builds no messages.
#define SKIPATTN_CUDA_TRY(function, args, context)                             \
  do {                                                                         \
    CUresult skipattnResult_ = ::skipattn::runtime::cuda().function args;      \
    if (skipattnResult_ != CUDA_SUCCESS)                                       \
      return ::skipattn::runtime::cudaFailure(skipattnResult_, #function,      \
                                              context);                        \
  } while (false)

/// Makes a context current for its lifetime: the calling thread's current
/// context if it has one and preferCurrent is set (so that a PyTorch or CuPy
/// caller's allocations and streams are valid), else the primary context of
/// the device `ordinal`, which it pushes and pops again.
class ContextScope {
public:
  ContextScope() = default;
  ~ContextScope();
  ContextScope(const ContextScope &) = delete;
  ContextScope &operator=(const ContextScope &) = delete;

  /// Loads the driver if needed and enters the context.
  skipattn_status enter(int ordinal, bool preferCurrent);

  CUcontext context = nullptr;
  CUdevice device = 0;

private:
  bool pushed = false;
};

/// What the runtime needs to know about a device; queried once per device.
struct DeviceInfo {
  std::string name;
  int ordinal = 0;
  int major = 0;
  int minor = 0;
  int numSms = 0;
  /// The opt-in limit of dynamic shared memory per block.
  int maxSharedOptin = 0;
  int maxGrid[3] = {};
  /// Whether cuMemAllocAsync/cuMemFreeAsync (stream-ordered pools) work.
  bool memoryPools = false;
};

/// The properties of device (a CUdevice from a ContextScope); the pointer
/// stays valid for the life of the process.
skipattn_status deviceInfo(CUdevice device, const DeviceInfo *&info);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_CUDADRIVER_H
