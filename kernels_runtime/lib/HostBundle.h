//===- HostBundle.h - cpu bundles: the kernel library -----------*- C++ -*-===//
//
// A cpu bundle's kernel is a shared object with an MLIR C-interface entry.
// HostKernel owns the dlopen handle and calls the entry with strided memref
// descriptors. Everything specific to the cpu target lives behind this
// class.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_HOSTBUNDLE_H
#define SKIPATTN_RUNTIME_HOSTBUNDLE_H

#include "Manifest.h"

#include <memory>
#include <string>

namespace skipattn::runtime {

class HostKernel {
public:
  /// Loads the manifest's library from dir and resolves its entry. On
  /// failure sets the last error and returns SKIPATTN_ERROR_BUNDLE (or
  /// SKIPATTN_ERROR_TARGET for a library built for another machine).
  static skipattn_status open(const std::string &dir, const Manifest &manifest,
                              std::unique_ptr<HostKernel> &result);

  ~HostKernel();
  HostKernel(const HostKernel &) = delete;
  HostKernel &operator=(const HostKernel &) = delete;

  /// Calls the entry. The caller has checked shape, pointers and options;
  /// when the manifest has stats, headStats is int64 [B, Hq, 2], zeroed, and
  /// receives this call's counters per (batch, query head).
  void run(const Manifest &manifest, const skipattn_shape &shape, const void *q,
           const void *k, const void *v, const void *mask,
           const int64_t *maskShape, void *out, float lambda,
           int64_t *headStats, const skipattn_run_options &options) const;

private:
  HostKernel(void *handle, void *entry) : handle(handle), entry(entry) {}

  void *handle;
  void *entry;
};

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_HOSTBUNDLE_H
