//===- HostBundle.cpp - cpu bundles: dlopen and the entry call --*- C++ -*-===//
//
// Loads a cpu bundle's shared object and calls its entry through MLIR's C
// interface (`llvm.emit_c_interface`): every memref argument is passed as a
// pointer to a strided descriptor {allocated, aligned, offset, sizes[],
// strides[]}, scalars by value. The prototype depends on which optional
// arguments exist (mask, num_splits, lambda, stats); the manifest parser has
// already pinned "arguments" to the canonical order, and run() builds the
// argument list in that order.
//
// Before dlopen the ELF header is checked against this machine, so that a
// bundle compiled for another architecture is reported as a target problem
// rather than as the loader's cryptic "wrong ELF class". After it, and
// before any of the library's code runs, the library's descriptor must
// match the manifest (Descriptor.cpp) and this CPU must have the
// extensions the bundle was compiled for (HostCpu.cpp).
//
//===----------------------------------------------------------------------===//

#include "HostBundle.h"
#include "Descriptor.h"
#include "Errors.h"
#include "HostCpu.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

using namespace skipattn::runtime;

namespace {
/// MLIR's StridedMemRefType<T, Rank> with the element type erased.
template <int Rank> struct StridedMemRef {
  void *allocated;
  void *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};
using MemRef4 = StridedMemRef<4>;
using MemRef3 = StridedMemRef<3>;
using MemRef2 = StridedMemRef<2>;
using MemRef1 = StridedMemRef<1>;
} // namespace

/// A row-major contiguous descriptor. The entry only reads q, k, v and mask;
/// the descriptor type has no const, hence the cast.
static MemRef4 describe(const void *data, int64_t d0, int64_t d1, int64_t d2,
                        int64_t d3) {
  void *pointer = const_cast<void *>(data);
  return {
      pointer, pointer, 0, {d0, d1, d2, d3}, {d1 * d2 * d3, d2 * d3, d3, 1}};
}

/// A row-major contiguous [tokens, heads, dim] descriptor (varlen).
static MemRef3 describePacked(const void *data, int64_t tokens, int64_t heads,
                              int64_t dim) {
  void *pointer = const_cast<void *>(data);
  return {pointer, pointer, 0, {tokens, heads, dim}, {heads * dim, dim, 1}};
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

#if defined(__x86_64__)
static constexpr int hostMachine = 62;
#elif defined(__aarch64__)
static constexpr int hostMachine = 183;
#elif defined(__powerpc64__)
static constexpr int hostMachine = 21;
#elif defined(__riscv)
static constexpr int hostMachine = 243;
#else
static constexpr int hostMachine = -1; // unknown: let dlopen decide
#endif

static std::string machineName(int machine) {
  switch (machine) {
  case 3:
    return "i386";
  case 21:
    return "ppc64";
  case 40:
    return "arm";
  case 62:
    return "x86_64";
  case 183:
    return "aarch64";
  case 190:
    return "cuda (a cubin, not a host library)";
  case 243:
    return "riscv";
  }
  return "ELF machine " + std::to_string(machine);
}

/// Fails with SKIPATTN_ERROR_TARGET if path is an ELF file for another
/// machine; anything else is left to dlopen.
static skipattn_status checkElfMachine(const std::string &path) {
  if (hostMachine < 0)
    return SKIPATTN_OK;
  unsigned char header[20];
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return SKIPATTN_OK;
  size_t count = std::fread(header, 1, sizeof(header), file);
  std::fclose(file);
  bool isElf = count == sizeof(header) && header[0] == 0x7f &&
               header[1] == 'E' && header[2] == 'L' && header[3] == 'F';
  if (!isElf)
    return SKIPATTN_OK;
  // e_machine sits at offset 18 in both ELF classes, in the file's byte
  // order (EI_DATA: 1 little, 2 big).
  int machine = header[5] == 2 ? (header[18] << 8) | header[19]
                               : header[18] | (header[19] << 8);
  if (machine == hostMachine)
    return SKIPATTN_OK;
  return fail(SKIPATTN_ERROR_TARGET,
              "'" + path + "' is built for " + machineName(machine) +
                  ", but this machine is " + machineName(hostMachine));
}

/// Compares the library's exported descriptor with the manifest. Its size
/// comes from the symbol table (dladdr1), so a corrupt library cannot make
/// the read run past the symbol.
static skipattn_status checkLibraryDescriptor(const Manifest &manifest,
                                              void *handle,
                                              const std::string &path) {
  std::string source = "'" + path + "'";
  void *symbol = dlsym(handle, descriptorSymbol);
  Dl_info info;
  void *extra = nullptr;
  if (symbol && !dladdr1(symbol, &info, &extra, RTLD_DL_SYMENT))
    extra = nullptr;
  auto *entry = static_cast<const ElfW(Sym) *>(extra);
  if (!symbol || !entry)
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": " + source + " exports no " +
                    descriptorSymbol +
                    " (it is not from skipattn-compile, or from one that "
                    "wrote bundle version 1)");
  return checkDescriptor(
      manifest,
      std::string_view(static_cast<const char *>(symbol), entry->st_size),
      source);
}

