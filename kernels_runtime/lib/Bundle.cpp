//===- Bundle.cpp - loading, describing and running bundles -----*- C++ -*-===//
//
// The target-neutral part of the C API: skipattn_bundle_load reads the
// manifest and hands the target-specific loading to HostKernel (cpu) or
// DeviceKernel (gpu); the getters expose the manifest; skipattn_run_host
// and skipattn_run_device validate everything a kernel cannot check for
// itself (target, shapes, pointers, lambda) before the call, because a
// kernel given a wrong shape reads out of bounds instead of failing.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"
#include "Errors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_set>
#include <vector>

using namespace skipattn::runtime;

extern "C" const char *skipattn_dtype_name(skipattn_dtype dtype) {
  if (skipattn_dtype_size(dtype) == 0)
    return nullptr; // before dtypeName reads the enum
  return dtypeName(dtype);
}

extern "C" size_t skipattn_dtype_size(skipattn_dtype dtype) {
  switch (rawEnum(dtype)) {
  case SKIPATTN_DTYPE_F32:
    return 4;
  case SKIPATTN_DTYPE_F16:
  case SKIPATTN_DTYPE_BF16:
    return 2;
  case SKIPATTN_DTYPE_I1:
    return 1;
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// Live bundles
//===----------------------------------------------------------------------===//

// Every bundle that skipattn_bundle_load handed out and skipattn_bundle_free
// has not taken back. Each entry point looks its argument up here before
// touching it, so that a double free or a use after free is an error
// (SKIPATTN_ERROR_INVALID_ARGUMENT, or a getter's neutral value) instead of
// a read of freed memory.

namespace {
struct LiveBundles {
  std::mutex mutex;
  std::unordered_set<const skipattn_bundle *> bundles;
};
} // namespace

static LiveBundles &liveBundles() {
  // Never destroyed: bundles may be freed from static destructors.
  static LiveBundles *live = new LiveBundles();
  return *live;
}

bool skipattn::runtime::isLiveBundle(const skipattn_bundle *bundle) {
  if (!bundle)
    return false;
  LiveBundles &live = liveBundles();
  std::lock_guard<std::mutex> lock(live.mutex);
  return live.bundles.count(bundle) != 0;
}

skipattn_status skipattn::runtime::checkBundle(const skipattn_bundle *bundle,
                                               const char *api) {
  if (!bundle)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": bundle must not be NULL");
  if (!isLiveBundle(bundle))
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) +
                    ": bundle is not a loaded bundle (freed already, or not "
                    "from skipattn_bundle_load)");
  return SKIPATTN_OK;
}

/// bundle if it is live, else null: what the getters read.
static const skipattn_bundle *live(const skipattn_bundle *bundle) {
  return isLiveBundle(bundle) ? bundle : nullptr;
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

extern "C" skipattn_status skipattn_bundle_load(const char *dir,
                                                skipattn_bundle **out) {
  if (out)
    *out = nullptr;
  return guard([&] {
    if (!dir || !out)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_bundle_load: dir and out must not be NULL");
    auto bundle = std::make_unique<skipattn_bundle>();
    bundle->dir = dir;
    if (skipattn_status status = loadManifest(bundle->dir, bundle->manifest))
      return status;
    if (bundle->manifest.target == SKIPATTN_TARGET_CPU)
      if (skipattn_status status =
              HostKernel::open(bundle->dir, bundle->manifest, bundle->host))
        return status;
    if (bundle->manifest.target == SKIPATTN_TARGET_GPU)
      if (skipattn_status status =
              DeviceKernel::open(bundle->dir, bundle->manifest, bundle->device))
        return status;
    {
      LiveBundles &live = liveBundles();
      std::lock_guard<std::mutex> lock(live.mutex);
      live.bundles.insert(bundle.get());
    }
    *out = bundle.release();
    clearError();
    return SKIPATTN_OK;
  });
}

extern "C" void skipattn_bundle_free(skipattn_bundle *bundle) {
  if (!bundle)
    return;
  {
    LiveBundles &live = liveBundles();
    std::lock_guard<std::mutex> lock(live.mutex);
    if (!live.bundles.erase(bundle)) {
      fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
           "skipattn_bundle_free: not a loaded bundle (freed already, or not "
           "from skipattn_bundle_load); nothing was freed");
      return;
    }
  }
  delete bundle;
}

//===----------------------------------------------------------------------===//
// Getters
//===----------------------------------------------------------------------===//

extern "C" const char *skipattn_bundle_dir(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->dir.c_str() : "";
}

