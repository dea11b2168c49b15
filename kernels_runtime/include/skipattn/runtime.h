//===- runtime.h - skipattn kernel bundle runtime, C API ----------*- C -*-===//
//
// The C API of libskipattn_runtime: load a kernel bundle that
// skipattn-compile wrote (a directory with manifest.json and the compiled
// kernel), check shapes against it, and run it: a cpu bundle on host memory,
// a gpu bundle on device memory through the NVIDIA driver, which the
// library loads (libcuda.so.1) on first use, so that it links and runs cpu
// bundles on machines without one. It is plain C so that C, C++ and Python
// (ctypes) hosts use the same entry points, and the library has no MLIR or
// LLVM dependency: it runs where the kernels run, not where they were
// compiled. (The library also exports the mgpu* functions that MLIR's
// gpu-to-llvm lowering calls; they are not part of this API.)
//
// Conventions:
//  - Every function that can fail returns a skipattn_status; on failure
//    skipattn_last_error() holds a message for the calling thread that names
//    the problem (file, key, dimension, expected and actual values).
//  - Tensors are dense, row-major (C order) arrays of the element type that
//    the call names; nothing is ever retained past a call. A pointer carries
//    no size, so the runtime cannot check that a buffer holds the shape it
//    is called with: a shape larger than the buffers is the caller's error
//    (skipattn-run and the Python package check theirs).
//  - Shapes follow the PyTorch SDPA layout: q [B, Hq, Sq, D], k [B, Hkv, Skv,
//    D], v [B, Hkv, Skv, Dv], out [B, Hq, Sq, Dv]; -1 in a bundle's shape
//    means "any extent >= 1 at run time".
//  - Getters on a NULL bundle return a neutral value and never crash.
//  - Handles are checked: a bundle that was freed (or never loaded) is
//    SKIPATTN_ERROR_INVALID_ARGUMENT for every call that takes one (a
//    getter returns its neutral value), and freeing it again sets that
//    error and frees nothing.
//
// Threads:
//  - Every function may be called from several threads at once, on the
//    same bundle or on different ones, except skipattn_bundle_free: free a
//    bundle only when no other call on it is running (a call that starts
//    after the free fails cleanly; one that is running then does not).
//  - skipattn_run_host and skipattn_run_device keep no state of their own
//    between calls: concurrent runs of one bundle, on one stream or on
//    several, each get their own counters and workspace. The first run in a
//    CUDA context loads the module there, under a lock.
//  - skipattn_last_error() and the text of skipattn_plan_device are per
//    thread.
//  - Strings returned by getters (skipattn_bundle_dir, _chip) live as long
//    as the bundle.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_H
#define SKIPATTN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define SKIPATTN_API __attribute__((visibility("default")))
#else
#define SKIPATTN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// The bundle format version this runtime reads ("version" in the manifest);
/// others are refused. Version 2: the kernel carries a descriptor that must
/// match the manifest, and a cpu bundle names its "cpu".
#define SKIPATTN_BUNDLE_FORMAT_VERSION 2

typedef enum skipattn_status {
  SKIPATTN_OK = 0,
  SKIPATTN_ERROR_INVALID_ARGUMENT = 1, // a NULL pointer, a NaN lambda, ...
  SKIPATTN_ERROR_BUNDLE = 2,           // missing or corrupt bundle
  SKIPATTN_ERROR_SHAPE = 3,            // shapes disagree with each other or
                                       // with the bundle
  SKIPATTN_ERROR_TARGET = 4,           // a bundle for another target or chip
  SKIPATTN_ERROR_NO_DRIVER = 5,        // the GPU driver cannot be loaded
  SKIPATTN_ERROR_DEVICE = 6,           // the GPU driver reported an error
  SKIPATTN_ERROR_OUT_OF_MEMORY = 7
} skipattn_status;

/// Element types. I1 is only a mask type: one byte per element, 0 or 1.
typedef enum skipattn_dtype {
  SKIPATTN_DTYPE_F32 = 0,
  SKIPATTN_DTYPE_F16 = 1,
  SKIPATTN_DTYPE_BF16 = 2,
  SKIPATTN_DTYPE_I1 = 3
} skipattn_dtype;

