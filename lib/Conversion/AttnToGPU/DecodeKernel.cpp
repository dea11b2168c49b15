//===- DecodeKernel.cpp - split-KV decode kernels -------------------------===//
//
// Decode has a few query rows per head and a long key/value history, so one
// CTA per (q-block, head) would leave most of the GPU idle. Following
// flash-decoding, the kv range is split across CTAs:
//
// - a CTA handles (split, kv head, batch); its rows are the query rows of
//   every query head of the GQA group (G heads x Sq rows, padded to a
//   multiple of 16), so those heads share each K and V tile and its vote.
//   The decode kernel is one warp of 16 rows; its wide variant, for up to 8
//   query tokens per sequence (speculative decoding) with larger groups,
//   has one warp per 16 rows, and the warps' votes meet in a bar.red.and;
// - with skipping compiled in, K tiles are prefetched two ahead with
//   cp.async (three stages); the V tile is loaded only after the vote, so a
//   skipped tile costs no V traffic, and a run of skipped tiles still has two
//   K tiles in flight;
// - without it, there is no vote to wait for: K_j and V_j travel together,
//   two (K, V) pairs in flight (the same shared memory as three K stages and
//   a V tile when D = Dv). A split of a few kv-blocks (batch 1, short
//   contexts) then waits for about two DRAM round trips instead of one per
//   tile plus one for the first K;
// - each split writes its unnormalised (m, l, O) to a workspace and counts
//   itself in on an atomic counter of its (batch, kv head); the split that
//   arrives last merges the splits of the group's rows with log-sum-exp and
//   writes the output (and lse), as FlashDecoding-style kernels do: one
//   launch instead of a second, combine, kernel. The merge stages the
//   partials in shared memory with every load in flight (mergeSplits);
//
// Seeds (DESIGN.md section 4, docs/serving.md): a split that does not start
// at kv-block 0 first scores block 0 (the sink tokens) and starts its running
// max from that tile's row max, a lower bound of the final max, so its own
// first tiles can be skipped. Block 0 itself is the only tile that is never
// skipped; the seed is not counted as a visited tile. The seed's K tile
// rides in the cp.async group of Q, and skipping off at run time loads no
// seed.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"
#include "WarpTile.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace skipattn::kernels;
using P = arith::CmpIPredicate;
using FP = arith::CmpFPredicate;

static constexpr StringLiteral kSharedSymbol = "skipattn_smem";

/// K stages of the skip decode kernel: kv-block j is used while j + 1 and
/// j + 2 are in flight.
static constexpr int64_t kKStages = 3;
/// (K, V) stages of the dense decode kernel: pair j is used while j + 1 is in
/// flight.
static constexpr int64_t kPairStages = 2;

int64_t KernelConfig::decodeSharedBytes(int64_t warps) const {
  int64_t bn = decodeBlockN();
  if (!skip)
    return 2 *
           (16 * warps * headDim + kPairStages * bn * (headDim + valueHeadDim));
  return 2 *
         (16 * warps * headDim + kKStages * bn * headDim + bn * valueHeadDim);
}

namespace {
class DecodeGenerator {
public:
  DecodeGenerator(const KernelConfig &cfg, KernelEmitter &e, int64_t warps)
      : cfg(cfg), e(e), d(cfg.headDim), dv(cfg.valueHeadDim), bn(cfg.blockN),
        group(cfg.group()), warps(warps), threads(32 * warps) {}
  void build(gpu::GPUFuncOp func);

private:
  Value counterBytes(Value batch, Value sq);
  /// A split's partial result of one row in the workspace: O[Dv], m * c
  /// and l (f32), padded to 16 bytes.
  int64_t partialBytes() const { return 4 * (dv + 4); }
  /// The published row maxima (opt-in, cfg.decodeSharedMax): an f32 as a
  /// u32 whose unsigned order is the float order, 0 below every float.
  Value encodeMax(Value m);
  Value decodeMax(Value u);
  void mergeSplits(Value ws, Value outAddr, Value lseAddr, Value bIdx,
                   Value kvh, Value rows, Value sq, Value numSplits, Value tid);
  void storeRow(Value outAddr, Value lseAddr, Value outRow, Value lane,
                ValueRange o, Value l, Value shift);

  const KernelConfig &cfg;
  KernelEmitter &e;
  int64_t d, dv, bn, group, warps, threads;

  /// Shared memory: the Q rows of every warp, the K stages, the V tile
  /// (skip); the Q rows, two K stages, two V stages (dense).
  int64_t kOffset(int64_t stage) const {
    return 2 * 16 * warps * d + stage * 2 * bn * d;
  }
  int64_t vOffset() const { return 2 * 16 * warps * d + kKStages * 2 * bn * d; }
  int64_t pairVOffset(int64_t stage) const {
    return 2 * 16 * warps * d + kPairStages * 2 * bn * d + stage * 2 * bn * dv;
  }
};
} // namespace