skipattn_status HostKernel::open(const std::string &dir,
                                 const Manifest &manifest,
                                 std::unique_ptr<HostKernel> &result) {
  std::string path = manifest.library;
  if (path.front() != '/')
    path = dir + (dir.back() == '/' ? "" : "/") + path;

  struct stat info;
  if (stat(path.c_str(), &info) != 0)
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": cannot open the bundle's library '" + path +
                    "': " + std::strerror(errno));
  if (skipattn_status status = checkElfMachine(path))
    return status;

  // RTLD_NOW: an unresolved symbol is a load error here, not a crash in
  // the middle of a run. RTLD_LOCAL: two bundles may export the same entry.
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return fail(SKIPATTN_ERROR_BUNDLE, "cannot load the bundle's library: " +
                                           (why ? std::string(why) : path));
  }
  // The library's code runs only after the manifest is known to describe
  // it and this CPU to have the extensions it was compiled for.
  skipattn_status checked = checkLibraryDescriptor(manifest, handle, path);
  if (!checked)
    checked = checkHostCpu(manifest, path);
  if (checked) {
    dlclose(handle);
    return checked;
  }
  dlerror();
  void *entry = dlsym(handle, manifest.entry.c_str());
  if (!entry) {
    dlclose(handle);
    return fail(SKIPATTN_ERROR_BUNDLE,
                "'" + path + "' has no symbol '" + manifest.entry +
                    "' (the manifest's \"entry\"; the kernel must be "
                    "compiled with llvm.emit_c_interface)");
  }
  result.reset(new HostKernel(handle, entry));
  return SKIPATTN_OK;
}

HostKernel::~HostKernel() { dlclose(handle); }

//===----------------------------------------------------------------------===//
// Calling
//===----------------------------------------------------------------------===//

/// Calls the entry with exactly `args`: the C interface's prototype is the
/// argument list, pointers to descriptors and scalars by value.
template <typename... Args> static void call(void *entry, Args... args) {
  reinterpret_cast<void (*)(Args...)>(entry)(args...);
}

