//===- Launch.cpp - gpu bundles: launch expressions and plans ---*- C++ -*-===//
//
// Reads a gpu manifest's "kernels" and turns it into launches for a call.
// The expressions are deliberately tiny (integers, the call's extents,
// + * min max ceil_div div, comparisons, and/or): enough for a compiler to
// state grids such as [ceil_div(q_len, 64), q_heads, batch] or a split-KV count
// from the SM count, and nothing a manifest could loop or recurse with.
// Every name and operator is checked when the bundle loads, so a typo is a
// load error that names the key rather than a wrong launch later; values
// are computed in int64 with overflow checks and range-checked before they
// reach the driver's 32-bit fields.
//
//===----------------------------------------------------------------------===//

#include "Launch.h"
#include "Errors.h"
#include "Json.h"
#include "Manifest.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <limits>

using namespace skipattn::runtime;

namespace {
struct NameSpelling {
  const char *spelling;
  ExprName name;
};

/// Indexed by ExprName.
constexpr NameSpelling exprNames[numExprNames] = {
    {"batch", ExprName::Batch},
    {"q_heads", ExprName::QHeads},
    {"kv_heads", ExprName::KvHeads},
    {"q_len", ExprName::QLen},
    {"kv_len", ExprName::KvLen},
    {"head_dim", ExprName::HeadDim},
    {"value_head_dim", ExprName::ValueHeadDim},
    {"num_sms", ExprName::NumSms},
    {"num_splits", ExprName::NumSplits},
    {"max_q_len", ExprName::MaxQLen}};

struct OpSpelling {
  const char *spelling;
  Expr::Op op;
  /// Exactly two arguments, else two or more.
  bool binary;
};

constexpr OpSpelling exprOps[] = {{"add", Expr::Op::Add, false},
                                  {"mul", Expr::Op::Mul, false},
                                  {"min", Expr::Op::Min, false},
                                  {"max", Expr::Op::Max, false},
                                  {"ceil_div", Expr::Op::CeilDiv, true},
                                  {"div", Expr::Op::Div, true},
                                  {"le", Expr::Op::Le, true},
                                  {"lt", Expr::Op::Lt, true},
                                  {"eq", Expr::Op::Eq, true},
                                  {"and", Expr::Op::And, false},
                                  {"or", Expr::Op::Or, false}};

struct ParamSpelling {
  const char *spelling;
  LaunchParam param;
};

constexpr ParamSpelling launchParams[] = {
    {"q", LaunchParam::Q},
    {"k", LaunchParam::K},
    {"v", LaunchParam::V},
    {"out", LaunchParam::Out},
    {"mask", LaunchParam::Mask},
    {"lse", LaunchParam::Lse},
    {"init_max", LaunchParam::InitMax},
    {"max", LaunchParam::Max},
    {"stats", LaunchParam::Stats},
    {"workspace", LaunchParam::Workspace},
    {"workspace_zeroed", LaunchParam::WorkspaceZeroed},
    {"batch", LaunchParam::Batch},
    {"q_heads", LaunchParam::QHeads},
    {"kv_heads", LaunchParam::KvHeads},
    {"q_len", LaunchParam::QLen},
    {"kv_len", LaunchParam::KvLen},
    {"num_splits", LaunchParam::NumSplits},
    {"threshold", LaunchParam::Threshold},
    {"scale_factor", LaunchParam::ScaleFactor},
    {"block_table", LaunchParam::BlockTable},
    {"seq_lens", LaunchParam::SeqLens},
    {"max_pages", LaunchParam::MaxPages},
    {"cu_seqlens_q", LaunchParam::CuSeqlensQ},
    {"cu_seqlens_k", LaunchParam::CuSeqlensK},
    {"mask_batch", LaunchParam::MaskBatch},
    {"mask_heads", LaunchParam::MaskHeads},
    {"mask_q_len", LaunchParam::MaskQLen},
    {"mask_kv_len", LaunchParam::MaskKvLen},
    {"tmap_q", LaunchParam::TensorMapQ},
    {"tmap_k", LaunchParam::TensorMapK},
    {"tmap_v", LaunchParam::TensorMapV}};
} // namespace

const char *skipattn::runtime::paramName(LaunchParam param) {
  for (const ParamSpelling &entry : launchParams)
    if (entry.param == param)
      return entry.spelling;
  return "?";
}

