//===- AttnAttrs.cpp - attributes of the attn dialect ---------------------===//
//
// Parses, prints and verifies `#attn.skip<threshold = X>` and
// `#attn.skip<scale_factor = F>`, and verifies `#attn.kernel<...>`.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnAttrs.h"
#include "skipattn/Dialect/Attn/IR/AttnDialect.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace skipattn::attn;

#include "skipattn/Dialect/Attn/IR/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "skipattn/Dialect/Attn/IR/AttnAttrs.cpp.inc"

void AttnDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "skipattn/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
}

Attribute SkipAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseLess() || parser.parseKeyword(&keyword))
    return {};
  std::optional<SkipKind> kind = symbolizeSkipKind(keyword);
  if (!kind) {
    parser.emitError(loc, "expected 'threshold' or 'scale_factor', got '")
        << keyword << "'";
    return {};
  }
  APFloat value(0.0);
  if (parser.parseEqual() || parser.parseFloat(APFloat::IEEEdouble(), value) ||
      parser.parseGreater())
    return {};
  return SkipAttr::getChecked([&] { return parser.emitError(loc); },
                              parser.getContext(), *kind, value);
}

void SkipAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifySkipKind(getKind()) << " = ";
  printer.printFloat(getValue());
  printer << ">";
}

LogicalResult SkipAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               SkipKind kind, APFloat value) {
  double v = value.convertToDouble();
  if (kind == SkipKind::Threshold && !(v > 0.0 && v < 1.0))
    return emitError() << "skip threshold must be in (0, 1), got " << v;
  if (kind == SkipKind::ScaleFactor && !(v > 0.0 && std::isfinite(v)))
    return emitError() << "skip scale_factor must be positive and finite, got "
                       << v;
  return success();
}

double SkipAttr::getLambda(int64_t kvLen) const {
  if (getKind() == SkipKind::Threshold)
    return getValueAsDouble();
  return kvLen > 0 ? getValueAsDouble() / static_cast<double>(kvLen) : 0.0;
}

LogicalResult KernelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 StringRef role, ArrayAttr params,
                                 int64_t threads, int64_t sharedBytes,
                                 int64_t blockM, int64_t blockN,
                                 int64_t maxQLen, bool persistent) {
  if (!llvm::is_contained({"prefill", "decode", "combine"}, role))
    return emitError() << "kernel role must be prefill, decode or combine, "
                          "got '"
                       << role << "'";
  if (!llvm::all_of(params, [](Attribute p) { return isa<StringAttr>(p); }))
    return emitError() << "kernel params must be strings";
  if (threads <= 0 || sharedBytes < 0 || blockM < 0 || blockN < 0 ||
      maxQLen < 0)
    return emitError() << "kernel threads must be positive and sizes not "
                          "negative";
  return success();
}
