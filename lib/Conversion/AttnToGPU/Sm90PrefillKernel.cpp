//===- Sm90PrefillKernel.cpp - the Hopper (sm_90a) prefill kernel ---------===//
//
// Generates the prefill kernel for chip=sm_90a with the structure of
// FlashAttention-3 (DESIGN.md section 5, phase 2):
//
// - one CTA of three warpgroups per (pair of q-blocks, query head, batch):
//   warpgroup 0 is the producer, which gives up registers (setmaxnreg dec)
//   and has one thread issue every TMA load; warpgroups 1 and 2 are the
//   consumers, which take registers (setmaxnreg inc) and each own one
//   64-row q-block (the IR's block-m) and its online-softmax state;
// - Q once, and K and V per kv-block, arrive by cp.async.bulk.tensor
//   (3-D tensor maps [B*H, S, D], 128-byte swizzle, rows past S read as
//   zeros) into a ring of kStages shared-memory stages; each stage has a
//   "full" mbarrier for K, one for V (expect-tx bytes) and an "empty" one
//   that the eight consumer warps arrive on when done with the stage;
// - S = Q K^T is wgmma m64nBNk16 with both operands in shared memory;
//   O += P V is wgmma m64nDk16 with P from registers: the S accumulator,
//   rounded to bf16/f16 pairs in place, is the A fragment;
// - software pipelining inside a consumer: iteration j issues S_j and
//   O += P_{j-1} V_{j-1} as one batch of tensor-core work, then does the
//   softmax of S_j while nothing of its own is in flight; the two consumers
//   ping-pong (named barriers) so that one's softmax runs under the other's
//   wgmmas;
// - the Skip-Softmax vote of a consumer is its own 64 rows (bar.red.and
//   over its 128 threads), taken once S_j is in registers: a skipped tile
//   does no exp2, no rescale and no P V, and releases its stage at once.
//   The producer never waits for a decision, only for free stages;
// - causal: only the kv-blocks with an unmasked key for a consumer's rows
//   are visited, masks are applied on the tiles that need them (the
//   diagonal and the ragged last one), and the grid runs the longest
//   q-blocks first.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"
#include "Sm90Emitter.h"
#include "WarpTile.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::kernels;
using P = arith::CmpIPredicate;
using FP = arith::CmpFPredicate;

static constexpr StringLiteral kSharedSymbol = "skipattn_smem_sm90";

namespace {
/// Named barriers: 0 is the CTA barrier; per consumer c (0 or 1) one for its
/// vote (128 threads) and one for its turn on the tensor cores (256).
constexpr int64_t kVoteBarrier = 1, kTurnBarrier = 3;
constexpr int64_t kConsumerThreads = 128;
constexpr int64_t kProducerRegisters = 40, kConsumerRegisters = 232;

/// Byte offsets in the CTA's shared memory, whose base is 1024-aligned:
/// Q (both q-blocks), the K stages, the V stages, then the mbarriers.
struct Sm90Layout {
  int64_t d, dv, bn, stages;
  int64_t qBlockBytes() const { return 64 * d * 2; }
  int64_t kTileBytes() const { return bn * d * 2; }
  int64_t vTileBytes() const { return bn * dv * 2; }
  int64_t k0() const { return 2 * qBlockBytes(); }
  int64_t v0() const { return k0() + stages * kTileBytes(); }
  int64_t barriers() const { return v0() + stages * vTileBytes(); }
  int64_t fullQ() const { return barriers(); }
  int64_t fullK0() const { return barriers() + 8; }
  int64_t fullV0() const { return fullK0() + 8 * stages; }
  int64_t empty0() const { return fullV0() + 8 * stages; }
  int64_t total() const { return empty0() + 8 * stages; }
};

/// One consumer's online-softmax state, as loop-carried values.
struct ConsumerState {
  Accumulator o;
  Value m[2], l[2];
  SmallVector<Value> p; // P of the last unskipped tile, packed pairs
  Value pending;        // that tile's P V is still to be issued
  Value skipped;        // i32 count