typedef enum skipattn_target {
  SKIPATTN_TARGET_CPU = 0,
  SKIPATTN_TARGET_GPU = 1
} skipattn_target;

typedef enum skipattn_skip_kind {
  SKIPATTN_SKIP_NONE = 0,        // a dense bundle: no lambda argument
  SKIPATTN_SKIP_THRESHOLD = 1,   // default lambda = value
  SKIPATTN_SKIP_SCALE_FACTOR = 2 // default lambda = value / kv_len
} skipattn_skip_kind;

typedef struct skipattn_bundle skipattn_bundle;

typedef struct skipattn_shape {
  int64_t batch;
  int64_t q_heads;
  int64_t kv_heads;
  int64_t q_len;
  int64_t kv_len;
  int64_t head_dim;
  int64_t value_head_dim;
} skipattn_shape;

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// The enumerator's name ("SKIPATTN_ERROR_SHAPE"), or "SKIPATTN_UNKNOWN".
SKIPATTN_API const char *skipattn_status_name(skipattn_status status);

/// The message of the calling thread's last failure; "" when there was none.
/// Valid until the next call into the runtime on this thread. Never NULL.
SKIPATTN_API const char *skipattn_last_error(void);

//===----------------------------------------------------------------------===//
// Bundles
//===----------------------------------------------------------------------===//

/// Reads dir/manifest.json and, for a cpu bundle, loads its library and looks
/// up the entry; for a gpu bundle, reads its PTX (and cubin), which needs no
/// driver. On success *out owns the bundle; on failure *out is NULL.
SKIPATTN_API skipattn_status skipattn_bundle_load(const char *dir,
                                                  skipattn_bundle **out);

/// Unloads a bundle; NULL is allowed.
SKIPATTN_API void skipattn_bundle_free(skipattn_bundle *bundle);

/// The directory the bundle was loaded from.
SKIPATTN_API const char *skipattn_bundle_dir(const skipattn_bundle *bundle);

SKIPATTN_API skipattn_target
skipattn_bundle_target(const skipattn_bundle *bundle);

/// "cpu" or "gpu".
SKIPATTN_API const char *
skipattn_bundle_target_name(const skipattn_bundle *bundle);

/// The chip a gpu bundle was compiled for ("sm_90a"); NULL when none.
SKIPATTN_API const char *skipattn_bundle_chip(const skipattn_bundle *bundle);

/// The element type of q, k, v and out.
SKIPATTN_API skipattn_dtype
skipattn_bundle_dtype(const skipattn_bundle *bundle);

/// The compiled shape; -1 marks a dynamic extent.
SKIPATTN_API void skipattn_bundle_shape(const skipattn_bundle *bundle,
                                        skipattn_shape *out);

SKIPATTN_API int skipattn_bundle_causal(const skipattn_bundle *bundle);
SKIPATTN_API double skipattn_bundle_scale(const skipattn_bundle *bundle);

/// 1 if the bundle takes a mask, and then its element type and compiled shape
/// (each entry 1 = broadcast, -1 = dynamic, or a fixed extent) when the
/// pointers are not NULL; 0 otherwise.
SKIPATTN_API int skipattn_bundle_has_mask(const skipattn_bundle *bundle,
                                          skipattn_dtype *dtype,
                                          int64_t shape[4]);

SKIPATTN_API int skipattn_bundle_has_skip(const skipattn_bundle *bundle);
SKIPATTN_API skipattn_skip_kind
skipattn_bundle_skip_kind(const skipattn_bundle *bundle);
/// The threshold or scale factor the bundle was compiled with; 0 if dense.
SKIPATTN_API double skipattn_bundle_skip_value(const skipattn_bundle *bundle);
/// Rows that vote together on a skip; 0 if dense.
SKIPATTN_API int64_t skipattn_bundle_vote_rows(const skipattn_bundle *bundle);

/// The lambda to pass when the host has no opinion: the threshold, or the
/// scale factor divided by kv_len. 0 (skipping off) for a dense bundle, a
/// kv_len < 1, or a kv_len not above the scale factor (lambda >= 1).
SKIPATTN_API float skipattn_bundle_default_lambda(const skipattn_bundle *bundle,
                                                  int64_t kv_len);

