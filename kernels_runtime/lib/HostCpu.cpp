//===- HostCpu.cpp - testing the CPU extensions a cpu bundle needs --------===//
//
// The extensions are named as LLVM names them (the manifest comes from
// skipattn-compile, lib/Pipelines/CPUPipeline.cpp lists what it may write)
// and tested with the compiler's __builtin_cpu_supports, which also checks
// that the OS saves the AVX and AVX-512 registers. Its argument must be a
// literal, hence one table entry per extension. Two are read from CPUID
// directly because GCC and clang disagree on their builtin names: cx16
// (CMPXCHG16B: GCC's "cmpxchg16b", clang's "cx16") and sahf (LAHF/SAHF in
// 64-bit mode: clang's "sahf", none in GCC).
//
//===----------------------------------------------------------------------===//

#include "HostCpu.h"
#include "Errors.h"
#include "Json.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

using namespace skipattn::runtime;

#if defined(__x86_64__)
/// CPUID.01H:ECX bit 13.
static bool hasCx16() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
    return false;
  return ecx & (1u << 13);
}

/// CPUID.80000001H:ECX bit 0.
static bool hasSahf() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx))
    return false;
  return ecx & 1;
}

namespace {
struct Extension {
  const char *name;
  bool (*present)();
};
} // namespace

#define SKIPATTN_BUILTIN(llvmName, gccName)                                    \
  {llvmName, [] { return __builtin_cpu_supports(gccName) != 0; }}

static const Extension extensions[] = {
    {"cx16", hasCx16},
    // CRC32 came with SSE4.2 and LLVM splits it off only as a name.
    SKIPATTN_BUILTIN("crc32", "sse4.2"),
    {"sahf", hasSahf},
    SKIPATTN_BUILTIN("popcnt", "popcnt"),
    SKIPATTN_BUILTIN("sse3", "sse3"),
    SKIPATTN_BUILTIN("ssse3", "ssse3"),
    SKIPATTN_BUILTIN("sse4.1", "sse4.1"),
    SKIPATTN_BUILTIN("sse4.2", "sse4.2"),
    SKIPATTN_BUILTIN("avx", "avx"),
    SKIPATTN_BUILTIN("avx2", "avx2"),
    SKIPATTN_BUILTIN("bmi", "bmi"),
    SKIPATTN_BUILTIN("bmi2", "bmi2"),
    SKIPATTN_BUILTIN("f16c", "f16c"),
    SKIPATTN_BUILTIN("fma", "fma"),
    SKIPATTN_BUILTIN("lzcnt", "lzcnt"),
    SKIPATTN_BUILTIN("movbe", "movbe"),
    SKIPATTN_BUILTIN("xsave", "xsave"),
    SKIPATTN_BUILTIN("avx512f", "avx512f"),
    SKIPATTN_BUILTIN("avx512bw", "avx512bw"),
    SKIPATTN_BUILTIN("avx512cd", "avx512cd"),
    SKIPATTN_BUILTIN("avx512dq", "avx512dq"),
    SKIPATTN_BUILTIN("avx512vl", "avx512vl"),
    SKIPATTN_BUILTIN("aes", "aes"),
    SKIPATTN_BUILTIN("pclmul", "pclmul"),
    SKIPATTN_BUILTIN("gfni", "gfni"),
    SKIPATTN_BUILTIN("vpclmulqdq", "vpclmulqdq"),
    SKIPATTN_BUILTIN("avx512vbmi", "avx512vbmi"),
    SKIPATTN_BUILTIN("avx512vbmi2", "avx512vbmi2"),
    SKIPATTN_BUILTIN("avx512ifma", "avx512ifma"),
    SKIPATTN_BUILTIN("avx512vnni", "avx512vnni"),
    SKIPATTN_BUILTIN("avx512bitalg", "avx512bitalg"),
    SKIPATTN_BUILTIN("avx512vpopcntdq", "avx512vpopcntdq"),
    SKIPATTN_BUILTIN("avx512bf16", "avx512bf16"),
    SKIPATTN_BUILTIN("sha", "sha"),
    SKIPATTN_BUILTIN("adx", "adx"),
    SKIPATTN_BUILTIN("fma4", "fma4"),
    SKIPATTN_BUILTIN("xop", "xop"),
    SKIPATTN_BUILTIN("sse4a", "sse4a"),
    SKIPATTN_BUILTIN("avxvnni", "avxvnni"),
};
#undef SKIPATTN_BUILTIN
#endif

skipattn_status skipattn::runtime::checkHostCpu(const Manifest &manifest,
                                                const std::string &library) {
  if (manifest.cpuFeatures.empty())
    return SKIPATTN_OK;
#if defined(__x86_64__)
  __builtin_cpu_init();
  std::string missing, unknown;
  for (const std::string &feature : manifest.cpuFeatures) {
    const Extension *found = nullptr;
    for (const Extension &extension : extensions)
      if (feature == extension.name)
        found = &extension;
    if (found && found->present())
      continue;
    std::string &list = found ? missing : unknown;
    list += (list.empty() ? "" : ", ") + feature;
  }
  if (!unknown.empty())
    return fail(SKIPATTN_ERROR_TARGET,
                manifest.path + ": '" + library +
                    "' needs CPU extensions this runtime cannot test (" +
                    unknown + "); recompile it with skipattn-compile --cpu "
                              "x86-64-v2");
  if (!missing.empty())
    return fail(SKIPATTN_ERROR_TARGET,
                manifest.path + ": '" + library + "' is compiled for " +
                    quote(manifest.cpuName) +
                    " and needs CPU extensions this machine lacks (" +
                    missing + "); recompile it with skipattn-compile --cpu "
                              "x86-64-v2 or --cpu native here");
  return SKIPATTN_OK;
#else
  return fail(SKIPATTN_ERROR_TARGET,
              manifest.path + ": '" + library +
                  "' needs x86-64 extensions, and this machine is not x86-64");
#endif
}