  SmallVector<Value> flatten() const {
    SmallVector<Value> v = {o.value, m[0], m[1], l[0], l[1]};
    v.append(p.begin(), p.end());
    v.push_back(pending);
    v.push_back(skipped);
    return v;
  }
  static ConsumerState unflatten(ValueRange v, int64_t oSize, int64_t pSize) {
    ConsumerState s;
    s.o = {v[0], oSize};
    s.m[0] = v[1];
    s.m[1] = v[2];
    s.l[0] = v[3];
    s.l[1] = v[4];
    s.p.assign(v.begin() + 5, v.begin() + 5 + pSize);
    s.pending = v[5 + pSize];
    s.skipped = v[6 + pSize];
    return s;
  }
};

class Sm90PrefillGenerator {
public:
  Sm90PrefillGenerator(const KernelConfig &cfg, KernelEmitter &e)
      : cfg(cfg), e(e), h(e), layout{cfg.headDim, cfg.valueHeadDim,
                                     cfg.blockN, KernelConfig::kSm90Stages} {}

  void build(gpu::GPUFuncOp func);

private:
  const KernelConfig &cfg;
  KernelEmitter &e;
  Sm90Emitter h;
  Sm90Layout layout;

  // Kernel arguments and CTA-wide values.
  Value mapQ, mapK, mapV, outAddr, sq, skv, skipParam, statsAddr;
  Value tid, smem, smem32, cta0, head, bIdx, numKV;

  int64_t oSize() const { return layout.dv / 2; }
  int64_t sSize() const { return layout.bn / 2; }
  int64_t pSize() const { return layout.bn / 4; }

  Value sharedAt(int64_t offset, Value stage = Value(), int64_t stride = 0);
  Value address32(int64_t offset, Value stage = Value(), int64_t stride = 0);
  Value stageOf(Value j) { return e.remu(j, e.i32c(layout.stages)); }
  Value parityOf(Value j) {
    return e.band(e.divu(j, e.i32c(layout.stages)), e.i32c(1));
  }
  /// kv-blocks the q-block at `q0` visits (0 when it is past Sq).
  Value visitedBlocks(Value q0);

  // Stages of the kernel.
  void buildSetup();
  void buildProducer();
  void buildConsumer();
  void loadKV(Value j);
  Accumulator issueScores(Value descQ, Value stage);
  Accumulator issuePV(const ConsumerState &st, Value stage);
  SmallVector<Value> maskScores(ArrayRef<Value> s, Value j, Value q0,
                                const Value rows[2], Value lane);
  void rowMax(ArrayRef<Value> s, Value mt[2]);
  ConsumerState softmax(ArrayRef<Value> s, Value mt[2],
                        const ConsumerState &st, Value c);
  void releaseStage(Value stage, Value lane);
  void epilogue(const ConsumerState &st, Value q0, Value rows[2], Value lane);
};
} // namespace

Value Sm90PrefillGenerator::sharedAt(int64_t offset, Value stage,
                                     int64_t stride) {
  Value off = e.i32c(offset);
  if (stage)
    off = e.add(off, e.mul(stage, e.i32c(stride)));
  return e.gep(smem, off);
}

Value Sm90PrefillGenerator::address32(int64_t offset, Value stage,
                                      int64_t stride) {
  Value a = e.add(smem32, e.i32c(offset));
  if (stage)
    a = e.add(a, e.mul(stage, e.i32c(stride)));
  return a;
}

Value Sm90PrefillGenerator::visitedBlocks(Value q0) {
  return e.select(e.cmp(P::slt, q0, sq),
                  visitedKvBlocks(e, cfg, q0, cfg.blockM, sq, skv),
                  e.i32c(0));
}

void Sm90PrefillGenerator::buildSetup() {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  scf::IfOp::create(b, loc, e.cmp(P::eq, tid, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      h.mbarInit(sharedAt(layout.fullQ()), 1);
                      for (int64_t s = 0; s < layout.stages; ++s) {
                        h.mbarInit(sharedAt(layout.fullK0() + 8 * s), 1);
                        h.mbarInit(sharedAt(layout.fullV0() + 8 * s), 1);
                        // One arrival per consumer warp.
                        h.mbarInit(sharedAt(layout.empty0() + 8 * s), 8);
                      }
                      h.fenceMbarInit();
                      scf::YieldOp::create(b, loc);
                    });
  e.barrier();
}

