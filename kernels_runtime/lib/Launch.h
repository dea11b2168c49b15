//===- Launch.h - gpu bundles: launch expressions and plans -----*- C++ -*-===//
//
// A gpu manifest says how to launch its kernels for a call shape: a list of
// alternatives ("kernels"), each guarded by a "when" expression and made of
// launches whose grid, dynamic shared memory, workspace size and split count
// are small integer expressions over the call's extents. This header holds
// their parsed form and the planner that turns them into concrete launch
// geometry. None of it touches the driver, so plans can be computed (and
// tested) on a machine without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_RUNTIME_LAUNCH_H
#define SKIPATTN_RUNTIME_LAUNCH_H

#include "Json.h"

#include "skipattn/runtime.h"

#include <cstdint>
#include <string>
#include <vector>

namespace skipattn::runtime {

struct Manifest;

/// The names an expression may use: the call's extents, the device's
/// multiprocessor count and the alternative's split count.
enum class ExprName : uint8_t {
  Batch,
  QHeads,
  KvHeads,
  QLen,
  KvLen,
  HeadDim,
  ValueHeadDim,
  NumSms,
  NumSplits,
  /// The longest sequence's queries of a varlen call (q_len otherwise).
  MaxQLen
};
constexpr int numExprNames = 10;

/// An integer expression: a constant, a name, or [op, args...].
struct Expr {
  enum class Op : uint8_t {
    Constant,
    Name,
    Add,
    Mul,
    Min,
    Max,
    CeilDiv,
    Div,
    Le,
    Lt,
    Eq,
    And,
    Or
  };
  Op op = Op::Constant;
  int64_t constant = 0;
  ExprName name = ExprName::Batch;
  std::vector<Expr> args;
};

/// The values of the names for one call, indexed by ExprName.
struct ExprEnv {
  int64_t values[numExprNames] = {};
};

/// A kernel parameter, in the order cuLaunchKernel receives them.
enum class LaunchParam : uint8_t {
  Q,
  K,
  V,
  Out,
  Mask,
  /// The log-sum-exp output, f32 [B, Hq, Sq] (bundles with "lse").
  Lse,
  /// The carry of a ring (bundles with "init_max"): the initial running
  /// max and the final one, f32 [B, Hq, Sq] each.
  InitMax,
  Max,
  Stats,
  Workspace,
  /// The workspace too, for a kernel that needs its leading
  /// "workspace_zero_bytes" zeroed: a runtime that does not zero them does
  /// not know this name and refuses the bundle instead of running it.
  WorkspaceZeroed,
  Batch,
  QHeads,
  KvHeads,
  QLen,
  KvLen,
  NumSplits,
  Threshold,
  ScaleFactor,
  /// Paged bundles: the block table and lengths (device addresses) and the
  /// table's width (i32).
  BlockTable,
  SeqLens,
  MaxPages,
  /// Device addresses of a varlen call's cumulative lengths.
  CuSeqlensQ,
  CuSeqlensK,
  /// The call's mask extents (i32), for kernels that broadcast the mask.
  MaskBatch,
  MaskHeads,
  MaskQLen,
  MaskKvLen,
  /// Device addresses of the CUtensorMaps of q, k and v (sm_90a kernels).
  TensorMapQ,
  TensorMapK,
  TensorMapV
};

struct Launch {
  std::string function;
  /// Index of function in Manifest::functions.
  size_t functionIndex = 0;
  uint32_t block[3] = {1, 1, 1};
  Expr grid[3];
  Expr sharedBytes;
  std::vector<LaunchParam> params;
};

/// One entry of "kernels": launches run in order on one stream.
struct KernelVariant {
  std::string name;
  /// Constant 1 when the manifest has no "when".
  Expr when;
  std::vector<Launch> launches;
  Expr workspaceBytes;
  /// The leading bytes of the workspace to zero before the launches.
  Expr workspaceZeroBytes;
  Expr numSplits;
};

/// Parses manifest.json's "kernels" (value) into variants and collects the
/// distinct function names. manifest supplies the fields that decide which
/// parameters exist (mask, skip, stats). On failure returns false with a
/// message naming the key ("kernels[0].launches[1].grid[2]: ...").
bool parseKernels(const Json &value, const Manifest &manifest,
                  std::vector<KernelVariant> &kernels,
                  std::vector<std::string> &functions, std::string &error);

/// Evaluates expr in int64. On overflow or a division by a non-positive
/// number returns false with a reason.
bool evaluate(const Expr &expr, const ExprEnv &env, int64_t &result,
              std::string &error);

struct PlannedLaunch {
  const Launch *launch = nullptr;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t sharedBytes = 0;
};

/// What one call launches: the chosen alternative and its geometry.
struct LaunchPlan {
  size_t variant = 0;
  int64_t numSplits = 1;
  int64_t workspaceBytes = 0;
  int64_t workspaceZeroBytes = 0;
  std::vector<PlannedLaunch> launches;
};

/// Picks the first alternative whose "when" holds for shape (already
/// checked against the bundle) and evaluates its expressions. Fails with
/// SKIPATTN_ERROR_SHAPE when no alternative applies or a value is out of
/// range (a grid entry outside [1, 2^31-1], negative workspace, ...).
/// `maxQLen` is the value of max_q_len (0: the shape's q_len).
skipattn_status planLaunches(const Manifest &manifest,
                             const skipattn_shape &shape, int64_t numSms,
                             LaunchPlan &plan, int64_t maxQLen = 0);

/// The plan as one line of JSON, for skipattn_plan_device.
std::string planToJson(const Manifest &manifest, const LaunchPlan &plan,
                       int64_t numSms);

/// The manifest's spelling of a parameter ("q", "num_splits", ...).
const char *paramName(LaunchParam param);

} // namespace skipattn::runtime

#endif // SKIPATTN_RUNTIME_LAUNCH_H
