//===- Manifest.h - the kernel bundle manifest ------------------*- C++ -*-===//
//
// manifest.json describes what skipattn-compile built: target, element type,
// compiled shape, mask, skip criterion and the entry's argument list; a gpu
// manifest adds its PTX (and cubin) and how to launch the kernels. This is
// its in-memory form, validated once at load so that the run path can trust
// it.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_MANIFEST_H
#define SKIPATTN_RUNTIME_MANIFEST_H

#include "Launch.h"

#include "skipattn/runtime.h"

#include <string>
#include <string_view>
#include <vector>

namespace skipattn::runtime {

struct Manifest {
  /// Path of manifest.json, for messages.
  std::string path;
  skipattn_target target = SKIPATTN_TARGET_CPU;
  /// Empty when the manifest's chip is null.
  std::string chip;
  /// The chip's compute capability ("sm_90a": 9 and 0) and suffix: 'a'
  /// (arch-specific: that capability only), 'f' (family: the same major
  /// version) or 0 (any later device, through the PTX JIT). Set for gpu
  /// bundles.
  int chipMajor = 0;
  int chipMinor = 0;
  char chipSuffix = 0;
  /// The manifest as read, which the kernel's descriptor must match.
  Json document;
  /// The CPU a cpu bundle was compiled for ("x86-64-v2", "native") and the
  /// instruction-set extensions (LLVM's names) its code may use beyond the
  /// x86-64 baseline; checked against the running CPU before the library
  /// is called.
  std::string cpuName;
  std::vector<std::string> cpuFeatures;
  /// Library file, relative to the bundle directory (cpu bundles).
  std::string library;
  /// Symbol of the C-interface entry (cpu bundles).
  std::string entry;
  skipattn_dtype dtype = SKIPATTN_DTYPE_F32;
  /// -1 marks a dynamic extent.
  skipattn_shape shape = {};
  bool causal = false;
  double scale = 0.0;

  bool hasMask = false;
  skipattn_dtype maskDtype = SKIPATTN_DTYPE_I1;
  /// Each entry 1 (broadcast), -1 (dynamic) or a fixed extent.
  int64_t maskShape[4] = {};

  skipattn_skip_kind skipKind = SKIPATTN_SKIP_NONE;
  double skipValue = 0.0;
  int64_t voteRows = 0;

  /// Counters per (batch, query head): int64 [B, Hq, 2] {tiles_total,
  /// tiles_skipped} ("stats_layout": "per_head").
  bool stats = false;
  /// A cpu bundle tiled with kv splits ("kv_splits": true, docs/serving.md)
  /// takes the number of parts as an argument after out.
  bool kvSplits = false;
  /// The bundle also writes the log-sum-exp of each output row ("lse":
  /// true): an argument after out (cpu), a launch parameter (gpu).
  bool lse = false;
  /// The carry of a ring ("init_max": true): the entry takes init_max
  /// (f32 [B, Hq, Sq]) after the mask and writes the final running max
  /// (f32 [B, Hq, Sq]) after the lse (cpu), or the prefill kernel takes
  /// both as launch parameters (gpu) (docs/distributed.md).
  bool initMax = false;
  /// A paged bundle ("paged": {"page_size": P}): keys per page, 0 for
  /// contiguous K/V. k and v are then page pools [num_pages, P, Hkv, D],
  /// and the entry takes block_table and seq_lens after v.
  int64_t pageSize = 0;
  /// A varlen bundle ("varlen": true): q, k, v and out are packed
  /// [tokens, heads, head dim] and the entry takes cu_seqlens_q and
  /// cu_seqlens_k after v; the shape's batch is the number of sequences,
  /// q_len and kv_len the numbers of tokens.
  bool varlen = false;
  int64_t blockM = 0;
  int64_t blockN = 0;
  /// The entry's parameters in order; checked to be the canonical
  /// q, k, v, [mask], [init_max], [block_table, seq_lens], [cu_seqlens_q,
  /// cu_seqlens_k], out, [lse], [max], [num_splits],
  /// [lambda], [stats].
  std::vector<std::string> arguments;

  /// PTX file and optional cubin, relative to the bundle directory (gpu
  /// bundles); cubin is empty when the manifest's is null or absent.
  std::string ptx;
  std::string cubin;
  /// The launch alternatives, tried in order (gpu bundles).
  std::vector<KernelVariant> kernels;
  /// The distinct kernel functions the launches name, in first-use order.
  std::vector<std::string> functions;
};

/// Parses and validates manifest text read from path. On failure sets the
/// last error ("<path>: ...") and returns SKIPATTN_ERROR_BUNDLE, or
/// SKIPATTN_ERROR_TARGET for a target this runtime does not know.
skipattn_status parseManifest(const std::string &path, std::string_view text,
                              Manifest &manifest);

/// Reads and parses dir/manifest.json.
skipattn_status loadManifest(const std::string &dir, Manifest &manifest);

/// "f32", "f16", "bf16" or "i1".
const char *dtypeName(skipattn_dtype dtype);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_MANIFEST_H