/// 1 if the kernel counts tiles (it takes the stats argument): per
/// (batch, query head), the kv-blocks visited (tiles_total, summed over the
/// head's q-blocks) and those the skip test skipped (tiles_skipped).
SKIPATTN_API int skipattn_bundle_has_stats(const skipattn_bundle *bundle);

SKIPATTN_API int64_t skipattn_bundle_block_m(const skipattn_bundle *bundle);
SKIPATTN_API int64_t skipattn_bundle_block_n(const skipattn_bundle *bundle);

/// 1 for a cpu bundle tiled with kv splits (skipattn-compile --kv-splits):
/// it processes the kv range of each q-block in a run-time number of parts,
/// skipattn_run_options.num_splits, as split-KV decode does
/// (docs/serving.md).
SKIPATTN_API int skipattn_bundle_kv_splits(const skipattn_bundle *bundle);

/// 1 if the bundle also writes the log-sum-exp of each output row
/// (skipattn-compile --lse): skipattn_run_options.lse receives it.
SKIPATTN_API int skipattn_bundle_has_lse(const skipattn_bundle *bundle);

/// 1 if the bundle carries the running max between calls
/// (skipattn-compile --init-max): skipattn_run_options.init_max
/// starts each row's running max and skipattn_run_options.max receives the
/// final one (docs/distributed.md).
SKIPATTN_API int skipattn_bundle_has_init_max(const skipattn_bundle *bundle);

/// Keys per page of a paged bundle (skipattn-compile --page-size), whose k
/// and v are page pools addressed through skipattn_run_options.block_table;
/// 0 for a bundle with k [B, Hkv, Skv, D].
SKIPATTN_API int64_t skipattn_bundle_page_size(const skipattn_bundle *bundle);

/// 1 for a varlen bundle (skipattn-compile --varlen): q, k, v and out are
/// packed [tokens, heads, head dim] and skipattn_run_options.cu_seqlens_q
/// and cu_seqlens_k say where each sequence lies.
SKIPATTN_API int skipattn_bundle_varlen(const skipattn_bundle *bundle);

//===----------------------------------------------------------------------===//
// Calibration
//===----------------------------------------------------------------------===//

/// The scale factor (lambda = factor / kv_len) for a target tile sparsity
/// from a skipattn-calibrate JSON file: of layer (NULL: the setting pooled
/// over every sample) and phase "prefill" or "decode" (NULL: "prefill"),
/// the factor calibrated for exactly that target, else the fitted
/// a * exp(b * target). Fails with SKIPATTN_ERROR_INVALID_ARGUMENT naming
/// the file and what is missing.
SKIPATTN_API skipattn_status skipattn_calibration_factor(const char *path,
                                                         const char *layer,
                                                         const char *phase,
                                                         double target,
                                                         double *factor);

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

/// Derives the call shape from the shapes of q, k and v ([B, H, S, D] each),
/// checking them against each other and the bundle; messages name the tensor
/// and the dimension ("k head dim (32) does not match the bundle (64)").
SKIPATTN_API skipattn_status skipattn_shape_from_tensors(
    const skipattn_bundle *bundle, const int64_t q[4], const int64_t k[4],
    const int64_t v[4], skipattn_shape *out);

/// Checks a call shape (and the mask shape, NULL when there is no mask)
/// against the bundle.
SKIPATTN_API skipattn_status skipattn_check_shape(const skipattn_bundle *bundle,
                                                  const skipattn_shape *shape,
                                                  const int64_t mask_shape[4]);

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

/// SKIPATTN_OK if skipattn_run_host can run this bundle (a cpu bundle built
/// for this machine); SKIPATTN_ERROR_TARGET with a message otherwise.
SKIPATTN_API skipattn_status skipattn_check_host(const skipattn_bundle *bundle);

