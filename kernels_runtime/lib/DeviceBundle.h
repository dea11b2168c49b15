//===- DeviceBundle.h - gpu bundles: module and launches --------*- C++ -*-===//
//
// A gpu bundle's kernels are PTX (and optionally a cubin) launched through
// the driver API. DeviceKernel owns the bundle's files, loads them into a
// CUDA module per context on first use, and runs a call: plan, temporary
// buffers, parameter packing, launches, statistics. It is the gpu
// counterpart of HostKernel, and like it keeps everything target-specific
// (here: CUDA types) out of this header.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_DEVICEBUNDLE_H
#define SKIPATTN_RUNTIME_DEVICEBUNDLE_H

#include "Manifest.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

/// cuda.h's CUcontext is a pointer to this; naming it here keeps cuda.h out
/// of the files that include this header.
struct CUctx_st;

namespace skipattn::runtime {

struct DeviceInfo;

class DeviceKernel {
public:
  /// Reads the manifest's PTX (and cubin) from dir. Needs no driver: a gpu
  /// bundle loads, and can be inspected and planned, on any machine. On
  /// failure sets the last error and returns SKIPATTN_ERROR_BUNDLE.
  static skipattn_status open(const std::string &dir, const Manifest &manifest,
                              std::unique_ptr<DeviceKernel> &result);

  ~DeviceKernel();
  DeviceKernel(const DeviceKernel &) = delete;
  DeviceKernel &operator=(const DeviceKernel &) = delete;

  /// SKIPATTN_OK if the driver loads and the device of the calling thread's
  /// context (or device 0) can run the manifest's chip.
  skipattn_status check(const Manifest &manifest) const;

  /// The multiprocessor count of that device, for plans.
  static skipattn_status deviceSms(int64_t &numSms);

  /// Runs the call on stream (a CUstream, null for the default stream). The
  /// caller has checked shape, pointers and lambda. The kernels count into
  /// headStats (device memory, int64 [B, Hq, 2], cleared on the stream
  /// first) or, when it is null, into a buffer of the call's own. With
  /// hostHeadStats (host memory of the same shape), waits for the stream and
  /// copies the counters there; otherwise returns once the launches are
  /// queued.
  skipattn_status run(const Manifest &manifest, const skipattn_shape &shape,
                      const void *q, const void *k, const void *v,
                      const void *mask, const int64_t *maskShape, void *out,
                      float lambda, int64_t *hostHeadStats, void *headStats,
                      void *stream, const skipattn_run_options &options) const;

  /// One CUDA module of the bundle: defined in DeviceBundle.cpp.
  struct Module;

private:
  DeviceKernel() = default;

  /// The module for the current context, loaded on first use.
  skipattn_status module(const Manifest &manifest, CUctx_st *context,
                         const DeviceInfo &info, Module *&result) const;

  std::string ptxPath;
  std::string ptx;
  /// Empty when the bundle has no cubin.
  std::string cubinPath;
  std::string cubin;
  /// Guards modules and the shared-memory limits set on their functions.
  mutable std::mutex mutex;
  mutable std::vector<std::unique_ptr<Module>> modules;
};

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_DEVICEBUNDLE_H
