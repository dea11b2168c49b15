//===- NpyFuzzer.cpp - libFuzzer target: the .npy reader ------------------===//
//
// skipattn-run reads q, k, v and masks from .npy files that anyone can
// hand it. This reads arbitrary bytes as one (through fmemopen, so that
// the reader's own file handling runs) and, when they parse, checks that
// the data length agrees with the header, as the reader promises.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0; // fmemopen refuses an empty buffer
  std::FILE *stream =
      fmemopen(const_cast<uint8_t *>(data), size, "rb");
  if (!stream)
    return 0;
  skipattn::npy::Array array;
  std::string error;
  bool ok = skipattn::npy::readNpy(stream, "fuzz.npy", array, error);
  std::fclose(stream);
  if (!ok)
    return 0;
  size_t elements = 1;
  for (int64_t dim : array.shape)
    elements *= static_cast<size_t>(dim);
  size_t width = 0;
  switch (array.type) {
  case skipattn::npy::ElementType::Float32:
  case skipattn::npy::ElementType::Int32:
    width = 4;
    break;
  case skipattn::npy::ElementType::Float16:
    width = 2;
    break;
  case skipattn::npy::ElementType::Bool:
    width = 1;
    break;
  }
  if (array.data.size() != elements * width)
    std::abort(); // the reader accepted data of the wrong length
  return 0;
}
