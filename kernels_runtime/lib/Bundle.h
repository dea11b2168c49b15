//===- Bundle.h - the loaded bundle behind the C handle ---------*- C++ -*-===//
//
// skipattn_bundle is opaque to C callers; this is its definition, shared by
// the files that implement the C API. Target-specific state hangs off it
// (HostKernel for cpu bundles, DeviceKernel for gpu bundles), so the
// target-neutral code in Bundle.cpp and Shape.cpp never sees dlopen or CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_BUNDLE_H
#define SKIPATTN_RUNTIME_BUNDLE_H

#include "DeviceBundle.h"
#include "HostBundle.h"
#include "Manifest.h"

#include <memory>
#include <string>

struct skipattn_bundle {
  std::string dir;
  skipattn::runtime::Manifest manifest;
  /// Set for cpu bundles.
  std::unique_ptr<skipattn::runtime::HostKernel> host;
  /// Set for gpu bundles.
  std::unique_ptr<skipattn::runtime::DeviceKernel> device;
};

namespace skipattn::runtime {

/// Whether bundle came from skipattn_bundle_load and is not freed yet.
bool isLiveBundle(const skipattn_bundle *bundle);

/// SKIPATTN_OK for a live bundle; otherwise fails with
/// SKIPATTN_ERROR_INVALID_ARGUMENT, api naming the caller.
skipattn_status checkBundle(const skipattn_bundle *bundle, const char *api);

/// Checks a call shape's extents against each other and the manifest (the
/// mask excluded).
skipattn_status checkDims(const Manifest &manifest,
                          const skipattn_shape &shape);

/// Checks the mask shape (null when there is none) against the manifest and
/// a call shape that passed checkDims.
skipattn_status checkMask(const Manifest &manifest, const skipattn_shape &shape,
                          const int64_t *maskShape);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_BUNDLE_H
