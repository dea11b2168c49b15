//===- DecodeKernel.cpp - split-KV decode and its combine kernel ----------===//
//
// Decode has a few query rows per head and a long key/value history, so one
// CTA per (q-block, head) would leave most of the GPU idle. Following
// flash-decoding, the kv range is split across CTAs:
//
// - a CTA is one warp and handles (split, kv head, batch); its 16 rows are
//   the query rows of every query head of the GQA group (G heads x Sq rows,
//   padded to 16), so those heads share each K and V tile and its vote;
// - K tiles are prefetched two ahead with cp.async (three stages); the V
//   tile is loaded only after the vote, so a skipped tile costs no V
//   traffic, and a run of skipped tiles still has two K tiles in flight;
// - each split writes its unnormalised (m, l, O) to a workspace, and the
//   combine kernel merges the splits of each output row with log-sum-exp.
//
// The first kv-block of each split is never skipped: each split starts its
// running max afresh.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"
#include "WarpTile.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::kernels;
using P = arith::CmpIPredicate;
using FP = arith::CmpFPredicate;

static constexpr StringLiteral kSharedSymbol = "skipattn_smem";

/// K stages of the decode kernel: kv-block j is used while j + 1 and j + 2
/// are in flight.
static constexpr int64_t kKStages = 3;

int64_t KernelConfig::decodeSharedBytes() const {
  return 2 *
         (16 * headDim + kKStages * blockN * headDim + blockN * valueHeadDim);
}

namespace {
class DecodeGenerator {
public:
  DecodeGenerator(const KernelConfig &cfg, KernelEmitter &e)
      : cfg(cfg), e(e), d(cfg.headDim), dv(cfg.valueHeadDim), bn(cfg.blockN),
        group(cfg.group()) {}
  void build(gpu::GPUFuncOp func);

private:
  const KernelConfig &cfg;
  KernelEmitter &e;
  int64_t d, dv, bn, group;

  int64_t kOffset(int64_t stage) const {
    return 2 * 16 * d + stage * 2 * bn * d;
  }
  int64_t vOffset() const { return 2 * 16 * d + kKStages * 2 * bn * d; }
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
  Value skipParam, statsAddr;
  if (cfg.skip)
    skipParam = entry.getArgument(next++);
  if (cfg.stats)
    statsAddr = entry.getArgument(next++);

  Value ninf = e.f32c(-INFINITY);
  Value lane = e.threadIdx();
  Value smem = e.sharedBase(kSharedSymbol);
  WarpTile wt(e, cfg, smem, lane);
  Value g = wt.g, t = wt.t;
  Value split = e.blockIdx(gpu::Dimension::x);
  Value kvh = e.blockIdx(gpu::Dimension::y);
  Value bIdx = e.blockIdx(gpu::Dimension::z);
  Value rows = e.mul(e.i32c(group), sq); // valid rows of the 16

  // This split's kv-blocks.
  Value numKV = e.ceilDiv(skv, bn);
  Value perSplit = e.divu(e.add(numKV, e.sub(numSplits, e.i32c(1))), numSplits);
  Value j0 = e.minsi(e.mul(split, perSplit), numKV);
  Value j1 = e.minsi(e.add(j0, perSplit), numKV);

  Value kBase = e.headBase(kAddr, bIdx, cfg.kvHeads, kvh, skv, 2 * d);
  Value vBase = e.headBase(vAddr, bIdx, cfg.kvHeads, kvh, skv, 2 * dv);

