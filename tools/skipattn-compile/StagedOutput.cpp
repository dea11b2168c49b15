//===- StagedOutput.cpp - write a bundle, then move it into place ---------===//
//
// A compile writes its files into a temporary directory beside the bundle's
// (same file system, so the final move is a rename) and renames it into
// place only when everything succeeded: a failed or interrupted compile
// leaves no empty or partial bundle, and a runtime that loads the bundle
// while it is rebuilt sees the old one or the new one, never a mix. An
// existing bundle is swapped out atomically with renameat2(RENAME_EXCHANGE)
// and then deleted; an existing directory that is not a bundle is never
// touched, since deleting a user's files is worse than any error.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>

using namespace mlir;
using namespace skipattn;

static LogicalResult fail(const Twine &message) {
  llvm::errs() << "skipattn-compile: error: " << message << "\n";
  return failure();
}

/// Whether dir is absent, an empty directory, or a bundle (a directory
/// holding manifest.json): the three things a compile may replace.
static LogicalResult checkReplaceable(StringRef dir) {
  llvm::sys::fs::file_status status;
  if (llvm::sys::fs::status(dir, status))
    return success(); // absent
  if (!llvm::sys::fs::is_directory(status))
    return fail("-o '" + dir + "' exists and is not a directory");
  SmallString<256> manifest(dir);
  llvm::sys::path::append(manifest, "manifest.json");
  if (llvm::sys::fs::exists(manifest))
    return success();
  std::error_code ec;
  llvm::sys::fs::directory_iterator it(dir, ec);
  if (!ec && it == llvm::sys::fs::directory_iterator())
    return success();
  return fail("-o '" + dir +
              "' is a directory that holds no bundle (no manifest.json); "
              "name a new directory or an old bundle to replace");
}

FailureOr<StagedOutput> StagedOutput::create(StringRef dir) {
  if (dir.empty())
    return fail("-o needs a directory name");
  if (failed(checkReplaceable(dir)))
    return failure();
  SmallString<256> absolute(dir);
  if (std::error_code ec = llvm::sys::fs::make_absolute(absolute))
    return fail("cannot resolve '" + dir + "': " + ec.message());
  llvm::sys::path::remove_dots(absolute, /*remove_dot_dot=*/true);
  StringRef parent = llvm::sys::path::parent_path(absolute);
  if (std::error_code ec = llvm::sys::fs::create_directories(parent))
    return fail("cannot create '" + parent + "': " + ec.message());
  SmallString<256> model(parent);
  // createUniqueDirectory appends "-" and six random characters.
  llvm::sys::path::append(model,
                          "." + llvm::sys::path::filename(absolute) + ".tmp");
  SmallString<256> staging;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory(model, staging))
    return fail("cannot create a temporary directory beside '" + dir +
                "': " + ec.message());
  return StagedOutput(absolute.str().str(), staging.str().str());
}

StagedOutput::StagedOutput(StagedOutput &&other)
    : target(std::move(other.target)), staging(std::move(other.staging)) {
  other.staging.clear();
}

StagedOutput::~StagedOutput() {
  if (!staging.empty())
    llvm::sys::fs::remove_directories(staging);
}

LogicalResult StagedOutput::commit() {
  if (std::rename(staging.c_str(), target.c_str()) == 0) {
    staging.clear();
    return success();
  }
  int error = errno;
  if (error != ENOTEMPTY && error != EEXIST)
    return fail("cannot move the bundle to '" + target +
                "': " + std::strerror(error));
  // An old bundle is there: swap atomically, then delete the old one, which
  // now sits at the staging path (and goes with the destructor).
  if (renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(),
                RENAME_EXCHANGE) != 0)
    return fail("cannot replace the bundle '" + target +
                "': " + std::strerror(errno));
  return success();
}