void Sm90PrefillGenerator::loadKV(Value j) {
  Value s = stageOf(j);
  Value kvh = cfg.group() == 1 ? head : e.divu(head, e.i32c(cfg.group()));
  Value bh = e.add(e.mul(bIdx, e.i32c(cfg.kvHeads)), kvh);
  Value row = e.mul(j, e.i32c(layout.bn));
  int64_t boxBytes = layout.bn * 128;
  Value fullK = sharedAt(layout.fullK0(), s, 8);
  h.mbarArriveExpectTx(fullK, layout.kTileBytes());
  for (int64_t c = 0; c < layout.d / 64; ++c)
    h.tmaLoad(sharedAt(layout.k0() + c * boxBytes, s, layout.kTileBytes()),
              mapK, {e.i32c(64 * c), row, bh}, fullK);
  Value fullV = sharedAt(layout.fullV0(), s, 8);
  h.mbarArriveExpectTx(fullV, layout.vTileBytes());
  for (int64_t c = 0; c < layout.dv / 64; ++c)
    h.tmaLoad(sharedAt(layout.v0() + c * boxBytes, s, layout.vTileBytes()),
              mapV, {e.i32c(64 * c), row, bh}, fullV);
}

void Sm90PrefillGenerator::buildProducer() {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  h.setMaxRegisters(kProducerRegisters, /*increase=*/false);
  scf::IfOp::create(
      b, loc, e.cmp(P::eq, tid, e.i32c(0)), [&](OpBuilder &, Location) {
        // Q of both q-blocks: 64-row boxes of 64 columns.
        Value fullQ = sharedAt(layout.fullQ());
        h.mbarArriveExpectTx(fullQ, 2 * layout.qBlockBytes());
        Value bh = e.add(e.mul(bIdx, e.i32c(cfg.qHeads)), head);
        for (int64_t half = 0; half < 2; ++half)
          for (int64_t c = 0; c < layout.d / 64; ++c)
            h.tmaLoad(sharedAt(half * layout.qBlockBytes() + c * 8192), mapQ,
                      {e.i32c(64 * c), e.add(cta0, e.i32c(64 * half)), bh},
                      fullQ);
        // K and V: a stage is refilled once all consumer warps released it.
        auto loop = scf::ForOp::create(b, loc, e.i32c(0), numKV, e.i32c(1));
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(loop.getBody());
          Value j = loop.getInductionVar();
          Value reuse = e.cmp(P::sge, j, e.i32c(layout.stages));
          scf::IfOp::create(b, loc, reuse, [&](OpBuilder &, Location) {
            Value previous = e.sub(j, e.i32c(layout.stages));
            h.mbarWait(sharedAt(layout.empty0(), stageOf(j), 8),
                       parityOf(previous));
            scf::YieldOp::create(b, loc);
          });
          loadKV(j);
        }
        scf::YieldOp::create(b, loc);
      });
}

Accumulator Sm90PrefillGenerator::issueScores(Value descQ, Value stage) {
  Value kAddr = address32(layout.k0(), stage, layout.kTileBytes());
  Value descK = h.descriptor(kAddr, 16, 1024);
  Accumulator s = h.poisonAccumulator(sSize());
  for (int64_t kk = 0; kk < layout.d / 16; ++kk) {
    int64_t inBox = (kk % 4) * 32;
    Value a = h.advance(descQ, (kk / 4) * 8192 + inBox);
    Value bDesc = h.advance(descK, (kk / 4) * layout.bn * 128 + inBox);
    s = h.wgmmaSS(cfg.elementType, layout.bn, s, a, bDesc, kk > 0);
  }
  return s;
}

Accumulator Sm90PrefillGenerator::issuePV(const ConsumerState &st,
                                          Value stage) {
  // V is MN-major: 64-column atoms BN * 128 bytes apart, 16 keys per k16.
  Value vAddr = address32(layout.v0(), stage, layout.vTileBytes());
  Value descV = h.descriptor(vAddr, layout.bn * 128, 1024);
  Accumulator o = st.o;
  for (int64_t kk = 0; kk < layout.bn / 16; ++kk)
    o = h.wgmmaRS(cfg.elementType, layout.dv, o,
                  ArrayRef<Value>(st.p).slice(4 * kk, 4),
                  h.advance(descV, kk * 2048));
  return o;
}

