//===- MgpuWrappers.cpp - the mgpu* host ABI of MLIR's gpu-to-llvm --------===//
//
// MLIR's gpu-to-llvm lowering (and SelectObjectAttr's embedding of gpu.binary)
// turns gpu.launch_func, gpu.alloc, gpu.memcpy, gpu.wait and friends into
// calls of mgpu* functions, which upstream MLIR implements in
// libmlir_cuda_runtime by linking libcuda. These are the same functions on
// top of the runtime's dlopen'd driver, so that a host program lowered by
// MLIR links against libskipattn_runtime alone and starts (and fails
// cleanly) on a machine without a driver. The set and the signatures are
// those MLIR 22 emits (checked against mlir-opt --gpu-lower-to-nvvm-pipeline
// and mlir-translate output); intptr_t and size_t stand for its i64, int8_t
// for its i8. The cuSPARSE wrappers (mgpuSpMV, mgpuCreateCsr, ...) are left
// out: they need libcusparse, which this runtime does not use.
//
// Like upstream's CudaRuntimeWrappers.cpp, every call runs in the primary
// context of the default device (mgpuSetDefaultDevice), pushed for the
// call. Unlike upstream, which prints a failed call and carries on with a
// null handle, a failure here prints one line to stderr and exits with
// status 1 (as an abort would, but with a status scripts can test): these
// functions return what MLIR's generated code expects (a handle, or
// nothing), so there is no status to return, and going on would only move
// the crash somewhere less clear.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "Errors.h"
#include "TensorMap.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace skipattn::runtime;

#define SKIPATTN_MGPU_EXPORT extern "C" __attribute__((visibility("default")))

/// The device whose primary context the calls of this thread use.
static thread_local int32_t defaultDevice = 0;

/// Reports a failure of the wrapper `function` and exits. _Exit, after
/// flushing the host's output, rather than exit: the first failure often
/// happens in the module-loading constructor MLIR emits, and exit would run
/// the matching destructor, which calls mgpuModuleUnload on a module that
/// never loaded, after this thread's error state is gone.
[[noreturn]] static void die(const char *function, const std::string &message) {
  std::fprintf(stderr, "skipattn_runtime: %s: %s\n", function, message.c_str());
  std::fflush(nullptr);
  std::_Exit(1);
}

/// Calls a driver entry point and exits with its message if it fails; the
/// mgpu* counterpart of SKIPATTN_CUDA_TRY.
#define SKIPATTN_MGPU_CHECK(function, args)                                    \
  do {                                                                         \
    CUresult skipattnResult_ = ::skipattn::runtime::cuda().function args;      \
    if (skipattnResult_ != CUDA_SUCCESS)                                       \
      die(__func__, describeFailure(skipattnResult_, #function));              \
  } while (false)

namespace {
/// Makes the default device's primary context current for the call, or
/// exits (no driver, no such device).
class ScopedContext {
public:
  explicit ScopedContext(const char *function) {
    if (scope.enter(defaultDevice, /*preferCurrent=*/false))
      die(function, lastError());
  }

  CUdevice device() const { return scope.device; }

private:
  ContextScope scope;
};
} // namespace

static CUdeviceptr devicePointer(const void *pointer) {
  return reinterpret_cast<CUdeviceptr>(pointer);
}

/// A launch extent from MLIR's index type, checked to fit the driver's
/// unsigned int.
static unsigned extent(const char *function, const char *what, intptr_t value) {
  if (value < 1 || value > static_cast<intptr_t>(UINT32_MAX))
    die(function, std::string(what) + " " + std::to_string(value) +
                      " is out of range for a kernel launch");
  return static_cast<unsigned>(value);
}

/// Opts function into smem bytes of dynamic shared memory when that is past
/// the 48 KiB every function gets without asking.
static void raiseSharedMemory(const char *function, CUfunction kernel,
                              CUdevice device, int32_t smem) {
  if (smem <= 48 * 1024)
    return;
  int limit = 0;
  SKIPATTN_MGPU_CHECK(
      cuDeviceGetAttribute,
      (&limit, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device));
  if (smem > limit)
    die(function, "the kernel asks for " + std::to_string(smem) +
                      " bytes of dynamic shared memory; the device allows " +
                      std::to_string(limit));
  SKIPATTN_MGPU_CHECK(
      cuFuncSetAttribute,
      (kernel, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem));
}

//===----------------------------------------------------------------------===//
// Modules and launches
//===----------------------------------------------------------------------===//

/// A cubin or fatbin that gpu-module-to-binary embedded (format bin or
/// fatbin).
SKIPATTN_MGPU_EXPORT CUmodule mgpuModuleLoad(void *data,
                                             size_t /*gpuBlobSize*/) {
  ScopedContext context(__func__);
  CUmodule module = nullptr;
  SKIPATTN_MGPU_CHECK(cuModuleLoadData, (&module, data));
  return module;
}

/// NUL-terminated PTX (format isa), compiled by the driver's JIT at optLevel;
/// a JIT error exits with the JIT's log.
SKIPATTN_MGPU_EXPORT CUmodule mgpuModuleLoadJIT(void *data, int32_t optLevel) {
  ScopedContext context(__func__);
  CUmodule module = nullptr;
  char log[16384] = {};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                            CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log) - 1),
                    reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  CUresult result =
      cuda().cuModuleLoadDataEx(&module, data, 3, options, values);
  if (result != CUDA_SUCCESS)
    die(__func__, describeFailure(result, "cuModuleLoadDataEx") +
                      (log[0] ? std::string("; JIT log:\n") + log : ""));
  return module;
}