extern "C" skipattn_target
skipattn_bundle_target(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.target : SKIPATTN_TARGET_CPU;
}

extern "C" const char *
skipattn_bundle_target_name(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  if (!bundle)
    return "";
  return bundle->manifest.target == SKIPATTN_TARGET_GPU ? "gpu" : "cpu";
}

extern "C" const char *skipattn_bundle_chip(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  if (!bundle || bundle->manifest.chip.empty())
    return nullptr;
  return bundle->manifest.chip.c_str();
}

extern "C" skipattn_dtype skipattn_bundle_dtype(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.dtype : SKIPATTN_DTYPE_F32;
}

extern "C" void skipattn_bundle_shape(const skipattn_bundle *bundle,
                                      skipattn_shape *out) {
  bundle = live(bundle);
  if (!out)
    return;
  *out = bundle ? bundle->manifest.shape : skipattn_shape{};
}

extern "C" int skipattn_bundle_causal(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle && bundle->manifest.causal;
}

extern "C" double skipattn_bundle_scale(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.scale : 0.0;
}

extern "C" int skipattn_bundle_has_mask(const skipattn_bundle *bundle,
                                        skipattn_dtype *dtype,
                                        int64_t shape[4]) {
  bundle = live(bundle);
  if (!bundle || !bundle->manifest.hasMask)
    return 0;
  if (dtype)
    *dtype = bundle->manifest.maskDtype;
  if (shape)
    for (int i = 0; i < 4; ++i)
      shape[i] = bundle->manifest.maskShape[i];
  return 1;
}

extern "C" int skipattn_bundle_has_skip(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle && bundle->manifest.skipKind != SKIPATTN_SKIP_NONE;
}

extern "C" skipattn_skip_kind
skipattn_bundle_skip_kind(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.skipKind : SKIPATTN_SKIP_NONE;
}

extern "C" double skipattn_bundle_skip_value(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.skipValue : 0.0;
}

extern "C" int64_t skipattn_bundle_vote_rows(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.voteRows : 0;
}

extern "C" float skipattn_bundle_default_lambda(const skipattn_bundle *bundle,
                                                int64_t kvLen) {
  bundle = live(bundle);
  if (!bundle)
    return 0.0f;
  const Manifest &manifest = bundle->manifest;
  switch (manifest.skipKind) {
  case SKIPATTN_SKIP_NONE:
    return 0.0f;
  case SKIPATTN_SKIP_THRESHOLD:
    return static_cast<float>(manifest.skipValue);
  case SKIPATTN_SKIP_SCALE_FACTOR:
    // The TensorRT-LLM form: a longer context spreads the softmax mass
    // thinner, so the threshold shrinks with it.
    // A context shorter than the factor gives lambda >= 1: skipping off.
    if (kvLen < 1 || manifest.skipValue >= static_cast<double>(kvLen))
      return 0.0f;
    return static_cast<float>(manifest.skipValue / static_cast<double>(kvLen));
  }
  return 0.0f;
}

extern "C" int skipattn_bundle_has_stats(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle && bundle->manifest.stats;
}

extern "C" int64_t skipattn_bundle_block_m(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.blockM : 0;
}

extern "C" int64_t skipattn_bundle_block_n(const skipattn_bundle *bundle) {
  bundle = live(bundle);
  return bundle ? bundle->manifest.blockN : 0;
}

extern "C" int skipattn_bundle_kv_splits(const skipattn_bundle *bundle) {
  return bundle && bundle->manifest.kvSplits;
}

extern "C" int skipattn_bundle_has_lse(const skipattn_bundle *bundle) {
  return bundle && bundle->manifest.lse;
}

extern "C" int skipattn_bundle_has_init_max(const skipattn_bundle *bundle) {
  return bundle && bundle->manifest.initMax;
}

extern "C" int64_t skipattn_bundle_page_size(const skipattn_bundle *bundle) {
  return bundle ? bundle->manifest.pageSize : 0;
}

