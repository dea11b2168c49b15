//===- Npy.h - reading and writing NumPy .npy files -------------*- C++ -*-===//
//
// skipattn-run exchanges tensors with Python as .npy files. This is the
// subset it needs: C-order little-endian float32, float16, bool and int32
// (block tables, lengths) arrays in, float32 out. Reading is strict and reports
// what is wrong with a file (bad magic, truncation, an unsupported dtype)
// instead of guessing.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_TOOLS_SKIPATTN_RUN_NPY_H
#define SKIPATTN_TOOLS_SKIPATTN_RUN_NPY_H

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace skipattn::npy {

enum class ElementType { Float32, Float16, Bool, Int32 };

struct Array {
  ElementType type = ElementType::Float32;
  std::vector<int64_t> shape;
  /// The raw little-endian elements, C order.
  std::vector<unsigned char> data;
};

/// The descr numpy writes for type: "<f4", "<f2", "|b1" or "<i4".
const char *descr(ElementType type);

/// "float32", "float16", "bool" or "int32".
const char *typeName(ElementType type);

/// Reads a .npy file (format 1.0, 2.0 or 3.0) of one of the supported
/// element types. On failure returns false and sets error to a message that
/// starts with the path.
bool readNpy(const std::string &path, Array &array, std::string &error);

/// The same from an open stream (it must support fseek); path names it in
/// messages.
bool readNpy(std::FILE *stream, const std::string &path, Array &array,
             std::string &error);

/// Writes a float32 array as format 1.0 with the header numpy itself would
/// write (padded so that the data starts at a multiple of 64 bytes).
bool writeNpyFloat32(const std::string &path, const std::vector<int64_t> &shape,
                     const float *data, std::string &error);

} // namespace skipattn::npy

#endif // SKIPATTN_TOOLS_SKIPATTN_RUN_NPY_H
