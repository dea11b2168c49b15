//===- RequestSkip.cpp - turn Skip-Softmax on for raised attention --------===//
//
// The attn-request-skip pass: the skip request is an attribute of
// attn.attention, which attention raised from linalg or TOSA never has.
// This pass adds it where it is missing, so that a pipeline (attn-compile)
// can turn skipping on from its options.
//
//===----------------------------------------------------------------------===//

#include "skipattn/Dialect/Attn/IR/AttnOps.h"
#include "skipattn/Dialect/Attn/Transforms/Passes.h"

namespace skipattn::attn {
#define GEN_PASS_DEF_ATTNREQUESTSKIP
#include "skipattn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace skipattn::attn

using namespace mlir;
using namespace skipattn::attn;

namespace {
struct AttnRequestSkipPass
    : public skipattn::attn::impl::AttnRequestSkipBase<AttnRequestSkipPass> {
  using AttnRequestSkipBase::AttnRequestSkipBase;

  void runOnOperation() override {
    Operation *root = getOperation();
    if ((threshold != 0.0) == (scaleFactor != 0.0)) {
      root->emitError("attn-request-skip: give exactly one of threshold and "
                      "scale-factor");
      return signalPassFailure();
    }
    SkipKind kind =
        threshold != 0.0 ? SkipKind::Threshold : SkipKind::ScaleFactor;
    // The attribute's verifier names a value out of range.
    SkipAttr skip = SkipAttr::getChecked(
        [&] { return root->emitError() << "attn-request-skip: "; },
        &getContext(), kind,
        APFloat(kind == SkipKind::Threshold ? threshold : scaleFactor));
    if (!skip)
      return signalPassFailure();
    root->walk([&](AttentionOp op) {
      if (!op.getSkipAttr())
        op.setSkipAttr(skip);
    });
  }
};
} // namespace