void DecodeGenerator::build(gpu::GPUFuncOp func) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value qAddr = entry.getArgument(0), kAddr = entry.getArgument(1),
        vAddr = entry.getArgument(2), outAddr = entry.getArgument(3),
        wsAddr = entry.getArgument(4);
  Value batch = entry.getArgument(5), sq = entry.getArgument(6),
        skv = entry.getArgument(7), numSplits = entry.getArgument(8);
  unsigned next = 9;
  // Paged K/V: the block table [B, max_pages], the lengths [B] (i32) and
  // max_pages; k and v are then the page pools [num_pages, P, Hkv, D].
  int64_t pageSize = cfg.pageSize;
  Value tableAddr, lensAddr, maxPages;
  if (pageSize) {
    tableAddr = entry.getArgument(next++);
    lensAddr = entry.getArgument(next++);
    maxPages = entry.getArgument(next++);
  }
  Value skipParam, statsAddr;
  if (cfg.skip)
    skipParam = entry.getArgument(next++);
  if (cfg.stats)
    statsAddr = entry.getArgument(next++);
  Value lseAddr;
  if (cfg.lse)
    lseAddr = entry.getArgument(next++);
  std::optional<MaskView> mask;
  if (cfg.mask != KernelConfig::Mask::None)
    mask = MaskView::fromArgs(cfg, entry.getArguments().drop_front(next));

  Value ninf = e.f32c(-INFINITY);
  Value tid = e.threadIdx();
  Value lane = warps == 1 ? tid : e.remu(tid, e.i32c(32));
  Value warpRow =
      warps == 1 ? e.i32c(0) : e.mul(e.divu(tid, e.i32c(32)), e.i32c(16));
  Value smem = e.sharedBase(kSharedSymbol);
  WarpTile wt(e, cfg, smem, lane);
  Value g = wt.g, t = wt.t;
  Value split = e.blockIdx(gpu::Dimension::x);
  Value kvh = e.blockIdx(gpu::Dimension::y);
  Value bIdx = e.blockIdx(gpu::Dimension::z);
  Value rows = e.mul(e.i32c(group), sq); // valid rows of the 16 per warp

  // Paged: this sequence's length, clamped to what its table can hold.
  if (pageSize) {
    Value len = LLVM::LoadOp::create(
        b, loc, e.i32, e.gep(e.toGlobalPtr(lensAddr), e.shl(bIdx, 2)), 4);
    skv = e.minsi(e.maxsi(len, e.i32c(0)), e.mul(maxPages, e.i32c(pageSize)));
  }

  // This split's kv-blocks.
  Value numKV = e.ceilDiv(skv, bn);
  Value perSplit = e.divu(e.add(numKV, e.sub(numSplits, e.i32c(1))), numSplits);
  Value j0 = e.minsi(e.mul(split, perSplit), numKV);
  Value j1 = e.minsi(e.add(j0, perSplit), numKV);

  Value kBase, vBase;
  if (!pageSize) {
    kBase = e.headBase(kAddr, bIdx, cfg.kvHeads, kvh, skv, 2 * d);
    vBase = e.headBase(vAddr, bIdx, cfg.kvHeads, kvh, skv, 2 * dv);
  }
  // The rows [k0, k0 + BN) of K or V (rowBytes per row) into the swizzled
  // tile at shared offset `at`, rows at and past Skv zero-filled. Paged,
  // row k lives in page table[b, k / P] at slot k % P: each thread reads
  // rows r0, r0 + rpp, ... (rpp = threads / chunks per row), so its rows of
  // one page are consecutive passes, and it loads the page number once per
  // page of the tile (once per tile when a page holds the tile).
  auto loadKV = [&](Value at, Value contiguous, Value pagesAddr, Value k0,
                    int64_t rowBytes) {
    if (!pageSize) {
      wt.loadTile(at, contiguous, k0, skv, bn, rowBytes, tid, threads);
      return;
    }
    int64_t chunks = rowBytes / 16, rpp = threads / chunks;
    int64_t passesPerPage = std::max<int64_t>(1, pageSize / rpp);
    Value c = e.remu(tid, e.i32c(chunks));
    Value r0 = e.divu(tid, e.i32c(chunks));
    Value pages = e.toGlobalPtr(pagesAddr);
    Value tableRow =
        e.gep(e.toGlobalPtr(tableAddr),
              arith::MulIOp::create(b, loc, e.toI64(e.mul(bIdx, maxPages)),
                                    e.i64c(4)));
    Value lastColumn = e.sub(maxPages, e.i32c(1));
    Value page;
    for (int64_t pass = 0; pass < bn / rpp; ++pass) {
      Value r = e.add(r0, e.i32c(pass * rpp));
      Value key = e.add(k0, r);
      Value valid = e.cmp(P::slt, key, skv);
      if (pass % passesPerPage == 0) {
        // A legal table column even for rows past the length, whose page
        // is then not used.
        Value column = e.minsi(e.divu(key, e.i32c(pageSize)), lastColumn);
        page = LLVM::LoadOp::create(b, loc, e.i32,
                                    e.gep(tableRow, e.shl(column, 2)), 4);
      }
      // Rows past the length read page 0, slot 0 (zero-filled): a legal
      // address whatever the table holds there.
      Value rowPage = e.toI64(e.select(valid, page, e.i32c(0)));
      Value slot =
          e.toI64(e.select(valid, e.remu(key, e.i32c(pageSize)), e.i32c(0)));
      Value index = arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(
              b, loc,
              arith::AddIOp::create(
                  b, loc,
                  arith::MulIOp::create(b, loc, rowPage, e.i64c(pageSize)),
                  slot),
              e.i64c(cfg.kvHeads)),
          e.toI64(kvh));
      Value offset = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, index, e.i64c(rowBytes)),
          e.toI64(e.shl(c, 4)));
      e.cpAsync16(wt.swizzled(at, r, c, rowBytes), e.gep(pages, offset), valid);
    }
  };

  // A split seeds its running max from kv-block 0 when skipping is on and it
  // has blocks of its own past block 0.
  SkipThreshold threshold;
  Value seeded = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  if (cfg.skip) {
    threshold = SkipThreshold::build(e, cfg, skipParam, skv);
    seeded = e.band(threshold.enabled, e.band(e.cmp(P::sgt, j0, e.i32c(0)),
                                              e.cmp(P::slt, j0, j1)));
  }

  // Q: row r is query r % Sq of head kvh * G + r / Sq; rows >= G * Sq are 0.
  {
    int64_t chunks = 2 * d / 16;
    int64_t rowsPerPass = threads / chunks;
    Value c = e.remu(tid, e.i32c(chunks));
    Value r0 = e.divu(tid, e.i32c(chunks));
    for (int64_t pass = 0; pass < 16 * warps / rowsPerPass; ++pass) {
      Value r = e.add(r0, e.i32c(pass * rowsPerPass));
      Value valid = e.cmp(P::slt, r, rows);
      Value safe = e.select(valid, r, e.i32c(0));
      Value head = e.add(e.mul(kvh, e.i32c(group)), e.divu(safe, sq));
      Value qRow = e.remu(safe, sq);
      Value src = e.gep(e.headBase(qAddr, bIdx, cfg.qHeads, head, sq, 2 * d),
                        e.add(e.mul(qRow, e.i32c(2 * d)), e.shl(c, 4)));
      e.cpAsync16(wt.swizzled(e.i32c(0), r, c, 2 * d), src, valid);
    }
  }
  // Dense: stage s holds the pair (K_j, V_j).
  bool pairs = !cfg.skip;
  int64_t stages = pairs ? kPairStages : kKStages;
  auto kStageAt = [&](Value stage) {
    return e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
  };
  auto vStageAt = [&](Value stage) {
    return e.add(e.i32c(pairVOffset(0)), e.mul(stage, e.i32c(2 * bn * dv)));
  };
  auto loadK = [&](Value j, Value stage) {
    loadKV(kStageAt(stage), kBase, kAddr, e.mul(j, e.i32c(bn)), 2 * d);
    if (pairs)
      loadKV(vStageAt(stage), vBase, vAddr, e.mul(j, e.i32c(bn)), 2 * dv);
  };
  // The seed's K_0 goes to the last stage, which the loop first fills with
  // K_j0+2 after its first barrier.
  Value seedStage = e.i32c(kKStages - 1);
  if (cfg.skip)
    scf::IfOp::create(b, loc, seeded, [&](OpBuilder &, Location) {
      loadK(e.i32c(0), seedStage);
      scf::YieldOp::create(b, loc);
    });
  e.cpAsyncCommit();
  // cp.async groups: Q, then K_j0 and K_j0+1 (skip) or the pairs j0 and
  // j0 + 1 (dense); either may be empty.
  for (int64_t ahead = 0; ahead < 2; ++ahead) {
    Value j = e.add(j0, e.i32c(ahead));
    scf::IfOp::create(b, loc, e.cmp(P::slt, j, j1), [&](OpBuilder &, Location) {
      loadK(j, e.i32c(ahead));
      scf::YieldOp::create(b, loc);
    });
    e.cpAsyncCommit();
  }
  e.cpAsyncWait(2);
  e.barrier();
  Fragments qFrag = wt.loadQ(e.i32c(0), warpRow);

  double scaleLog2 = cfg.scale * M_LOG2E;
  Value c = e.f32c(scaleLog2);
  Value rowIdx[2] = {e.add(warpRow, g), e.add(warpRow, e.add(g, e.i32c(8)))};
  Value query[2] = {e.remu(rowIdx[0], sq), e.remu(rowIdx[1], sq)};

  // The scores of kv-block j from the K tile at shared offset kStage, masked
  // past Skv and (causal) after a row's diagonal: key k is kept for query i
  // when k + Sq <= i + Skv; and their row max.
  auto scoreTile = [&](Value j, Value kStage, Value mt[2]) {
    Fragments s = wt.scores(qFrag, kStage);
    Value k0 = e.mul(j, e.i32c(bn));
    Value tileEnd = e.add(k0, e.i32c(bn));
    Value needMask = e.cmp(P::sgt, tileEnd, skv);
    if (cfg.causal)
      needMask = arith::OrIOp::create(
          b, loc, needMask,
          e.cmp(P::sgt, e.add(e.sub(tileEnd, e.i32c(1)), sq), skv));
    wt.maskScores(s, needMask, k0, sq, skv, query);
    // The mask operand: row r is query r % Sq of head kvh * G + r / Sq.
    if (mask) {
      Value heads[2] = {
          e.add(e.mul(kvh, e.i32c(group)), e.divu(rowIdx[0], sq)),
          e.add(e.mul(kvh, e.i32c(group)), e.divu(rowIdx[1], sq))};
      wt.applyMask(s, *mask, bIdx, heads, query, k0, sq, skv);
    }
    wt.rowMax(s, mt);
    return s;
  };

  SoftmaxState start = wt.initial();
  if (cfg.skip) {
    auto seed = scf::IfOp::create(
        b, loc, seeded,
        [&](OpBuilder &, Location) {
          Value mt[2];
          scoreTile(
              e.i32c(0),
              e.add(e.i32c(kOffset(0)), e.mul(seedStage, e.i32c(2 * bn * d))),
              mt);
          scf::YieldOp::create(b, loc, ValueRange{mt[0], mt[1]});
        },
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, ValueRange{ninf, ninf});
        });
    start.m[0] = seed.getResult(0);
    start.m[1] = seed.getResult(1);
  }

  // Shared max (opt-in): this thread's two rows' slots of the published
  // maxima, after the arrival counters; padding rows use row 0's slot and
  // never publish.
  bool sharedMax = cfg.skip && cfg.decodeSharedMax;
  Value published[2];
  if (sharedMax) {
    Value maxima = e.gep(e.toGlobalPtr(wsAddr),
                         e.shl(e.mul(batch, e.i32c(cfg.kvHeads)), 2));
    for (int r = 0; r < 2; ++r) {
      Value row =
          e.select(e.cmp(P::slt, rowIdx[r], rows), rowIdx[r], e.i32c(0));
      Value head = e.add(e.mul(kvh, e.i32c(group)), e.divu(row, sq));
      Value bh = e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), head);
      Value outRow = e.add(e.mul(bh, sq), e.remu(row, sq));
      published[r] = e.gep(
          maxima, arith::MulIOp::create(b, loc, e.toI64(outRow), e.i64c(4)));
    }
  }

  SmallVector<Value> init = start.flatten();
  init.push_back(e.i32c(0));
  unsigned skippedIdx = init.size() - 1;
  auto loop = scf::ForOp::create(b, loc, j0, j1, e.i32c(1), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    // In flight at the top: K_j and K_j+1, or the pairs j and j + 1 (each
    // its own group).
    Value stage = e.remu(e.sub(j, j0), e.i32c(stages));
    e.cpAsyncWait(1);
    e.barrier();
    // Shared max: what the other splits have published, read before the
    // scores so that the load's latency hides under them.
    Value others[2];
    if (sharedMax)
      for (int r = 0; r < 2; ++r)
        others[r] = decodeMax(
            LLVM::LoadOp::create(b, loc, e.i32, published[r], 4,
                                 /*isVolatile=*/false, /*isNonTemporal=*/false,
                                 /*isInvariant=*/false,
                                 /*isInvariantGroup=*/false,
                                 LLVM::AtomicOrdering::monotonic, "device"));
    Value mt[2];
    Fragments s = scoreTile(j, kStageAt(stage), mt);
    if (pairs) {
      // Dense: V_j came with K_j. K_j+2 goes into this stage's K once every
      // thread has its scores, V_j+2 once every thread is done with V_j;
      // both in one cp.async group.
      Value aheadJ = e.add(j, e.i32c(kPairStages));
      Value ahead = e.cmp(P::slt, aheadJ, j1);
      Value aheadK0 = e.mul(aheadJ, e.i32c(bn));
      e.barrier();
      scf::IfOp::create(b, loc, ahead, [&](OpBuilder &, Location) {
        loadKV(kStageAt(stage), kBase, kAddr, aheadK0, 2 * d);
        scf::YieldOp::create(b, loc);
      });
      SoftmaxState before =
          SoftmaxState::unflatten(state.drop_back(), wt.oTiles);
      SmallVector<Value> yielded =
          wt.update(s, mt, before, vStageAt(stage), c).flatten();
      yielded.push_back(state[skippedIdx]);
      e.barrier();
      scf::IfOp::create(b, loc, ahead, [&](OpBuilder &, Location) {
        loadKV(vStageAt(stage), vBase, vAddr, aheadK0, 2 * dv);
        scf::YieldOp::create(b, loc);
      });
      e.cpAsyncCommit();
      scf::YieldOp::create(b, loc, yielded);
    } else {
      Value k0 = e.mul(j, e.i32c(bn));

      // The group's vote: every row of every head of the group. Only kv-block
      // 0 is exempt: a split past it starts from its seed.
      Value pad[2] = {e.cmp(P::sge, rowIdx[0], rows),
                      e.cmp(P::sge, rowIdx[1], rows)};
      // The bound the vote compares with: the split's own running max, and
      // with shared max also the others' (every published value is the max
      // of tiles that are part of the final softmax: a lower bound of the
      // row's final max, as the seed is).
      Value m[2] = {state[0], state[1]};
      if (sharedMax)
        for (int r = 0; r < 2; ++r)
          m[r] = e.fmax(m[r], others[r]);
      Value yes = wt.skipVote(mt, m, pad, c, threshold);
      // One warp votes with vote.sync; several meet in bar.red.and.
      Value all = warps == 1 ? e.warpAll(yes) : e.barrierAnd(yes);
      Value skip =
          e.band(e.band(threshold.enabled, e.cmp(P::sgt, j, e.i32c(0))), all);

      // V only for a tile that is kept; then prefetch K two ahead into the
      // stage of K_j-1, which the barrier above has released.
      Value keepTile = arith::XOrIOp::create(
          b, loc, skip, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
      scf::IfOp::create(b, loc, keepTile, [&](OpBuilder &, Location) {
        loadKV(e.i32c(vOffset()), vBase, vAddr, k0, 2 * dv);
        scf::YieldOp::create(b, loc);
      });
      e.cpAsyncCommit();
      Value aheadJ = e.add(j, e.i32c(kKStages - 1));
      scf::IfOp::create(
          b, loc, e.cmp(P::slt, aheadJ, j1), [&](OpBuilder &, Location) {
            loadK(aheadJ, e.remu(e.sub(aheadJ, j0), e.i32c(kKStages)));
            scf::YieldOp::create(b, loc);
          });
      e.cpAsyncCommit();
      auto update = scf::IfOp::create(
          b, loc, skip,
          [&](OpBuilder &, Location) {
            scf::YieldOp::create(b, loc, state.drop_back());
          },
          [&](OpBuilder &, Location) {
            e.cpAsyncWait(1);
            e.barrier();
            SoftmaxState before =
                SoftmaxState::unflatten(state.drop_back(), wt.oTiles);
            scf::YieldOp::create(
                b, loc,
                wt.update(s, mt, before, e.i32c(vOffset()), c).flatten());
          });
      SmallVector<Value> yielded(update.getResults());
      if (sharedMax) {
        // Publish the new running max of a kept tile (one lane per row).
        Value publish = e.band(keepTile, e.cmp(P::eq, t, e.i32c(0)));
        for (int r = 0; r < 2; ++r)
          scf::IfOp::create(b, loc,
                            e.band(publish, e.cmp(P::slt, rowIdx[r], rows)),
                            [&](OpBuilder &, Location) {
                              LLVM::AtomicRMWOp::create(
                                  b, loc, LLVM::AtomicBinOp::umax, published[r],
                                  encodeMax(yielded[r]),
                                  LLVM::AtomicOrdering::monotonic, "device");
                              scf::YieldOp::create(b, loc);
                            });
      }
      yielded.push_back(e.add(state[skippedIdx],
                              arith::ExtUIOp::create(b, loc, e.i32, skip)));
      e.barrier();
      scf::YieldOp::create(b, loc, yielded);
    }
  }

  // The split's partial result per valid row: [O[Dv], m * c, l] in f32
  // (partialBytes), at ((b * Hq + head) * Sq + query) * splits + split,
  // after the arrival counters.
  ValueRange fin = loop.getResults();
  SoftmaxState last = SoftmaxState::unflatten(fin.drop_back(), wt.oTiles);
  Value ws = e.gep(e.toGlobalPtr(wsAddr), counterBytes(batch, sq));
  for (int r = 0; r < 2; ++r) {
    Value l = e.fadd(last.l[r], e.shflXor(last.l[r], 1));
    l = e.fadd(l, e.shflXor(l, 2));
    Value row = rowIdx[r];
    scf::IfOp::create(
        b, loc, e.cmp(P::slt, row, rows), [&](OpBuilder &, Location) {
          Value head = e.add(e.mul(kvh, e.i32c(group)), e.divu(row, sq));
          Value query = e.remu(row, sq);
          Value bh = e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), head);
          Value outRow = e.add(e.mul(bh, sq), query);
          Value slot =
              e.add(e.mul(e.toI64(outRow), e.toI64(numSplits)), e.toI64(split));
          Value base = e.gep(
              ws, arith::MulIOp::create(b, loc, slot, e.i64c(partialBytes())));
          Value ml = e.gep(base, e.i32c(4 * dv));
          scf::IfOp::create(
              b, loc, e.cmp(P::eq, t, e.i32c(0)), [&](OpBuilder &, Location) {
                Value mScaled = e.select(e.fcmp(FP::OEQ, last.m[r], ninf), ninf,
                                         e.fmul(last.m[r], c));
                LLVM::StoreOp::create(b, loc, mScaled, ml, 4);
                LLVM::StoreOp::create(b, loc, l, e.gep(ml, e.i32c(4)), 4);
                scf::YieldOp::create(b, loc);
              });
          for (int64_t n = 0; n < wt.oTiles; ++n) {
            Value col = e.add(e.i32c(n * 8), e.mul(t, e.i32c(2)));
            Value at = e.gep(base, e.shl(col, 2));
            LLVM::StoreOp::create(b, loc, last.o[n][2 * r], at, 4);
            LLVM::StoreOp::create(b, loc, last.o[n][2 * r + 1],
                                  e.gep(at, e.i32c(4)), 4);
          }
          scf::YieldOp::create(b, loc);
        });
  }

  // Counters, per query head of the group, which shares the vote: thread g
  // (of the first warp) counts head kvh * G + g.
  if (cfg.stats) {
    scf::IfOp::create(b, loc, e.cmp(P::ult, tid, e.i32c(group)),
                      [&](OpBuilder &, Location) {
                        Value head = e.add(e.mul(kvh, e.i32c(group)), tid);
                        e.countTiles(statsAddr, bIdx, cfg.qHeads, head,
                                     e.sub(j1, j0), fin[skippedIdx]);
                        scf::YieldOp::create(b, loc);
                      });
  }

  // The last split of (b, kvh) to arrive merges them all. After a barrier
  // (every thread's partial is stored), thread 0 releases the CTA's stores
  // (fence), counts the CTA in, and acquires what the earlier arrivals
  // released (fence): the PTX memory model's release and acquire patterns,
  // made cumulative over the CTA by the barriers around them. The CTA that
  // sees numSplits - 1 earlier arrivals merges. The counters are zeroed by
  // the runtime before each launch (the manifest's workspace_zero_bytes).
  e.barrier();
  Value flag = smem; // Q's rows are in registers by now.
  scf::IfOp::create(
      b, loc, e.cmp(P::eq, tid, e.i32c(0)), [&](OpBuilder &, Location) {
        Value counter =
            e.gep(e.toGlobalPtr(wsAddr),
                  e.shl(e.add(e.mul(bIdx, e.i32c(cfg.kvHeads)), kvh), 2));
        LLVM::FenceOp::create(b, loc, LLVM::AtomicOrdering::acq_rel, "device");
        Value before = LLVM::AtomicRMWOp::create(
            b, loc, LLVM::AtomicBinOp::add, counter, e.i32c(1),
            LLVM::AtomicOrdering::monotonic, "device");
        LLVM::FenceOp::create(b, loc, LLVM::AtomicOrdering::acq_rel, "device");
        Value isLast = e.cmp(P::eq, before, e.sub(numSplits, e.i32c(1)));
        LLVM::StoreOp::create(
            b, loc, arith::ExtUIOp::create(b, loc, e.i32, isLast), flag, 4);
        scf::YieldOp::create(b, loc);
      });
  e.barrier();
  Value isLast =
      e.cmp(P::ne, LLVM::LoadOp::create(b, loc, e.i32, flag, 4), e.i32c(0));
  scf::IfOp::create(b, loc, isLast, [&](OpBuilder &, Location) {
    mergeSplits(ws, outAddr, lseAddr, bIdx, kvh, rows, sq, numSplits, tid);
    scf::YieldOp::create(b, loc);
  });
  gpu::ReturnOp::create(b, loc);
}

