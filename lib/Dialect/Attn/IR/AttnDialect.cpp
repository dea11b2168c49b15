//===- AttnDialect.cpp - the attn dialect ---------------------------------===//
//
// Registers the attn dialect's operations and attributes, and verifies the
// dialect attributes it attaches to other dialects' ops.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnDialect.h"
#include "skipattn/Dialect/Attn/IR/AttnOps.h"

using namespace mlir;
using namespace skipattn::attn;

#include "skipattn/Dialect/Attn/IR/AttnOpsDialect.cpp.inc"

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "skipattn/Dialect/Attn/IR/AttnOps.cpp.inc"
      >();
  registerAttributes();
}

LogicalResult AttnDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  if (attr.getName() == KernelAttr::getAttrName() &&
      !isa<KernelAttr>(attr.getValue()))
    return op->emitError() << "'" << KernelAttr::getAttrName()
                           << "' must be an #attn.kernel attribute";
  return success();
}
