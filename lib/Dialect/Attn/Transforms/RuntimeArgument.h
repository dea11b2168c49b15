//===- RuntimeArgument.h - run-time arguments the attn passes add -*- C++ -*-//
//
// attn-tile{kv-splits} turns the number of kv parts, which changes between
// calls, into a trailing argument of the function around the attention,
// marked with an `attn.kv_splits` argument attribute so that a second
// attention of the function shares it (attn-insert-block-skip keeps its
// threshold and counter arguments in per-function slots instead). The
// function must be an entry: adding an argument to a function with callers
// would break them.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RUNTIMEARGUMENT_H
#define SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RUNTIMEARGUMENT_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"

namespace skipattn::attn {

/// How a pass names the argument it adds in its diagnostics: "<pass>:
/// cannot add the run-time <what> argument to @f: it has callers; <user>
/// must sit in an entry function".
struct RuntimeArgumentNames {
  llvm::StringRef pass, what, user;
};

/// The argument marked `name` of the function around `at`, added at the end
/// with type `type` when there is none. Fails with a diagnostic when `at` is
/// not inside a function, or the function has callers.
llvm::FailureOr<mlir::Value>
getOrAddRuntimeArgument(mlir::Operation *at, llvm::StringRef name,
                        mlir::Type type, const RuntimeArgumentNames &names);

} // namespace skipattn::attn

#endif // SKIPATTN_LIB_DIALECT_ATTN_TRANSFORMS_RUNTIMEARGUMENT_H
