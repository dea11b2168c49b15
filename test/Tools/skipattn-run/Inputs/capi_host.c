/*===- capi_host.c - TEST HELPER: a C host of the runtime's C API ---------===//
 *
 * Compiled as strict C99 by capi.test to show that runtime.h is plain C, and
 * run against TEST FIXTURE bundles to check what skipattn-run does not
 * reach: NULL arguments, getters, statuses, stats handling, repeated calls.
 * Prints one line per check for FileCheck.
 *
 *   capi_host SKIP_BUNDLE DENSE_BUNDLE GPU_BUNDLE
 *
 * SKIP_BUNDLE: f32, shapes [1, 2, 1, ?, ?, 16, 16], i1 mask [1, 1, ?, ?],
 * threshold 0.25, stats. DENSE_BUNDLE: f32, the same shapes, no mask, no
 * skip, no stats. GPU_BUNDLE: a gpu bundle (never run here).
 *
 *===----------------------------------------------------------------------===*/

#include "skipattn/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report(const char *what, skipattn_status status) {
  printf("%s: %s: %s\n", what, skipattn_status_name(status),
         skipattn_last_error());
}

int main(int argc, char **argv) {
  skipattn_bundle *bundle = NULL, *dense = NULL, *gpu = NULL;
  skipattn_shape shape, compiled;
  int64_t qs[4] = {1, 2, 5, 16}, ks[4] = {1, 1, 7, 16}, vs[4] = {1, 1, 7, 16};
  int64_t maskShape[4] = {1, 1, 5, 7}, maskCompiled[4];
  int64_t stats[2] = {-1, -1};
  float q[160], k[112], v[112], out[160];
  unsigned char mask[35];
  skipattn_dtype maskDtype;
  int i;

  if (argc != 4) {
    fprintf(stderr, "usage: capi_host SKIP_BUNDLE DENSE_BUNDLE GPU_BUNDLE\n");
    return 2;
  }
  for (i = 0; i < 160; ++i)
    q[i] = (float)((i * 7) % 11) / 11.0f;
  for (i = 0; i < 112; ++i) {
    k[i] = (float)((i * 5) % 13) / 13.0f;
    v[i] = (float)i / 112.0f;
  }
  for (i = 0; i < 35; ++i)
    mask[i] = 1;

  /* Bad arguments are statuses, never crashes. */
  report("load-null", skipattn_bundle_load(NULL, &bundle));
  report("load-missing", skipattn_bundle_load("/nonexistent/bundle", &bundle));
  printf("after-failed-load: %s\n", bundle == NULL ? "NULL" : "set");
  printf("null-getters: %s %d %d %lld %s\n", skipattn_bundle_target_name(NULL),
         skipattn_bundle_has_skip(NULL),
         skipattn_bundle_has_mask(NULL, NULL, NULL),
         (long long)skipattn_bundle_block_m(NULL),
         skipattn_bundle_chip(NULL) ? "chip" : "no-chip");
  skipattn_bundle_free(NULL);
  report("check-shape-null", skipattn_check_shape(NULL, &shape, NULL));
  report("status-name", (skipattn_status)42);

  report("load", skipattn_bundle_load(argv[1], &bundle));
  report("load-dense", skipattn_bundle_load(argv[2], &dense));
  report("load-gpu", skipattn_bundle_load(argv[3], &gpu));
  if (!bundle || !dense || !gpu)
    return 1;

  skipattn_bundle_shape(bundle, &compiled);
  printf("bundle: %s %s chip=%s causal=%d scale=%g block=%lldx%lld\n",
         skipattn_bundle_target_name(bundle),
         skipattn_dtype_name(skipattn_bundle_dtype(bundle)),
         skipattn_bundle_chip(bundle) ? skipattn_bundle_chip(bundle) : "none",
         skipattn_bundle_causal(bundle), skipattn_bundle_scale(bundle),
         (long long)skipattn_bundle_block_m(bundle),
         (long long)skipattn_bundle_block_n(bundle));
  printf("shape: %lld %lld %lld %lld %lld %lld %lld\n",
         (long long)compiled.batch, (long long)compiled.q_heads,
         (long long)compiled.kv_heads, (long long)compiled.q_len,
         (long long)compiled.kv_len, (long long)compiled.head_dim,
         (long long)compiled.value_head_dim);
  /* Separate statement: the call fills maskDtype and maskCompiled. */
  i = skipattn_bundle_has_mask(bundle, &maskDtype, maskCompiled);
  printf("mask: %d %s [%lld %lld %lld %lld]\n", i,
         skipattn_dtype_name(maskDtype), (long long)maskCompiled[0],
         (long long)maskCompiled[1], (long long)maskCompiled[2],
         (long long)maskCompiled[3]);
  printf("skip: kind=%d value=%g vote_rows=%lld stats=%d default=%g\n",
         (int)skipattn_bundle_skip_kind(bundle),
         skipattn_bundle_skip_value(bundle),
         (long long)skipattn_bundle_vote_rows(bundle),
         skipattn_bundle_has_stats(bundle),
         (double)skipattn_bundle_default_lambda(bundle, 100));
  printf("gpu: %s chip=%s dtype=%s\n", skipattn_bundle_target_name(gpu),
         skipattn_bundle_chip(gpu),
         skipattn_dtype_name(skipattn_bundle_dtype(gpu)));

  report("shape", skipattn_shape_from_tensors(bundle, qs, ks, vs, &shape));
  report("shape-no-mask", skipattn_check_shape(bundle, &shape, NULL));
  report("shape-mask", skipattn_check_shape(bundle, &shape, maskShape));
  report("host-gpu", skipattn_check_host(gpu));
  report("run-gpu",
         skipattn_run_host(gpu, &shape, q, k, v, NULL, NULL, out, 0.0f, NULL));
  report("run-null-out", skipattn_run_host(bundle, &shape, q, k, v, mask,
                                           maskShape, NULL, 0.0f, NULL));
  report("run-nan-lambda", skipattn_run_host(bundle, &shape, q, k, v, mask,
                                             maskShape, out, NAN, NULL));
  report("run-dense-stats", skipattn_run_host(dense, &shape, q, k, v, NULL,
                                              NULL, out, 0.0f, stats));

  /* Counters are this call's, whatever was in the array before. */
  report("run", skipattn_run_host(bundle, &shape, q, k, v, mask, maskShape, out,
                                  0.0f, stats));
  printf("stats: %lld %lld\n", (long long)stats[0], (long long)stats[1]);
  report("run-again", skipattn_run_host(bundle, &shape, q, k, v, mask,
                                        maskShape, out, 0.0f, stats));
  printf("stats: %lld %lld\n", (long long)stats[0], (long long)stats[1]);
  /* Per (batch, query head): [1][2][2], also this call's only. */
  {
    int64_t heads[1][2][2] = {{{-1, -1}, {-1, -1}}};
    report("run-head-stats",
           skipattn_run_host_head_stats(bundle, &shape, q, k, v, mask,
                                        maskShape, out, 0.0f, &heads[0][0][0]));
    printf("head-stats: %lld %lld %lld %lld\n", (long long)heads[0][0][0],
           (long long)heads[0][0][1], (long long)heads[0][1][0],
           (long long)heads[0][1][1]);
    report("run-head-stats-null",
           skipattn_run_host_head_stats(bundle, &shape, q, k, v, mask,
                                        maskShape, out, 0.0f, NULL));
    report("run-head-stats-dense",
           skipattn_run_host_head_stats(dense, &shape, q, k, v, NULL, NULL, out,
                                        0.0f, &heads[0][0][0]));
  }
  report("run-no-stats", skipattn_run_host(bundle, &shape, q, k, v, mask,
                                           maskShape, out, 0.0f, NULL));
  /* A success clears the message of an earlier failure. */
  printf("last-error-after-success: '%s'\n", skipattn_last_error());

  /* The dense bundle's result equals the skip bundle's with lambda 0. */
  {
    float denseOut[160];
    int same = 1;
    report("run-dense", skipattn_run_host(dense, &shape, q, k, v, NULL, NULL,
                                          denseOut, 123.0f, NULL));
    for (i = 0; i < 160; ++i)
      same &= fabsf(denseOut[i] - out[i]) <= 1e-6f;
    printf("dense-equals-skip-off: %d\n", same);
  }

  {
    unsigned short half = skipattn_f32_to_f16(1.0f / 3.0f);
    unsigned short bf = skipattn_f32_to_bf16(1.0f / 3.0f);
    float back[2];
    printf("convert: f16=0x%04x bf16=0x%04x %.8g %.8g\n", half, bf,
           (double)skipattn_f16_to_f32(half), (double)skipattn_bf16_to_f32(bf));
    report("convert-i1",
           skipattn_convert(q, SKIPATTN_DTYPE_F32, back, SKIPATTN_DTYPE_I1, 2));
    printf("dtype-size: %zu %zu %zu %zu %zu\n",
           skipattn_dtype_size(SKIPATTN_DTYPE_F32),
           skipattn_dtype_size(SKIPATTN_DTYPE_F16),
           skipattn_dtype_size(SKIPATTN_DTYPE_BF16),
           skipattn_dtype_size(SKIPATTN_DTYPE_I1),
           skipattn_dtype_size((skipattn_dtype)9));
  }

  /* Handles are checked: a freed bundle is an error, not freed memory. */
  skipattn_bundle_free(dense);
  report("use-after-free", skipattn_run_host(dense, &shape, q, k, v, NULL,
                                             NULL, out, 0.0f, NULL));
  printf("getter-after-free: %lld\n", (long long)skipattn_bundle_block_m(dense));
  skipattn_bundle_free(dense);
  printf("double-free: %s\n", skipattn_last_error());
  report("not-a-bundle", skipattn_check_host((const skipattn_bundle *)q));

  skipattn_bundle_free(bundle);
  skipattn_bundle_free(gpu);
  return 0;
}
