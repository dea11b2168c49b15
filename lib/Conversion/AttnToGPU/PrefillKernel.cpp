//===- PrefillKernel.cpp - the FlashAttention-2 prefill kernel ------------===//
//
// Generates the prefill kernel for one KernelConfig, following the anatomy
// of DESIGN.md section 5 (phase 1, mma.sync):
//
// - one CTA per (q-block, query head, batch); 16 query rows per warp; the
//   causal grid runs the longest q-blocks first;
// - Q is loaded once (cp.async) and kept in registers as ldmatrix A
//   fragments; K and V tiles go through three shared-memory stages with
//   cp.async, kv-block j + 2 prefetched while j is used, whatever the skip
//   decision;
// - one barrier per kv-block, after S = Q K_j^T: it publishes K_j+1 and V_j
//   (each thread has waited for its own copies), frees the stage of
//   kv-block j - 1 for the prefetch of j + 2, and with skipping it is the
//   CTA's vote (bar.red.and), so the skip test costs no extra barrier;
// - shared rows are swizzled (16-byte chunk XOR row % 8), so ldmatrix reads
//   are conflict-free;
// - S = Q K^T and O += P V run on mma.sync.m16n8k16 with f32 accumulation;
//   P never leaves registers: two f32 C fragments make one A fragment;
// - exp2 with scale * log2(e) folded into one FMA; the accumulator is
//   rescaled only on the rows whose max moved;
// - with skipping, each thread tests its two rows, vote.sync.all makes the
//   warp's decision and the barrier's AND the CTA's (or the warp skips on
//   its own with a 16-row vote group); a skipped tile costs no exp2, no
//   rescale and no P V;
// - the epilogue divides by l, stages the tile through shared memory and
//   writes 16-byte stores; rows past Sq are masked on store only;
// - with the carry of a ring (init_max), each row's running max starts at
//   init_max instead of -inf, block 0 is voted like every other, and the
//   final max is written beside the lse (docs/distributed.md).
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

namespace {
/// The generator of one prefill kernel. Values named after the design:
/// `g` is lane / 4 (the row of a fragment), `t` is lane % 4 (its column pair).
class PrefillGenerator {
public:
  PrefillGenerator(const KernelConfig &cfg, KernelEmitter &e)
      : cfg(cfg), e(e), d(cfg.headDim), dv(cfg.valueHeadDim), bm(cfg.blockM),
        bn(cfg.blockN), threads(cfg.numThreads()), oTiles(dv / 8),
        qStride(2 * d * (cfg.varlen ? cfg.qHeads : 1)),
        kStride(2 * d * (cfg.varlen ? cfg.kvHeads : 1)),
        vStride(2 * dv * (cfg.varlen ? cfg.kvHeads : 1)),
        oStride(2 * dv * (cfg.varlen ? cfg.qHeads : 1)) {}

  void build(gpu::GPUFuncOp func);

private:
  const KernelConfig &cfg;
  KernelEmitter &e;
  int64_t d, dv, bm, bn, threads, oTiles;

  // Per-thread values.
  Value tid, warp, lane, smem;
  std::unique_ptr<WarpTile> wt;
  // Run-time extents and the CTA's place.
  Value batch, sq, skv, q0, h, bIdx, kvh;
  Value qBase, kBase, vBase, oBase;
  // Bytes between consecutive rows of Q, K, V and the output in global
  // memory: a row of one head, or (varlen, packed [tokens, heads, dim]) a
  // token of every head.
  int64_t qStride, kStride, vStride, oStride;

  int64_t qOffset() const { return 0; }
  static constexpr int64_t kStages = KernelConfig::kPrefillStages;
  int64_t kOffset(int64_t stage) const {
    return 2 * bm * d + stage * 2 * bn * d;
  }
  int64_t vOffset(int64_t stage) const {
    return 2 * bm * d + kStages * 2 * bn * d + stage * 2 * bn * dv;
  }

