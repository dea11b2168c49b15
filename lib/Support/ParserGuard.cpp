//===- ParserGuard.cpp - input that MLIR 22's parser crashes on -----------===//
//
// A scan of the source text ahead of MLIR's parser for the two crashes of
// MLIR 22 that ParserGuard.h names. Both checks are deliberately loose in
// what they accept (any integer list that fits int64, only the keyword
// of the custom form, which follows `outs(...)`; nesting far beyond any
// attention program), so that no input the parser handles is refused.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Support/ParserGuard.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cctype>

using namespace llvm;

/// MLIR's parser recurses once per nesting level, so deep enough nesting
/// overflows the stack of any MLIR tool (some 18,000 levels under ASan);
/// attention programs nest a few levels.
static constexpr int kMaxNesting = 1000;

/// Whether text starts with an integer that fits an int64: decimal of at
/// most 18 digits or hexadecimal of at most 15; consumes it.
static bool consumeInteger(StringRef &text) {
  text.consume_front("-");
  bool hex = text.consume_front("0x");
  size_t length =
      text.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789");
  if (length == 0 || length == StringRef::npos || length > (hex ? 15u : 18u))
    return false;
  text = text.drop_front(length);
  return true;
}

/// Whether text starts with what linalg's parsers read after `permutation =`
/// and `dimensions =` without crashing: `[` integers `]`.
static bool startsWithIntegerList(StringRef text) {
  if (!text.consume_front("["))
    return false;
  text = text.ltrim();
  if (text.consume_front("]"))
    return true;
  while (true) {
    if (!consumeInteger(text))
      return false;
    text = text.ltrim();
    if (text.consume_front("]"))
      return true;
    if (!text.consume_front(","))
      return false;
    text = text.ltrim();
  }
}

std::optional<skipattn::ParserCrash>
skipattn::findParserCrash(StringRef source) {
  int depth = 0;
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    bool arrow = c == '>' && i > 0 && source[i - 1] == '-';
    if (c == '(' || c == '[' || c == '{' || c == '<')
      ++depth;
    else if ((c == ')' || c == ']' || c == '}' || c == '>') && !arrow)
      depth = std::max(depth - 1, 0);
    if (depth > kMaxNesting)
      return ParserCrash{i, "nesting deeper than " +
                                std::to_string(kMaxNesting) +
                                " levels (MLIR's parser would overflow its "
                                "stack)"};
  }
  for (StringRef keyword : {"permutation", "dimensions"}) {
    for (size_t at = source.find(keyword); at != StringRef::npos;
         at = source.find(keyword, at + 1)) {
      // The linalg ops' custom form: the keyword right after `outs(...)`.
      // Elsewhere (an attribute dictionary, the generic form's
      // `<{dimensions = array<i64: 1>}>`, a value named %permutation) other
      // parsers read it, and report what they cannot read.
      StringRef before = source.take_front(at);
      if (!before.rtrim().ends_with(")") ||
          !(before.ends_with(")") || isspace(before.back())))
        continue;
      StringRef rest = source.drop_front(at + keyword.size()).ltrim();
      if (!rest.consume_front("="))
        continue;
      if (!startsWithIntegerList(rest.ltrim()))
        return ParserCrash{at, "'" + keyword.str() +
                                   " =' must be followed by an integer list "
                                   "such as [0, 2, 1, 3] (MLIR 22's linalg "
                                   "parsers crash on anything else)"};
    }
  }
  return std::nullopt;
}

LogicalResult skipattn::checkParserCrash(const MemoryBuffer &buffer) {
  std::optional<ParserCrash> crash = findParserCrash(buffer.getBuffer());
  if (!crash)
    return success();
  SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      MemoryBuffer::getMemBuffer(buffer.getMemBufferRef(),
                                 /*RequiresNullTerminator=*/false),
      SMLoc());
  sourceMgr.PrintMessage(
      errs(), SMLoc::getFromPointer(buffer.getBufferStart() + crash->offset),
      SourceMgr::DK_Error, crash->reason);
  return failure();
}
