//===- Descriptor.h - the kernel's own description of itself ---*- C++ -*-===//
//
// skipattn-compile compiles the manifest's kernel keys (all but the file
// names) into the kernel as a string, `skipattn_bundle_descriptor`: an
// exported constant of kernel.so, a global of the PTX and cubin. Loading a
// bundle compares it with manifest.json and refuses any difference, naming
// the key: a manifest that says 8 heads for a kernel compiled for 4 would
// have the runtime size and the kernel index buffers differently, and write
// out of bounds.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_DESCRIPTOR_H
#define SKIPATTN_RUNTIME_DESCRIPTOR_H

#include "Manifest.h"

#include <string>
#include <string_view>

namespace skipattn::runtime {

/// The symbol that holds the descriptor.
inline constexpr const char *descriptorSymbol = "skipattn_bundle_descriptor";

/// Compares descriptor (the text the kernel carries; NUL bytes at its end
/// are ignored) with the manifest. source names the kernel file in
/// messages. Fails with SKIPATTN_ERROR_BUNDLE naming the first key that
/// differs.
skipattn_status checkDescriptor(const Manifest &manifest,
                                std::string_view descriptor,
                                const std::string &source);

/// Finds the descriptor in PTX text, where the NVPTX back end prints it as
/// `.global .align 1 .b8 skipattn_bundle_descriptor[N] = {b0, b1, ...};`,
/// and compares it with the manifest.
skipattn_status checkPtxDescriptor(const Manifest &manifest,
                                   const std::string &ptx,
                                   const std::string &ptxPath);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_DESCRIPTOR_H