/// Called from the destructor MLIR emits, which runs at exit, when the
/// driver may already have shut down and released every module with it
/// (CUDA_ERROR_DEINITIALIZED): then there is nothing left to unload.
SKIPATTN_MGPU_EXPORT void mgpuModuleUnload(CUmodule module) {
  int count = 0;
  if (loadDriver() == SKIPATTN_OK &&
      cuda().cuDeviceGetCount(&count) == CUDA_ERROR_DEINITIALIZED)
    return;
  ScopedContext context(__func__);
  CUresult result = cuda().cuModuleUnload(module);
  if (result != CUDA_SUCCESS && result != CUDA_ERROR_DEINITIALIZED)
    die(__func__, describeFailure(result, "cuModuleUnload"));
}

SKIPATTN_MGPU_EXPORT CUfunction mgpuModuleGetFunction(CUmodule module,
                                                      const char *name) {
  ScopedContext context(__func__);
  CUfunction function = nullptr;
  CUresult result = cuda().cuModuleGetFunction(&function, module, name);
  if (result != CUDA_SUCCESS)
    die(__func__, "kernel '" + std::string(name ? name : "") +
                      "': " + describeFailure(result, "cuModuleGetFunction"));
  return function;
}

/// MLIR passes extents as index (i64) and the parameter count, which the
/// driver does not need: it knows the kernel's parameters.
SKIPATTN_MGPU_EXPORT void
mgpuLaunchKernel(CUfunction function, intptr_t gridX, intptr_t gridY,
                 intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                 intptr_t blockZ, int32_t smem, CUstream stream, void **params,
                 void **extra, size_t /*paramsCount*/) {
  ScopedContext context(__func__);
  raiseSharedMemory(__func__, function, context.device(), smem);
  SKIPATTN_MGPU_CHECK(
      cuLaunchKernel,
      (function, extent(__func__, "grid x", gridX),
       extent(__func__, "grid y", gridY), extent(__func__, "grid z", gridZ),
       extent(__func__, "block x", blockX), extent(__func__, "block y", blockY),
       extent(__func__, "block z", blockZ), static_cast<unsigned>(smem), stream,
       params, extra));
}

