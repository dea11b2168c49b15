//===- WarpTile.h - one warp's share of the attention tile math -*- C++ -*-===//
//
// The pieces every attention kernel here is made of, for one warp owning 16
// query rows: swizzled shared-memory tiles and their cp.async loads, the
// ldmatrix addressing, S = Q K^T on mma.sync, the row max over the quad,
// and the online-softmax update with O += P V. The prefill and decode
// kernels differ in how CTAs map to work, not in this arithmetic.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_CONVERSION_ATTNTOGPU_WARPTILE_H
#define SKIPATTN_LIB_CONVERSION_ATTNTOGPU_WARPTILE_H

#include "KernelConfig.h"

namespace skipattn::kernels {

/// mma.sync fragments: per n8 tile, the four f32 values of a C fragment
/// (rows g and g + 8, columns 2t and 2t + 1), or the four 32-bit registers
/// of an A fragment.
using Fragments = llvm::SmallVector<llvm::SmallVector<mlir::Value, 4>>;

/// The online-softmax state of one warp's 16 rows: m and l of this thread's
/// two rows, and the O fragments.
struct SoftmaxState {
  mlir::Value m[2], l[2];
  Fragments o;

  llvm::SmallVector<mlir::Value> flatten() const;
  static SoftmaxState unflatten(mlir::ValueRange values, int64_t oTiles);
};

/// The run-time half of the Skip-Softmax test (DESIGN.md section 4): the
/// kernel's lambda argument (a threshold, or a scale factor that is divided
/// by Skv) in log2 space, and whether skipping is on (0 < lambda < 1).
struct SkipThreshold {
  mlir::Value enabled, log2Lambda;
  static SkipThreshold build(KernelEmitter &e, const KernelConfig &cfg,
                             mlir::Value lambdaArg, mlir::Value skv);
};

/// The kv-blocks a q-block of `rows` query rows at `q0` visits: all of them,
/// or (causal) those up to the last one holding an unmasked key for one of
/// its rows below Sq: keys < min(q0 + rows, Sq) + Skv - Sq.
mlir::Value visitedKvBlocks(KernelEmitter &e, const KernelConfig &cfg,
                            mlir::Value q0, int64_t rows, mlir::Value sq,
                            mlir::Value skv);
/// Whether the kv-block at key `k0` needs a mask for the rows from `q0`
/// on: it crosses Skv, or (causal) its last key lies past the diagonal of
/// row q0.
mlir::Value tileNeedsMask(KernelEmitter &e, const KernelConfig &cfg,
                          mlir::Value k0, mlir::Value q0, mlir::Value sq,
                          mlir::Value skv);
/// Whether query `query` sees key `key`: key < Skv and (causal)
/// key + Sq <= query + Skv.
mlir::Value keyVisible(KernelEmitter &e, const KernelConfig &cfg,
                       mlir::Value key, mlir::Value query, mlir::Value sq,
                       mlir::Value skv);

/// A mask operand in global memory: its address and extents [B|1, Hq|1,
/// Sq|1, Skv|1] (i32; an extent of 1 broadcasts), i1 bytes or additive
/// values of the element type.
struct MaskView {
  mlir::Value address;
  mlir::Value extents[4];
  bool isBool;

  /// The view of the kernel arguments at `args` (address, then extents).
  static MaskView fromArgs(const KernelConfig &cfg, mlir::ValueRange args);
  /// Appends the argument types (i64 address, four i32 extents).
  static void addArgTypes(mlir::OpBuilder &b,
                          llvm::SmallVectorImpl<mlir::Type> &types);
};

/// The log-sum-exp of a row from its max m of raw logits and its sum l of
/// exp(scale * (s - m)): scale * m + ln(l), or -inf when l is 0.
mlir::Value rowLse(KernelEmitter &e, mlir::Value m, mlir::Value l,
                   double scale);

/// The vote of one thread on a tile for its two rows: each row is out of
/// range (`outside`), has no unmasked key in the tile (mt = -inf) or lies
/// far below its running max m: (mt - m) * c < log2(lambda), with no exp.
mlir::Value skipVoteRows(KernelEmitter &e, const mlir::Value mt[2],
                         const mlir::Value m[2], const mlir::Value outside[2],
                         mlir::Value c, const SkipThreshold &threshold);

class WarpTile {
public:
  WarpTile(KernelEmitter &e, const KernelConfig &cfg, mlir::Value smem,
           mlir::Value lane);

