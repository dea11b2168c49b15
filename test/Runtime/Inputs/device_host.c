/*===- device_host.c - TEST HELPER: a C host of the GPU C API -------------===//
 *
 * Compiled as strict C99 by device-capi.test to show that the GPU half of
 * runtime.h is plain C, and run with no driver and with the fake driver
 * (fake_libcuda.c) to check statuses and messages of skipattn_check_device,
 * skipattn_run_device, skipattn_plan_device and the device memory helpers.
 * Prints one line per check for FileCheck.
 *
 *   device_host GPU_BUNDLE CPU_BUNDLE
 *
 * GPU_BUNDLE: echo_manifest.json with echo_kernel.ptx (f32, head dim 64,
 * threshold 0.25, stats). CPU_BUNDLE: any cpu bundle.
 *
 *===----------------------------------------------------------------------===*/

#include "skipattn/runtime.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void report(const char *what, skipattn_status status) {
  printf("%s: %s: %s\n", what, skipattn_status_name(status),
         skipattn_last_error());
}

int main(int argc, char **argv) {
  skipattn_bundle *gpu = NULL, *cpu = NULL;
  int64_t qs[4] = {1, 2, 3, 64}, ks[4] = {1, 1, 5, 64};
  skipattn_shape shape;
  float q[384], k[320], out[384];
  int64_t stats[2] = {-1, -1};
  void *dq = NULL, *dk = NULL, *dv = NULL, *dout = NULL;
  const char *plan = NULL;
  int i, same;

  if (argc != 3) {
    fprintf(stderr, "usage: device_host GPU_BUNDLE CPU_BUNDLE\n");
    return 2;
  }
  for (i = 0; i < 384; ++i)
    q[i] = (float)i / 7.0f;
  for (i = 0; i < 320; ++i)
    k[i] = (float)i / 11.0f;

  report("load-gpu", skipattn_bundle_load(argv[1], &gpu));
  report("load-cpu", skipattn_bundle_load(argv[2], &cpu));
  if (!gpu || !cpu)
    return 1;
  report("shape", skipattn_shape_from_tensors(gpu, qs, ks, ks, &shape));

  /* Arguments and targets are checked before the driver is touched. */
  report("check-device-null", skipattn_check_device(NULL));
  report("check-device-cpu", skipattn_check_device(cpu));
  report("check-host-gpu", skipattn_check_host(gpu));
  report("run-device-null", skipattn_run_device(gpu, &shape, q, k, k, NULL,
                                                NULL, NULL, 0.25f, NULL, NULL));
  report("run-device-cpu", skipattn_run_device(cpu, &shape, q, k, k, NULL, NULL,
                                               out, 0.25f, NULL, NULL));
  report("run-device-nan", skipattn_run_device(gpu, &shape, q, k, k, NULL, NULL,
                                               out, NAN, NULL, NULL));
  report("run-host-gpu",
         skipattn_run_host(gpu, &shape, q, k, k, NULL, NULL, out, 0.25f, NULL));
  report("plan-null", skipattn_plan_device(gpu, &shape, 8, NULL));
  report("plan-cpu", skipattn_plan_device(cpu, &shape, 8, &plan));
  report("plan", skipattn_plan_device(gpu, &shape, 8, &plan));
  printf("plan: %s\n", plan ? plan : "NULL");
  report("free-null", skipattn_device_free(NULL));

  /* From here on the driver is needed. */
  report("check-device", skipattn_check_device(gpu));
  report("alloc", skipattn_device_alloc(sizeof(q), &dq));
  if (!dq) {
    report("run-device", skipattn_run_device(gpu, &shape, q, k, k, NULL, NULL,
                                             out, 0.25f, stats, NULL));
    report("synchronize", skipattn_device_synchronize(NULL));
    printf("after-failure: %s\n", dq ? "set" : "NULL");
    skipattn_bundle_free(gpu);
    skipattn_bundle_free(cpu);
    return 0;
  }
  report("alloc-zero", skipattn_device_alloc(0, &dk));
  printf("alloc-zero: %s\n", dk ? "set" : "NULL");
  report("alloc-k", skipattn_device_alloc(sizeof(k), &dk));
  report("alloc-v", skipattn_device_alloc(sizeof(k), &dv));
  report("alloc-out", skipattn_device_alloc(sizeof(out), &dout));
  report("upload-null", skipattn_device_upload(dq, NULL, sizeof(q)));
  report("upload-q", skipattn_device_upload(dq, q, sizeof(q)));
  report("upload-k", skipattn_device_upload(dk, k, sizeof(k)));
  report("upload-v", skipattn_device_upload(dv, k, sizeof(k)));
  report("plan-device-sms", skipattn_plan_device(gpu, &shape, 0, &plan));
  printf("plan: %s\n", plan ? plan : "NULL");

  /* Counters are this call's, whatever was in the array before. */
  report("run-device", skipattn_run_device(gpu, &shape, dq, dk, dv, NULL, NULL,
                                           dout, 0.25f, stats, NULL));
  printf("stats: %lld %lld\n", (long long)stats[0], (long long)stats[1]);
  report("run-device-again",
         skipattn_run_device(gpu, &shape, dq, dk, dv, NULL, NULL, dout, 0.25f,
                             stats, NULL));
  printf("stats: %lld %lld\n", (long long)stats[0], (long long)stats[1]);
  report("run-device-async", skipattn_run_device(gpu, &shape, dq, dk, dv, NULL,
                                                 NULL, dout, 0.5f, NULL, NULL));
  report("synchronize", skipattn_device_synchronize(NULL));
  /* Per-head counters in the caller's device memory, [1][2][2]: cleared
   * and counted into on the stream, never waited for. */
  {
    void *dstats = NULL;
    int64_t heads[4] = {-1, -1, -1, -1};
    report("alloc-head-stats", skipattn_device_alloc(sizeof(heads), &dstats));
    report("upload-head-stats",
           skipattn_device_upload(dstats, heads, sizeof(heads)));
    report("run-device-head-stats",
           skipattn_run_device_head_stats(gpu, &shape, dq, dk, dv, NULL, NULL,
                                          dout, 0.75f, dstats, NULL));
    report("run-device-head-stats-null",
           skipattn_run_device_head_stats(gpu, &shape, dq, dk, dv, NULL, NULL,
                                          dout, 0.75f, NULL, NULL));
    report("download-head-stats",
           skipattn_device_download(heads, dstats, sizeof(heads)));
    printf("head-stats: %lld %lld %lld %lld\n", (long long)heads[0],
           (long long)heads[1], (long long)heads[2], (long long)heads[3]);
    report("free-head-stats", skipattn_device_free(dstats));
  }
  memset(out, 0, sizeof(out));
  report("download", skipattn_device_download(out, dout, sizeof(out)));
  same = memcmp(out, q, sizeof(q)) == 0;
  printf("out-equals-q: %d\n", same);
  report("free", skipattn_device_free(dq));
  report("free-k", skipattn_device_free(dk));
  report("free-v", skipattn_device_free(dv));
  report("free-out", skipattn_device_free(dout));

  skipattn_bundle_free(gpu);
  skipattn_bundle_free(cpu);
  return 0;
}