static std::string indexed(const std::string &path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

/// '"a", "b" or "c"', for messages that list the accepted spellings.
template <typename Range> static std::string listSpellings(const Range &range) {
  std::string result;
  size_t count = std::size(range), i = 0;
  for (const auto &entry : range) {
    if (i)
      result += i + 1 == count ? " or " : ", ";
    result += quote(entry.spelling);
    ++i;
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

namespace {
/// Reads "kernels"; the first error is kept in `error` and every method
/// returns false from then on, so parsing reads as a chain of checks.
/// Messages name the key by its path, quoted as Manifest.cpp quotes keys:
/// '"kernels[0].launches[1].grid[2]": unknown name "seq_len" (...)'.
class KernelParser {
public:
  KernelParser(const Manifest &manifest, std::vector<std::string> &functions,
               std::string &error)
      : manifest(manifest), functions(functions), error(error) {}

  /// Records '"path" what', or '"path": what' when what starts with ':'.
  bool fail(const std::string &path, const std::string &what) {
    error = quote(path) + (what.front() == ':' ? "" : " ") + what;
    return false;
  }

  bool expectKind(const Json &value, Json::value_t kind,
                  const std::string &path) {
    if (value.type() == kind)
      return true;
    return fail(path, std::string("must be ") + describeKind(Json(kind)) +
                          ", got " + describeKind(value));
  }

  bool parseExpr(const Json &value, const std::string &path,
                 bool allowNumSplits, Expr &out) {
    if (value.is_number()) {
      if (!asInt64(value, out.constant))
        return fail(path, "must be an integer, got " + formatValue(value));
      out.op = Expr::Op::Constant;
      return true;
    }
    if (value.is_string()) {
      const std::string &text = value.get_ref<const std::string &>();
      for (const NameSpelling &entry : exprNames) {
        if (text != entry.spelling)
          continue;
        // The split count is evaluated before everything else in its
        // alternative, so it cannot depend on itself.
        if (entry.name == ExprName::NumSplits && !allowNumSplits)
          return fail(path, "cannot use \"num_splits\": the split count is "
                            "evaluated before everything else");
        out.op = Expr::Op::Name;
        out.name = entry.name;
        return true;
      }
      return fail(path, ": unknown name " + quote(text) + " (expected " +
                            listSpellings(exprNames) + ")");
    }
    if (value.is_array())
      return parseOp(value, path, allowNumSplits, out);
    return fail(path, std::string("must be an integer, a name or an array "
                                  "[op, args...], got ") +
                          describeKind(value));
  }

  bool parseKernels(const Json &value, std::vector<KernelVariant> &kernels) {
    if (!expectKind(value, Json::value_t::array, "kernels"))
      return false;
    if (value.empty())
      return fail("kernels", "must list at least one kernel");
    kernels.resize(value.size());
    for (size_t i = 0; i < value.size(); ++i)
      if (!parseVariant(value[i], indexed("kernels", i), kernels[i]))
        return false;
    return true;
  }

private:
  const Manifest &manifest;
  std::vector<std::string> &functions;
  std::string &error;

  bool parseOp(const Json &value, const std::string &path,
               bool allowNumSplits, Expr &out) {
    if (value.empty())
      return fail(path, "is an empty array; an expression array is [op, "
                        "args...]");
    const Json &head = value[0];
    if (!head.is_string())
      return fail(indexed(path, 0), std::string("must be an operator name, "
                                              "got ") +
                                      describeKind(head));
    const std::string &name = head.get_ref<const std::string &>();
    const OpSpelling *op = nullptr;
    for (const OpSpelling &entry : exprOps)
      if (name == entry.spelling)
        op = &entry;
    if (!op)
      return fail(indexed(path, 0), ": unknown operator " + quote(name) +
                                      " (expected " + listSpellings(exprOps) +
                                      ")");
    size_t count = value.size() - 1;
    if (op->binary ? count != 2 : count < 2)
      return fail(path, ": " + quote(name) + " takes " +
                            (op->binary ? "2" : "at least 2") +
                            " arguments, got " + std::to_string(count));
    out.op = op->op;
    out.args.resize(count);
    for (size_t i = 0; i < count; ++i)
      if (!parseExpr(value[i + 1], indexed(path, i + 1), allowNumSplits,
                     out.args[i]))
        return false;
    return true;
  }

  /// An optional expression key; `fallback` when absent.
  bool parseOptionalExpr(const Json &object, const char *key,
                         const std::string &path, bool allowNumSplits,
                         int64_t fallback, Expr &out) {
    const Json *value = findMember(object, key);
    if (!value) {
      out = Expr();
      out.constant = fallback;
      return true;
    }
    return parseExpr(*value, path + "." + key, allowNumSplits, out);
  }

  const Json *require(const Json &object, const char *key,
                      const std::string &path) {
    const Json *value = findMember(object, key);
    if (!value)
      error = "missing key " + quote(path + "." + key);
    return value;
  }

  bool parseVariant(const Json &value, const std::string &path,
                    KernelVariant &variant) {
    if (!expectKind(value, Json::value_t::object, path))
      return false;
    variant.name = path;
    if (const Json *name = findMember(value, "name")) {
      if (!expectKind(*name, Json::value_t::string, path + ".name"))
        return false;
      variant.name = name->get<std::string>();
    }
    if (!parseOptionalExpr(value, "num_splits", path,
                           /*allowNumSplits=*/false, 1, variant.numSplits) ||
        !parseOptionalExpr(value, "when", path, true, 1, variant.when) ||
        !parseOptionalExpr(value, "workspace_bytes", path, true, 0,
                           variant.workspaceBytes) ||
        !parseOptionalExpr(value, "workspace_zero_bytes", path, true, 0,
                           variant.workspaceZeroBytes))
      return false;

    const Json *launches = require(value, "launches", path);
    if (!launches ||
        !expectKind(*launches, Json::value_t::array, path + ".launches"))
      return false;
    if (launches->empty())
      return fail(path + ".launches", "must list at least one launch");
    variant.launches.resize(launches->size());
    for (size_t i = 0; i < launches->size(); ++i)
      if (!parseLaunch((*launches)[i], indexed(path + ".launches", i),
                       variant.launches[i]))
        return false;
    return true;
  }

  bool parseLaunch(const Json &value, const std::string &path,
                   Launch &launch) {
    if (!expectKind(value, Json::value_t::object, path))
      return false;

    const Json *function = require(value, "function", path);
    if (!function ||
        !expectKind(*function, Json::value_t::string, path + ".function"))
      return false;
    const std::string &name = function->get_ref<const std::string &>();
    if (name.empty() || name.find('\0') != std::string::npos)
      return fail(path + ".function", "must be a non-empty symbol name");
    launch.function = name;
    launch.functionIndex = functions.size();
    for (size_t i = 0; i < functions.size(); ++i)
      if (functions[i] == launch.function)
        launch.functionIndex = i;
    if (launch.functionIndex == functions.size())
      functions.push_back(launch.function);

    if (!parseBlock(value, path, launch))
      return false;

    const Json *grid = require(value, "grid", path);
    if (!grid || !expectKind(*grid, Json::value_t::array, path + ".grid"))
      return false;
    if (grid->size() != 3)
      return fail(path + ".grid", "must have 3 entries (x, y, z), got " +
                                      std::to_string(grid->size()));
    for (size_t i = 0; i < 3; ++i)
      if (!parseExpr((*grid)[i], indexed(path + ".grid", i), true,
                     launch.grid[i]))
        return false;
    if (!parseOptionalExpr(value, "shared_bytes", path, true, 0,
                           launch.sharedBytes))
      return false;
    return parseParams(value, path, launch);
  }

  bool parseBlock(const Json &value, const std::string &path,
                  Launch &launch) {
    const Json *block = require(value, "block", path);
    if (!block || !expectKind(*block, Json::value_t::array, path + ".block"))
      return false;
    if (block->size() != 3)
      return fail(path + ".block", "must have 3 entries (x, y, z), got " +
                                       std::to_string(block->size()));
    int64_t threads = 1;
    for (size_t i = 0; i < 3; ++i) {
      int64_t extent;
      std::string where = indexed(path + ".block", i);
      if (!asInt64((*block)[i], extent))
        return fail(where, "must be an integer");
      // Every CUDA device since compute capability 2.0 caps a block at
      // 1024 threads; a larger one can never launch.
      if (extent < 1 || extent > 1024)
        return fail(where, "must be between 1 and 1024, got " +
                               std::to_string(extent));
      launch.block[i] = static_cast<uint32_t>(extent);
      threads *= extent;
    }
    if (threads > 1024)
      return fail(path + ".block", "has " + std::to_string(threads) +
                                       " threads; a block holds at most 1024");
    return true;
  }

  bool parseParams(const Json &value, const std::string &path,
                   Launch &launch) {
    const Json *params = require(value, "params", path);
    if (!params || !expectKind(*params, Json::value_t::array, path + ".params"))
      return false;
    for (size_t i = 0; i < params->size(); ++i) {
      std::string where = indexed(path + ".params", i);
      if (!expectKind((*params)[i], Json::value_t::string, where))
        return false;
      const std::string &name = (*params)[i].get_ref<const std::string &>();
      const ParamSpelling *found = nullptr;
      for (const ParamSpelling &entry : launchParams)
        if (name == entry.spelling)
          found = &entry;
      if (!found)
        return fail(where, ": unknown parameter " + quote(name) +
                               " (expected " + listSpellings(launchParams) +
                               ")");
      // A parameter the bundle has no value for would reach the kernel as
      // garbage; the manifest contradicts itself.
      bool dense = manifest.skipKind == SKIPATTN_SKIP_NONE;
      bool maskParam = found->param == LaunchParam::Mask ||
                       found->param == LaunchParam::MaskBatch ||
                       found->param == LaunchParam::MaskHeads ||
                       found->param == LaunchParam::MaskQLen ||
                       found->param == LaunchParam::MaskKvLen;
      if (maskParam && !manifest.hasMask)
        return fail(where, ": " + quote(name) +
                               " needs a bundle that takes a mask (\"mask\" "
                               "is null)");
      if ((found->param == LaunchParam::Threshold ||
           found->param == LaunchParam::ScaleFactor) &&
          dense)
        return fail(where, ": " + quote(name) +
                               " needs a skip criterion (\"skip\" is null)");
      bool pagedParam = found->param == LaunchParam::BlockTable ||
                        found->param == LaunchParam::SeqLens ||
                        found->param == LaunchParam::MaxPages;
      if (pagedParam && !manifest.pageSize)
        return fail(where, ": " + quote(name) +
                               " needs a paged bundle (\"paged\" is null)");
      if ((found->param == LaunchParam::CuSeqlensQ ||
           found->param == LaunchParam::CuSeqlensK) &&
          !manifest.varlen)
        return fail(where, ": " + quote(name) +
                               " needs a varlen bundle (\"varlen\" is false)");
      if (found->param == LaunchParam::Lse && !manifest.lse)
        return fail(where, ": \"lse\" needs \"lse\": true");
      if ((found->param == LaunchParam::InitMax ||
           found->param == LaunchParam::Max) &&
          !manifest.initMax)
        return fail(where, ": " + quote(name) + " needs \"init_max\": true");
      if (found->param == LaunchParam::Stats && !manifest.stats)
        return fail(where, ": \"stats\" needs \"stats\": true");
      launch.params.push_back(found->param);
    }
    return true;
  }
};
} // namespace

bool skipattn::runtime::parseKernels(const Json &value,
                                     const Manifest &manifest,
                                     std::vector<KernelVariant> &kernels,
                                     std::vector<std::string> &functions,
                                     std::string &error) {
  kernels.clear();
  functions.clear();
  return KernelParser(manifest, functions, error).parseKernels(value, kernels);
}

//===----------------------------------------------------------------------===//
// Evaluation
//===----------------------------------------------------------------------===//

bool skipattn::runtime::evaluate(const Expr &expr, const ExprEnv &env,
                                 int64_t &result, std::string &error) {
  switch (expr.op) {
  case Expr::Op::Constant:
    result = expr.constant;
    return true;
  case Expr::Op::Name:
    result = env.values[static_cast<int>(expr.name)];
    return true;
  default:
    break;
  }

  std::vector<int64_t> args(expr.args.size());
  for (size_t i = 0; i < args.size(); ++i)
    if (!evaluate(expr.args[i], env, args[i], error))
      return false;
  const char *overflow = "overflows 64-bit integers";
  switch (expr.op) {
  case Expr::Op::Add:
  case Expr::Op::Mul:
    result = expr.op == Expr::Op::Add ? 0 : 1;
    for (int64_t arg : args) {
      bool wrapped = expr.op == Expr::Op::Add
                         ? __builtin_add_overflow(result, arg, &result)
                         : __builtin_mul_overflow(result, arg, &result);
      if (wrapped) {
        error =
            std::string(expr.op == Expr::Op::Add ? "\"add\" " : "\"mul\" ") +
            overflow;
        return false;
      }
    }
    return true;
  case Expr::Op::Min:
  case Expr::Op::Max:
    result = args[0];
    for (int64_t arg : args)
      result = expr.op == Expr::Op::Min ? std::min(result, arg)
                                        : std::max(result, arg);
    return true;
  case Expr::Op::CeilDiv:
  case Expr::Op::Div: {
    bool ceil = expr.op == Expr::Op::CeilDiv;
    int64_t a = args[0], b = args[1];
    if (b <= 0) {
      error = std::string(ceil ? "\"ceil_div\"" : "\"div\"") + " by " +
              std::to_string(b) + " (the divisor must be positive)";
      return false;
    }
    // Rounded up, or down (floor, also for a negative dividend).
    result = a / b;
    if (ceil && a % b > 0)
      ++result;
    if (!ceil && a % b < 0)
      --result;
    return true;
  }
  case Expr::Op::Le:
    result = args[0] <= args[1];
    return true;
  case Expr::Op::Lt:
    result = args[0] < args[1];
    return true;
  case Expr::Op::Eq:
    result = args[0] == args[1];
    return true;
  case Expr::Op::And:
  case Expr::Op::Or: {
    bool isAnd = expr.op == Expr::Op::And, value = isAnd;
    for (int64_t arg : args)
      value = isAnd ? value && arg != 0 : value || arg != 0;
    result = value;
    return true;
  }
  case Expr::Op::Constant:
  case Expr::Op::Name:
    break;
  }
  error = "unknown operator";
  return false;
}

//===----------------------------------------------------------------------===//
// Planning
//===----------------------------------------------------------------------===//

static std::string describeShape(const skipattn_shape &s, int64_t numSms) {
  return "batch " + std::to_string(s.batch) + ", q_heads " +
         std::to_string(s.q_heads) + ", kv_heads " +
         std::to_string(s.kv_heads) + ", q_len " + std::to_string(s.q_len) +
         ", kv_len " + std::to_string(s.kv_len) + ", head_dim " +
         std::to_string(s.head_dim) + ", value_head_dim " +
         std::to_string(s.value_head_dim) + ", num_sms " +
         std::to_string(numSms);
}

namespace {
/// Evaluates one key of an alternative and checks its range, failing with a
/// message that names the key and the shape.
struct Evaluator {
  const Manifest &manifest;
  const skipattn_shape &shape;
  const ExprEnv &env;
  int64_t numSms;

  skipattn_status get(const Expr &expr, const std::string &key, int64_t low,
                      int64_t high, int64_t &out) const {
    std::string why;
    if (!evaluate(expr, env, out, why))
      return fail(SKIPATTN_ERROR_SHAPE, manifest.path + ": " + quote(key) +
                                            ": " + why + " for this shape (" +
                                            describeShape(shape, numSms) + ")");
    if (out >= low && out <= high)
      return SKIPATTN_OK;
    return fail(SKIPATTN_ERROR_SHAPE,
                manifest.path + ": " + quote(key) + " is " +
                    std::to_string(out) + " for this shape (" +
                    describeShape(shape, numSms) + "); it must be between " +
                    std::to_string(low) + " and " + std::to_string(high));
  }
};
} // namespace

skipattn_status skipattn::runtime::planLaunches(const Manifest &manifest,
                                                const skipattn_shape &shape,
                                                int64_t numSms,
                                                LaunchPlan &plan,
                                                int64_t maxQLen) {
  ExprEnv env;
  int64_t *values = env.values;
  values[static_cast<int>(ExprName::Batch)] = shape.batch;
  values[static_cast<int>(ExprName::QHeads)] = shape.q_heads;
  values[static_cast<int>(ExprName::KvHeads)] = shape.kv_heads;
  values[static_cast<int>(ExprName::QLen)] = shape.q_len;
  values[static_cast<int>(ExprName::KvLen)] = shape.kv_len;
  values[static_cast<int>(ExprName::HeadDim)] = shape.head_dim;
  values[static_cast<int>(ExprName::ValueHeadDim)] = shape.value_head_dim;
  values[static_cast<int>(ExprName::NumSms)] = numSms;
  values[static_cast<int>(ExprName::MaxQLen)] = maxQLen ? maxQLen : shape.q_len;
  Evaluator eval{manifest, shape, env, numSms};
  constexpr int64_t int32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t int64Max = std::numeric_limits<int64_t>::max();

  for (size_t i = 0; i < manifest.kernels.size(); ++i) {
    const KernelVariant &variant = manifest.kernels[i];
    std::string key = indexed("kernels", i);
    // num_splits reaches kernels as an int32 parameter.
    int64_t numSplits, when;
    if (skipattn_status status = eval.get(
            variant.numSplits, key + ".num_splits", 1, int32Max, numSplits))
      return status;
    values[static_cast<int>(ExprName::NumSplits)] = numSplits;
    if (skipattn_status status =
            eval.get(variant.when, key + ".when",
                     std::numeric_limits<int64_t>::min(), int64Max, when))
      return status;
    if (!when)
      continue;

    plan = LaunchPlan();
    plan.variant = i;
    plan.numSplits = numSplits;
    if (skipattn_status status =
            eval.get(variant.workspaceBytes, key + ".workspace_bytes", 0,
                     int64Max, plan.workspaceBytes))
      return status;
    // The leading bytes of the workspace that the kernels expect zeroed
    // (the decode kernels' arrival counters).
    if (skipattn_status status =
            eval.get(variant.workspaceZeroBytes,
                     key + ".workspace_zero_bytes", 0, plan.workspaceBytes,
                     plan.workspaceZeroBytes))
      return status;
    for (size_t j = 0; j < variant.launches.size(); ++j) {
      const Launch &launch = variant.launches[j];
      std::string launchKey = indexed(key + ".launches", j);
      PlannedLaunch planned;
      planned.launch = &launch;
      for (int d = 0; d < 3; ++d) {
        int64_t extent;
        if (skipattn_status status =
                eval.get(launch.grid[d], indexed(launchKey + ".grid", d), 1,
                         int32Max, extent))
          return status;
        planned.grid[d] = static_cast<uint32_t>(extent);
      }
      int64_t shared;
      if (skipattn_status status =
              eval.get(launch.sharedBytes, launchKey + ".shared_bytes", 0,
                       int32Max, shared))
        return status;
      planned.sharedBytes = static_cast<uint32_t>(shared);
      plan.launches.push_back(planned);
    }
    return SKIPATTN_OK;
  }
  return fail(SKIPATTN_ERROR_SHAPE,
              manifest.path +
                  ": no entry of \"kernels\" applies to this "
                  "shape (" +
                  describeShape(shape, numSms) + "): every \"when\" is false");
}

std::string skipattn::runtime::planToJson(const Manifest &manifest,
                                          const LaunchPlan &plan,
                                          int64_t numSms) {
  auto triple = [](const uint32_t *v) {
    return "[" + std::to_string(v[0]) + "," + std::to_string(v[1]) + "," +
           std::to_string(v[2]) + "]";
  };
  const KernelVariant &variant = manifest.kernels[plan.variant];
  std::string json =
      "{\"kernel\":" + quote(variant.name) +
      ",\"index\":" + std::to_string(plan.variant) +
      ",\"num_sms\":" + std::to_string(numSms) +
      ",\"num_splits\":" + std::to_string(plan.numSplits) +
      ",\"workspace_bytes\":" + std::to_string(plan.workspaceBytes) +
      ",\"launches\":[";
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const PlannedLaunch &planned = plan.launches[i];
    const Launch &launch = *planned.launch;
    json += std::string(i ? "," : "") +
            "{\"function\":" + quote(launch.function) +
            ",\"grid\":" + triple(planned.grid) +
            ",\"block\":" + triple(launch.block) +
            ",\"shared_bytes\":" + std::to_string(planned.sharedBytes) +
            ",\"params\":[";
    for (size_t p = 0; p < launch.params.size(); ++p)
      json += std::string(p ? "," : "") + quote(paramName(launch.params[p]));
    json += "]}";
  }
  return json + "]}";
}