extern "C" int skipattn_bundle_varlen(const skipattn_bundle *bundle) {
  return bundle && bundle->manifest.varlen ? 1 : 0;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

extern "C" skipattn_status skipattn_check_host(const skipattn_bundle *bundle) {
  return guard([&] {
    if (skipattn_status status = checkBundle(bundle, "skipattn_check_host"))
      return status;
    const Manifest &manifest = bundle->manifest;
    if (manifest.target != SKIPATTN_TARGET_CPU || !bundle->host)
      return fail(SKIPATTN_ERROR_TARGET,
                  "this bundle targets gpu (" + manifest.chip +
                      "), but host runs need a cpu bundle (run gpu bundles "
                      "with skipattn_run_device)");
    clearError();
    return SKIPATTN_OK;
  });
}

/// Fails unless the bundle is a gpu bundle; api names the caller.
static skipattn_status checkGpuBundle(const skipattn_bundle *bundle,
                                      const char *api) {
  if (bundle->manifest.target == SKIPATTN_TARGET_GPU && bundle->device)
    return SKIPATTN_OK;
  return fail(SKIPATTN_ERROR_TARGET,
              std::string(api) + ": this bundle targets cpu, but device "
                                 "runs need a gpu bundle (run cpu bundles "
                                 "with skipattn_run_host)");
}

extern "C" skipattn_status
skipattn_check_device(const skipattn_bundle *bundle) {
  return guard([&] {
    if (skipattn_status status = checkBundle(bundle, "skipattn_check_device"))
      return status;
    if (skipattn_status status =
            checkGpuBundle(bundle, "skipattn_check_device"))
      return status;
    if (skipattn_status status = bundle->device->check(bundle->manifest))
      return status;
    clearError();
    return SKIPATTN_OK;
  });
}

/// The checks both runs share, after the target: shapes, the mask, lambda
/// and stats. api names the entry point in messages.
static skipattn_status checkCall(const char *api, const Manifest &manifest,
                                 const skipattn_shape &shape, const void *mask,
                                 const int64_t *maskShape, float lambda,
                                 const int64_t *stats) {
  if (skipattn_status status = checkDims(manifest, shape))
    return status;
  if (skipattn_status status = checkMask(manifest, shape, maskShape))
    return status;
  if (manifest.hasMask && !mask)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": a mask shape was given but mask is "
                                   "NULL");
  // The one rule for a run-time threshold, which skipattn-run and the
  // Python package follow too: 0 turns skipping off, and a lambda of 1 or
  // more would skip nearly everything, which is never what a caller means.
  if (manifest.skipKind != SKIPATTN_SKIP_NONE &&
      !(lambda >= 0.0f && lambda < 1.0f)) {
    char value[32];
    std::snprintf(value, sizeof(value), "%g", static_cast<double>(lambda));
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) +
                    ": lambda must be in [0, 1) (0 turns skipping off), got " +
                    value);
  }
  if (stats && !manifest.stats)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": stats requested, but this bundle was "
                                   "compiled without stats (\"stats\": "
                                   "false)");
  return SKIPATTN_OK;
}

/// The paged options against the bundle and the shape: a paged bundle
/// needs the table, the lengths and their extents, with kv_len the table's
/// capacity; any other bundle none of them.
static skipattn_status checkPaging(const std::string &api,
                                   const Manifest &manifest,
                                   const skipattn_shape &shape,
                                   const skipattn_run_options &options) {
  bool given = options.block_table || options.seq_lens || options.num_pages ||
               options.max_pages;
  if (!manifest.pageSize) {
    if (given)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  api + ": block_table, seq_lens, num_pages and max_pages "
                        "are for a paged bundle; this one takes k and v as "
                        "[B, Hkv, Skv, D] (\"paged\" is null)");
    return SKIPATTN_OK;
  }
  if (!options.block_table || !options.seq_lens)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                api + ": this bundle is paged (page size " +
                    std::to_string(manifest.pageSize) +
                    "); pass skipattn_run_options.block_table and seq_lens");
  constexpr int64_t int32Max = 2147483647;
  if (options.num_pages < 1 || options.num_pages > int32Max ||
      options.max_pages < 1 || options.max_pages > int32Max)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                api +
                    ": num_pages and max_pages must be between 1 and "
                    "2147483647, got " +
                    std::to_string(options.num_pages) + " and " +
                    std::to_string(options.max_pages));
  int64_t capacity;
  if (__builtin_mul_overflow(options.max_pages, manifest.pageSize, &capacity) ||
      capacity != shape.kv_len)
    return fail(SKIPATTN_ERROR_SHAPE,
                api +
                    ": a paged call's kv_len must be max_pages * page_size "
                    "(" +
                    std::to_string(options.max_pages) + " * " +
                    std::to_string(manifest.pageSize) + "), got " +
                    std::to_string(shape.kv_len));
  return SKIPATTN_OK;
}