Value DecodeGenerator::counterBytes(Value batch, Value sq) {
  // One u32 per (batch, kv head) and, shared-max, one per output row, in
  // 16-byte units so that the partial results after them stay 16-byte
  // aligned (the manifest's workspace_zero_bytes).
  Value words = e.mul(batch, e.i32c(cfg.kvHeads));
  if (cfg.skip && cfg.decodeSharedMax)
    words = e.add(words, e.mul(e.mul(batch, e.i32c(cfg.qHeads)), sq));
  Value units = e.divu(e.add(words, e.i32c(3)), e.i32c(4));
  return arith::MulIOp::create(e.b, e.loc, e.toI64(units), e.i64c(16));
}

Value DecodeGenerator::encodeMax(Value m) {
  // f >= +0: bits | 2^31; f < 0 (and -0): ~bits. -inf encodes as 0x007fffff.
  Value bits = arith::BitcastOp::create(e.b, e.loc, e.i32, m);
  Value negative = e.cmp(P::slt, bits, e.i32c(0));
  return e.select(
      negative, e.bxor(bits, e.i32c(-1)),
      arith::OrIOp::create(e.b, e.loc, bits,
                           e.i32c(static_cast<int32_t>(0x80000000u))));
}

Value DecodeGenerator::decodeMax(Value u) {
  Value high = e.cmp(P::slt, u, e.i32c(0)); // bit 31 set: f >= +0
  Value bits =
      e.select(high, arith::AndIOp::create(e.b, e.loc, u, e.i32c(0x7fffffff)),
               e.bxor(u, e.i32c(-1)));
  Value f = arith::BitcastOp::create(e.b, e.loc, e.f32, bits);
  // 0: nothing published yet.
  return e.select(e.cmp(P::eq, u, e.i32c(0)), e.f32c(-INFINITY), f);
}