/// Runs a cpu bundle on host memory. q, k, v and out are in the bundle's
/// dtype; mask (NULL when the bundle takes none) is in the mask dtype with
/// shape mask_shape. lambda is the Skip-Softmax threshold itself for either
/// kind of bundle (a scale-factor kernel receives lambda * kv_len and divides
/// it back); it is ignored by a dense bundle; for a skip bundle it must be
/// in [0, 1), and 0 turns skipping off (SKIPATTN_ERROR_INVALID_ARGUMENT
/// otherwise, NaN included). stats may be NULL; when the bundle has stats and
/// stats is not NULL it receives this call's {tiles_total, tiles_skipped},
/// summed over batch and heads. Passing stats to a bundle without stats is
/// an error. out must not overlap the inputs.
SKIPATTN_API skipattn_status skipattn_run_host(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t mask_shape[4],
    void *out, float lambda, int64_t stats[2]);

/// skipattn_run_host with the counters of each (batch, query head):
/// head_stats (host memory, not NULL) is int64 [batch][q_heads][2] in C
/// order and receives this call's {tiles_total, tiles_skipped} of every
/// head. The bundle must have stats.
SKIPATTN_API skipattn_status skipattn_run_host_head_stats(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t mask_shape[4],
    void *out, float lambda, int64_t *head_stats);

/// What a run takes beyond the arguments of skipattn_run_host, for bundles
/// that ask for it. Zero-initialize it and set the fields that apply.
typedef struct skipattn_run_options {
  /// For a bundle with kv splits (skipattn_bundle_kv_splits): the number of
  /// parts, 1 to 2^31 - 1; 0 means 1. Passing the num_splits of a gpu
  /// bundle's plan (skipattn_plan_device) makes a cpu bundle compiled with
  /// --pack-gqa --kv-splits and the decode block_n count the decode
  /// kernel's skips exactly. Must be 0 for other bundles.
  int64_t num_splits;
  /// For a bundle with lse (skipattn_bundle_has_lse), where it writes the
  /// log-sum-exp of each output row: f32 [B, Hq, Sq], natural log of the
  /// softmax denominator (log sum_j exp(score_ij)), -inf for a row with
  /// nothing to attend. Host memory for skipattn_run_host_ex, device memory
  /// for skipattn_run_device_ex; required by such a bundle, NULL otherwise.
  float *lse;
  /// For a paged bundle (skipattn_bundle_page_size > 0), whose k and v are
  /// page pools [num_pages, page_size, Hkv, D] (and Dv): block_table, int32
  /// [B, max_pages], the pages of each sequence in order; seq_lens, int32
  /// [B], each sequence's number of keys, at most max_pages * page_size
  /// (table entries past a sequence's pages are never read). Host memory
  /// for skipattn_run_host_ex (which checks the lengths and the page numbers
  /// it reads), device memory for skipattn_run_device_ex (not checked: a
  /// bad page number there reads out of bounds). The shape's kv_len must be
  /// max_pages * page_size. Required by a paged bundle, NULL/0 otherwise.
  const int32_t *block_table;
  const int32_t *seq_lens;
  int64_t num_pages;
  int64_t max_pages;
  /// For a bundle with stats: where the counters of each (batch, query
  /// head) go, int64 [batch][q_heads][2] in C order, as for
  /// skipattn_run_host_head_stats (host memory) and
  /// skipattn_run_device_head_stats (device memory, cleared and counted
  /// into on the stream without waiting). NULL: not asked for.
  int64_t *head_stats;
  /// For a varlen bundle (skipattn_bundle_varlen), whose q, k, v and out are
  /// packed [tokens, heads, head dim]: int32 [B + 1] cumulative lengths,
  /// sequence b owning queries [cu_seqlens_q[b], cu_seqlens_q[b + 1]) and
  /// keys [cu_seqlens_k[b], cu_seqlens_k[b + 1]). The shape's batch is B,
  /// q_len and kv_len the token counts (the packed tensors' first dims);
  /// each array starts at 0, does not decrease and ends at most at the
  /// token count (checked on the host). Host memory for
  /// skipattn_run_host_ex, device memory for skipattn_run_device_ex (not
  /// checked there). Required by such a bundle, NULL otherwise.
  const int32_t *cu_seqlens_q;
  const int32_t *cu_seqlens_k;
  /// For a varlen bundle on the device: the longest sequence's number of
  /// queries, which sizes the grid (0: q_len, every token, correct but
  /// with many idle CTAs). Not checked on the device: with the mma.sync
  /// kernel (sm_80, or a tiling the Hopper kernel does not take) a value
  /// below a sequence's length leaves its last rows unwritten; the Hopper
  /// kernel's persistent CTAs walk every tile whatever the grid.
  int64_t max_seqlen_q;
  /// For a bundle with init_max (skipattn_bundle_has_init_max; host memory
  /// for a cpu bundle, device memory for a gpu one, as the lse), both f32
  /// [B, Hq, Sq]: init_max, the running max each row starts from (-inf:
  /// none; a finite value must be a score the row keeps in the softmax this
  /// call's partial is merged into, see attn.attention), and max, where the
  /// bundle writes each row's final running max. Required by such a bundle,
  /// NULL otherwise.
  const float *init_max;
  float *max;
} skipattn_run_options;