/// gpu.launch_func with clusters (sm_90+): cuLaunchKernelEx with the
/// cluster shape, spread scheduling as upstream asks for.
SKIPATTN_MGPU_EXPORT void
mgpuLaunchClusterKernel(CUfunction function, intptr_t clusterX,
                        intptr_t clusterY, intptr_t clusterZ, intptr_t gridX,
                        intptr_t gridY, intptr_t gridZ, intptr_t blockX,
                        intptr_t blockY, intptr_t blockZ, int32_t smem,
                        CUstream stream, void **params, void **extra) {
  ScopedContext context(__func__);
  raiseSharedMemory(__func__, function, context.device(), smem);
  CUlaunchConfig config = {};
  config.gridDimX = extent(__func__, "grid x", gridX);
  config.gridDimY = extent(__func__, "grid y", gridY);
  config.gridDimZ = extent(__func__, "grid z", gridZ);
  config.blockDimX = extent(__func__, "block x", blockX);
  config.blockDimY = extent(__func__, "block y", blockY);
  config.blockDimZ = extent(__func__, "block z", blockZ);
  config.sharedMemBytes = static_cast<unsigned>(smem);
  config.hStream = stream;
  CUlaunchAttribute attributes[2] = {};
  attributes[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attributes[0].value.clusterDim.x = extent(__func__, "cluster x", clusterX);
  attributes[0].value.clusterDim.y = extent(__func__, "cluster y", clusterY);
  attributes[0].value.clusterDim.z = extent(__func__, "cluster z", clusterZ);
  attributes[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
  attributes[1].value.clusterSchedulingPolicyPreference =
      CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
  config.attrs = attributes;
  config.numAttrs = 2;
  SKIPATTN_MGPU_CHECK(cuLaunchKernelEx, (&config, function, params, extra));
}

//===----------------------------------------------------------------------===//
// Streams and events
//===----------------------------------------------------------------------===//

SKIPATTN_MGPU_EXPORT CUstream mgpuStreamCreate() {
  ScopedContext context(__func__);
  CUstream stream = nullptr;
  SKIPATTN_MGPU_CHECK(cuStreamCreate, (&stream, CU_STREAM_NON_BLOCKING));
  return stream;
}

SKIPATTN_MGPU_EXPORT void mgpuStreamDestroy(CUstream stream) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuStreamDestroy, (stream));
}

SKIPATTN_MGPU_EXPORT void mgpuStreamSynchronize(CUstream stream) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuStreamSynchronize, (stream));
}

SKIPATTN_MGPU_EXPORT void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuStreamWaitEvent, (stream, event, /*flags=*/0));
}

/// Events only order streams here, so they skip timing.
SKIPATTN_MGPU_EXPORT CUevent mgpuEventCreate() {
  ScopedContext context(__func__);
  CUevent event = nullptr;
  SKIPATTN_MGPU_CHECK(cuEventCreate, (&event, CU_EVENT_DISABLE_TIMING));
  return event;
}

SKIPATTN_MGPU_EXPORT void mgpuEventDestroy(CUevent event) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuEventDestroy, (event));
}

SKIPATTN_MGPU_EXPORT void mgpuEventSynchronize(CUevent event) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuEventSynchronize, (event));
}

SKIPATTN_MGPU_EXPORT void mgpuEventRecord(CUevent event, CUstream stream) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuEventRecord, (event, stream));
}

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

/// gpu.alloc; host_shared (isHostShared = 1) gives managed memory that host
/// and device both address. The allocation is not stream-ordered, as
/// upstream's is not.
SKIPATTN_MGPU_EXPORT void *mgpuMemAlloc(uint64_t sizeBytes, CUstream /*stream*/,
                                        int8_t isHostShared) {
  ScopedContext context(__func__);
  CUdeviceptr pointer = 0;
  if (sizeBytes == 0)
    return nullptr;
  if (isHostShared)
    SKIPATTN_MGPU_CHECK(cuMemAllocManaged,
                        (&pointer, sizeBytes, CU_MEM_ATTACH_GLOBAL));
  else
    SKIPATTN_MGPU_CHECK(cuMemAlloc, (&pointer, sizeBytes));
  return reinterpret_cast<void *>(pointer);
}

