//===- Shape.cpp - checking call shapes against a bundle --------*- C++ -*-===//
//
// A kernel compiled for fixed extents reads out of bounds if it is called
// with others, so every run checks the shape first, and the checks are
// public so that hosts can validate before allocating. Messages name the
// tensor and dimension in the user's terms ("k head dim (32) does not match
// the bundle (64)") rather than the manifest's keys. Element counts are
// checked for int64 overflow, since absurd extents must be an error, not a
// wrapped size.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"
#include "Errors.h"

#include <limits>
#include <string>

using namespace skipattn::runtime;

static std::string str(int64_t value) { return std::to_string(value); }

static std::string formatMaskShape(const Manifest &manifest) {
  std::string result = "[";
  for (int i = 0; i < 4; ++i)
    result += (i ? ", " : "") + str(manifest.maskShape[i]);
  return result + "]";
}

static skipattn_status shapeError(const std::string &message) {
  return fail(SKIPATTN_ERROR_SHAPE, message);
}

/// Checks one extent: at least 1 and equal to the bundle's unless dynamic.
static skipattn_status checkExtent(const std::string &name, int64_t value,
                                   int64_t compiled) {
  if (value < 1)
    return shapeError(name + " must be at least 1, got " + str(value));
  if (compiled != -1 && value != compiled)
    return shapeError(name + " (" + str(value) +
                      ") does not match the bundle (" + str(compiled) + ")");
  return SKIPATTN_OK;
}

/// Fails unless the product of dims times elementSize fits in int64_t.
static skipattn_status checkSize(const std::string &name,
                                 std::initializer_list<int64_t> dims,
                                 int64_t elementSize) {
  int64_t total = elementSize;
  for (int64_t dim : dims)
    if (__builtin_mul_overflow(total, dim, &total))
      return shapeError(name + " is too large (its size in bytes overflows "
                               "64 bits)");
  return SKIPATTN_OK;
}

skipattn_status skipattn::runtime::checkDims(const Manifest &manifest,
                                             const skipattn_shape &shape) {
  const skipattn_shape &c = manifest.shape;
  struct Dim {
    const char *name;
    int64_t value, compiled;
  } dims[] = {{"batch", shape.batch, c.batch},
              {"query heads", shape.q_heads, c.q_heads},
              {"kv heads", shape.kv_heads, c.kv_heads},
              {"query length", shape.q_len, c.q_len},
              {"kv length", shape.kv_len, c.kv_len},
              {"head dim", shape.head_dim, c.head_dim},
              {"value head dim", shape.value_head_dim, c.value_head_dim}};
  for (const Dim &dim : dims)
    if (skipattn_status status = checkExtent(dim.name, dim.value, dim.compiled))
      return status;
  if (shape.q_heads % shape.kv_heads != 0)
    return shapeError("query heads (" + str(shape.q_heads) +
                      ") must be a multiple of kv heads (" +
                      str(shape.kv_heads) + ")");
  int64_t size = 4; // the widest element type
  const skipattn_shape &s = shape;
  if (skipattn_status status =
          checkSize("q", {s.batch, s.q_heads, s.q_len, s.head_dim}, size))
    return status;
  if (skipattn_status status =
          checkSize("k", {s.batch, s.kv_heads, s.kv_len, s.head_dim}, size))
    return status;
  if (skipattn_status status = checkSize(
          "v", {s.batch, s.kv_heads, s.kv_len, s.value_head_dim}, size))
    return status;
  return checkSize("out", {s.batch, s.q_heads, s.q_len, s.value_head_dim},
                   size);
}

