//===- ManifestFuzzer.cpp - libFuzzer target: manifests and descriptors ---===//
//
// Feeds arbitrary bytes to what a bundle load parses before any kernel code
// runs: manifest.json (JSON, every field, the launch expressions of gpu
// manifests), the kernel's descriptor compared with the manifest, and the
// descriptor inside PTX text. A manifest that parses is also planned for a
// few call shapes, since planning evaluates its expressions. Nothing here
// may crash, hang or read out of bounds, whatever the input.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"
#include "Descriptor.h"
#include "Launch.h"
#include "Manifest.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace skipattn::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  Manifest manifest;
  if (parseManifest("fuzz/manifest.json", text, manifest) == SKIPATTN_OK) {
    // The manifest describes itself: a descriptor equal to the manifest
    // passes, and one that is not a manifest fails cleanly.
    checkDescriptor(manifest, text, "fuzz");
    checkDescriptor(manifest, "{\"shapes\":1}", "fuzz");
    const skipattn_shape shapes[] = {{1, 1, 1, 1, 1, 64, 64},
                                     {2, 8, 2, 3, 4097, 128, 128},
                                     {1, 32, 8, 1, 131072, 128, 128},
                                     {4, 4, 4, 1000000, 1000000, 64, 64}};
    for (const skipattn_shape &shape : shapes) {
      if (checkDims(manifest, shape) != SKIPATTN_OK ||
          manifest.target != SKIPATTN_TARGET_GPU)
        continue;
      LaunchPlan plan;
      if (planLaunches(manifest, shape, 132, plan) == SKIPATTN_OK)
        planToJson(manifest, plan, 132);
    }
  }
  checkPtxDescriptor(manifest, text, "fuzz/kernel.ptx");
  return 0;
}
