//===- RuntimeArgument.cpp - run-time arguments the attn passes add -------===//
//
// See RuntimeArgument.h.
//
//===----------------------------------------------------------------------===//

#include "RuntimeArgument.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;

FailureOr<Value>
skipattn::attn::getOrAddRuntimeArgument(Operation *at, StringRef name,
                                        Type type,
                                        const RuntimeArgumentNames &names) {
  auto func = at->getParentOfType<FunctionOpInterface>();
  if (!func)
    return at->emitError() << names.pass
                           << ": tiled attention must be inside a function, "
                              "which receives the run-time "
                           << names.what << " argument";
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (func.getArgAttr(i, name))
      return func.getArgument(i);
  auto module = func->getParentOfType<ModuleOp>();
  if (module && !SymbolTable::symbolKnownUseEmpty(func, module))
    return func.emitError()
           << names.pass << ": cannot add the run-time " << names.what
           << " argument to @" << SymbolTable::getSymbolName(func).getValue()
           << ": it has callers; " << names.user
           << " must sit in an entry function";
  Builder b(func.getContext());
  unsigned index = func.getNumArguments();
  auto attrs = b.getDictionaryAttr(b.getNamedAttr(name, b.getUnitAttr()));
  if (failed(func.insertArgument(index, type, attrs, func.getLoc())))
    return at->emitError() << names.pass << ": cannot add the run-time "
                           << names.what << " argument";
  return func.getArgument(index);
}
