//===- ParserGuard.h - input that MLIR 22's parser crashes on ---*- C++ -*-===//
//
// MLIR 22's text parser (Debian's libMLIR, not code of ours) crashes on two
// kinds of malformed input: nesting deep enough to overflow its recursion's
// stack, and linalg.transpose, linalg.broadcast and linalg.reduce with
// something other than an integer list after `permutation =` /
// `dimensions =` (their parsers store a null attribute and dereference it).
// skipattn's tools and fuzz target look for both before parsing and report
// an error instead. Delete this when the dependency has the fixes.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_SUPPORT_PARSERGUARD_H
#define SKIPATTN_SUPPORT_PARSERGUARD_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/LogicalResult.h"

#include <cstddef>
#include <optional>
#include <string>

namespace llvm {
class MemoryBuffer;
} // namespace llvm

namespace skipattn {

/// Where in the source MLIR 22's parser would crash, and why.
struct ParserCrash {
  size_t offset;
  std::string reason;
};

/// The first place of `source` that MLIR 22's parser would crash on, if any.
std::optional<ParserCrash> findParserCrash(llvm::StringRef source);

/// Fails, printing "file:line:col: error: ..." on stderr, when MLIR 22's
/// parser would crash on `buffer`.
llvm::LogicalResult checkParserCrash(const llvm::MemoryBuffer &buffer);

} // namespace skipattn

#endif // SKIPATTN_SUPPORT_PARSERGUARD_H
