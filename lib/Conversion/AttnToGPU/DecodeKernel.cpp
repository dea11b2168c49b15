//===- DecodeKernel.cpp - split-KV decode and its combine kernel ----------===//
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
// - K tiles are prefetched two ahead with cp.async (three stages); the V
//   tile is loaded only after the vote, so a skipped tile costs no V
//   traffic, and a run of skipped tiles still has two K tiles in flight;
// - each split writes its unnormalised (m, l, O) to a workspace, and the
//   combine kernel merges the splits of each output row with log-sum-exp.
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

/// K stages of the decode kernel: kv-block j is used while j + 1 and j + 2
/// are in flight.
static constexpr int64_t kKStages = 3;

int64_t KernelConfig::decodeSharedBytes(int64_t warps) const {
  int64_t bn = decodeBlockN();
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
  const KernelConfig &cfg;
  KernelEmitter &e;
  int64_t d, dv, bn, group, warps, threads;

  /// Shared memory: the Q rows of every warp, the K stages, the V tile.
  int64_t kOffset(int64_t stage) const {
    return 2 * 16 * warps * d + stage * 2 * bn * d;
  }
  int64_t vOffset() const { return 2 * 16 * warps * d + kKStages * 2 * bn * d; }
};
} // namespace

void DecodeGenerator::build(gpu::GPUFuncOp func) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value qAddr = entry.getArgument(0), kAddr = entry.getArgument(1),
        vAddr = entry.getArgument(2), wsAddr = entry.getArgument(3);
  Value sq = entry.getArgument(5), skv = entry.getArgument(6),
        numSplits = entry.getArgument(7);
  unsigned next = 8;
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
  auto loadK = [&](Value j, Value stage) {
    Value base = e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
    loadKV(base, kBase, kAddr, e.mul(j, e.i32c(bn)), 2 * d);
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
  // cp.async groups: Q, K_j0, K_j0+1 (either may be empty).
  for (int64_t ahead = 0; ahead < kKStages - 1; ++ahead) {
    Value j = e.add(j0, e.i32c(ahead));
    scf::IfOp::create(b, loc, e.cmp(P::slt, j, j1), [&](OpBuilder &, Location) {
      loadK(j, e.i32c(ahead));
      scf::YieldOp::create(b, loc);
    });
    e.cpAsyncCommit();
  }
  e.cpAsyncWait(kKStages - 1);
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
      Value heads[2] = {e.add(e.mul(kvh, e.i32c(group)), e.divu(rowIdx[0], sq)),
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

  SmallVector<Value> init = start.flatten();
  init.push_back(e.i32c(0));
  unsigned skippedIdx = init.size() - 1;
  auto loop = scf::ForOp::create(b, loc, j0, j1, e.i32c(1), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    // In flight at the top: K_j and K_j+1 (each its own group).
    Value stage = e.remu(e.sub(j, j0), e.i32c(kKStages));
    e.cpAsyncWait(1);
    e.barrier();
    Value kStage = e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
    Value mt[2];
    Fragments s = scoreTile(j, kStage, mt);
    Value k0 = e.mul(j, e.i32c(bn));

    // The group's vote: every row of every head of the group. Only kv-block
    // 0 is exempt: a split past it starts from its seed.
    Value skip = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    if (cfg.skip) {
      Value pad[2] = {e.cmp(P::sge, rowIdx[0], rows),
                      e.cmp(P::sge, rowIdx[1], rows)};
      Value m[2] = {state[0], state[1]};
      Value yes = wt.skipVote(mt, m, pad, c, threshold);
      // One warp votes with vote.sync; several meet in bar.red.and.
      Value all = warps == 1 ? e.warpAll(yes) : e.barrierAnd(yes);
      skip =
          e.band(e.band(threshold.enabled, e.cmp(P::sgt, j, e.i32c(0))), all);
    }

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
              b, loc, wt.update(s, mt, before, e.i32c(vOffset()), c).flatten());
        });
    SmallVector<Value> yielded(update.getResults());
    yielded.push_back(
        e.add(state[skippedIdx], arith::ExtUIOp::create(b, loc, e.i32, skip)));
    e.barrier();
    scf::YieldOp::create(b, loc, yielded);
  }

  // The split's partial result per valid row: [m * c, l, O[Dv]] in f32,
  // at ((b * Hq + head) * Sq + query) * splits + split.
  ValueRange fin = loop.getResults();
  SoftmaxState last = SoftmaxState::unflatten(fin.drop_back(), wt.oTiles);
  Value ws = e.toGlobalPtr(wsAddr);
  int64_t rowFloats = dv + 2;
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
              ws, arith::MulIOp::create(b, loc, slot, e.i64c(4 * rowFloats)));
          scf::IfOp::create(
              b, loc, e.cmp(P::eq, t, e.i32c(0)), [&](OpBuilder &, Location) {
                Value mScaled = e.select(e.fcmp(FP::OEQ, last.m[r], ninf), ninf,
                                         e.fmul(last.m[r], c));
                LLVM::StoreOp::create(b, loc, mScaled, base, 4);
                LLVM::StoreOp::create(b, loc, l, e.gep(base, e.i32c(4)), 4);
                scf::YieldOp::create(b, loc);
              });
          for (int64_t n = 0; n < wt.oTiles; ++n) {
            Value col = e.add(e.i32c(n * 8), e.mul(t, e.i32c(2)));
            Value at = e.gep(base, e.shl(e.add(col, e.i32c(2)), 2));
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
    scf::IfOp::create(
        b, loc, e.cmp(P::ult, tid, e.i32c(group)), [&](OpBuilder &, Location) {
          Value head = e.add(e.mul(kvh, e.i32c(group)), tid);
          e.countTiles(statsAddr, bIdx, cfg.qHeads, head, e.sub(j1, j0),
                       fin[skippedIdx]);
          scf::YieldOp::create(b, loc);
        });
  }
  gpu::ReturnOp::create(b, loc);
}