SKIPATTN_MGPU_EXPORT void mgpuMemFree(void *pointer, CUstream /*stream*/) {
  if (!pointer)
    return;
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuMemFree, (devicePointer(pointer)));
}

/// Either side may be host or device memory: with unified addressing the
/// driver tells them apart.
SKIPATTN_MGPU_EXPORT void mgpuMemcpy(void *dst, void *src, size_t sizeBytes,
                                     CUstream stream) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuMemcpyAsync, (devicePointer(dst), devicePointer(src),
                                      sizeBytes, stream));
}

SKIPATTN_MGPU_EXPORT void mgpuMemset32(void *dst, uint32_t value, size_t count,
                                       CUstream stream) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuMemsetD32Async,
                      (devicePointer(dst), value, count, stream));
}

SKIPATTN_MGPU_EXPORT void mgpuMemset16(void *dst, uint16_t value, size_t count,
                                       CUstream stream) {
  ScopedContext context(__func__);
  SKIPATTN_MGPU_CHECK(cuMemsetD16Async,
                      (devicePointer(dst), value, count, stream));
}

namespace {
/// The parts of a ranked memref descriptor (StridedMemRefType<char, rank>)
/// that host registration and TMA descriptors read.
struct MemRefView {
  char *data;
  const int64_t *sizes;
  const int64_t *strides;
};
} // namespace

/// Reads the descriptor {allocated, aligned, offset, sizes[rank],
/// strides[rank]}; data is the first element (aligned + offset).
static MemRefView viewMemRef(const void *descriptor, int64_t rank,
                             int64_t elementSizeBytes) {
  struct Header {
    char *allocated;
    char *aligned;
    int64_t offset;
  };
  Header header;
  std::memcpy(&header, descriptor, sizeof(header));
  const auto *sizes = reinterpret_cast<const int64_t *>(
      static_cast<const char *>(descriptor) + sizeof(Header));
  return {header.aligned + header.offset * elementSizeBytes, sizes,
          sizes + rank};
}

/// The bytes a memref spans from its first element, strided or not.
static size_t memRefSpan(const MemRefView &view, int64_t rank,
                         int64_t elementSizeBytes) {
  int64_t last = 0;
  for (int64_t i = 0; i < rank; ++i) {
    if (view.sizes[i] == 0)
      return 0;
    last += (view.sizes[i] - 1) * view.strides[i];
  }
  return static_cast<size_t>((last + 1) * elementSizeBytes);
}

/// gpu.host_register: pins the memref's memory so that the device can read
/// it.
SKIPATTN_MGPU_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank,
                                                    void *descriptor,
                                                    int64_t elementSizeBytes) {
  ScopedContext context(__func__);
  MemRefView view = viewMemRef(descriptor, rank, elementSizeBytes);
  size_t bytes = memRefSpan(view, rank, elementSizeBytes);
  if (bytes == 0)
    return;
  SKIPATTN_MGPU_CHECK(cuMemHostRegister, (view.data, bytes, /*Flags=*/0));
}

SKIPATTN_MGPU_EXPORT void
mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                            int64_t elementSizeBytes) {
  ScopedContext context(__func__);
  MemRefView view = viewMemRef(descriptor, rank, elementSizeBytes);
  if (memRefSpan(view, rank, elementSizeBytes) == 0)
    return;
  SKIPATTN_MGPU_CHECK(cuMemHostUnregister, (view.data));
}

SKIPATTN_MGPU_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  defaultDevice = device;
}

//===----------------------------------------------------------------------===//
// TMA descriptors (nvgpu.tma.create.descriptor)
//===----------------------------------------------------------------------===//