/// Merges the numSplits partial results of this CTA's rows with
/// log-sum-exp in log2 space (the split maxima are in log2 units of scaled
/// logits): M = max_s m_s, L = sum_s l_s 2^(m_s - M), O = sum_s O_s 2^(m_s -
/// M) / L. The partials come into shared memory with cp.async.cg (L2, never
/// a stale L1 line), all of a round's in flight at once: the CTA's rows
/// are consecutive output rows, so a row's splits are one contiguous run of
/// the workspace. A round stages `slots` partials of every row of a group
/// of rows; when the splits do not fit in one round, slot 0 keeps the
/// merged partial of the rounds so far (a partial like the others), and
/// the next round loads the following splits into slots 1 and up. A warp
/// merges rows warp, warp + warps, ...; each lane holds Dv / 32 columns.
void DecodeGenerator::mergeSplits(Value ws, Value outAddr, Value lseAddr,
                                  Value bIdx, Value kvh, Value rows, Value sq,
                                  Value numSplits, Value tid) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  Value yes = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  int64_t rowBytes = partialBytes(), pieces = rowBytes / 16;
  int64_t cols = dv / 32; // per lane
  Type colsType = VectorType::get({cols}, e.f32);
  Type mlType = VectorType::get({2}, e.f32);
  Value lane = warps == 1 ? tid : e.remu(tid, e.i32c(32));
  Value warp = warps == 1 ? e.i32c(0) : e.divu(tid, e.i32c(32));
  // Shared memory past the 16 bytes of the arrival flag; a group of rows
  // gets at least two slots per row (the carried partial and one new).
  int64_t stageSlots = (cfg.decodeSharedBytes(warps) - 16) / rowBytes;
  int64_t groupRows = std::min<int64_t>(16 * warps, stageSlots / 2);
  Value stage = e.gep(e.sharedBase(kSharedSymbol), e.i32c(16));
  Value outRow0 = e.mul(
      e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), e.mul(kvh, e.i32c(group))), sq);
  auto element = [&](Value v, int64_t i) {
    return LLVM::ExtractElementOp::create(b, loc, v, e.i32c(i)).getResult();
  };
  auto forLoop = [&](Value lb, Value ub, Value step, ValueRange init,
                     function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    return scf::ForOp::create(
        b, loc, lb, ub, step, init,
        [&](OpBuilder &, Location, Value iv, ValueRange args) {
          scf::YieldOp::create(b, loc, body(iv, args));
        });
  };
  auto noResults = [&](function_ref<void(Value)> body) {
    return [body](Value iv, ValueRange) {
      body(iv);
      return SmallVector<Value>();
    };
  };

  forLoop(e.i32c(0), rows, e.i32c(groupRows), {}, noResults([&](Value g0) {
    Value gRows = e.minsi(e.i32c(groupRows), e.sub(rows, g0));
    Value slots = e.divu(e.i32c(stageSlots), gRows);
    // Round 0 loads splits [0, slots) into slots [0, slots); round k > 0
    // loads slots - 1 more into slots [1, slots).
    Value more = e.sub(slots, e.i32c(1));
    Value rest = e.maxsi(e.sub(numSplits, slots), e.i32c(0));
    Value rounds = e.add(e.i32c(1), e.divu(e.add(rest, e.sub(more, e.i32c(1))),
                                          more));
    forLoop(e.i32c(0), rounds, e.i32c(1), {}, noResults([&](Value k) {
      Value first = e.cmp(P::eq, k, e.i32c(0));
      Value last = e.cmp(P::eq, k, e.sub(rounds, e.i32c(1)));
      Value slot0 = e.select(first, e.i32c(0), e.i32c(1));
      Value split0 = e.select(first, e.i32c(0),
                              e.add(slots, e.mul(e.sub(k, e.i32c(1)), more)));
      Value count = e.minsi(e.sub(slots, slot0), e.sub(numSplits, split0));
      Value used = e.add(slot0, count);
      // Stage: row i's splits [split0, split0 + count) into its slots
      // [slot0, used), 16 bytes per cp.async.
      e.barrier();
      forLoop(e.i32c(0), gRows, e.i32c(1), {}, noResults([&](Value i) {
        Value slot = e.add(e.mul(e.add(g0, i), numSplits), split0);
        Value src = e.gep(
            ws, arith::MulIOp::create(b, loc,
                                      e.toI64(e.add(e.mul(outRow0, numSplits),
                                                    slot)),
                                      e.i64c(rowBytes)));
        Value dst = e.gep(
            stage, e.mul(e.add(e.mul(i, slots), slot0), e.i32c(rowBytes)));
        forLoop(tid, e.mul(count, e.i32c(pieces)), e.i32c(threads), {},
                noResults([&](Value p) {
                  Value at = e.shl(p, 4);
                  e.cpAsync16(e.gep(dst, at), e.gep(src, at), yes);
                }));
      }));
      e.cpAsyncCommit();
      e.cpAsyncWait(0);
      e.barrier();
      forLoop(warp, gRows, e.i32c(warps), {}, noResults([&](Value i) {
        Value rowAt = e.gep(stage, e.mul(e.mul(i, slots), e.i32c(rowBytes)));
        auto partial = [&](Value s) {
          return e.gep(rowAt, e.mul(s, e.i32c(rowBytes)));
        };
        // M over the used slots, lanes in parallel, then across the warp.
        Value m = forLoop(lane, used, e.i32c(32), {ninf},
                          [&](Value s, ValueRange acc) {
                            Value ms = LLVM::LoadOp::create(
                                b, loc, e.f32,
                                e.gep(partial(s), e.i32c(4 * dv)), 4);
                            return SmallVector<Value>{e.fmax(acc[0], ms)};
                          })
                      .getResult(0);
        for (int64_t lanes = 16; lanes >= 1; lanes /= 2)
          m = e.fmax(m, e.shflXor(m, lanes));
        Value shift = e.select(e.fcmp(FP::OEQ, m, ninf), zero, m);
        // L and this lane's columns of O.
        SmallVector<Value> init(1 + cols, zero);
        auto sum = forLoop(
            e.i32c(0), used, e.i32c(1), init, [&](Value s, ValueRange acc) {
              Value at = partial(s);
              Value ml = LLVM::LoadOp::create(b, loc, mlType,
                                              e.gep(at, e.i32c(4 * dv)), 8);
              Value o = LLVM::LoadOp::create(
                  b, loc, colsType, e.gep(at, e.shl(lane, 2 + llvm::Log2_64(cols))),
                  4 * cols);
              Value w = e.ex2(e.fsub(element(ml, 0), shift));
              SmallVector<Value> next{e.fma(element(ml, 1), w, acc[0])};
              for (int64_t c = 0; c < cols; ++c)
                next.push_back(e.fma(element(o, c), w, acc[1 + c]));
              return next;
            });
        Value l = sum.getResult(0);
        // Every lane has read slot 0 before it is overwritten.
        NVVM::SyncWarpOp::create(b, loc, e.i32c(-1));
        scf::IfOp::create(
            b, loc, last,
            [&](OpBuilder &, Location) {
              storeRow(outAddr, lseAddr, e.add(outRow0, e.add(g0, i)), lane,
                       sum.getResults().drop_front(), l, shift);
              scf::YieldOp::create(b, loc);
            },
            [&](OpBuilder &, Location) {
              // Carry: slot 0 becomes the merged partial [O, M, L].
              Value at = partial(e.i32c(0));
              Value o = LLVM::UndefOp::create(b, loc, colsType);
              for (int64_t c = 0; c < cols; ++c)
                o = LLVM::InsertElementOp::create(b, loc, o, sum.getResult(1 + c),
                                                  e.i32c(c));
              LLVM::StoreOp::create(
                  b, loc, o, e.gep(at, e.shl(lane, 2 + llvm::Log2_64(cols))),
                  4 * cols);
              scf::IfOp::create(
                  b, loc, e.cmp(P::eq, lane, e.i32c(0)),
                  [&](OpBuilder &, Location) {
                    Value ml = LLVM::UndefOp::create(b, loc, mlType);
                    ml = LLVM::InsertElementOp::create(b, loc, ml, m, e.i32c(0));
                    ml = LLVM::InsertElementOp::create(b, loc, ml, l, e.i32c(1));
                    LLVM::StoreOp::create(b, loc, ml,
                                          e.gep(at, e.i32c(4 * dv)), 8);
                    scf::YieldOp::create(b, loc);
                  });
              scf::YieldOp::create(b, loc);
            });
      }));
    }));
  }));
}