SmallVector<Value> Sm90PrefillGenerator::maskScores(ArrayRef<Value> s, Value j,
                                                    Value q0,
                                                    const Value rows[2],
                                                    Value lane) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  // Only tiles that cross Skv or the first row's diagonal need the selects.
  Value k0 = e.mul(j, e.i32c(layout.bn));
  Value need = tileNeedsMask(e, cfg, k0, q0, sq, skv);
  auto masked = scf::IfOp::create(
      b, loc, need,
      [&](OpBuilder &, Location) {
        SmallVector<Value> out;
        Value colBase = e.add(k0, e.mul(e.remu(lane, e.i32c(4)), e.i32c(2)));
        Value ninf = e.f32c(-INFINITY);
        for (int64_t i = 0; i < sSize(); ++i) {
          Value col = e.add(colBase, e.i32c(8 * (i / 4) + (i & 1)));
          Value keep = keyVisible(e, cfg, col, rows[(i % 4) / 2], sq, skv);
          out.push_back(e.select(keep, s[i], ninf));
        }
        scf::YieldOp::create(b, loc, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, s); });
  return SmallVector<Value>(masked.getResults());
}

void Sm90PrefillGenerator::rowMax(ArrayRef<Value> s, Value mt[2]) {
  // Elements 4i, 4i+1 are row r0 of this thread, 4i+2, 4i+3 row r0 + 8; a
  // row lies on the four lanes of a quad.
  for (int r = 0; r < 2; ++r) {
    Value acc;
    for (int64_t i = 0; i < sSize(); ++i)
      if ((i % 4) / 2 == r)
        acc = acc ? e.fmax(acc, s[i]) : s[i];
    acc = e.fmax(acc, e.shflXor(acc, 1));
    mt[r] = e.fmax(acc, e.shflXor(acc, 2));
  }
}

ConsumerState Sm90PrefillGenerator::softmax(ArrayRef<Value> s, Value mt[2],
                                            const ConsumerState &st, Value c) {
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  ConsumerState next = st;
  Value negShift[2], alpha[2], rowSum[2] = {zero, zero};
  for (int r = 0; r < 2; ++r) {
    next.m[r] = e.fmax(st.m[r], mt[r]);
    // A row with no key yet keeps m = -inf: shift by 0, so exp2 gives 0.
    Value shift = e.select(e.fcmp(FP::OEQ, next.m[r], ninf), zero,
                           e.fmul(next.m[r], c));
    alpha[r] = e.ex2(e.fsub(e.fmul(st.m[r], c), shift));
    negShift[r] = e.fsub(zero, shift);
  }
  SmallVector<Value> p;
  for (int64_t i = 0; i < sSize(); ++i) {
    int r = (i % 4) / 2;
    Value x = e.ex2(e.fma(s[i], c, negShift[r]));
    p.push_back(x);
    rowSum[r] = e.fadd(rowSum[r], x);
  }
  for (int r = 0; r < 2; ++r)
    next.l[r] = e.fma(st.l[r], alpha[r], rowSum[r]);
  SmallVector<Value> o = h.unpack(st.o);
  for (int64_t i = 0; i < oSize(); ++i)
    o[i] = e.fmul(o[i], alpha[(i % 4) / 2]);
  next.o = h.pack(o);
  next.p.clear();
  for (int64_t i = 0; i < pSize(); ++i)
    next.p.push_back(e.pack(cfg.elementType, p[2 * i], p[2 * i + 1]));
  next.pending = arith::ConstantOp::create(e.b, e.loc, e.b.getBoolAttr(true));
  return next;
}

void Sm90PrefillGenerator::releaseStage(Value stage, Value lane) {
  scf::IfOp::create(e.b, e.loc, e.cmp(P::eq, lane, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      h.mbarArrive(sharedAt(layout.empty0(), stage, 8));
                      scf::YieldOp::create(e.b, e.loc);
                    });
}

