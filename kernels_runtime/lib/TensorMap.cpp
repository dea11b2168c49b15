//===- TensorMap.cpp - the TMA descriptors of the sm_90a kernel -----------===//

#include "TensorMap.h"

#include "CudaDriver.h"
#include "Errors.h"

#include <string>

using namespace skipattn::runtime;

skipattn_status skipattn::runtime::encodeTensorMap(const TensorMapKey &key,
                                                   CUtensorMap &map,
                                                   const char *what) {
  // The kernel's boxes: 64 columns (128 bytes, the most 128-byte swizzle
  // allows) by boxRows rows of one (batch, head).
  if (key.inner % 64 != 0 || key.rows < 1 || key.outer < 1 ||
      key.boxRows < 1 || key.boxRows > 256 || key.data % 16 != 0)
    return fail(SKIPATTN_ERROR_SHAPE,
                std::string("cannot describe ") + what +
                    " for TMA: head dim " + std::to_string(key.inner) +
                    " (a multiple of 64), length " + std::to_string(key.rows) +
                    ", " + std::to_string(key.outer) +
                    " heads, and a 16-byte aligned address are needed");
  auto rows = static_cast<cuuint64_t>(key.rows);
  auto outer = static_cast<cuuint64_t>(key.outer);
  auto rowBytes = static_cast<cuuint64_t>(key.inner * 2);
  auto boxRows = static_cast<cuuint32_t>(key.boxRows);
  cuuint64_t dims[3] = {static_cast<cuuint64_t>(key.inner), rows, outer};
  cuuint64_t strides[2] = {rowBytes, rowBytes * rows};
  cuuint32_t box[3] = {64, boxRows, 1};
  if (key.packed) {
    dims[1] = outer;
    dims[2] = rows;
    strides[1] = rowBytes * outer;
    box[1] = 1;
    box[2] = boxRows;
  }
  cuuint32_t elementStrides[3] = {1, 1, 1};
  SKIPATTN_CUDA_TRY(
      cuTensorMapEncodeTiled,
      (&map,
       key.bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
       3, reinterpret_cast<void *>(key.data), dims, strides, box,
       elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
       CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
       CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
      std::string("describing ") + what + " for TMA");
  return SKIPATTN_OK;
}

TensorMapCache::~TensorMapCache() {
  for (const Entry &entry : entries)
    cuda().cuMemFree(entry.address);
}

skipattn_status TensorMapCache::get(const TensorMapKey &key, CUstream stream,
                                    const char *what, CUdeviceptr &address) {
  std::lock_guard<std::mutex> lock(mutex);
  for (const Entry &entry : entries)
    if (entry.key == key) {
      address = entry.address;
      return SKIPATTN_OK;
    }
  CUtensorMap map;
  if (skipattn_status status = encodeTensorMap(key, map, what))
    return status;
  Entry *slot;
  if (entries.size() < kCapacity) {
    Entry fresh;
    SKIPATTN_CUDA_TRY(cuMemAlloc, (&fresh.address, sizeof(map)),
                      std::string("allocating the tensor map of ") + what);
    entries.push_back(fresh);
    slot = &entries.back();
  } else {
    slot = &entries[nextVictim];
    nextVictim = (nextVictim + 1) % kCapacity;
  }
  slot->key = key;
  if (stream)
    SKIPATTN_CUDA_TRY(cuMemcpyAsync,
                      (slot->address, reinterpret_cast<CUdeviceptr>(&map),
                       sizeof(map), stream),
                      std::string("copying the tensor map of ") + what);
  else
    SKIPATTN_CUDA_TRY(cuMemcpyHtoD, (slot->address, &map, sizeof(map)),
                      std::string("copying the tensor map of ") + what);
  address = slot->address;
  return SKIPATTN_OK;
}