/// Builds a CUtensorMap for a device memref (rank 1 to 5, row-major as MLIR
/// lays it out; the driver wants the innermost dimension first) and copies
/// it to device memory, where the kernel reads it. The copy is never freed:
/// MLIR emits no call to release it, as with upstream's wrapper.
SKIPATTN_MGPU_EXPORT void *mgpuTensorMapEncodeTiledMemref(
    int64_t rank, void *descriptor, int64_t dataType, int64_t interleave,
    int64_t swizzle, int64_t l2Promotion, int64_t oobFill, int64_t *boxDims) {
  // Bytes per element of CUtensorMapDataType UINT8 .. TFLOAT32_FTZ; the
  // packed sub-byte types after them have no memref element type.
  static const int elementSizes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  constexpr int64_t numTypes = sizeof(elementSizes) / sizeof(elementSizes[0]);
  if (rank < 1 || rank > 5)
    die(__func__,
        "a TMA descriptor has rank 1 to 5, got " + std::to_string(rank));
  if (dataType < 0 || dataType >= numTypes)
    die(__func__,
        "unsupported tensor map data type " + std::to_string(dataType));
  int elementSize = elementSizes[dataType];
  MemRefView view = viewMemRef(descriptor, rank, elementSize);

  cuuint64_t globalDim[5] = {1, 1, 1, 1, 1}, globalStrides[5] = {};
  cuuint32_t boxDim[5] = {1, 1, 1, 1, 1}, elementStrides[5] = {1, 1, 1, 1, 1};
  for (int64_t i = 0; i < rank; ++i) {
    globalDim[i] = static_cast<cuuint64_t>(view.sizes[rank - 1 - i]);
    boxDim[i] = static_cast<cuuint32_t>(boxDims[rank - 1 - i]);
  }
  // Strides of every dimension but the innermost, in bytes.
  for (int64_t i = 0; i + 1 < rank; ++i)
    globalStrides[i] =
        static_cast<cuuint64_t>(view.strides[rank - 2 - i] * elementSize);

  ScopedContext context(__func__);
  CUtensorMap map;
  SKIPATTN_MGPU_CHECK(cuTensorMapEncodeTiled,
                      (&map, static_cast<CUtensorMapDataType>(dataType),
                       static_cast<cuuint32_t>(rank), view.data, globalDim,
                       globalStrides, boxDim, elementStrides,
                       static_cast<CUtensorMapInterleave>(interleave),
                       static_cast<CUtensorMapSwizzle>(swizzle),
                       static_cast<CUtensorMapL2promotion>(l2Promotion),
                       static_cast<CUtensorMapFloatOOBfill>(oobFill)));
  CUdeviceptr copy = 0;
  SKIPATTN_MGPU_CHECK(cuMemAlloc, (&copy, sizeof(map)));
  SKIPATTN_MGPU_CHECK(cuMemcpyHtoD, (copy, &map, sizeof(map)));
  return reinterpret_cast<void *>(copy);
}

//===----------------------------------------------------------------------===//
// Tensor maps of the sm_90a attention kernel (convert-attn-to-gpu)
//===----------------------------------------------------------------------===//

/// The device address of the CUtensorMap of a row-major [outer, rows,
/// inner] f16 (dtype 0) or bf16 (dtype 1) tensor at `address`, with boxes of
/// 64 x boxRows, as the Hopper prefill kernel reads it. Maps stay resident
/// (TensorMapCache), so a program that calls attention in a loop copies
/// each once.
SKIPATTN_MGPU_EXPORT uint64_t mgpuSkipattnTensorMapEncode(uint64_t address,
                                                      int32_t dtype,
                                                      int64_t inner,
                                                      int64_t rows,
                                                      int64_t outer,
                                                      int32_t boxRows) {
  // Never destroyed: the driver may be gone by the time statics are.
  static TensorMapCache *cache = new TensorMapCache;
  if (dtype != 0 && dtype != 1)
    die(__func__, "dtype must be 0 (f16) or 1 (bf16), got " +
                      std::to_string(dtype));
  ScopedContext context(__func__);
  TensorMapKey key;
  key.data = static_cast<CUdeviceptr>(address);
  key.bf16 = dtype == 1;
  key.inner = inner;
  key.rows = rows;
  key.outer = outer;
  key.boxRows = boxRows;
  CUdeviceptr map = 0;
  if (cache->get(key, /*stream=*/nullptr, "an attention operand", map))
    die(__func__, lastError());
  return static_cast<uint64_t>(map);
}