/// The lengths and the page numbers a host run reads: each length in
/// [0, max_pages * page_size], each page of a sequence in [0, num_pages).
static skipattn_status checkPageTable(const Manifest &manifest,
                                      const skipattn_shape &shape,
                                      const skipattn_run_options &options) {
  int64_t pageSize = manifest.pageSize;
  for (int64_t b = 0; b < shape.batch; ++b) {
    int64_t len = options.seq_lens[b];
    if (len < 0 || len > options.max_pages * pageSize)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_run_host: seq_lens[" + std::to_string(b) + "] is " +
                      std::to_string(len) +
                      "; it must be between 0 and max_pages * page_size (" +
                      std::to_string(options.max_pages * pageSize) + ")");
    for (int64_t p = 0; p * pageSize < len; ++p) {
      int64_t page = options.block_table[b * options.max_pages + p];
      if (page < 0 || page >= options.num_pages)
        return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                    "skipattn_run_host: block_table[" + std::to_string(b) +
                        ", " + std::to_string(p) + "] is " +
                        std::to_string(page) + ", not a page of the pool [0, " +
                        std::to_string(options.num_pages) + ")");
    }
  }
  return SKIPATTN_OK;
}

/// The varlen options against the bundle and the shape: a varlen bundle
/// needs both cumulative-length arrays, each [batch + 1] starting at 0, not
/// decreasing and ending at most at the token count (host memory, read
/// here when `onHost`); any other bundle neither.
static skipattn_status checkVarlen(const std::string &api,
                                   const Manifest &manifest,
                                   const skipattn_shape &shape,
                                   const skipattn_run_options &options,
                                   bool onHost) {
  bool given = options.cu_seqlens_q || options.cu_seqlens_k;
  if (!manifest.varlen) {
    if (given)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  api + ": cu_seqlens_q and cu_seqlens_k are for a varlen "
                        "bundle; this one takes [B, H, S, D] tensors "
                        "(\"varlen\" is false)");
    return SKIPATTN_OK;
  }
  if (!options.cu_seqlens_q || !options.cu_seqlens_k)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                api + ": this bundle is varlen; pass "
                      "skipattn_run_options.cu_seqlens_q and cu_seqlens_k");
  if (options.max_seqlen_q < 0 || options.max_seqlen_q > shape.q_len)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                api + ": max_seqlen_q is " +
                    std::to_string(options.max_seqlen_q) +
                    "; it must be between 0 (every token) and q_len (" +
                    std::to_string(shape.q_len) + ")");
  // Device arrays are the caller's to get right, as a paged table is.
  if (!onHost)
    return SKIPATTN_OK;
  struct Named {
    const char *name;
    const int32_t *cu;
    int64_t tokens;
  } arrays[] = {{"cu_seqlens_q", options.cu_seqlens_q, shape.q_len},
                {"cu_seqlens_k", options.cu_seqlens_k, shape.kv_len}};
  for (const Named &a : arrays) {
    if (a.cu[0] != 0)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  api + ": " + a.name + "[0] is " + std::to_string(a.cu[0]) +
                      "; it must be 0");
    for (int64_t b = 0; b < shape.batch; ++b)
      if (a.cu[b + 1] < a.cu[b] || a.cu[b + 1] > a.tokens)
        return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                    api + ": " + a.name + "[" + std::to_string(b + 1) +
                        "] is " + std::to_string(a.cu[b + 1]) +
                        "; the offsets must not decrease and must not pass "
                        "the " +
                        std::to_string(a.tokens) + " tokens");
  }
  return SKIPATTN_OK;
}

/// Checks the options against the bundle; api names the entry point.
static skipattn_status checkOptions(const char *api, const Manifest &manifest,
                                    const skipattn_run_options &options) {
  constexpr int64_t int32Max = 2147483647;
  if (options.num_splits < 0 || options.num_splits > int32Max)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) +
                    ": num_splits must be between 0 (one part) "
                    "and 2147483647, got " +
                    std::to_string(options.num_splits));
  if (options.num_splits > 1 && !manifest.kvSplits)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": num_splits " +
                    std::to_string(options.num_splits) +
                    " asks for kv splits, but this bundle is not tiled with "
                    "them (\"kv_splits\" is false; compile with "
                    "--kv-splits)");
  if (manifest.lse && !options.lse)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": this bundle writes the log-sum-exp of "
                                   "each row (\"lse\": true); pass "
                                   "skipattn_run_options.lse (f32 [B, Hq, "
                                   "Sq])");
  if (!manifest.lse && options.lse)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": lse was given, but this bundle does not "
                                   "write it (\"lse\": false; compile with "
                                   "--lse)");
  if (manifest.initMax && (!options.init_max || !options.max))
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) +
                    ": this bundle carries the running max (\"init_max\": "
                    "true); pass skipattn_run_options.init_max and .max "
                    "(f32 [B, Hq, Sq] each; init_max -inf for none)");
  if (!manifest.initMax && (options.init_max || options.max))
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": init_max or max was given, but this "
                                   "bundle does not take them "
                                   "(\"init_max\": false; compile with "
                                   "--init-max)");
  return SKIPATTN_OK;
}

