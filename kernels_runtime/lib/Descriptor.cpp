//===- Descriptor.cpp - comparing a kernel's descriptor with its manifest -===//
//
// The descriptor is JSON with the manifest's keys except the names of the
// bundle's files ("library", "entry", "ptx", "cubin"), which can change
// without changing the kernel. Every other key of the manifest must be in
// the descriptor with an equal value, and the descriptor may have no key
// the manifest lacks; the first difference is reported by its dotted path
// ("shapes.q_heads", "kernels[0].launches[1].grid[2]").
//
//===----------------------------------------------------------------------===//

#include "Descriptor.h"
#include "Errors.h"
#include "Json.h"

#include <cstring>

using namespace skipattn::runtime;

/// The manifest keys that name files, which the descriptor leaves out.
static bool isFileKey(const std::string &key) {
  return key == "library" || key == "entry" || key == "ptx" || key == "cubin";
}

/// A value for a message, shortened: "kernels" can be kilobytes.
static std::string shortValue(const Json &value) {
  std::string text = formatValue(value);
  if (text.size() > 60)
    text = text.substr(0, 57) + "...";
  return text;
}

namespace {
/// The first place where two JSON values differ.
struct Difference {
  std::string path;
  const Json *inManifest = nullptr;
  const Json *inKernel = nullptr;
};
} // namespace

static bool findDifference(const Json &manifest, const Json &kernel,
                           const std::string &path, Difference &difference) {
  if (manifest.is_object() && kernel.is_object()) {
    for (auto it = manifest.begin(); it != manifest.end(); ++it) {
      if (path.empty() && isFileKey(it.key()))
        continue;
      std::string child = path.empty() ? it.key() : path + "." + it.key();
      auto other = kernel.find(it.key());
      if (other == kernel.end()) {
        difference = {child, &*it, nullptr};
        return true;
      }
      if (findDifference(*it, *other, child, difference))
        return true;
    }
    for (auto it = kernel.begin(); it != kernel.end(); ++it)
      if (!manifest.contains(it.key())) {
        difference = {path.empty() ? it.key() : path + "." + it.key(), nullptr,
                      &*it};
        return true;
      }
    return false;
  }
  if (manifest.is_array() && kernel.is_array() &&
      manifest.size() == kernel.size()) {
    for (size_t i = 0; i < manifest.size(); ++i)
      if (findDifference(manifest[i], kernel[i],
                         path + "[" + std::to_string(i) + "]", difference))
        return true;
    return false;
  }
  if (manifest == kernel)
    return false;
  difference = {path, &manifest, &kernel};
  return true;
}

skipattn_status skipattn::runtime::checkDescriptor(const Manifest &manifest,
                                                   std::string_view descriptor,
                                                   const std::string &source) {
  while (!descriptor.empty() && descriptor.back() == '\0')
    descriptor.remove_suffix(1);
  Json kernel;
  std::string error;
  if (!parseJson(descriptor, kernel, error))
    return fail(SKIPATTN_ERROR_BUNDLE, source + ": its " +
                                           std::string(descriptorSymbol) +
                                           " is not valid JSON: " + error);
  if (!kernel.is_object())
    return fail(SKIPATTN_ERROR_BUNDLE,
                source + ": its " + std::string(descriptorSymbol) +
                    " must be a JSON object, got " + describeKind(kernel));
  Difference d;
  if (!findDifference(manifest.document, kernel, "", d))
    return SKIPATTN_OK;
  std::string message = manifest.path + ": " + quote(d.path) + " ";
  if (!d.inKernel)
    message += "is " + shortValue(*d.inManifest) + ", but " + source +
               " was compiled without it";
  else if (!d.inManifest)
    message += "is missing, but " + source + " was compiled with " +
               shortValue(*d.inKernel);
  else
    message += "is " + shortValue(*d.inManifest) + ", but " + source +
               " was compiled with " + shortValue(*d.inKernel);
  return fail(SKIPATTN_ERROR_BUNDLE,
              message + " (the manifest does not describe this kernel)");
}

/// Reads an unsigned decimal at text[pos], advancing pos.
static bool readNumber(const std::string &text, size_t &pos, uint64_t limit,
                       uint64_t &value) {
  size_t start = pos;
  value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + static_cast<uint64_t>(text[pos] - '0');
    if (value > limit)
      return false;
    ++pos;
  }
  return pos > start;
}

static void skipSpace(const std::string &text, size_t &pos) {
  while (pos < text.size() && std::strchr(" \t\r\n", text[pos]) && text[pos])
    ++pos;
}

skipattn_status
skipattn::runtime::checkPtxDescriptor(const Manifest &manifest,
                                      const std::string &ptx,
                                      const std::string &ptxPath) {
  std::string source = "the PTX '" + ptxPath + "'";
  std::string declaration = std::string(descriptorSymbol) + "[";
  size_t pos = ptx.find(declaration);
  auto malformed = [&](const char *what) {
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": " + source + " has a malformed " +
                    descriptorSymbol + " (" + what + ")");
  };
  if (pos == std::string::npos)
    return fail(SKIPATTN_ERROR_BUNDLE,
                manifest.path + ": " + source + " has no " + descriptorSymbol +
                    " (it is not from skipattn-compile, or from one that "
                    "wrote bundle version 1)");
  pos += declaration.size();
  uint64_t size;
  if (!readNumber(ptx, pos, ptx.size(), size) || pos >= ptx.size() ||
      ptx[pos] != ']')
    return malformed("no size");
  ++pos;
  skipSpace(ptx, pos);
  if (pos >= ptx.size() || ptx[pos] != '=')
    return malformed("no initializer");
  ++pos;
  skipSpace(ptx, pos);
  if (pos >= ptx.size() || ptx[pos] != '{')
    return malformed("no initializer");
  ++pos;
  std::string text;
  text.reserve(size);
  while (true) {
    skipSpace(ptx, pos);
    uint64_t byte;
    if (!readNumber(ptx, pos, 255, byte))
      return malformed("a value that is not a byte");
    text.push_back(static_cast<char>(byte));
    skipSpace(ptx, pos);
    if (pos < ptx.size() && ptx[pos] == ',') {
      ++pos;
      continue;
    }
    if (pos < ptx.size() && ptx[pos] == '}')
      break;
    return malformed("an unterminated initializer");
  }
  // PTX zero-fills what an initializer leaves out, and LLVM's NVPTX printer
  // leaves out trailing zeros (the descriptor's NUL, at least).
  if (text.size() > size)
    return malformed("its initializer is longer than its size");
  return checkDescriptor(manifest, text, source);
}