/// skipattn_run_host with options; NULL options are all zero.
SKIPATTN_API skipattn_status skipattn_run_host_ex(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t mask_shape[4],
    void *out, float lambda, int64_t stats[2],
    const skipattn_run_options *options);

//===----------------------------------------------------------------------===//
// Running on a GPU
//===----------------------------------------------------------------------===//

// GPU calls run in the calling thread's current CUDA context when it has one
// (so that the device memory and streams of PyTorch, CuPy or the CUDA
// runtime are valid here), else in the primary context of device 0, which is
// the one the CUDA runtime uses too.

/// SKIPATTN_OK if skipattn_run_device can run this bundle: a gpu bundle, an
/// NVIDIA driver, and a device whose compute capability runs the bundle's
/// chip ("sm_90a" needs exactly 9.0, "sm_80" 8.0 or later). Otherwise
/// SKIPATTN_ERROR_TARGET (a cpu bundle, or a chip the device cannot run;
/// the message names both), SKIPATTN_ERROR_NO_DRIVER ("libcuda.so.1 not
/// found: no NVIDIA driver on this machine") or SKIPATTN_ERROR_DEVICE.
SKIPATTN_API skipattn_status
skipattn_check_device(const skipattn_bundle *bundle);

/// Runs a gpu bundle on device memory. q, k, v, out and mask are device
/// pointers (CUdeviceptr values passed as pointers) in the same dtypes and
/// shapes as for skipattn_run_host; stream is a CUstream (NULL: the default
/// stream). lambda as for skipattn_run_host. With stats NULL the call is
/// asynchronous: it returns once the kernels are queued on stream. With
/// stats (host memory, int64[2]) it waits for the stream and fills this
/// call's {tiles_total, tiles_skipped}. A fault inside a kernel surfaces at
/// the next synchronization. Out of device memory (for the workspace, say)
/// is SKIPATTN_ERROR_OUT_OF_MEMORY; other driver failures, PTX JIT errors
/// included (with the JIT's log), are SKIPATTN_ERROR_DEVICE.
SKIPATTN_API skipattn_status skipattn_run_device(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t mask_shape[4],
    void *out, float lambda, int64_t stats[2], void *stream);

/// skipattn_run_device with the counters of each (batch, query head) left
/// in device memory: head_stats (a device pointer, not NULL) is int64
/// [batch][q_heads][2] in C order; the call clears it and the kernels count
/// into it, both ordered on stream, and it returns once they are queued
/// without waiting: the host reads the counters whenever it synchronizes.
/// Such a call can be captured in a CUDA graph once the same call has run
/// outside the capture (the sm_90a kernels' tensor maps are then cached)
/// and the device has stream-ordered memory pools (a decode workspace is
/// allocated on the stream). The bundle must have stats.
SKIPATTN_API skipattn_status skipattn_run_device_head_stats(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t mask_shape[4],
    void *out, float lambda, int64_t *head_stats, void *stream);

/// skipattn_run_device with options (device pointers where they point to
/// tensors); NULL options are all zero.
SKIPATTN_API skipattn_status skipattn_run_device_ex(
    const skipattn_bundle *bundle, const skipattn_shape *shape, const void *q,
    const void *k, const void *v, const void *mask, const int64_t mask_shape[4],
    void *out, float lambda, int64_t stats[2], void *stream,
    const skipattn_run_options *options);