/// The number of counters of a call: two per (batch, query head).
static size_t headStatsCount(const skipattn_shape &shape) {
  return static_cast<size_t>(shape.batch) * static_cast<size_t>(shape.q_heads) *
         2;
}

/// Sums [B, Hq, 2] counters into {tiles_total, tiles_skipped}.
static void sumHeadStats(const int64_t *headStats, size_t count,
                         int64_t stats[2]) {
  stats[0] = stats[1] = 0;
  for (size_t i = 0; i < count; i += 2) {
    stats[0] += headStats[i];
    stats[1] += headStats[i + 1];
  }
}

/// skipattn_run_host and skipattn_run_host_head_stats: the call with the
/// totals (stats), the per-head counters (headStats) or neither.
static skipattn_status runHost(const char *api, const skipattn_bundle *bundle,
                               const skipattn_shape *shape, const void *q,
                               const void *k, const void *v, const void *mask,
                               const int64_t maskShape[4], void *out,
                               float lambda, int64_t *stats,
                               int64_t *headStats,
                               const skipattn_run_options &options) {
  if (!bundle || !shape || !q || !k || !v || !out)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": bundle, shape, q, k, v and out must not "
                                   "be NULL");
  if (skipattn_status status = checkBundle(bundle, api))
    return status;
  if (skipattn_status status = skipattn_check_host(bundle))
    return status;
  const Manifest &manifest = bundle->manifest;
  if (skipattn_status status = checkCall(api, manifest, *shape, mask, maskShape,
                                         lambda, stats ? stats : headStats))
    return status;
  if (skipattn_status status = checkOptions(api, manifest, options))
    return status;
  if (skipattn_status status = checkPaging(api, manifest, *shape, options))
    return status;
  if (manifest.pageSize)
    if (skipattn_status status = checkPageTable(manifest, *shape, options))
      return status;
  if (skipattn_status status =
          checkVarlen(api, manifest, *shape, options, /*onHost=*/true))
    return status;

  // The kernel increments its counters, so they start at zero; without
  // headStats from the host they live here, so that a NULL stats still
  // gives the kernel somewhere to count.
  std::vector<int64_t> owned;
  size_t count = manifest.stats ? headStatsCount(*shape) : 0;
  if (manifest.stats && !headStats) {
    owned.assign(count, 0);
    headStats = owned.data();
  } else if (headStats) {
    std::fill(headStats, headStats + count, 0);
  }
  bundle->host->run(manifest, *shape, q, k, v, mask, maskShape, out, lambda,
                    headStats, options);
  if (stats)
    sumHeadStats(headStats, count, stats);
  clearError();
  return SKIPATTN_OK;
}

extern "C" skipattn_status
skipattn_run_host_ex(const skipattn_bundle *bundle, const skipattn_shape *shape,
                     const void *q, const void *k, const void *v,
                     const void *mask, const int64_t maskShape[4], void *out,
                     float lambda, int64_t stats[2],
                     const skipattn_run_options *options) {
  return guard([&] {
    skipattn_run_options given = options ? *options : skipattn_run_options{};
    return runHost("skipattn_run_host", bundle, shape, q, k, v, mask, maskShape,
                   out, lambda, stats, given.head_stats, given);
  });
}

extern "C" skipattn_status skipattn_run_host_head_stats(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t maskShape[4],
    void *out, float lambda, int64_t *headStats) {
  return guard([&] {
    if (!headStats)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_run_host_head_stats: head_stats must not be NULL "
                  "(use skipattn_run_host without counters)");
    return runHost("skipattn_run_host_head_stats", bundle, shape, q, k, v, mask,
                   maskShape, out, lambda, nullptr, headStats,
                   skipattn_run_options{});
  });
}