void Sm90PrefillGenerator::epilogue(const ConsumerState &st, Value q0,
                                    Value rows[2], Value lane) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value zero = e.f32c(0.0);
  Value inv[2];
  for (int r = 0; r < 2; ++r) {
    Value l = st.l[r];
    l = e.fadd(l, e.shflXor(l, 1));
    l = e.fadd(l, e.shflXor(l, 2));
    inv[r] = e.select(e.fcmp(FP::OEQ, l, zero), zero,
                      e.fdiv(e.f32c(1.0), l));
  }
  SmallVector<Value> o = h.unpack(st.o);
  Value oBase = e.headBase(outAddr, bIdx, cfg.qHeads, head, sq, 2 * layout.dv);
  Value colBytes = e.mul(e.remu(lane, e.i32c(4)), e.i32c(4));
  for (int r = 0; r < 2; ++r) {
    Value row = rows[r];
    scf::IfOp::create(
        b, loc, e.cmp(P::slt, row, sq), [&](OpBuilder &, Location) {
          Value rowPtr = e.gep(
              e.gep(oBase, arith::MulIOp::create(b, loc, e.toI64(row),
                                                 e.i64c(2 * layout.dv))),
              colBytes);
          for (int64_t i = 0; i < oSize() / 4; ++i) {
            Value packed = e.pack(cfg.elementType,
                                  e.fmul(o[4 * i + 2 * r], inv[r]),
                                  e.fmul(o[4 * i + 2 * r + 1], inv[r]));
            LLVM::StoreOp::create(b, loc, packed,
                                  e.gep(rowPtr, e.i32c(16 * i)),
                                  /*alignment=*/4);
          }
          scf::YieldOp::create(b, loc);
        });
  }
}

