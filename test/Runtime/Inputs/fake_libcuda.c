/*===- fake_libcuda.c - TEST FIXTURE: a libcuda.so.1 without a GPU --------===//
 *
 * Not NVIDIA's driver: a stand-in that the runtime tests build as
 * libcuda.so.1 and put first on LD_LIBRARY_PATH, so that the runtime's GPU
 * path (dlopen and dlsym of the versioned entry points, contexts, module
 * loading, launch planning, parameter packing, temporary buffers, error
 * mapping) runs on a machine with no GPU. It exports the entry points the
 * runtime resolves, under the names cuda.h maps them to (cuMemAlloc_v2...),
 * keeps "device" memory in host memory, and prints a trace line per event
 * on stderr ("fake-cuda: launch ..."), decoding each kernel parameter with
 * the type the PTX declares for it.
 *
 * A launch is not executed; it is emulated: when the kernel has parameters
 * named q and out, q's bytes are copied to out; when it has one named stats,
 * stats[0] += the number of CTAs and stats[1] += grid y * grid z (what
 * test/Runtime/Inputs/echo_kernel.ptx counts).
 *
 * Environment: FAKE_CUDA_CC ("9.0"), FAKE_CUDA_SMS (132), FAKE_CUDA_MEMORY
 * (bytes, 1 GiB), FAKE_CUDA_NO_POOLS (no stream-ordered allocator),
 * FAKE_CUDA_NO_DEVICE (cuInit fails). PTX containing FAKE_JIT_ERROR fails to
 * load with a JIT log; an image starting with FAKE_CUBIN loads through
 * cuModuleLoadData (the rest is read as PTX). A module's
 * skipattn_bundle_descriptor global (the PTX's byte array) is what
 * cuModuleGetGlobal finds. Built with -DFAKE_CUDA_OLD it
 * lacks cuMemAllocAsync (CUDA 11.2) and cuFuncGetParamInfo (CUDA 12.4), as
 * an old driver does.
 *
 *===----------------------------------------------------------------------===*/

#define _POSIX_C_SOURCE 200809L

#include <cuda.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_ALLOCATIONS 256
#define MAX_FUNCTIONS 16
#define MAX_PARAMS 32

struct CUctx_st {
  int unused;
};
struct CUstream_st {
  int id;
};
struct CUevent_st {
  int id;
};

struct CUfunc_st {
  char name[128];
  int numParams;
  char types[MAX_PARAMS][8];
  char names[MAX_PARAMS][64];
  int maxShared;
};

struct CUmod_st {
  int numFunctions;
  struct CUfunc_st functions[MAX_FUNCTIONS];
  /* The PTX's `.global ... .b8 skipattn_bundle_descriptor[N] = {...}`, in
     "device" memory that cuModuleGetGlobal hands out; null if none. */
  unsigned char *descriptor;
  size_t descriptorSize;
};

/* The descriptors of loaded modules: device memory for copies too. */
#define MAX_MODULES 64
static struct CUmod_st *modules[MAX_MODULES];

static struct {
  unsigned char *base;
  size_t size;
  int id;
} allocations[MAX_ALLOCATIONS];
static int nextAllocation = 1;
static size_t allocatedBytes;
static struct CUctx_st primary;
static _Thread_local CUcontext stack[16];
static _Thread_local int depth;
static int nextStream = 1;