/// The combine kernel: one CTA per output row (query, head, batch), one
/// thread per output column; the splits merge with log-sum-exp in log2
/// space.
static void buildCombine(gpu::GPUFuncOp func, const KernelConfig &cfg,
                         KernelEmitter &e) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value ws = e.toGlobalPtr(entry.getArgument(0));
  Value out = e.toGlobalPtr(entry.getArgument(1));
  Value sq = entry.getArgument(3), numSplits = entry.getArgument(4);
  int64_t dv = cfg.valueHeadDim, rowFloats = dv + 2;
  Value col = e.threadIdx();
  Value query = e.blockIdx(gpu::Dimension::x);
  Value head = e.blockIdx(gpu::Dimension::y);
  Value bIdx = e.blockIdx(gpu::Dimension::z);
  Value outRow =
      e.add(e.mul(e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), head), sq), query);
  Value first =
      arith::MulIOp::create(b, loc, e.toI64(outRow), e.toI64(numSplits));
  Value rowBase =
      e.gep(ws, arith::MulIOp::create(b, loc, first, e.i64c(4 * rowFloats)));
  auto slot = [&](Value s, Value index) {
    Value off = e.add(e.mul(s, e.i32c(4 * rowFloats)), e.shl(index, 2));
    return LLVM::LoadOp::create(b, loc, e.f32, e.gep(rowBase, off), 4)
        .getResult();
  };
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  // M = max over splits of m.
  auto maxLoop = scf::ForOp::create(b, loc, e.i32c(0), numSplits, e.i32c(1),
                                    ValueRange{ninf});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(maxLoop.getBody());
    Value m = slot(maxLoop.getInductionVar(), e.i32c(0));
    scf::YieldOp::create(b, loc, e.fmax(maxLoop.getRegionIterArg(0), m));
  }
  Value bigM = maxLoop.getResult(0);
  Value shift = e.select(e.fcmp(FP::OEQ, bigM, ninf), zero, bigM);
  // L = sum l * 2^(m - M), O = sum O * 2^(m - M).
  auto sumLoop = scf::ForOp::create(b, loc, e.i32c(0), numSplits, e.i32c(1),
                                    ValueRange{zero, zero});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(sumLoop.getBody());
    Value s = sumLoop.getInductionVar();
    Value w = e.ex2(e.fsub(slot(s, e.i32c(0)), shift));
    Value l = e.fma(slot(s, e.i32c(1)), w, sumLoop.getRegionIterArg(0));
    Value o =
        e.fma(slot(s, e.add(col, e.i32c(2))), w, sumLoop.getRegionIterArg(1));
    scf::YieldOp::create(b, loc, ValueRange{l, o});
  }
  Value l = sumLoop.getResult(0), o = sumLoop.getResult(1);
  Value value = e.select(e.fcmp(FP::OEQ, l, zero), zero, e.fdiv(o, l));
  // The row's log-sum-exp, natural log: M and the split maxima are in log2
  // units of scaled logits, so ln(sum) = (M + log2(L)) ln 2.
  if (cfg.lse) {
    Value lse = e.select(e.fcmp(FP::OEQ, l, zero), ninf,
                         e.fmul(e.fadd(shift, e.lg2(l)), e.f32c(M_LN2)));
    Value at = e.gep(e.toGlobalPtr(entry.getArgument(5)),
                     arith::MulIOp::create(b, loc, e.toI64(outRow), e.i64c(4)));
    scf::IfOp::create(b, loc, e.cmp(P::eq, col, e.i32c(0)),
                      [&](OpBuilder &, Location) {
                        LLVM::StoreOp::create(b, loc, lse, at, 4);
                        scf::YieldOp::create(b, loc);
                      });
  }
  Value narrow = arith::TruncFOp::create(b, loc, cfg.elementType, value);
  Value at = e.gep(
      out, arith::MulIOp::create(
               b, loc, e.add(e.mul(e.toI64(outRow), e.i64c(dv)), e.toI64(col)),
               e.i64c(2)));
  LLVM::StoreOp::create(b, loc, narrow, at, 2);
  gpu::ReturnOp::create(b, loc);
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
  // (q, k, v, workspace, batch, q_len, kv_len, num_splits,
  //  [block_table, seq_lens, max_pages], [skip], [stats])
  SmallVector<Type> args = {i64, i64, i64, i64, i32, i32, i32, i32};
  if (cfg.pageSize)
    args.append({i64, i64, i32});
  if (cfg.skip)
    args.push_back(b.getF32Type());
  if (cfg.stats)
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
  // (workspace, out, batch, q_len, num_splits, [lse])
  SmallVector<Type> combineArgs = {i64, i64, i32, i32, i32};
  if (cfg.lse)
    combineArgs.push_back(i64);
  kernels.combine =
      makeKernel(b, module, cfg.name("combine"), combineArgs, cfg.valueHeadDim);
  KernelEmitter ce(b, loc);
  buildCombine(kernels.combine, cfg, ce);
  return kernels;
}