  /// Issues the cp.async of kv-block `j` (if j < numKV) into its stage,
  /// j % kStages: two groups, K then V, committed whether or not they load,
  /// so that every iteration commits the same number.
  void prefetch(Value j, Value numKV);
};
} // namespace

void PrefillGenerator::prefetch(Value j, Value numKV) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value k0 = e.mul(j, e.i32c(bn));
  Value stage = e.remu(j, e.i32c(kStages));
  Value inRange = e.cmp(P::slt, j, numKV);
  auto load = [&](int64_t offset, int64_t stageBytes, Value base,
                  int64_t rowBytes, int64_t stride) {
    scf::IfOp::create(b, loc, inRange, [&](OpBuilder &, Location) {
      Value at = e.add(e.i32c(offset), e.mul(stage, e.i32c(stageBytes)));
      wt->loadTile(at, base, k0, skv, bn, rowBytes, tid, threads, stride);
      scf::YieldOp::create(b, loc);
    });
    e.cpAsyncCommit();
  };
  load(kOffset(0), 2 * bn * d, kBase, 2 * d, kStride);
  load(vOffset(0), 2 * bn * dv, vBase, 2 * dv, vStride);
}

void PrefillGenerator::build(gpu::GPUFuncOp func) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value qAddr = entry.getArgument(0), kAddr = entry.getArgument(1),
        vAddr = entry.getArgument(2), oAddr = entry.getArgument(3);
  batch = entry.getArgument(4);
  sq = entry.getArgument(5);
  skv = entry.getArgument(6);
  unsigned next = 7;
  Value skipParam, statsAddr, lseAddr, initMaxAddr, maxAddr;
  if (cfg.skip)
    skipParam = entry.getArgument(next++);
  if (cfg.stats)
    statsAddr = entry.getArgument(next++);
  if (cfg.lse)
    lseAddr = entry.getArgument(next++);
  if (cfg.initMax) {
    initMaxAddr = entry.getArgument(next++);
    maxAddr = entry.getArgument(next++);
  }
  std::optional<MaskView> mask;
  if (cfg.mask != KernelConfig::Mask::None)
    mask = MaskView::fromArgs(cfg, entry.getArguments().drop_front(next));
  Value cuQAddr, cuKAddr;
  if (cfg.varlen) {
    cuQAddr = entry.getArgument(next++);
    cuKAddr = entry.getArgument(next++);
  }

  Value zero = e.f32c(0.0);
  tid = e.threadIdx();
  warp = e.divu(tid, e.i32c(32));
  lane = e.remu(tid, e.i32c(32));
  smem = e.sharedBase(kSharedSymbol);
  wt = std::make_unique<WarpTile>(e, cfg, smem, lane);
  Value g = wt->g, t = wt->t;

  h = e.blockIdx(gpu::Dimension::y);
  bIdx = e.blockIdx(gpu::Dimension::z);
  kvh = cfg.group() == 1 ? h : e.divu(h, e.i32c(cfg.group()));
  // Varlen: the sequence's first tokens and lengths from the cumulative
  // lengths; sq and skv become its own.
  Value startQ, startK;
  if (cfg.varlen) {
    Value next = e.add(bIdx, e.i32c(1));
    startQ = e.loadI32(cuQAddr, bIdx);
    startK = e.loadI32(cuKAddr, bIdx);
    sq = e.maxsi(e.sub(e.loadI32(cuQAddr, next), startQ), e.i32c(0));
    skv = e.maxsi(e.sub(e.loadI32(cuKAddr, next), startK), e.i32c(0));
  }

  // The CTA's q-block: the causal grid starts with the longest ones. A
  // varlen grid covers the longest sequence: a CTA past its sequence's
  // q-blocks starts at row sq and visits nothing.
  Value numQBlocks = e.ceilDiv(sq, bm);
  Value x = e.blockIdx(gpu::Dimension::x);
  Value qb = x;
  if (cfg.causal)
    qb = e.sub(e.sub(numQBlocks, e.i32c(1)), qb);
  Value active;
  if (cfg.varlen) {
    active = e.cmp(P::slt, x, numQBlocks);
    qb = e.select(active, qb, numQBlocks);
  }
  q0 = e.mul(qb, e.i32c(bm));
  if (cfg.varlen) {
    // Row r of head h of the sequence is token start + r of [T, H, D].
    auto packedBase = [&](Value addr, Value start, int64_t heads, Value head,
                          int64_t rowBytes) {
      Value row = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, e.toI64(start), e.i64c(heads)),
          e.toI64(head));
      return e.gep(e.toGlobalPtr(addr),
                   arith::MulIOp::create(b, loc, row, e.i64c(rowBytes)));
    };
    qBase = packedBase(qAddr, startQ, cfg.qHeads, h, 2 * d);
    kBase = packedBase(kAddr, startK, cfg.kvHeads, kvh, 2 * d);
    vBase = packedBase(vAddr, startK, cfg.kvHeads, kvh, 2 * dv);
    oBase = packedBase(oAddr, startQ, cfg.qHeads, h, 2 * dv);
  } else {
    qBase = e.headBase(qAddr, bIdx, cfg.qHeads, h, sq, 2 * d);
    kBase = e.headBase(kAddr, bIdx, cfg.kvHeads, kvh, skv, 2 * d);
    vBase = e.headBase(vAddr, bIdx, cfg.kvHeads, kvh, skv, 2 * dv);
    oBase = e.headBase(oAddr, bIdx, cfg.qHeads, h, sq, 2 * dv);
  }

  Value numKV = visitedKvBlocks(e, cfg, q0, bm, sq, skv);
  if (active)
    numKV = e.select(active, numKV, e.i32c(0));

  // The threshold in log2 space: skipping is on only for 0 < lambda < 1.
  double scaleLog2 = cfg.scale * M_LOG2E;
  Value c = e.f32c(scaleLog2);
  SkipThreshold threshold;
  if (cfg.skip)
    threshold = SkipThreshold::build(e, cfg, skipParam, skv);

  // Prologue: the cp.async groups Q, K_0, V_0, K_1, V_1; Q and K_0 are
  // needed first.
  wt->loadTile(e.i32c(qOffset()), qBase, q0, sq, bm, 2 * d, tid, threads,
               qStride);
  e.cpAsyncCommit();
  for (int64_t j = 0; j < kStages - 1; ++j)
    prefetch(e.i32c(j), numKV);
  e.cpAsyncWait(2 * (kStages - 1) - 1);
  e.barrier();

  // Q fragments, kept in registers for the whole loop.
  Fragments qFrag = wt->loadQ(e.i32c(qOffset()), e.mul(warp, e.i32c(16)));

  // The rows of this thread: warp*16 + g and + 8.
  Value rowInBlock = e.add(e.mul(warp, e.i32c(16)), g);
  Value row[2] = {e.add(q0, rowInBlock),
                  e.add(q0, e.add(rowInBlock, e.i32c(8)))};

  // The carry's f32 [B, Hq, Sq] rows (the lse's layout): element (b, h, i)
  // of the CTA's (batch, head) at (b * Hq + h) * Sq + i.
  Value carryBase;
  auto carryAddress = [&](Value address, Value rowIndex) {
    Value index = e.toI64(e.add(carryBase, rowIndex));
    return e.gep(e.toGlobalPtr(address),
                 arith::MulIOp::create(b, loc, index, e.i64c(4)));
  };
  // init_max of this thread's rows (-inf past Sq), as a raw logit: m is kept
  // unscaled, and a score s is the raw logit s / scale (an additive mask
  // entry enters as entry / scale too).
  Value initMax[2], initRaw[2];
  if (cfg.initMax) {
    carryBase = e.mul(e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), h), sq);
    for (int r = 0; r < 2; ++r) {
      auto read =
          scf::IfOp::create(b, loc, TypeRange{e.f32}, e.cmp(P::slt, row[r], sq),
                            /*addThenBlock=*/true, /*addElseBlock=*/true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(read.thenBlock());
        Value v = LLVM::LoadOp::create(b, loc, e.f32,
                                       carryAddress(initMaxAddr, row[r]), 4);
        scf::YieldOp::create(b, loc, v);
        b.setInsertionPointToStart(read.elseBlock());
        scf::YieldOp::create(b, loc, ValueRange{e.f32c(-INFINITY)});
      }
      initMax[r] = read.getResult(0);
      initRaw[r] = e.fdiv(initMax[r], e.f32c(cfg.scale));
    }
  }

  // Loop state: m[2], l[2], O fragments, skipped-tile count.
  SoftmaxState start = wt->initial();
  if (cfg.initMax)
    for (int r = 0; r < 2; ++r)
      start.m[r] = initRaw[r];
  SmallVector<Value> init = start.flatten();
  init.push_back(e.i32c(0));
  unsigned skippedIdx = init.size() - 1;

  auto loop = scf::ForOp::create(b, loc, e.i32c(0), numKV, e.i32c(1), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    Value stage = e.remu(j, e.i32c(kStages));

    Value kStage = e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
    Value vStage = e.add(e.i32c(vOffset(0)), e.mul(stage, e.i32c(2 * bn * dv)));

    // S = Q K_j^T.
    Fragments s = wt->scores(qFrag, kStage);

    // Mask the ragged last tile and (causal) the tiles on the diagonal.
    Value k0 = e.mul(j, e.i32c(bn));
    Value needMask = tileNeedsMask(e, cfg, k0, q0, sq, skv);
    wt->maskScores(s, needMask, k0, sq, skv, row);
    // The mask operand, on every tile: the skip test sees masked scores.
    if (mask) {
      Value heads[2] = {h, h};
      wt->applyMask(s, *mask, bIdx, heads, row, k0, sq, skv);
    }

    // Row max of the raw logits: two rows per thread, then the quad.
    Value mt[2];
    wt->rowMax(s, mt);

    // The Skip-Softmax test against the running max from before the tile,
    // in log2 space on the raw logits: (mt - m) * scale * log2e < log2(lambda).
    Value skip = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    if (cfg.skip) {
      Value pastEnd[2] = {e.cmp(P::sge, row[0], sq), e.cmp(P::sge, row[1], sq)};
      Value m[2] = {state[0], state[1]};
      skip = e.warpAll(wt->skipVote(mt, m, pastEnd, c, threshold));
    }

    // The barrier (see the top of the file). In flight before it: V_j,
    // K_j+1 and V_j+1, the newest group; this thread's copies of all but
    // V_j+1 must have landed.
    e.cpAsyncWait(1);
    if (cfg.skip && !cfg.warpVote())
      skip = e.barrierAnd(skip);
    else
      e.barrier();
    // Block 0 is never skipped, but from init_max (DESIGN.md section 4,
    // docs/distributed.md): then m holds a score of the merged softmax
    // before the first tile, and a row still at -inf votes no wherever it
    // has a score.
    if (cfg.skip) {
      Value gate = threshold.enabled;
      if (!cfg.initMax)
        gate = e.band(gate, e.cmp(P::sgt, j, e.i32c(0)));
      skip = e.band(gate, skip);
    }
    prefetch(e.add(j, e.i32c(kStages - 1)), numKV);

    // Skipped: (m, l, O) unchanged. Otherwise the online-softmax update and
    // O += P V_j.
    auto update = scf::IfOp::create(
        b, loc, skip,
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, state.drop_back());
        },
        [&](OpBuilder &, Location) {
          SoftmaxState before =
              SoftmaxState::unflatten(state.drop_back(), oTiles);
          scf::YieldOp::create(b, loc,
                               wt->update(s, mt, before, vStage, c).flatten());
        });

    SmallVector<Value> yielded(update.getResults());
    Value skipped =
        e.add(state[skippedIdx], arith::ExtUIOp::create(b, loc, e.i32, skip));
    yielded.push_back(skipped);
    scf::YieldOp::create(b, loc, yielded);
  }

  // Epilogue: the quad's row sums, O / l (0 for rows that saw no key).
  ValueRange fin = loop.getResults();
  Value inv[2], rowSum[2];
  for (int r = 0; r < 2; ++r) {
    Value l = fin[2 + r];
    l = e.fadd(l, e.shflXor(l, 1));
    l = e.fadd(l, e.shflXor(l, 2));
    rowSum[r] = l;
    Value none = e.fcmp(FP::OEQ, l, zero);
    inv[r] = e.select(none, zero, e.fdiv(e.f32c(1.0), l));
  }
  // The log-sum-exp of the rows below Sq, by the quad's first thread:
  // scale * m + ln(l) over the raw-logit max m, -inf for a row that saw no
  // key.
  if (cfg.lse) {
    Value lseBase = e.toGlobalPtr(lseAddr);
    Value rowBase =
        e.mul(e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), h), sq); // (b, h, 0)
    for (int r = 0; r < 2; ++r) {
      Value inRange =
          e.band(e.cmp(P::slt, row[r], sq), e.cmp(P::eq, t, e.i32c(0)));
      scf::IfOp::create(b, loc, inRange, [&](OpBuilder &, Location) {
        Value value = rowLse(e, fin[r], rowSum[r], cfg.scale);
        Value index = e.toI64(e.add(rowBase, row[r]));
        Value at =
            e.gep(lseBase, arith::MulIOp::create(b, loc, index, e.i64c(4)));
        LLVM::StoreOp::create(b, loc, value, at, 4);
        scf::YieldOp::create(b, loc);
      });
    }
  }
  // The carry's final running max, scaled back to a score (the units of
  // init_max), by the quad's first thread. A row whose max never rose above
  // init_max writes init_max itself, so a carry that a call passes through
  // comes back unchanged rather than rounded twice.
  if (cfg.initMax)
    for (int r = 0; r < 2; ++r) {
      Value inRange =
          e.band(e.cmp(P::slt, row[r], sq), e.cmp(P::eq, t, e.i32c(0)));
      scf::IfOp::create(b, loc, inRange, [&](OpBuilder &, Location) {
        Value kept = e.fcmp(FP::OEQ, fin[r], initRaw[r]);
        Value value =
            e.select(kept, initMax[r], e.fmul(fin[r], e.f32c(cfg.scale)));
        LLVM::StoreOp::create(b, loc, value, carryAddress(maxAddr, row[r]), 4);
        scf::YieldOp::create(b, loc);
      });
    }
  // Stage the bf16/f16 tile in shared memory (the Q area, free once every
  // warp holds its fragments), then write rows < Sq with 16-byte stores.
  e.barrier();
  Value pairCol = e.mul(t, e.i32c(4));
  for (int64_t n = 0; n < oTiles; ++n)
    for (int r = 0; r < 2; ++r) {
      Value lo = e.fmul(fin[4 + n * 4 + 2 * r], inv[r]);
      Value hi = e.fmul(fin[4 + n * 4 + 2 * r + 1], inv[r]);
      Value packed = e.pack(cfg.elementType, lo, hi);
      Value rr = e.add(rowInBlock, e.i32c(8 * r));
      Value addr = e.gep(wt->swizzled(e.i32c(qOffset()), rr, e.i32c(n), 2 * dv),
                         pairCol);
      LLVM::StoreOp::create(b, loc, packed, addr, /*alignment=*/4);
    }
  e.barrier();
  {
    int64_t chunks = 2 * dv / 16;
    int64_t rowsPerPass = threads / chunks;
    Value cIdx = e.remu(tid, e.i32c(chunks));
    Value r0 = e.divu(tid, e.i32c(chunks));
    auto v4 = VectorType::get({4}, e.i32);
    for (int64_t pass = 0; pass < bm / rowsPerPass; ++pass) {
      Value r = e.add(r0, e.i32c(pass * rowsPerPass));
      Value gr = e.add(q0, r);
      scf::IfOp::create(
          b, loc, e.cmp(P::slt, gr, sq), [&](OpBuilder &, Location) {
            Value src = wt->swizzled(e.i32c(qOffset()), r, cIdx, 2 * dv);
            Value val = LLVM::LoadOp::create(b, loc, v4, src, 16);
            Value dst =
                e.gep(oBase, e.add(e.mul(gr, e.i32c(oStride)), e.shl(cIdx, 4)));
            LLVM::StoreOp::create(b, loc, val, dst, 16);
            scf::YieldOp::create(b, loc);
          });
    }
  }

  // Counters of the CTA's (batch, head): one atomic pair per CTA (per warp
  // with warp votes).
  if (cfg.stats) {
    Value counter = cfg.warpVote() ? lane : tid;
    scf::IfOp::create(
        b, loc, e.cmp(P::eq, counter, e.i32c(0)), [&](OpBuilder &, Location) {
          e.countTiles(statsAddr, bIdx, cfg.qHeads, h, numKV, fin[skippedIdx]);
          scf::YieldOp::create(b, loc);
        });
  }
  gpu::ReturnOp::create(b, loc);
}