void Sm90PrefillGenerator::buildConsumer() {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  h.setMaxRegisters(kConsumerRegisters, /*increase=*/true);
  Value consumer =
      h.uniform(e.sub(e.divu(tid, e.i32c(kConsumerThreads)), e.i32c(1)));
  Value other = e.sub(e.i32c(1), consumer);
  Value t = e.remu(tid, e.i32c(kConsumerThreads));
  Value lane = e.remu(t, e.i32c(32));
  Value q0 = e.add(cta0, e.mul(consumer, e.i32c(64)));
  Value myKV = visitedBlocks(q0);
  Value rowInBlock =
      e.add(e.mul(e.divu(t, e.i32c(32)), e.i32c(16)), e.divu(lane, e.i32c(4)));
  Value rows[2] = {e.add(q0, rowInBlock),
                   e.add(q0, e.add(rowInBlock, e.i32c(8)))};
  Value myTurn = e.add(e.i32c(kTurnBarrier), consumer);
  Value otherTurn = e.add(e.i32c(kTurnBarrier), other);
  Value voteBar = e.add(e.i32c(kVoteBarrier), consumer);

  double scaleLog2 = cfg.scale * M_LOG2E;
  Value c = e.f32c(scaleLog2);
  SkipThreshold threshold;
  if (cfg.skip)
    threshold = SkipThreshold::build(e, cfg, skipParam, skv);

  // Consumer 1 lets consumer 0 go first on the tensor cores.
  scf::IfOp::create(b, loc,
                    e.band(e.cmp(P::eq, consumer, e.i32c(1)),
                           e.cmp(P::sgt, numKV, e.i32c(0))),
                    [&](OpBuilder &, Location) {
                      h.namedArrive(otherTurn, 2 * kConsumerThreads);
                      scf::YieldOp::create(b, loc);
                    });

  h.mbarWait(sharedAt(layout.fullQ()), e.i32c(0));
  Value descQ = h.descriptor(
      e.add(smem32, e.mul(consumer, e.i32c(layout.qBlockBytes()))), 16, 1024);

  ConsumerState init;
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  init.o = h.pack(SmallVector<Value>(oSize(), zero));
  init.m[0] = init.m[1] = ninf;
  init.l[0] = init.l[1] = zero;
  init.p.assign(pSize(), e.i32c(0));
  init.pending = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  init.skipped = e.i32c(0);

  auto loop =
      scf::ForOp::create(b, loc, e.i32c(0), numKV, e.i32c(1), init.flatten());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    ConsumerState st = ConsumerState::unflatten(loop.getRegionIterArgs(),
                                                oSize(), pSize());
    Value s = stageOf(j);
    Value prev = e.maxsi(e.sub(j, e.i32c(1)), e.i32c(0));
    Value sPrev = stageOf(prev);
    Value active = e.cmp(P::slt, j, myKV);

    h.mbarWait(sharedAt(layout.fullK0(), s, 8), parityOf(j));
    // This consumer's turn: S_j and P_{j-1} V_{j-1} in one batch.
    h.namedSync(myTurn, 2 * kConsumerThreads);
    h.wgmmaFence();
    auto scores = scf::IfOp::create(
        b, loc, active,
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, issueScores(descQ, s).value);
        },
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, h.poisonAccumulator(sSize()).value);
        });
    auto pv = scf::IfOp::create(
        b, loc, st.pending,
        [&](OpBuilder &, Location) {
          h.mbarWait(sharedAt(layout.fullV0(), sPrev, 8), parityOf(prev));
          scf::YieldOp::create(b, loc, issuePV(st, sPrev).value);
        },
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, st.o.value);
        });
    h.wgmmaCommit();
    // Hand the tensor cores to the other consumer (whose last turn, that
    // of consumer 1 at the last block, is not passed back).
    Value last = e.cmp(P::eq, j, e.sub(numKV, e.i32c(1)));
    Value lastOfOne = e.band(last, e.cmp(P::eq, consumer, e.i32c(1)));
    Value passOn = e.bxor(
        lastOfOne, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
    scf::IfOp::create(b, loc, passOn, [&](OpBuilder &, Location) {
                        h.namedArrive(otherTurn, 2 * kConsumerThreads);
                        scf::YieldOp::create(b, loc);
                      });
    h.wgmmaWait(0);
    Accumulator sAcc = h.fenceRegisters({scores.getResult(0), sSize()});
    st.o = h.fenceRegisters({pv.getResult(0), oSize()});
    scf::IfOp::create(b, loc, st.pending, [&](OpBuilder &, Location) {
      releaseStage(sPrev, lane);
      scf::YieldOp::create(b, loc);
    });

    ConsumerState done = st;
    done.pending = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    // A tile without work for this consumer, or a skipped one: wait until V
    // has landed (so no TMA of the stage is in flight), then release it.
    auto release = [&](Value one) {
      h.mbarWait(sharedAt(layout.fullV0(), s, 8), parityOf(j));
      releaseStage(s, lane);
      ConsumerState r = done;
      r.skipped = e.add(st.skipped, one);
      scf::YieldOp::create(b, loc, r.flatten());
    };
    SmallVector<Type> types;
    for (Value v : st.flatten())
      types.push_back(v.getType());
    auto step = scf::IfOp::create(
        b, loc, types, active, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&step.getThenRegion().front());
      SmallVector<Value> sv = maskScores(h.unpack(sAcc), j, q0, rows, lane);
      Value mt[2];
      rowMax(sv, mt);
      Value skip = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
      if (cfg.skip) {
        Value outside[2] = {e.cmp(P::sge, rows[0], sq),
                            e.cmp(P::sge, rows[1], sq)};
        Value vote = skipVoteRows(e, mt, st.m, outside, c, threshold);
        Value all = h.namedAnd(voteBar, kConsumerThreads, vote);
        skip = e.band(e.band(threshold.enabled, e.cmp(P::sgt, j, e.i32c(0))),
                      all);
      }
      auto decide =
          scf::IfOp::create(b, loc, types, skip, /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPointToStart(&decide.getThenRegion().front());
        release(e.i32c(1));
        b.setInsertionPointToStart(&decide.getElseRegion().front());
        scf::YieldOp::create(b, loc, softmax(sv, mt, st, c).flatten());
      }
      scf::YieldOp::create(b, loc, decide.getResults());
      b.setInsertionPointToStart(&step.getElseRegion().front());
      release(e.i32c(0));
    }
    scf::YieldOp::create(b, loc, step.getResults());
  }
  ConsumerState fin =
      ConsumerState::unflatten(loop.getResults(), oSize(), pSize());

  // The P V of the last visited tile.
  auto tail = scf::IfOp::create(
      b, loc, fin.pending,
      [&](OpBuilder &, Location) {
        Value lastJ = e.sub(numKV, e.i32c(1));
        Value sLast = stageOf(lastJ);
        h.mbarWait(sharedAt(layout.fullV0(), sLast, 8), parityOf(lastJ));
        h.wgmmaFence();
        Accumulator o = issuePV(fin, sLast);
        h.wgmmaCommit();
        h.wgmmaWait(0);
        o = h.fenceRegisters(o);
        releaseStage(sLast, lane);
        scf::YieldOp::create(b, loc, o.value);
      },
      [&](OpBuilder &, Location) {
        scf::YieldOp::create(b, loc, fin.o.value);
      });
  fin.o = {tail.getResult(0), oSize()};
  epilogue(fin, q0, rows, lane);

  // Counters: one atomic pair per consumer that owns a q-block.
  if (cfg.stats) {
    Value first = e.band(e.cmp(P::eq, t, e.i32c(0)), e.cmp(P::slt, q0, sq));
    scf::IfOp::create(b, loc, first, [&](OpBuilder &, Location) {
      Value base = e.toGlobalPtr(statsAddr);
      LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, base,
                                e.toI64(myKV), LLVM::AtomicOrdering::monotonic);
      LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add,
                                e.gep(base, e.i32c(8)), e.toI64(fin.skipped),
                                LLVM::AtomicOrdering::monotonic);
      scf::YieldOp::create(b, loc);
    });
  }
}