/// out = O / L (0 for a row that attends nothing) in this lane's columns of
/// output row `outRow`, and lse = (M + log2 L) ln 2 (-inf for such a row).
void DecodeGenerator::storeRow(Value outAddr, Value lseAddr, Value outRow,
                               Value lane, ValueRange o, Value l, Value shift) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value zero = e.f32c(0.0);
  Value empty = e.fcmp(FP::OEQ, l, zero);
  Value row = e.gep(e.toGlobalPtr(outAddr),
                    arith::MulIOp::create(b, loc, e.toI64(outRow),
                                          e.i64c(2 * dv)));
  int64_t cols = o.size();
  for (int64_t c = 0; c < cols; c += 2) {
    Value lo = e.select(empty, zero, e.fdiv(o[c], l));
    Value hi = e.select(empty, zero, e.fdiv(o[c + 1], l));
    Value col = e.add(e.mul(lane, e.i32c(cols)), e.i32c(c));
    LLVM::StoreOp::create(b, loc, e.pack(cfg.elementType, lo, hi),
                          e.gep(row, e.shl(col, 1)), 4);
  }
  if (!cfg.lse)
    return;
  Value lse = e.select(empty, e.f32c(-INFINITY),
                       e.fmul(e.fadd(shift, e.lg2(l)), e.f32c(M_LN2)));
  Value at = e.gep(e.toGlobalPtr(lseAddr),
                   arith::MulIOp::create(b, loc, e.toI64(outRow), e.i64c(4)));
  scf::IfOp::create(b, loc, e.cmp(P::eq, lane, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      LLVM::StoreOp::create(b, loc, lse, at, 4);
                      scf::YieldOp::create(b, loc);
                    });
}

