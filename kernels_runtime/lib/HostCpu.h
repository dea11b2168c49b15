//===- HostCpu.h - can this CPU run a cpu bundle ----------------*- C++ -*-===//
//
// A cpu bundle is compiled for the x86-64 baseline plus a list of
// instruction-set extensions that its manifest names ("cpu.features").
// Before its code runs, each is tested on this CPU, so that a bundle built
// with AVX-512 on one machine is refused with a message on another rather
// than killed there with SIGILL.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_HOSTCPU_H
#define SKIPATTN_RUNTIME_HOSTCPU_H

#include "Manifest.h"

namespace skipattn::runtime {

/// SKIPATTN_OK if this CPU has every extension the manifest lists;
/// SKIPATTN_ERROR_TARGET naming the missing ones (or one this runtime
/// cannot test) otherwise.
skipattn_status checkHostCpu(const Manifest &manifest,
                             const std::string &library);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_HOSTCPU_H