void Sm90PrefillGenerator::build(gpu::GPUFuncOp func) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  auto ptr = [&](Value address) {
    return LLVM::IntToPtrOp::create(b, loc,
                                    LLVM::LLVMPointerType::get(b.getContext()),
                                    address)
        .getResult();
  };
  mapQ = ptr(entry.getArgument(0));
  mapK = ptr(entry.getArgument(1));
  mapV = ptr(entry.getArgument(2));
  outAddr = entry.getArgument(3);
  // Argument 4, the batch, is the grid's z extent.
  sq = entry.getArgument(5);
  skv = entry.getArgument(6);
  unsigned next = 7;
  if (cfg.skip)
    skipParam = entry.getArgument(next++);
  if (cfg.stats)
    statsAddr = entry.getArgument(next++);

  tid = e.threadIdx();
  smem = e.sharedBase(kSharedSymbol);
  smem32 = LLVM::PtrToIntOp::create(b, loc, e.i32, smem);

  // The CTA's two q-blocks: the causal grid starts with the longest.
  Value numCtas = e.ceilDiv(sq, 2 * 64);
  Value x = e.blockIdx(gpu::Dimension::x);
  if (cfg.causal)
    x = e.sub(e.sub(numCtas, e.i32c(1)), x);
  cta0 = e.mul(x, e.i32c(2 * 64));
  head = e.blockIdx(gpu::Dimension::y);
  bIdx = e.blockIdx(gpu::Dimension::z);
  // The producer loads what the later consumer visits, which is at least
  // what the earlier one does.
  numKV = e.maxsi(visitedBlocks(cta0), visitedBlocks(e.add(cta0, e.i32c(64))));

  buildSetup();
  Value producer = e.cmp(P::ult, tid, e.i32c(kConsumerThreads));
  scf::IfOp::create(
      b, loc, producer,
      [&](OpBuilder &, Location) {
        buildProducer();
        scf::YieldOp::create(b, loc);
      },
      [&](OpBuilder &, Location) {
        buildConsumer();
        scf::YieldOp::create(b, loc);
      });
  gpu::ReturnOp::create(b, loc);
}

int64_t KernelConfig::sm90SharedBytes() const {
  return Sm90Layout{headDim, valueHeadDim, blockN, kSm90Stages}.total();
}

gpu::GPUFuncOp skipattn::kernels::buildSm90PrefillKernel(
    OpBuilder &b, gpu::GPUModuleOp module, const KernelConfig &cfg) {
  OpBuilder::InsertionGuard guard(b);
  // 128-byte swizzled TMA tiles need 1024-byte alignment; ptxas honours it
  // on an extern .shared array.
  declareSharedMemory(b, module, kSharedSymbol, /*alignment=*/1024);
  auto func = createPrefillFunc(b, module, cfg, KernelConfig::kSm90Threads);
  // setmaxnreg needs the entry's register budget fixed: 65536 / 384 threads.
  func->setAttr("nvvm.maxnreg", b.getI32IntegerAttr(168));
  func->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  KernelEmitter e(b, module.getLoc());
  Sm90PrefillGenerator(cfg, e).build(func);
  return func;
}