static gpu::GPUFuncOp makeKernel(OpBuilder &b, gpu::GPUModuleOp module,
                                 StringRef name, ArrayRef<Type> args,
                                 int64_t threads) {
  b.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(b, module.getLoc(), name,
                                     b.getFunctionType(args, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
}

DecodeKernels skipattn::kernels::buildDecodeKernels(OpBuilder &b,
                                                    gpu::GPUModuleOp module,
                                                    const KernelConfig &cfg) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = module.getLoc();
  declareSharedMemory(b, module);
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  // (q, k, v, out, workspace, batch, q_len, kv_len, num_splits,
  //  [block_table, seq_lens, max_pages], [skip], [stats], [lse], [mask])
  SmallVector<Type> args = {i64, i64, i64, i64, i64, i32, i32, i32, i32};
  if (cfg.pageSize)
    args.append({i64, i64, i32});
  if (cfg.skip)
    args.push_back(b.getF32Type());
  if (cfg.stats)
    args.push_back(i64);
  if (cfg.lse)
    args.push_back(i64);
  if (cfg.mask != KernelConfig::Mask::None)
    MaskView::addArgTypes(b, args);
  KernelConfig tiles = cfg;
  tiles.blockN = cfg.decodeBlockN();
  DecodeKernels kernels;
  auto build = [&](StringRef role, int64_t warps) {
    gpu::GPUFuncOp func =
        makeKernel(b, module, cfg.name(role), args, 32 * warps);
    KernelEmitter e(b, loc);
    DecodeGenerator(tiles, e, warps).build(func);
    return func;
  };
  kernels.decode = build("decode", 1);
  if (cfg.decodeWideWarps() > 1)
    kernels.wide = build("decode_wide", cfg.decodeWideWarps());
  return kernels;
}