/// The launches skipattn_run_device would make for shape, as one line of
/// JSON: {"kernel": name, "index": i, "num_sms": n, "num_splits": s,
/// "workspace_bytes": w, "launches": [{"function", "grid", "block",
/// "shared_bytes", "params"}, ...]}. num_sms < 1 asks the device that
/// skipattn_run_device would use; a positive value plans for a device with
/// that many multiprocessors and needs no driver. *json stays valid until
/// the next call of this function on the calling thread.
SKIPATTN_API skipattn_status skipattn_plan_device(const skipattn_bundle *bundle,
                                                  const skipattn_shape *shape,
                                                  int64_t num_sms,
                                                  const char **json);

//===----------------------------------------------------------------------===//
// Device memory
//===----------------------------------------------------------------------===//

// For hosts without a CUDA runtime of their own (skipattn-run, ctypes
// scripts); they use the same context as skipattn_run_device.

/// Allocates bytes of device memory; *out is NULL for 0 bytes or on failure.
SKIPATTN_API skipattn_status skipattn_device_alloc(size_t bytes, void **out);

/// Frees memory from skipattn_device_alloc; NULL is allowed.
SKIPATTN_API skipattn_status skipattn_device_free(void *pointer);

/// Copies bytes from host to device memory; returns when the copy is done.
SKIPATTN_API skipattn_status skipattn_device_upload(void *device,
                                                    const void *host,
                                                    size_t bytes);

/// Copies bytes from device to host memory; returns when the copy is done.
SKIPATTN_API skipattn_status skipattn_device_download(void *host,
                                                      const void *device,
                                                      size_t bytes);

/// Waits for the work queued on stream (a CUstream; NULL: the default
/// stream).
SKIPATTN_API skipattn_status skipattn_device_synchronize(void *stream);

//===----------------------------------------------------------------------===//
// Element types
//===----------------------------------------------------------------------===//

/// "f32", "f16", "bf16", "i1"; NULL for a value outside the enum.
SKIPATTN_API const char *skipattn_dtype_name(skipattn_dtype dtype);

/// Bytes per element (4, 2, 2, 1); 0 for a value outside the enum.
SKIPATTN_API size_t skipattn_dtype_size(skipattn_dtype dtype);

/// IEEE binary16 bits, rounded to nearest even; overflow gives infinity, NaN
/// stays NaN.
SKIPATTN_API uint16_t skipattn_f32_to_f16(float value);
SKIPATTN_API float skipattn_f16_to_f32(uint16_t bits);

/// bfloat16 bits (the upper half of the f32 pattern), rounded to nearest
/// even; NaN stays NaN.
SKIPATTN_API uint16_t skipattn_f32_to_bf16(float value);
SKIPATTN_API float skipattn_bf16_to_f32(uint16_t bits);

/// Converts count elements between f32, f16 and bf16 (through f32, so f16 ->
/// bf16 rounds once). src and dst may be the same buffer only when both
/// types have the same size.
SKIPATTN_API skipattn_status skipattn_convert(const void *src,
                                              skipattn_dtype src_dtype,
                                              void *dst,
                                              skipattn_dtype dst_dtype,
                                              size_t count);

//===----------------------------------------------------------------------===//
// Merging partial attentions
//===----------------------------------------------------------------------===//

/// Merges two attentions of the same rows over disjoint key ranges into the
/// attention over both (ring and context-parallel attention, split kv
/// ranges): with a = exp(lse_a - lse), b = exp(lse_b - lse) and lse =
/// log(exp(lse_a) + exp(lse_b)), out = a * out_a + b * out_b. out_a, out_b
/// and out are `rows` x `dv` in dtype (f32, f16 or bf16), row-major; the
/// lse arrays hold `rows` f32 values (-inf: a row that attended nothing,
/// which then contributes nothing). Host memory; out and lse may be out_a
/// and lse_a (or out_b and lse_b), to merge in place.
SKIPATTN_API skipattn_status
skipattn_merge_lse(skipattn_dtype dtype, size_t rows, size_t dv,
                   const void *out_a, const float *lse_a, const void *out_b,
                   const float *lse_b, void *out, float *lse);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // SKIPATTN_RUNTIME_H