skipattn_status skipattn::runtime::checkMask(const Manifest &manifest,
                                             const skipattn_shape &shape,
                                             const int64_t *maskShape) {
  if (!manifest.hasMask) {
    if (maskShape)
      return shapeError("this bundle takes no mask, but one was given");
    return SKIPATTN_OK;
  }
  if (!maskShape)
    return shapeError(std::string("this bundle takes a mask (") +
                      dtypeName(manifest.maskDtype) + ", shape " +
                      formatMaskShape(manifest) + ") but none was given");
  const char *names[4] = {"mask batch", "mask heads", "mask q length",
                          "mask kv length"};
  const char *fullNames[4] = {"batch", "query heads", "query length",
                              "kv length"};
  int64_t full[4] = {shape.batch, shape.q_heads, shape.q_len, shape.kv_len};
  for (int i = 0; i < 4; ++i) {
    std::string name = names[i];
    int64_t value = maskShape[i], compiled = manifest.maskShape[i];
    if (value < 1)
      return shapeError(name + " must be at least 1, got " + str(value));
    if (compiled == 1) {
      if (value != 1)
        return shapeError(name + " (" + str(value) +
                          ") does not match the bundle (1, broadcast)");
      continue;
    }
    if (compiled != -1 && value != compiled)
      return shapeError(name + " (" + str(value) +
                        ") does not match the bundle (" + str(compiled) + ")");
    // Only a compiled 1 broadcasts; a dynamic or fixed mask extent is
    // indexed like the dimension it stands for.
    if (value != full[i])
      return shapeError(name + " (" + str(value) + ") must equal the " +
                        fullNames[i] + " (" + str(full[i]) +
                        "); only a dimension the bundle compiled as 1 "
                        "broadcasts");
  }
  return checkSize("mask",
                   {maskShape[0], maskShape[1], maskShape[2], maskShape[3]}, 4);
}

//===----------------------------------------------------------------------===//
// C API
//===----------------------------------------------------------------------===//

extern "C" skipattn_status skipattn_check_shape(const skipattn_bundle *bundle,
                                                const skipattn_shape *shape,
                                                const int64_t maskShape[4]) {
  return guard([&] {
    if (skipattn_status status = checkBundle(bundle, "skipattn_check_shape"))
      return status;
    if (!bundle || !shape)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_check_shape: bundle and shape must not be NULL");
    if (skipattn_status status = checkDims(bundle->manifest, *shape))
      return status;
    if (skipattn_status status = checkMask(bundle->manifest, *shape, maskShape))
      return status;
    clearError();
    return SKIPATTN_OK;
  });
}

extern "C" skipattn_status
skipattn_shape_from_tensors(const skipattn_bundle *bundle, const int64_t q[4],
                            const int64_t k[4], const int64_t v[4],
                            skipattn_shape *out) {
  return guard([&] {
    if (skipattn_status status = checkBundle(bundle, "skipattn_shape_from_tensors"))
      return status;
    if (!bundle || !q || !k || !v || !out)
      return fail(SKIPATTN_ERROR_INVALID_ARGUMENT,
                  "skipattn_shape_from_tensors: no argument may be NULL");
    const skipattn_shape &c = bundle->manifest.shape;
    struct Tensor {
      const char *name;
      const int64_t *dims;
      int64_t compiled[4];
    } tensors[] = {{"q", q, {c.batch, c.q_heads, c.q_len, c.head_dim}},
                   {"k", k, {c.batch, c.kv_heads, c.kv_len, c.head_dim}},
                   {"v", v, {c.batch, c.kv_heads, c.kv_len, c.value_head_dim}}};
    const char *dimNames[4] = {"batch", "heads", "length", "head dim"};
    for (const Tensor &t : tensors)
      for (int i = 0; i < 4; ++i)
        if (skipattn_status status =
                checkExtent(std::string(t.name) + " " + dimNames[i], t.dims[i],
                            t.compiled[i]))
          return status;

    // Dimensions that two tensors share, in the order a reader would check
    // them: q against k, then k against v.
    struct Pair {
      const char *first;
      int64_t a;
      const char *second;
      int64_t b;
    } pairs[] = {{"q batch", q[0], "k batch", k[0]},
                 {"q head dim", q[3], "k head dim", k[3]},
                 {"k batch", k[0], "v batch", v[0]},
                 {"k heads", k[1], "v heads", v[1]},
                 {"k length", k[2], "v length", v[2]}};
    for (const Pair &p : pairs)
      if (p.a != p.b)
        return shapeError(std::string(p.first) + " (" + str(p.a) +
                          ") does not match " + p.second + " (" + str(p.b) +
                          ")");
    if (q[1] % k[1] != 0)
      return shapeError("q heads (" + str(q[1]) +
                        ") must be a multiple of k heads (" + str(k[1]) + ")");

    skipattn_shape shape = {q[0], q[1], k[1], q[2], k[2], q[3], v[3]};
    if (skipattn_status status = checkDims(bundle->manifest, shape))
      return status;
    *out = shape;
    clearError();
    return SKIPATTN_OK;
  });
}