__attribute__((format(printf, 1, 2))) static void trace(const char *format,
                                                        ...) {
  va_list args;
  va_start(args, format);
  fputs("fake-cuda: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
}

static long envLong(const char *name, long fallback) {
  const char *text = getenv(name);
  return text && *text ? strtol(text, NULL, 10) : fallback;
}

/* The allocation holding pointer, or -1. */
static int findAllocation(uintptr_t pointer) {
  for (int i = 0; i < MAX_ALLOCATIONS; ++i)
    if (allocations[i].base && pointer >= (uintptr_t)allocations[i].base &&
        pointer < (uintptr_t)allocations[i].base + allocations[i].size)
      return i;
  return -1;
}

static void describePointer(uintptr_t pointer, char *out, size_t size) {
  int i = findAllocation(pointer);
  if (!pointer)
    snprintf(out, size, "null");
  else if (i < 0)
    snprintf(out, size, "not-device-memory");
  else
    snprintf(out, size, "dev#%d+%zu", allocations[i].id,
             (size_t)(pointer - (uintptr_t)allocations[i].base));
}

static CUresult allocate(CUdeviceptr *pointer, size_t bytes, const char *how) {
  if (!pointer)
    return CUDA_ERROR_INVALID_VALUE;
  size_t limit = (size_t)envLong("FAKE_CUDA_MEMORY", 1L << 30);
  if (bytes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (bytes > limit || allocatedBytes + bytes > limit)
    return CUDA_ERROR_OUT_OF_MEMORY;
  for (int i = 0; i < MAX_ALLOCATIONS; ++i) {
    if (allocations[i].base)
      continue;
    allocations[i].base = calloc(1, bytes);
    if (!allocations[i].base)
      return CUDA_ERROR_OUT_OF_MEMORY;
    allocations[i].size = bytes;
    allocations[i].id = nextAllocation++;
    allocatedBytes += bytes;
    *pointer = (CUdeviceptr)allocations[i].base;
    trace("%s dev#%d %zu bytes", how, allocations[i].id, bytes);
    return CUDA_SUCCESS;
  }
  return CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult release(CUdeviceptr pointer, const char *how) {
  int i = findAllocation(pointer);
  if (i < 0 || (uintptr_t)allocations[i].base != pointer)
    return CUDA_ERROR_INVALID_VALUE;
  trace("%s dev#%d", how, allocations[i].id);
  free(allocations[i].base);
  allocations[i].base = NULL;
  allocatedBytes -= allocations[i].size;
  return CUDA_SUCCESS;
}

/* Device memory that was never freed: the runtime must not leak. */
__attribute__((destructor)) static void reportLeaks(void) {
  for (int i = 0; i < MAX_ALLOCATIONS; ++i)
    if (allocations[i].base)
      trace("leaked dev#%d (%zu bytes)", allocations[i].id,
            allocations[i].size);
}

/*===----------------------------------------------------------------------===
 * Initialization, errors, devices, contexts
 *===----------------------------------------------------------------------===*/

/* Like NVIDIA's driver, the fake shuts down from an atexit handler that
   cuInit registers, which runs before the destructors of the program
   (MLIR's module unloading among them); calls after it fail with
   CUDA_ERROR_DEINITIALIZED. */
static int shutDown;

static void shutDownAtExit(void) {
  shutDown = 1;
  trace("shut down at exit");
}

EXPORT CUresult CUDAAPI cuInit(unsigned int Flags) {
  static int registered;
  (void)Flags;
  if (getenv("FAKE_CUDA_NO_DEVICE"))
    return CUDA_ERROR_NO_DEVICE;
  if (!registered)
    atexit(shutDownAtExit);
  registered = 1;
  return CUDA_SUCCESS;
}

static const struct {
  CUresult code;
  const char *name, *text;
} errors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE",
     "no CUDA-capable device is detected"},
    {CUDA_ERROR_DEINITIALIZED, "CUDA_ERROR_DEINITIALIZED",
     "driver shutting down"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE",
     "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX",
     "a PTX JIT compilation failed"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT",
     "invalid device context"},
    {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS",
     "an illegal memory access was encountered"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"}};

EXPORT CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); ++i)
    if (errors[i].code == error) {
      *pStr = errors[i].name;
      return CUDA_SUCCESS;
    }
  *pStr = NULL;
  return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr) {
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); ++i)
    if (errors[i].code == error) {
      *pStr = errors[i].text;
      return CUDA_SUCCESS;
    }
  *pStr = NULL;
  return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult CUDAAPI cuDeviceGetCount(int *count) {
  if (shutDown)
    return CUDA_ERROR_DEINITIALIZED;
  *count = 1;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_VALUE;
  *device = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev) {
  (void)dev;
  snprintf(name, (size_t)len, "Fake GPU");
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib,
                                             CUdevice dev) {
  const char *cc = getenv("FAKE_CUDA_CC");
  int major = 9, minor = 0;
  (void)dev;
  if (cc && *cc)
    sscanf(cc, "%d.%d", &major, &minor);
  switch (attrib) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *pi = major;
    break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *pi = minor;
    break;
  case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
    *pi = (int)envLong("FAKE_CUDA_SMS", 132);
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *pi = 232448;
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X:
    *pi = 2147483647;
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y:
  case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z:
    *pi = 65535;
    break;
  case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED:
    *pi = getenv("FAKE_CUDA_NO_POOLS") ? 0 : 1;
    break;
  default:
    *pi = 0;
    break;
  }
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *pctx,
                                                 CUdevice dev) {
  (void)dev;
  *pctx = &primary;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx) {
  *pctx = depth ? stack[depth - 1] : NULL;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuCtxGetDevice(CUdevice *device) {
  if (!depth)
    return CUDA_ERROR_INVALID_CONTEXT;
  *device = 0;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuCtxPushCurrent(CUcontext ctx) {
  if (depth == 16)
    return CUDA_ERROR_INVALID_VALUE;
  stack[depth++] = ctx;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuCtxPopCurrent(CUcontext *pctx) {
  if (!depth)
    return CUDA_ERROR_INVALID_CONTEXT;
  --depth;
  if (pctx)
    *pctx = stack[depth];
  return CUDA_SUCCESS;
}

/* Kernels run in a context, as with the real driver. */
static CUresult needContext(void) {
  return depth ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

/*===----------------------------------------------------------------------===
 * Modules
 *===----------------------------------------------------------------------===*/

/* Reads the bytes of the descriptor global, if the PTX has one. */
static CUresult parseDescriptor(const char *text, struct CUmod_st *module) {
  const char *name = strstr(text, "skipattn_bundle_descriptor[");
  const char *cursor;
  unsigned long size, byte;
  char *end;
  if (!name)
    return CUDA_SUCCESS;
  size = strtoul(name + strlen("skipattn_bundle_descriptor["), &end, 10);
  cursor = strchr(end, '{');
  if (!cursor || size == 0 || size > (1u << 20))
    return CUDA_ERROR_INVALID_PTX;
  /* As ptxas: what the initializer leaves out is zero (LLVM's NVPTX printer
     leaves out trailing zeros); more values than the size is an error. */
  module->descriptor = calloc(size, 1);
  if (!module->descriptor)
    return CUDA_ERROR_OUT_OF_MEMORY;
  module->descriptorSize = size;
  for (unsigned long i = 0; *cursor != '}'; ++i) {
    byte = strtoul(cursor + 1, &end, 10);
    if (i == size || end == cursor + 1 || byte > 255 ||
        (*end != ',' && *end != '}')) {
      free(module->descriptor);
      module->descriptor = NULL;
      return CUDA_ERROR_INVALID_PTX;
    }
    module->descriptor[i] = (unsigned char)byte;
    cursor = end;
  }
  return CUDA_SUCCESS;
}

/* Reads the .entry declarations of PTX text: names and parameter types. */
static CUresult parsePtx(const char *text, CUmodule *module) {
  struct CUmod_st *result = calloc(1, sizeof(*result));
  const char *cursor = text;
  if (!result)
    return CUDA_ERROR_OUT_OF_MEMORY;
  while ((cursor = strstr(cursor, ".entry ")) != NULL &&
         result->numFunctions < MAX_FUNCTIONS) {
    struct CUfunc_st *function = &result->functions[result->numFunctions++];
    const char *end;
    cursor += strlen(".entry ");
    sscanf(cursor, "%127[A-Za-z0-9_$]", function->name);
    end = strchr(cursor, ')');
    while (end) {
      /* ".param .u64 q" or LLVM's ".param .u64 .ptr .global .align 1 f_0":
         the type comes first, the name last. */
      const char *param = strstr(cursor, ".param .");
      char declaration[256], *token, *save = NULL;
      size_t length;
      if (!param || param > end || function->numParams == MAX_PARAMS)
        break;
      length = strcspn(param, ",)");
      if (length >= sizeof(declaration))
        length = sizeof(declaration) - 1;
      memcpy(declaration, param, length);
      declaration[length] = 0;
      strtok_r(declaration, " \t\r\n", &save);
      token = strtok_r(NULL, " \t\r\n", &save);
      snprintf(function->types[function->numParams], 8, "%s",
               token ? token + 1 : "?");
      while (token) {
        snprintf(function->names[function->numParams], 64, "%s", token);
        token = strtok_r(NULL, " \t\r\n", &save);
      }
      ++function->numParams;
      cursor = param + length;
    }
    cursor = end ? end : cursor;
  }
  if (parseDescriptor(text, result) != CUDA_SUCCESS) {
    free(result);
    return CUDA_ERROR_INVALID_PTX;
  }
  for (int i = 0; i < MAX_MODULES; ++i)
    if (!modules[i]) {
      modules[i] = result;
      break;
    }
  *module = result;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuModuleLoadData(CUmodule *module, const void *image) {
  const char *text = image;
  if (needContext())
    return CUDA_ERROR_INVALID_CONTEXT;
  if (strncmp(text, "FAKE_CUBIN", 10) != 0) {
    trace("cuModuleLoadData: not a fake cubin");
    return CUDA_ERROR_INVALID_IMAGE;
  }
  trace("load cubin");
  return parsePtx(text + 10, module);
}

EXPORT CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *module, const void *image,
                                           unsigned int numOptions,
                                           CUjit_option *options,
                                           void **optionValues) {
  const char *text = image;
  if (needContext())
    return CUDA_ERROR_INVALID_CONTEXT;
  if (strstr(text, "FAKE_JIT_ERROR")) {
    char *log = NULL;
    size_t size = 0;
    for (unsigned i = 0; i < numOptions; ++i) {
      if (options[i] == CU_JIT_ERROR_LOG_BUFFER)
        log = optionValues[i];
      if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
        size = (size_t)(uintptr_t)optionValues[i];
    }
    if (log && size)
      snprintf(log, size,
               "ptxas application ptx input, line 7; error   : fake JIT "
               "failure\nptxas fatal   : Ptx assembly aborted due to "
               "errors\n");
    return CUDA_ERROR_INVALID_PTX;
  }
  trace("load ptx (%u JIT options)", numOptions);
  return parsePtx(text, module);
}

EXPORT CUresult CUDAAPI cuModuleUnload(CUmodule hmod) {
  if (shutDown)
    return CUDA_ERROR_DEINITIALIZED;
  trace("unload module");
  for (int i = 0; i < MAX_MODULES; ++i)
    if (modules[i] == hmod)
      modules[i] = NULL;
  free(hmod->descriptor);
  free(hmod);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuModuleGetGlobal(CUdeviceptr *dptr, size_t *bytes,
                                          CUmodule hmod, const char *name) {
  if (strcmp(name, "skipattn_bundle_descriptor") != 0 || !hmod->descriptor)
    return CUDA_ERROR_NOT_FOUND;
  trace("module global %s (%zu bytes)", name, hmod->descriptorSize);
  if (dptr)
    *dptr = (CUdeviceptr)hmod->descriptor;
  if (bytes)
    *bytes = hmod->descriptorSize;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod,
                                            const char *name) {
  for (int i = 0; i < hmod->numFunctions; ++i)
    if (strcmp(hmod->functions[i].name, name) == 0) {
      *hfunc = &hmod->functions[i];
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_NOT_FOUND;
}

#ifndef FAKE_CUDA_OLD
/* Bytes of a PTX parameter type ("u64" 8, "f32" 4, ...). */
static size_t typeBytes(const char *type) {
  int bits = 0;
  sscanf(type + 1, "%d", &bits);
  return bits ? (size_t)bits / 8 : 8;
}

EXPORT CUresult CUDAAPI cuFuncGetParamInfo(CUfunction func, size_t paramIndex,
                                           size_t *paramOffset,
                                           size_t *paramSize) {
  size_t offset = 0;
  if (paramIndex >= (size_t)func->numParams)
    return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i <= paramIndex; ++i) {
    size_t size = typeBytes(func->types[i]);
    offset = (offset + size - 1) / size * size;
    if (i < paramIndex)
      offset += size;
  }
  *paramOffset = offset;
  if (paramSize)
    *paramSize = typeBytes(func->types[paramIndex]);
  return CUDA_SUCCESS;
}
#endif

EXPORT CUresult CUDAAPI cuFuncSetAttribute(CUfunction hfunc,
                                           CUfunction_attribute attrib,
                                           int value) {
  if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
    if (value > 232448)
      return CUDA_ERROR_INVALID_VALUE;
    hfunc->maxShared = value;
    trace("%s: max dynamic shared memory %d", hfunc->name, value);
  }
  return CUDA_SUCCESS;
}

/*===----------------------------------------------------------------------===
 * Launches
 *===----------------------------------------------------------------------===*/

static void describeStream(CUstream stream, char *out, size_t size) {
  if (stream)
    snprintf(out, size, "stream#%d", stream->id);
  else
    snprintf(out, size, "default-stream");
}

static int paramIndex(CUfunction f, const char *name) {
  for (int i = 0; i < f->numParams; ++i)
    if (strcmp(f->names[i], name) == 0)
      return i;
  return -1;
}

static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                       unsigned bx, unsigned by, unsigned bz, unsigned smem,
                       CUstream stream, void **params, const char *how) {
  char where[64];
  if (needContext())
    return CUDA_ERROR_INVALID_CONTEXT;
  /* Past 48 KiB the function must have opted in, as on real devices. */
  if (smem > 48 * 1024 && (int)smem > f->maxShared)
    return CUDA_ERROR_INVALID_VALUE;
  if ((uint64_t)bx * by * bz > 1024)
    return CUDA_ERROR_INVALID_VALUE;
  describeStream(stream, where, sizeof(where));
  trace("%s %s grid=[%u,%u,%u] block=[%u,%u,%u] shared=%u %s", how, f->name, gx,
        gy, gz, bx, by, bz, smem, where);
  for (int i = 0; i < f->numParams; ++i) {
    const char *type = f->types[i];
    char value[64];
    if (strcmp(type, "u64") == 0 || strcmp(type, "b64") == 0 ||
        strcmp(type, "s64") == 0)
      describePointer((uintptr_t) * (CUdeviceptr *)params[i], value,
                      sizeof(value));
    else if (strcmp(type, "f32") == 0)
      snprintf(value, sizeof(value), "%.9g", (double)*(float *)params[i]);
    else
      snprintf(value, sizeof(value), "%d", *(int32_t *)params[i]);
    trace("  %s %s = %s", type, f->names[i], value);
  }

  int q = paramIndex(f, "q"), out = paramIndex(f, "out");
  if (q >= 0 && out >= 0) {
    uintptr_t from = (uintptr_t) * (CUdeviceptr *)params[q];
    uintptr_t to = (uintptr_t) * (CUdeviceptr *)params[out];
    int a = findAllocation(from), b = findAllocation(to);
    if (a < 0 || b < 0)
      return CUDA_ERROR_ILLEGAL_ADDRESS;
    size_t left = (uintptr_t)allocations[a].base + allocations[a].size - from;
    size_t room = (uintptr_t)allocations[b].base + allocations[b].size - to;
    memcpy((void *)to, (void *)from, left < room ? left : room);
  }
  int stats = paramIndex(f, "stats");
  if (stats >= 0) {
    uint64_t *counters = (uint64_t *)(uintptr_t) * (CUdeviceptr *)params[stats];
    if (findAllocation((uintptr_t)counters) < 0)
      return CUDA_ERROR_ILLEGAL_ADDRESS;
    counters[0] += (uint64_t)gx * gy * gz;
    counters[1] += (uint64_t)gy * gz;
  }
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuLaunchKernel(
    CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
    unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
    unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
    void **kernelParams, void **extra) {
  (void)extra;
  return launch(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY,
                blockDimZ, sharedMemBytes, hStream, kernelParams, "launch");
}

EXPORT CUresult CUDAAPI cuLaunchKernelEx(const CUlaunchConfig *config,
                                         CUfunction f, void **kernelParams,
                                         void **extra) {
  (void)extra;
  for (unsigned i = 0; i < config->numAttrs; ++i)
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION)
      trace("cluster=[%u,%u,%u]", config->attrs[i].value.clusterDim.x,
            config->attrs[i].value.clusterDim.y,
            config->attrs[i].value.clusterDim.z);
  return launch(f, config->gridDimX, config->gridDimY, config->gridDimZ,
                config->blockDimX, config->blockDimY, config->blockDimZ,
                config->sharedMemBytes, config->hStream, kernelParams,
                "launch-ex");
}

/*===----------------------------------------------------------------------===
 * Memory
 *===----------------------------------------------------------------------===*/

EXPORT CUresult CUDAAPI cuMemGetInfo(size_t *free, size_t *total) {
  *total = (size_t)envLong("FAKE_CUDA_MEMORY", 1L << 30);
  *free = *total - allocatedBytes;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemAlloc(CUdeviceptr *dptr, size_t bytesize) {
  if (needContext())
    return CUDA_ERROR_INVALID_CONTEXT;
  return allocate(dptr, bytesize, "alloc");
}

EXPORT CUresult CUDAAPI cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize,
                                          unsigned int flags) {
  (void)flags;
  if (needContext())
    return CUDA_ERROR_INVALID_CONTEXT;
  return allocate(dptr, bytesize, "alloc-managed");
}

#ifndef FAKE_CUDA_OLD
EXPORT CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize,
                                        CUstream hStream) {
  (void)hStream;
  if (needContext())
    return CUDA_ERROR_INVALID_CONTEXT;
  return allocate(dptr, bytesize, "alloc-async");
}
#endif

EXPORT CUresult CUDAAPI cuMemFree(CUdeviceptr dptr) {
  return release(dptr, "free");
}

EXPORT CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  (void)hStream;
  return release(dptr, "free-async");
}

EXPORT CUresult CUDAAPI cuMemHostRegister(void *p, size_t bytesize,
                                          unsigned int Flags) {
  (void)p;
  (void)Flags;
  trace("host-register %zu bytes", bytesize);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemHostUnregister(void *p) {
  (void)p;
  trace("host-unregister");
  return CUDA_SUCCESS;
}

/* Whether [device, device + bytes) lies in a loaded module's descriptor. */
static int inModuleGlobal(uintptr_t device, size_t bytes) {
  for (int i = 0; i < MAX_MODULES; ++i)
    if (modules[i] && modules[i]->descriptor &&
        device >= (uintptr_t)modules[i]->descriptor &&
        device + bytes <=
            (uintptr_t)modules[i]->descriptor + modules[i]->descriptorSize)
      return 1;
  return 0;
}

/* Copies check that the device side is device memory. */
static CUresult copy(uintptr_t device, void *dst, const void *src,
                     size_t bytes) {
  int i = findAllocation(device);
  if ((i < 0 || device + bytes > (uintptr_t)allocations[i].base +
                                     allocations[i].size) &&
      !inModuleGlobal(device, bytes))
    return CUDA_ERROR_INVALID_VALUE;
  memcpy(dst, src, bytes);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr dstDevice, const void *srcHost,
                                     size_t ByteCount) {
  return copy(dstDevice, (void *)dstDevice, srcHost, ByteCount);
}

EXPORT CUresult CUDAAPI cuMemcpyDtoH(void *dstHost, CUdeviceptr srcDevice,
                                     size_t ByteCount) {
  return copy(srcDevice, dstHost, (const void *)srcDevice, ByteCount);
}

EXPORT CUresult CUDAAPI cuMemcpyDtoHAsync(void *dstHost, CUdeviceptr srcDevice,
                                          size_t ByteCount, CUstream hStream) {
  (void)hStream;
  return copy(srcDevice, dstHost, (const void *)srcDevice, ByteCount);
}

/* Unified addressing: either side may be host memory. */
EXPORT CUresult CUDAAPI cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src,
                                      size_t ByteCount, CUstream hStream) {
  char to[64], from[64];
  (void)hStream;
  describePointer(dst, to, sizeof(to));
  describePointer(src, from, sizeof(from));
  trace("copy %zu bytes %s <- %s", ByteCount, to, from);
  memmove((void *)dst, (const void *)src, ByteCount);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc,
                                        size_t N, CUstream hStream) {
  (void)hStream;
  if (findAllocation(dstDevice) < 0)
    return CUDA_ERROR_INVALID_VALUE;
  memset((void *)dstDevice, uc, N);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemsetD16Async(CUdeviceptr dstDevice,
                                         unsigned short us, size_t N,
                                         CUstream hStream) {
  (void)hStream;
  trace("memset16 %zu x %u", N, us);
  for (size_t i = 0; i < N; ++i)
    ((unsigned short *)dstDevice)[i] = us;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuMemsetD32Async(CUdeviceptr dstDevice, unsigned int ui,
                                         size_t N, CUstream hStream) {
  (void)hStream;
  trace("memset32 %zu x %u", N, ui);
  for (size_t i = 0; i < N; ++i)
    ((unsigned int *)dstDevice)[i] = ui;
  return CUDA_SUCCESS;
}

/*===----------------------------------------------------------------------===
 * Streams, events, tensor maps
 *===----------------------------------------------------------------------===*/

EXPORT CUresult CUDAAPI cuStreamCreate(CUstream *phStream, unsigned int Flags) {
  struct CUstream_st *stream = calloc(1, sizeof(*stream));
  if (!stream)
    return CUDA_ERROR_OUT_OF_MEMORY;
  stream->id = nextStream++;
  trace("create stream#%d (flags %u)", stream->id, Flags);
  *phStream = stream;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamDestroy(CUstream hStream) {
  trace("destroy stream#%d", hStream->id);
  free(hStream);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamSynchronize(CUstream hStream) {
  char where[64];
  describeStream(hStream, where, sizeof(where));
  trace("synchronize %s", where);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent,
                                          unsigned int Flags) {
  (void)Flags;
  trace("stream#%d waits for event#%d", hStream->id, hEvent->id);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventCreate(CUevent *phEvent, unsigned int Flags) {
  static int nextEvent = 1;
  struct CUevent_st *event = calloc(1, sizeof(*event));
  if (!event)
    return CUDA_ERROR_OUT_OF_MEMORY;
  event->id = nextEvent++;
  trace("create event#%d (flags %u)", event->id, Flags);
  *phEvent = event;
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventDestroy(CUevent hEvent) {
  trace("destroy event#%d", hEvent->id);
  free(hEvent);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream) {
  char where[64];
  describeStream(hStream, where, sizeof(where));
  trace("record event#%d on %s", hEvent->id, where);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuEventSynchronize(CUevent hEvent) {
  trace("synchronize event#%d", hEvent->id);
  return CUDA_SUCCESS;
}

EXPORT CUresult CUDAAPI cuTensorMapEncodeTiled(
    CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
    cuuint32_t tensorRank, void *globalAddress, const cuuint64_t *globalDim,
    const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
    CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
    CUtensorMapFloatOOBfill oobFill) {
  (void)globalAddress;
  (void)globalStrides;
  (void)elementStrides;
  (void)interleave;
  (void)l2Promotion;
  (void)oobFill;
  memset(tensorMap, 0, sizeof(*tensorMap));
  trace("tensor map type %d rank %u dims [%llu,%llu] box [%u,%u] swizzle %d",
        (int)tensorDataType, tensorRank, (unsigned long long)globalDim[0],
        (unsigned long long)globalDim[1], boxDim[0], boxDim[1], (int)swizzle);
  return CUDA_SUCCESS;
}