void HostKernel::run(const Manifest &manifest, const skipattn_shape &shape,
                     const void *q, const void *k, const void *v,
                     const void *mask, const int64_t *maskShape, void *out,
                     float lambda, int64_t *headStats,
                     const skipattn_run_options &options) const {
  const skipattn_shape &s = shape;
  MemRef4 qRef = describe(q, s.batch, s.q_heads, s.q_len, s.head_dim);
  MemRef4 kRef = describe(k, s.batch, s.kv_heads, s.kv_len, s.head_dim);
  MemRef4 vRef = describe(v, s.batch, s.kv_heads, s.kv_len, s.value_head_dim);
  // Paged: k and v are page pools, then the block table and the lengths.
  int64_t pageSize = manifest.pageSize;
  auto *table = const_cast<int32_t *>(options.block_table);
  auto *lens = const_cast<int32_t *>(options.seq_lens);
  MemRef2 tableRef = {
      table, table, 0, {s.batch, options.max_pages}, {options.max_pages, 1}};
  MemRef1 lensRef = {lens, lens, 0, {s.batch}, {1}};
  if (pageSize) {
    kRef = describe(k, options.num_pages, pageSize, s.kv_heads, s.head_dim);
    vRef =
        describe(v, options.num_pages, pageSize, s.kv_heads, s.value_head_dim);
  }
  MemRef4 oRef = describe(out, s.batch, s.q_heads, s.q_len, s.value_head_dim);
  MemRef4 mRef = {};
  if (manifest.hasMask)
    mRef =
        describe(mask, maskShape[0], maskShape[1], maskShape[2], maskShape[3]);
  // [B, Hq, 2] counters, one pair per (batch, query head).
  MemRef3 statsRef = {
      headStats, headStats, 0, {s.batch, s.q_heads, 2}, {2 * s.q_heads, 2, 1}};
  // [B, Hq, Sq] rows: the lse, and the carry (init_max in, max out).
  auto rowsOf = [&](const float *data) -> MemRef3 {
    auto *p = const_cast<float *>(data);
    return {p,
            p,
            0,
            {s.batch, s.q_heads, s.q_len},
            {s.q_heads * s.q_len, s.q_len, 1}};
  };
  MemRef3 lseRef = rowsOf(options.lse);
  MemRef3 initMaxRef = rowsOf(options.init_max);
  MemRef3 maxRef = rowsOf(options.max);
  // An index argument: int64 on the 64-bit hosts the runtime builds for.
  int64_t numSplits = options.num_splits < 1 ? 1 : options.num_splits;

  // A scale-factor kernel takes F and computes lambda = F / kv_len itself.
  if (manifest.skipKind == SKIPATTN_SKIP_SCALE_FACTOR)
    lambda *= static_cast<float>(s.kv_len);
  bool hasLambda = manifest.skipKind != SKIPATTN_SKIP_NONE;

  // The canonical order q, k, v, [mask], [init_max], [block_table,
  // seq_lens], [cu_seqlens_q, cu_seqlens_k], out, [lse], [max],
  // [num_splits], [lambda], [stats]: each step appends its argument when the
  // bundle has it, so every combination gets its own prototype.
  auto withStats = [&](auto... args) {
    if (manifest.stats)
      call(entry, args..., &statsRef);
    else
      call(entry, args...);
  };
  auto withLambda = [&](auto... args) {
    if (hasLambda)
      withStats(args..., lambda);
    else
      withStats(args...);
  };
  auto withSplits = [&](auto... args) {
    if (manifest.kvSplits)
      withLambda(args..., numSplits);
    else
      withLambda(args...);
  };
  auto withMax = [&](auto... args) {
    if (manifest.initMax)
      withSplits(args..., &maxRef);
    else
      withSplits(args...);
  };
  auto withLse = [&](auto... args) {
    if (manifest.lse)
      withMax(args..., &lseRef);
    else
      withMax(args...);
  };
  if (manifest.varlen) {
    // Packed [tokens, heads, dim] tensors and the cumulative lengths.
    MemRef3 qPacked = describePacked(q, s.q_len, s.q_heads, s.head_dim);
    MemRef3 kPacked = describePacked(k, s.kv_len, s.kv_heads, s.head_dim);
    MemRef3 vPacked = describePacked(v, s.kv_len, s.kv_heads, s.value_head_dim);
    MemRef3 oPacked =
        describePacked(out, s.q_len, s.q_heads, s.value_head_dim);
    auto *cuQ = const_cast<int32_t *>(options.cu_seqlens_q);
    auto *cuK = const_cast<int32_t *>(options.cu_seqlens_k);
    MemRef1 cuQRef = {cuQ, cuQ, 0, {s.batch + 1}, {1}};
    MemRef1 cuKRef = {cuK, cuK, 0, {s.batch + 1}, {1}};
    withLse(&qPacked, &kPacked, &vPacked, &cuQRef, &cuKRef, &oPacked);
  } else if (manifest.hasMask && manifest.initMax)
    withLse(&qRef, &kRef, &vRef, &mRef, &initMaxRef, &oRef);
  else if (manifest.initMax)
    withLse(&qRef, &kRef, &vRef, &initMaxRef, &oRef);
  else if (manifest.hasMask)
    withLse(&qRef, &kRef, &vRef, &mRef, &oRef);
  else if (pageSize)
    withLse(&qRef, &kRef, &vRef, &tableRef, &lensRef, &oRef);
  else
    withLse(&qRef, &kRef, &vRef, &oRef);
}