void skipattn::kernels::declareSharedMemory(OpBuilder &b,
                                            gpu::GPUModuleOp module,
                                            StringRef symbol,
                                            int64_t alignment) {
  if (module.lookupSymbol(symbol))
    return;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  auto arrayType = LLVM::LLVMArrayType::get(b.getI8Type(), 0);
  LLVM::GlobalOp::create(b, module.getLoc(), arrayType, /*isConstant=*/false,
                         LLVM::Linkage::External, symbol, Attribute(),
                         alignment, /*addrSpace=*/3);
}

void skipattn::kernels::declareSharedMemory(OpBuilder &b,
                                            gpu::GPUModuleOp module) {
  declareSharedMemory(b, module, kSharedSymbol, /*alignment=*/128);
}

gpu::GPUFuncOp skipattn::kernels::createPrefillFunc(OpBuilder &b,
                                                    gpu::GPUModuleOp module,
                                                    const KernelConfig &cfg,
                                                    int64_t threads) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> args = {b.getI64Type(), b.getI64Type(), b.getI64Type(),
                            b.getI64Type(), b.getI32Type(), b.getI32Type(),
                            b.getI32Type()};
  if (cfg.skip)
    args.push_back(b.getF32Type());
  if (cfg.stats)
    args.push_back(b.getI64Type());
  if (cfg.lse)
    args.push_back(b.getI64Type());
  if (cfg.initMax)
    args.append(2, b.getI64Type());
  if (cfg.mask != KernelConfig::Mask::None)
    MaskView::addArgTypes(b, args);
  if (cfg.varlen)
    args.append(2, b.getI64Type());
  // The persistent Hopper kernel's tile counter: a zeroed u32 per call.
  if (cfg.sm90)
    args.push_back(b.getI64Type());
  auto func = gpu::GPUFuncOp::create(b, module.getLoc(), cfg.name("prefill"),
                                     b.getFunctionType(args, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(threads), 1, 1}));
  return func;
}

gpu::GPUFuncOp skipattn::kernels::buildPrefillKernel(OpBuilder &b,
                                                     gpu::GPUModuleOp module,
                                                     const KernelConfig &cfg) {
  OpBuilder::InsertionGuard guard(b);
  declareSharedMemory(b, module);
  auto func = createPrefillFunc(b, module, cfg, cfg.numThreads());
  KernelEmitter e(b, module.getLoc());
  PrefillGenerator(cfg, e).build(func);
  return func;
}