/// skipattn_run_device and skipattn_run_device_head_stats: the call with
/// the totals read back (stats), per-head counters in device memory
/// (headStats) or neither.
static skipattn_status runDevice(const char *api, const skipattn_bundle *bundle,
                                 const skipattn_shape *shape, const void *q,
                                 const void *k, const void *v, const void *mask,
                                 const int64_t maskShape[4], void *out,
                                 float lambda, int64_t *stats, void *headStats,
                                 void *stream,
                                 const skipattn_run_options &options) {
  if (!bundle || !shape || !q || !k || !v || !out)
    return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                std::string(api) + ": bundle, shape, q, k, v and out must not "
                                   "be NULL");
  if (skipattn_status status = checkBundle(bundle, api))
    return status;
  if (skipattn_status status = checkGpuBundle(bundle, api))
    return status;
  const Manifest &manifest = bundle->manifest;
  if (skipattn_status status =
          checkCall(api, manifest, *shape, mask, maskShape, lambda,
                    stats ? stats : static_cast<int64_t *>(headStats)))
    return status;
  if (skipattn_status status = checkOptions(api, manifest, options))
    return status;
  if (skipattn_status status = checkPaging(api, manifest, *shape, options))
    return status;
  if (skipattn_status status =
          checkVarlen(api, manifest, *shape, options, /*onHost=*/false))
    return status;
  std::vector<int64_t> read;
  if (stats)
    read.assign(headStatsCount(*shape), 0);
  if (skipattn_status status =
          bundle->device->run(manifest, *shape, q, k, v, mask, maskShape, out,
                              lambda, stats ? read.data() : nullptr, headStats,
                              stream, options))
    return status;
  if (stats)
    sumHeadStats(read.data(), read.size(), stats);
  clearError();
  return SKIPATTN_OK;
}

extern "C" skipattn_status
skipattn_run_host(const skipattn_bundle *bundle, const skipattn_shape *shape,
                  const void *q, const void *k, const void *v, const void *mask,
                  const int64_t maskShape[4], void *out, float lambda,
                  int64_t stats[2]) {
  return skipattn_run_host_ex(bundle, shape, q, k, v, mask, maskShape, out,
                              lambda, stats, nullptr);
}

extern "C" skipattn_status
skipattn_run_device(const skipattn_bundle *bundle, const skipattn_shape *shape,
                    const void *q, const void *k, const void *v,
                    const void *mask, const int64_t maskShape[4], void *out,
                    float lambda, int64_t stats[2], void *stream) {
  return skipattn_run_device_ex(bundle, shape, q, k, v, mask, maskShape, out,
                                lambda, stats, stream, nullptr);
}

extern "C" skipattn_status skipattn_run_device_ex(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t maskShape[4],
    void *out, float lambda, int64_t stats[2], void *stream,
    const skipattn_run_options *options) {
  return guard([&] {
    skipattn_run_options given = options ? *options : skipattn_run_options{};
    return runDevice("skipattn_run_device", bundle, shape, q, k, v, mask,
                     maskShape, out, lambda, stats, given.head_stats, stream,
                     given);
  });
}

extern "C" skipattn_status skipattn_run_device_head_stats(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t maskShape[4],
    void *out, float lambda, int64_t *headStats, void *stream) {
  return guard([&] {
    if (!headStats)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_run_device_head_stats: head_stats must not be "
                  "NULL (use skipattn_run_device without counters)");
    return runDevice("skipattn_run_device_head_stats", bundle, shape, q, k, v,
                     mask, maskShape, out, lambda, nullptr, headStats, stream,
                     skipattn_run_options{});
  });
}

/// The text skipattn_plan_device hands out, per thread like the last error.
static thread_local std::string planText;

extern "C" skipattn_status skipattn_plan_device(const skipattn_bundle *bundle,
                                                const skipattn_shape *shape,
                                                int64_t numSms,
                                                const char **json) {
  if (json)
    *json = nullptr;
  return guard([&] {
    if (!bundle || !shape || !json)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_plan_device: bundle, shape and json must not be "
                  "NULL");
    if (skipattn_status status = checkBundle(bundle, "skipattn_plan_device"))
      return status;
    if (skipattn_status status = checkGpuBundle(bundle, "skipattn_plan_device"))
      return status;
    const Manifest &manifest = bundle->manifest;
    if (skipattn_status status = checkDims(manifest, *shape))
      return status;
    if (numSms < 1)
      if (skipattn_status status = DeviceKernel::deviceSms(numSms))
        return status;
    LaunchPlan plan;
    if (skipattn_status status = planLaunches(manifest, *shape, numSms, plan))
      return status;
    planText = planToJson(manifest, plan, numSms);
    *json = planText.c_str();
    clearError();
    return SKIPATTN_OK;
  });
}
