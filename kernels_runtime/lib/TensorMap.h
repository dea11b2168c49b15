//===- TensorMap.h - the TMA descriptors of the sm_90a kernel ---*- C++ -*-===//
//
// The Hopper prefill kernel reads Q, K and V through CUtensorMaps: 3-D maps
// of a [B * heads, len, head dim] tensor, or of a varlen call's packed
// [tokens, heads, head dim] one, with 128-byte swizzle and boxes of 64
// columns by a block of rows of one head, rows past the end read as zeros.
// The kernel takes their device addresses. Encoding is cheap, but putting a
// map in device memory is a copy, and a copy from pageable memory waits for
// the stream, so maps are cached per (context, tensor, shape): a repeated call
// on the same tensors (a benchmark, a CUDA graph, a serving loop with a
// caching allocator) launches with no copy at all.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_TENSORMAP_H
#define SKIPATTN_RUNTIME_TENSORMAP_H

#include "skipattn/runtime.h"

#include <cuda.h>

#include <mutex>
#include <vector>

namespace skipattn::runtime {

/// What one map describes: [outer, rows, inner], or with `packed` (varlen)
/// [rows, outer, inner], whose dimensions the map orders inner, outer, rows
/// (the kernel's coordinates follow).
struct TensorMapKey {
  CUdeviceptr data = 0;
  bool bf16 = true; // else f16
  bool packed = false;
  int64_t inner = 0, rows = 0, outer = 0, boxRows = 0;
  bool operator==(const TensorMapKey &o) const {
    return data == o.data && bf16 == o.bf16 && packed == o.packed &&
           inner == o.inner && rows == o.rows && outer == o.outer &&
           boxRows == o.boxRows;
  }
};

/// Encodes the map on the host; the last error names `what` on failure.
skipattn_status encodeTensorMap(const TensorMapKey &key, CUtensorMap &map,
                                const char *what);

/// Device copies of maps for one context. Thread-safe. Up to kCapacity maps
/// stay resident; a new one then replaces the oldest with a copy ordered on
/// the caller's stream, after the launches already queued there.
class TensorMapCache {
public:
  static constexpr size_t kCapacity = 64;
  TensorMapCache() = default;
  ~TensorMapCache();
  TensorMapCache(const TensorMapCache &) = delete;
  TensorMapCache &operator=(const TensorMapCache &) = delete;

  /// The device address of the map for `key`, copied there on `stream` if
  /// it is not resident (a null stream copies synchronously).
  skipattn_status get(const TensorMapKey &key, CUstream stream,
                      const char *what, CUdeviceptr &address);

private:
  struct Entry {
    TensorMapKey key;
    CUdeviceptr address = 0;
  };
  std::mutex mutex;
  std::vector<Entry> entries;
  size_t nextVictim = 0;
};

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_TENSORMAP_H