  // Q: row r is query r % Sq of head kvh * G + r / Sq; rows >= G * Sq are 0.
  {
    int64_t chunks = 2 * d / 16;
    int64_t rowsPerPass = 32 / chunks;
    Value c = e.remu(lane, e.i32c(chunks));
    Value r0 = e.divu(lane, e.i32c(chunks));
    for (int64_t pass = 0; pass < 16 / rowsPerPass; ++pass) {
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
  e.cpAsyncCommit();
  auto loadK = [&](Value j, Value stage) {
    Value base = e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
    wt.loadTile(base, kBase, e.mul(j, e.i32c(bn)), skv, bn, 2 * d, lane, 32);
  };
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
  Fragments qFrag = wt.loadQ(e.i32c(0), e.i32c(0));

  double scaleLog2 = cfg.scale * M_LOG2E;
  Value c = e.f32c(scaleLog2);
  SkipThreshold threshold;
  if (cfg.skip)
    threshold = SkipThreshold::build(e, cfg, skipParam, skv);
  Value rowIdx[2] = {g, e.add(g, e.i32c(8))};

  SmallVector<Value> init = wt.initial().flatten();
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
    Fragments s = wt.scores(qFrag, kStage);

    // Mask keys past Skv and (causal) keys after a row's diagonal:
    // key k is kept for query i when k + Sq <= i + Skv.
    Value k0 = e.mul(j, e.i32c(bn));
    Value tileEnd = e.add(k0, e.i32c(bn));
    Value needMask = e.cmp(P::sgt, tileEnd, skv);
    if (cfg.causal)
      needMask = arith::OrIOp::create(
          b, loc, needMask,
          e.cmp(P::sgt, e.add(e.sub(tileEnd, e.i32c(1)), sq), skv));
    Value query[2] = {e.remu(rowIdx[0], sq), e.remu(rowIdx[1], sq)};
    wt.maskScores(s, needMask, k0, sq, skv, query);
    Value mt[2];
    wt.rowMax(s, mt);

    // The group's vote: every row of every head of the group.
    Value skip = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    if (cfg.skip) {
      Value pad[2] = {e.cmp(P::sge, rowIdx[0], rows),
                      e.cmp(P::sge, rowIdx[1], rows)};
      Value m[2] = {state[0], state[1]};
      Value yes = wt.skipVote(mt, m, pad, c, threshold);
      skip = e.band(e.band(threshold.enabled, e.cmp(P::sgt, j, j0)),
                    e.warpAll(yes));
    }

    // V only for a tile that is kept; then prefetch K two ahead into the
    // stage of K_j-1, which the barrier above has released.
    Value keepTile = arith::XOrIOp::create(
        b, loc, skip, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    scf::IfOp::create(b, loc, keepTile, [&](OpBuilder &, Location) {
      wt.loadTile(e.i32c(vOffset()), vBase, k0, skv, bn, 2 * dv, lane, 32);
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

  // Counters: the split's tiles count once for each query head of the
  // group, which shares the vote; lane g counts head kvh * G + g.
  if (cfg.stats) {
    scf::IfOp::create(
        b, loc, e.cmp(P::ult, lane, e.i32c(group)), [&](OpBuilder &, Location) {
          Value head = e.add(e.mul(kvh, e.i32c(group)), lane);
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

std::pair<gpu::GPUFuncOp, gpu::GPUFuncOp>
skipattn::kernels::buildDecodeKernels(OpBuilder &b, gpu::GPUModuleOp module,
                                      const KernelConfig &cfg) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = module.getLoc();
  declareSharedMemory(b, module);
  Type i32 = b.getI32Type(), i64 = b.getI64Type();
  // (q, k, v, workspace, batch, q_len, kv_len, num_splits, [skip], [stats])
  SmallVector<Type> args = {i64, i64, i64, i64, i32, i32, i32, i32};
  if (cfg.skip)
    args.push_back(b.getF32Type());
  if (cfg.stats)
    args.push_back(i64);
  gpu::GPUFuncOp decode = makeKernel(b, module, cfg.name("decode"), args, 32);
  KernelEmitter e(b, loc);
  DecodeGenerator(cfg, e).build(decode);
  // (workspace, out, batch, q_len, num_splits)
  gpu::GPUFuncOp combine =
      makeKernel(b, module, cfg.name("combine"), {i64, i64, i32, i32, i32},
                 cfg.valueHeadDim);
  KernelEmitter ce(b, loc);
  buildCombine(combine, cfg, ce);
  return {decode, combine};
}