  KernelEmitter &e;
  const KernelConfig &cfg;
  mlir::Value smem, lane, g, t;
  int64_t d, dv, bn, kSteps, sTiles, oTiles;

  /// Shared address of 16-byte chunk `chunk` of row `row` in the swizzled
  /// tile at byte offset `base` (chunk XOR row % 8).
  mlir::Value swizzled(mlir::Value base, mlir::Value row, mlir::Value chunk,
                       int64_t rowBytes);
  /// cp.async of rows [row0, row0 + rows) of the global tile at `global`
  /// (rows at and past `limit` zero-filled) into the swizzled tile at
  /// `base`, by `threads` threads of which this is number `tid`. Global
  /// rows are `globalStride` bytes apart (0: rowBytes, dense rows; packed
  /// varlen rows are heads * rowBytes apart).
  void loadTile(mlir::Value base, mlir::Value global, mlir::Value row0,
                mlir::Value limit, int64_t rows, int64_t rowBytes,
                mlir::Value tid, int64_t threads, int64_t globalStride = 0);

  /// The A fragments of this warp's 16 rows of a Q tile at `base` whose
  /// first row for this warp is `rowBase`.
  Fragments loadQ(mlir::Value base, mlir::Value rowBase);
  /// S = Q K^T for a BN x D key tile at `kTile`.
  Fragments scores(const Fragments &q, mlir::Value kTile);
  /// When `needMask` holds, sets to -inf the scores of keys at and past Skv
  /// and (causal) of keys after a row's diagonal: key k of the kv-block at
  /// key `k0` is kept for query i when k + Sq <= i + Skv; `query` holds the
  /// query index of this thread's two rows.
  void maskScores(Fragments &s, mlir::Value needMask, mlir::Value k0,
                  mlir::Value sq, mlir::Value skv, const mlir::Value query[2]);
  /// Applies the mask operand to the scores of keys [k0, k0 + BN) of this
  /// thread's two rows (batch `batch`, query heads `head`, queries `query`):
  /// an i1 entry that is false makes the score -inf; an additive entry is
  /// added to the scaled score (to the raw logit as entry / scale). Keys at
  /// and past Skv and rows past Sq read a legal entry, whose score the
  /// bounds mask has made -inf or that is never stored.
  void applyMask(Fragments &s, const MaskView &mask, mlir::Value batch,
                 const mlir::Value head[2], const mlir::Value query[2],
                 mlir::Value k0, mlir::Value sq, mlir::Value skv);
  /// The row max of this thread's two rows over the quad.
  void rowMax(const Fragments &s, mlir::Value mt[2]);
  /// m, l and O after the tile with scores `s` (row max `mt`) and the
  /// BN x Dv value tile at `vTile`; `c` is scale * log2(e).
  SoftmaxState update(const Fragments &s, mlir::Value mt[2],
                      const SoftmaxState &state, mlir::Value vTile,
                      mlir::Value c);
  /// The zero state: m = -inf, l = 0, O = 0.
  SoftmaxState initial();
  /// This thread's vote on the tile (skipVoteRows).
  mlir::Value skipVote(const mlir::Value mt[2], const mlir::Value m[2],
                       const mlir::Value outside[2], mlir::Value c,
                       const SkipThreshold &threshold);

private:
  llvm::SmallVector<mlir::Value, 4>
  laneBases(mlir::Value rowIn, mlir::Value half, int64_t rowBytes);
  mlir::Value chunkAddr(mlir::Value tileBase, llvm::ArrayRef<mlir::Value> bases,
                        int64_t s, int64_t rowConst, int64_t rowBytes);
  llvm::SmallVector<mlir::Value, 4> kBases, vBases;
};

} // namespace skipattn::kernels

#endif // SKIPATTN_LIB_CONVERSION_ATTNTOGPU_WARPTILE_H
