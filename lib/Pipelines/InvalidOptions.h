//===- InvalidOptions.h - a pipeline that reports its options ---*- C++ -*-===//
//
// A pipeline built from invalid options consists of one pass that reports
// them: pipeline builders cannot fail, and passes given such options would
// crash (the NVPTX back end on an unknown chip) or do something else than
// asked.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_PIPELINES_INVALIDOPTIONS_H
#define SKIPATTN_LIB_PIPELINES_INVALIDOPTIONS_H

#include "mlir/Pass/Pass.h"

#include <memory>
#include <string>

namespace skipattn {

/// A pass that fails on the op it runs on with `message`.
std::unique_ptr<mlir::Pass> createInvalidOptionsPass(std::string message);

} // namespace skipattn

#endif // SKIPATTN_LIB_PIPELINES_INVALIDOPTIONS_H
