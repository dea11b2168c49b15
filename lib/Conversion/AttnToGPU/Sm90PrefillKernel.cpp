//===- Sm90PrefillKernel.cpp - the Hopper (sm_90a) prefill kernel ---------===//
//
// Generates the prefill kernel for chip=sm_90a with the structure of
// FlashAttention-3 (DESIGN.md section 5, phase 2):
//
// - persistent CTAs of three warpgroups, at most one per SM, each looping
//   over tiles of 128 query rows of one (batch, query head), causal tiles
//   longest first; a CTA that finishes a tile takes the next one from the
//   call's tile counter (FlashAttention-3's dynamic scheduler), so tiles of
//   unequal cost (causal, skipped) even out; warpgroup 0 is the producer,
//   which gives up registers (setmaxnreg dec) and has one thread issue
//   every TMA load; warpgroups 1 and 2 are the consumers, which take
//   registers (setmaxnreg inc) and each own one 64-row q-block (the IR's
//   block-m) of the tile and its online-softmax state;
// - Q per tile, and K and V per kv-block, arrive by cp.async.bulk.tensor
//   (3-D tensor maps [B*H, S, D], 128-byte swizzle, rows past S read as
//   zeros) into a ring of kStages shared-memory stages that runs on across
//   tiles; every buffer has a "full" mbarrier (expect-tx bytes) and an
//   "empty" one that the consumers arrive on when done with it, so the
//   producer loads the next tile's Q and first blocks while the consumers
//   finish the current one;
// - S = Q K^T is wgmma m64nBNk16 with both operands in shared memory;
//   O += P V is wgmma m64nDk16 with P from registers: the S accumulator,
//   rounded to bf16/f16 pairs in place, is the A fragment;
// - FlashAttention-3's intra-warpgroup pipelining: step j issues S_j and
//   O += P_{j-1} V_{j-1} as two wgmma groups and starts the softmax of S_j
//   when the first is done; the two consumers ping-pong (named barriers) so
//   that one's softmax runs under the other's wgmmas;
// - the Skip-Softmax vote of a consumer is its own 64 rows (bar.red.and
//   over its 128 threads), taken once S_j is in registers: a skipped tile
//   does no exp2, no rescale and no P V, and releases its V stage at once.
//   The producer never waits for a decision, only for free stages;
// - causal: only the kv-blocks with an unmasked key for a consumer's rows
//   are visited, and masks are applied on the tiles that need them (the
//   diagonal and the ragged last one).
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
/// Causal schedules put the longest tiles of all heads first up to this much
/// K and V in total (H100 and H200 have 50 MB of L2; 32 heads of 4K, 64 MiB,
/// still ran best that way on an H100).
constexpr int64_t kLongestFirstKVBytes = 64ll << 20;

/// Byte offsets in the CTA's shared memory, whose base is 1024-aligned:
/// Q (both q-blocks), the K stages, the V stages, then the mbarriers. K and
/// V have their own "empty" barriers: a consumer is done with K_j once S_j
/// is computed, and with V_j only after P_j V_j (or at once when it skips
/// tile j), so the producer can refill a K stage an iteration earlier than
/// the V stage beside it.
struct Sm90Layout {
  int64_t d, dv, bn, stages;
  int64_t qBlockBytes() const { return 64 * d * 2; }
  int64_t kTileBytes() const { return bn * d * 2; }
  int64_t vTileBytes() const { return bn * dv * 2; }
  int64_t k0() const { return 2 * qBlockBytes(); }
  int64_t v0() const { return k0() + stages * kTileBytes(); }
  int64_t barriers() const { return v0() + stages * vTileBytes(); }
  int64_t fullQ() const { return barriers(); }
  int64_t emptyQ() const { return barriers() + 8; }
  int64_t fullK0() const { return barriers() + 16; }
  int64_t fullV0() const { return fullK0() + 8 * stages; }
  int64_t emptyK0() const { return fullV0() + 8 * stages; }
  int64_t emptyV0() const { return emptyK0() + 8 * stages; }
  /// The tile whose Q is in the buffer, which the producer writes before it
  /// arms Q's full barrier: its schedule position and, for varlen, its
  /// sequence (TileSlot).
  int64_t tilePos() const { return emptyV0() + 8 * stages; }
  int64_t total() const { return tilePos() + 32; }
};

/// The i32 fields of the published tile, at tilePos() + 4 * field.
enum TileSlot : int64_t {
  kSlotPos,
  kSlotBatch,
  kSlotQTile,
  kSlotQStart,
  kSlotQLen,
  kSlotKStart,
  kSlotKvLen
};

/// One consumer's online-softmax state, as loop-carried values.
struct ConsumerState {
  Accumulator o;
  Value m[2], l[2];
  SmallVector<Value> p; // P of the last kept tile, packed pairs
  Value pending;        // that tile's P V is still to be issued
  Value skipped;        // i32 count
  // Within a step only: the rescale of o that the tile just kept asks for
  // (1 when nothing changes).
  Value alpha[2];

  /// The loop-carried values (alpha is not one).
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

/// The per-row part of the online-softmax update of a kept tile.
struct RowUpdate {
  Value m[2], alpha[2], negShift[2];
};

/// What a consumer warpgroup knows about itself for the whole kv loop.
struct Consumer {
  Value index, lane, thread; // warpgroup 0 or 1; lane; thread in warpgroup
  Value rowInBlock;          // this thread's first row in the q-block
  // Of the tile in hand: the q-block, how many kv-blocks it visits, and the
  // two query rows of this thread.
  Value q0, visited;
  Value rows[2];
  Value myTurn, otherTurn, voteBar;
  Value c; // scale * log2(e)
  SkipThreshold threshold;
  Value descQ;
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

  // Kernel arguments and CTA-wide values. Varlen: cuQ and cuK are the
  // cumulative lengths, and numSlots the q-tile slots of one head.
  Value mapQ, mapK, mapV, outAddr, batch, sq, skv, skipParam, statsAddr;
  Value cuQ, cuK, tileCounter;
  Value tid, smem, smem32, numQTiles, numSlots, numTiles;
  /// The tile in hand (set by visitTile): its schedule position, first query
  /// row, query head, batch and kv-blocks, how many tiles this CTA did
  /// before it (the phase of the Q buffer) and where its first kv-block sits
  /// in the K/V ring (the kv-blocks of every earlier tile of this CTA); its
  /// sequence's lengths (else sq and skv) and first tokens (varlen); and
  /// whether the position holds a tile at all (varlen: false past its
  /// sequence's q-tiles).
  struct {
    Value pos, cta0, head, batch, numKV, seq, ring;
    Value qTile, sq, skv, qStart, kStart, valid;
  } tile;

  int64_t oSize() const { return layout.dv / 2; }
  int64_t sSize() const { return layout.bn / 2; }
  int64_t pSize() const { return layout.bn / 4; }

  Value sharedAt(int64_t offset, Value stage = Value(), int64_t stride = 0);
  Value address32(int64_t offset, Value stage = Value(), int64_t stride = 0);
  Value stageOf(Value j) { return e.remu(j, e.i32c(layout.stages)); }
  Value parityOf(Value j) {
    return e.band(e.divu(j, e.i32c(layout.stages)), e.i32c(1));
  }
  Value constantBool(bool v) {
    return arith::ConstantOp::create(e.b, e.loc, e.b.getBoolAttr(v));
  }
  /// kv-blocks the q-block at `q0` of the tile in hand visits (0 when it
  /// is past its Sq).
  Value visitedBlocks(Value q0);
  /// The kv head of the tile in hand.
  Value kvHead();
  /// TMA loads of the `cols` columns of the box at row `row` of `head` of
  /// the tile's sequence (first token `start`) in `map`, 64 columns a load
  /// into `dstOf(chunk)`, completing on `full`. The box sits at {column,
  /// row, batch * heads + head} of a [B * heads, S, D] map, and at
  /// {column, head, start + row} of a varlen map of packed [T, heads, D]
  /// (dimensions D, heads, T).
  void loadRows(Value map, int64_t cols, function_ref<Value(int64_t)> dstOf,
                Value row, Value start, Value head, int64_t heads, Value full);

  /// Run `body` for each tile of this CTA with `tile` set: the producer
  /// takes the tiles from the tile counter and publishes them with their Q,
  /// the consumers read them once Q has landed.
  void forEachProducerTile(function_ref<void()> body);
  void forEachConsumerTile(function_ref<void()> body);
  /// Sets `tile` to position `pos` of the schedule, this CTA's tile `seq`
  /// whose kv-blocks start at `ring` in the K/V ring, runs `body`, and
  /// returns the next tile's seq and ring. The producer skips (varlen)
  /// positions that hold no tile: it does not publish them.
  SmallVector<Value> visitTile(Value pos, Value seq, Value ring, bool producer,
                               function_ref<void()> body);
  /// Sets the tile's q-tile, head and batch from position `pos` of the
  /// schedule.
  void decodeTile(Value pos);
  /// Varlen: the producer finds the tile's sequence from the cumulative
  /// lengths; the consumers read what it published with Q.
  void locateVarlenTile(Value pos);
  void readVarlenTile(Value pos);
  /// The tile's first row and kv-blocks from its q-tile and lengths.
  void finishTile();
  /// Waits until the consumers have released Q of this CTA's tile `seq` - 1
  /// (nothing for the first).
  void waitQReleased(Value seq);

  // The producer.
  void buildSetup();
  void buildProducer();
  /// Waits until the consumers released the previous use of the ring stage
  /// that kv-block `j` of the tile goes to, then loads K_j (V_j) into it.
  void loadK(Value j);
  void loadV(Value j);
  void loadQ();

  // The consumers: one kv-block per step of the loop.
  void buildConsumer();
  Consumer consumerSetup();
  /// `invariant` with the q-block of the tile in hand.
  Consumer consumerTile(const Consumer &invariant);
  /// The kv loop of the tile in hand from `init`; `vote` says whether
  /// its steps take the skip vote.
  ConsumerState kvLoop(const Consumer &cs, const ConsumerState &init,
                       bool vote);
  ConsumerState consumerStep(const Consumer &cs, Value j,
                             const ConsumerState &st, bool vote);
  Accumulator issueScores(Value descQ, Value stage);
  Accumulator issuePV(const Accumulator &o, ArrayRef<Value> p, Value stage);
  SmallVector<Value> maskScores(ArrayRef<Value> s, Value j, const Consumer &cs);
  void rowMax(ArrayRef<Value> s, Value mt[2]);
  Value skipDecision(const Consumer &cs, Value j, const Value mt[2],
                     const ConsumerState &st, bool vote);
  /// The new running max, the rescale and the exponent shift of a kept tile
  /// with row maxima `mt`.
  RowUpdate rowUpdate(const Value mt[2], const ConsumerState &st, Value c);
  ConsumerState softmax(ArrayRef<Value> s, const RowUpdate &u,
                        const ConsumerState &st, Value c);
  Accumulator rescale(const Accumulator &o, const Value alpha[2]);
  /// One arrival of this warp on the empty barrier of `stage` at `base`.
  void release(int64_t base, Value stage, Value lane);
  void epilogue(const ConsumerState &st, const Consumer &cs);
  void countTiles(const ConsumerState &st, const Consumer &cs);
};
} // namespace

/// `values` combined pairwise in a balanced tree: a dependency chain of
/// log2(n) instead of n.
static Value treeReduce(ArrayRef<Value> values,
                        function_ref<Value(Value, Value)> combine) {
  if (values.size() == 1)
    return values.front();
  size_t half = values.size() / 2;
  return combine(treeReduce(values.take_front(half), combine),
                 treeReduce(values.drop_front(half), combine));
}

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
  return e.select(e.cmp(P::slt, q0, tile.sq),
                  visitedKvBlocks(e, cfg, q0, cfg.blockM, tile.sq, tile.skv),
                  e.i32c(0));
}

Value Sm90PrefillGenerator::kvHead() {
  return cfg.group() == 1 ? tile.head
                          : e.divu(tile.head, e.i32c(cfg.group()));
}

void Sm90PrefillGenerator::loadRows(Value map, int64_t cols,
                                    function_ref<Value(int64_t)> dstOf,
                                    Value row, Value start, Value head,
                                    int64_t heads, Value full) {
  Value y = row, z;
  if (cfg.varlen) {
    y = head;
    z = e.add(start, row);
  } else {
    z = e.add(e.mul(tile.batch, e.i32c(heads)), head);
  }
  for (int64_t c = 0; c < cols / 64; ++c)
    h.tmaLoad(dstOf(c), map, {e.i32c(64 * c), y, z}, full);
}

//===----------------------------------------------------------------------===//
// Producer
//===----------------------------------------------------------------------===//

void Sm90PrefillGenerator::buildSetup() {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  scf::IfOp::create(b, loc, e.cmp(P::eq, tid, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      h.mbarInit(sharedAt(layout.fullQ()), 1);
                      // Every consumer thread arrives: a branch on the lane
                      // there, next to the tail P V, makes ptxas serialize
                      // every wgmma.
                      h.mbarInit(sharedAt(layout.emptyQ()),
                                 2 * kConsumerThreads);
                      for (int64_t s = 0; s < layout.stages; ++s) {
                        h.mbarInit(sharedAt(layout.fullK0() + 8 * s), 1);
                        h.mbarInit(sharedAt(layout.fullV0() + 8 * s), 1);
                        h.mbarInit(sharedAt(layout.emptyK0() + 8 * s), 8);
                        h.mbarInit(sharedAt(layout.emptyV0() + 8 * s), 8);
                      }
                      h.fenceMbarInit();
                      scf::YieldOp::create(b, loc);
                    });
  e.barrier();
}

void Sm90PrefillGenerator::loadK(Value j) {
  Value u = e.add(tile.ring, j);
  Value s = stageOf(u);
  scf::IfOp::create(e.b, e.loc, e.cmp(P::sge, u, e.i32c(layout.stages)),
                    [&](OpBuilder &, Location) {
                      Value previous = e.sub(u, e.i32c(layout.stages));
                      h.mbarWait(sharedAt(layout.emptyK0(), s, 8),
                                 parityOf(previous));
                      scf::YieldOp::create(e.b, e.loc);
                    });
  Value full = sharedAt(layout.fullK0(), s, 8);
  h.mbarArriveExpectTx(full, layout.kTileBytes());
  loadRows(
      mapK, layout.d,
      [&](int64_t c) {
        return sharedAt(layout.k0() + c * layout.bn * 128, s,
                        layout.kTileBytes());
      },
      e.mul(j, e.i32c(layout.bn)), tile.kStart, kvHead(), cfg.kvHeads, full);
}

void Sm90PrefillGenerator::loadV(Value j) {
  Value u = e.add(tile.ring, j);
  Value s = stageOf(u);
  Value full = sharedAt(layout.fullV0(), s, 8);
  scf::IfOp::create(
      e.b, e.loc, e.cmp(P::sge, u, e.i32c(layout.stages)),
      [&](OpBuilder &, Location) {
        Value previous = e.sub(u, e.i32c(layout.stages));
        h.mbarWait(sharedAt(layout.emptyV0(), s, 8), parityOf(previous));
        // Consumers that skip a tile release its V stage without waiting
        // for the load: the producer makes sure it landed before re-arming
        // the barrier for the next load.
        h.mbarWait(full, parityOf(previous));
        scf::YieldOp::create(e.b, e.loc);
      });
  h.mbarArriveExpectTx(full, layout.vTileBytes());
  loadRows(
      mapV, layout.dv,
      [&](int64_t c) {
        return sharedAt(layout.v0() + c * layout.bn * 128, s,
                        layout.vTileBytes());
      },
      e.mul(j, e.i32c(layout.bn)), tile.kStart, kvHead(), cfg.kvHeads, full);
}

void Sm90PrefillGenerator::waitQReleased(Value seq) {
  // The consumers release Q after their last S of the previous tile.
  scf::IfOp::create(e.b, e.loc, e.cmp(P::sgt, seq, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      h.mbarWait(sharedAt(layout.emptyQ()),
                                 e.band(e.sub(seq, e.i32c(1)), e.i32c(1)));
                      scf::YieldOp::create(e.b, e.loc);
                    });
}

void Sm90PrefillGenerator::loadQ() {
  waitQReleased(tile.seq);
  // The consumers learn the tile from the position (and, varlen, the
  // sequence) stored here; the arrival below releases the stores to them.
  auto publish = [&](TileSlot field, Value v) {
    LLVM::StoreOp::create(e.b, e.loc, v,
                          sharedAt(layout.tilePos() + 4 * field));
  };
  publish(kSlotPos, tile.pos);
  if (cfg.varlen) {
    publish(kSlotBatch, tile.batch);
    publish(kSlotQTile, tile.qTile);
    publish(kSlotQStart, tile.qStart);
    publish(kSlotQLen, tile.sq);
    publish(kSlotKStart, tile.kStart);
    publish(kSlotKvLen, tile.skv);
  }
  // Both q-blocks: 64-row boxes of 64 columns.
  Value full = sharedAt(layout.fullQ());
  h.mbarArriveExpectTx(full, 2 * layout.qBlockBytes());
  for (int64_t half = 0; half < 2; ++half)
    loadRows(
        mapQ, layout.d,
        [&](int64_t c) {
          return sharedAt(half * layout.qBlockBytes() + c * 8192);
        },
        e.add(tile.cta0, e.i32c(64 * half)), tile.qStart, tile.head,
        cfg.qHeads, full);
}

void Sm90PrefillGenerator::buildProducer() {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  h.setMaxRegisters(kProducerRegisters, /*increase=*/false);
  scf::IfOp::create(
      b, loc, e.cmp(P::eq, tid, e.i32c(0)), [&](OpBuilder &, Location) {
        // Tile after tile, without waiting for the consumers beyond the
        // stages they have yet to release: the next tile's Q and first
        // blocks load while they finish the current one.
        forEachProducerTile([&] {
          loadQ();
          // In the order the consumers use them: step j needs K_j and
          // V_{j-1}, so K runs one block ahead of V.
          scf::IfOp::create(b, loc, e.cmp(P::sgt, tile.numKV, e.i32c(0)),
                            [&](OpBuilder &, Location) {
                              loadK(e.i32c(0));
                              scf::YieldOp::create(b, loc);
                            });
          auto loop =
              scf::ForOp::create(b, loc, e.i32c(0), tile.numKV, e.i32c(1));
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(loop.getBody());
          Value j = loop.getInductionVar();
          Value next = e.add(j, e.i32c(1));
          scf::IfOp::create(b, loc, e.cmp(P::slt, next, tile.numKV),
                            [&](OpBuilder &, Location) {
                              loadK(next);
                              scf::YieldOp::create(b, loc);
                            });
          loadV(j);
        });
        scf::YieldOp::create(b, loc);
      });
}

//===----------------------------------------------------------------------===//
// Consumer stages
//===----------------------------------------------------------------------===//

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

Accumulator Sm90PrefillGenerator::issuePV(const Accumulator &o,
                                          ArrayRef<Value> p, Value stage) {
  // V is MN-major: 64-column atoms BN * 128 bytes apart, 16 keys per k16.
  Value vAddr = address32(layout.v0(), stage, layout.vTileBytes());
  Value descV = h.descriptor(vAddr, layout.bn * 128, 1024);
  Accumulator acc = o;
  for (int64_t kk = 0; kk < layout.bn / 16; ++kk)
    acc = h.wgmmaRS(cfg.elementType, layout.dv, acc, p.slice(4 * kk, 4),
                    h.advance(descV, kk * 2048));
  return acc;
}

SmallVector<Value> Sm90PrefillGenerator::maskScores(ArrayRef<Value> s, Value j,
                                                    const Consumer &cs) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  // Only tiles that cross Skv or the first row's diagonal need the selects.
  Value k0 = e.mul(j, e.i32c(layout.bn));
  Value need = tileNeedsMask(e, cfg, k0, cs.q0, tile.sq, tile.skv);
  auto masked = scf::IfOp::create(
      b, loc, need,
      [&](OpBuilder &, Location) {
        SmallVector<Value> out;
        Value colBase =
            e.add(k0, e.mul(e.remu(cs.lane, e.i32c(4)), e.i32c(2)));
        Value ninf = e.f32c(-INFINITY);
        for (int64_t i = 0; i < sSize(); ++i) {
          Value col = e.add(colBase, e.i32c(8 * (i / 4) + (i & 1)));
          Value keep = keyVisible(e, cfg, col, cs.rows[(i % 4) / 2], tile.sq,
                                  tile.skv);
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
    SmallVector<Value> row;
    for (int64_t i = 0; i < sSize(); ++i)
      if ((i % 4) / 2 == r)
        row.push_back(s[i]);
    Value acc =
        treeReduce(row, [&](Value a, Value b) { return e.fmax(a, b); });
    acc = e.fmax(acc, e.shflXor(acc, 1));
    mt[r] = e.fmax(acc, e.shflXor(acc, 2));
  }
}

Value Sm90PrefillGenerator::skipDecision(const Consumer &cs, Value j,
                                         const Value mt[2],
                                         const ConsumerState &st, bool vote) {
  if (!vote)
    return constantBool(false);
  // The vote group is the warpgroup's 64 rows: they share every wgmma. The
  // first block takes no vote and no barrier.
  auto decision = scf::IfOp::create(
      e.b, e.loc, e.cmp(P::sgt, j, e.i32c(0)),
      [&](OpBuilder &, Location) {
        Value outside[2] = {e.cmp(P::sge, cs.rows[0], tile.sq),
                            e.cmp(P::sge, cs.rows[1], tile.sq)};
        Value vote = skipVoteRows(e, mt, st.m, outside, cs.c, cs.threshold);
        scf::YieldOp::create(
            e.b, e.loc, h.namedAnd(cs.voteBar, kConsumerThreads, vote));
      },
      [&](OpBuilder &, Location) {
        scf::YieldOp::create(e.b, e.loc, constantBool(false));
      });
  return decision.getResult(0);
}

RowUpdate Sm90PrefillGenerator::rowUpdate(const Value mt[2],
                                         const ConsumerState &st, Value c) {
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  RowUpdate u;
  for (int r = 0; r < 2; ++r) {
    u.m[r] = e.fmax(st.m[r], mt[r]);
    // A row with no key yet keeps m = -inf: shift by 0, so exp2 gives 0.
    Value shift = e.select(e.fcmp(FP::OEQ, u.m[r], ninf), zero,
                           e.fmul(u.m[r], c));
    u.alpha[r] = e.ex2(e.fsub(e.fmul(st.m[r], c), shift));
    u.negShift[r] = e.fsub(zero, shift);
  }
  return u;
}

ConsumerState Sm90PrefillGenerator::softmax(ArrayRef<Value> s,
                                            const RowUpdate &u,
                                            const ConsumerState &st, Value c) {
  ConsumerState next = st;
  SmallVector<Value> rowTerms[2];
  for (int r = 0; r < 2; ++r) {
    next.m[r] = u.m[r];
    next.alpha[r] = u.alpha[r];
  }
  const Value *negShift = u.negShift;
  SmallVector<Value> p;
  for (int64_t i = 0; i < sSize(); ++i) {
    int r = (i % 4) / 2;
    Value x = e.ex2(e.fma(s[i], c, negShift[r]));
    p.push_back(x);
    rowTerms[r].push_back(x);
  }
  for (int r = 0; r < 2; ++r) {
    Value rowSum = treeReduce(rowTerms[r],
                              [&](Value a, Value b) { return e.fadd(a, b); });
    next.l[r] = e.fma(st.l[r], next.alpha[r], rowSum);
  }
  next.p.clear();
  for (int64_t i = 0; i < pSize(); ++i)
    next.p.push_back(e.pack(cfg.elementType, p[2 * i], p[2 * i + 1]));
  next.pending = constantBool(true);
  return next;
}

Accumulator Sm90PrefillGenerator::rescale(const Accumulator &o,
                                          const Value alpha[2]) {
  SmallVector<Value> v = h.unpack(o);
  for (int64_t i = 0; i < oSize(); ++i)
    v[i] = e.fmul(v[i], alpha[(i % 4) / 2]);
  return h.pack(v);
}

void Sm90PrefillGenerator::release(int64_t base, Value stage, Value lane) {
  scf::IfOp::create(e.b, e.loc, e.cmp(P::eq, lane, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      h.mbarArrive(sharedAt(base, stage, 8));
                      scf::YieldOp::create(e.b, e.loc);
                    });
}

void Sm90PrefillGenerator::epilogue(const ConsumerState &st,
                                    const Consumer &cs) {
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
  // The rows of the tile's (batch, head): [B, Hq, Sq, Dv], or varlen packed
  // [T, Hq, Dv] from the sequence's first token. Rows past its Sq belong to
  // the next sequence (varlen) or to nothing, and are not written.
  int64_t rowBytes = 2 * layout.dv;
  Value oBase;
  if (cfg.varlen) {
    Value token = arith::AddIOp::create(
        b, loc,
        arith::MulIOp::create(b, loc, e.toI64(tile.qStart),
                              e.i64c(cfg.qHeads)),
        e.toI64(tile.head));
    oBase = e.gep(e.toGlobalPtr(outAddr),
                  arith::MulIOp::create(b, loc, token, e.i64c(rowBytes)));
    rowBytes *= cfg.qHeads;
  } else {
    oBase = e.headBase(outAddr, tile.batch, cfg.qHeads, tile.head, sq,
                       rowBytes);
  }
  Value colBytes = e.mul(e.remu(cs.lane, e.i32c(4)), e.i32c(4));
  for (int r = 0; r < 2; ++r) {
    Value row = cs.rows[r];
    scf::IfOp::create(
        b, loc, e.cmp(P::slt, row, tile.sq), [&](OpBuilder &, Location) {
          Value rowPtr = e.gep(
              e.gep(oBase, arith::MulIOp::create(b, loc, e.toI64(row),
                                                 e.i64c(rowBytes))),
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

void Sm90PrefillGenerator::countTiles(const ConsumerState &st,
                                      const Consumer &cs) {
  // One atomic pair per consumer that owns a q-block, into the counters of
  // the tile's (batch, head).
  Value first = e.band(e.cmp(P::eq, cs.thread, e.i32c(0)),
                       e.cmp(P::slt, cs.q0, tile.sq));
  scf::IfOp::create(e.b, e.loc, first, [&](OpBuilder &, Location) {
    e.countTiles(statsAddr, tile.batch, cfg.qHeads, tile.head, cs.visited,
                 st.skipped);
    scf::YieldOp::create(e.b, e.loc);
  });
}

//===----------------------------------------------------------------------===//
// Consumer loop
//===----------------------------------------------------------------------===//

Consumer Sm90PrefillGenerator::consumerSetup() {
  Consumer cs;
  cs.index =
      h.uniform(e.sub(e.divu(tid, e.i32c(kConsumerThreads)), e.i32c(1)));
  Value other = e.sub(e.i32c(1), cs.index);
  cs.thread = e.remu(tid, e.i32c(kConsumerThreads));
  cs.lane = e.remu(cs.thread, e.i32c(32));
  cs.rowInBlock = e.add(e.mul(e.divu(cs.thread, e.i32c(32)), e.i32c(16)),
                        e.divu(cs.lane, e.i32c(4)));
  cs.myTurn = e.add(e.i32c(kTurnBarrier), cs.index);
  cs.otherTurn = e.add(e.i32c(kTurnBarrier), other);
  cs.voteBar = e.add(e.i32c(kVoteBarrier), cs.index);
  cs.c = e.f32c(cfg.scale * M_LOG2E);
  // A scale factor's lambda is F / Skv: per sequence (consumerTile) when
  // varlen.
  if (cfg.skip && !cfg.varlen)
    cs.threshold = SkipThreshold::build(e, cfg, skipParam, skv);
  cs.descQ = h.descriptor(
      e.add(smem32, e.mul(cs.index, e.i32c(layout.qBlockBytes()))), 16, 1024);
  return cs;
}

Consumer Sm90PrefillGenerator::consumerTile(const Consumer &invariant) {
  Consumer cs = invariant;
  cs.q0 = e.add(tile.cta0, e.mul(cs.index, e.i32c(64)));
  cs.visited = visitedBlocks(cs.q0);
  cs.rows[0] = e.add(cs.q0, cs.rowInBlock);
  cs.rows[1] = e.add(cs.q0, e.add(cs.rowInBlock, e.i32c(8)));
  if (cfg.skip && cfg.varlen)
    cs.threshold = SkipThreshold::build(e, cfg, skipParam, tile.skv);
  return cs;
}

// Step j of a consumer, FlashAttention-3's intra-warpgroup pipelining: on
// its turn on the tensor cores it issues S_j = Q K_j^T and then
// O += P_{j-1} V_{j-1} as two wgmma groups, passes the turn, and works on
// S_j as soon as the first group is done, while P_{j-1} V_{j-1} still runs:
// mask, row max, the skip vote, and for a kept tile P_j, m and l. O is
// rescaled for tile j once P_{j-1} V_{j-1} has landed.
//
// Every step commits two groups and waits the same way, whether or not it
// issued anything: ptxas does not correlate branch conditions, and a wait
// under a condition makes it serialize every wgmma of the kernel.
ConsumerState Sm90PrefillGenerator::consumerStep(const Consumer &cs, Value j,
                                                 const ConsumerState &st,
                                                 bool vote) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  // Ring positions of kv-blocks j and j - 1 (only used when j > 0).
  Value u = e.add(tile.ring, j);
  Value prev = e.sub(u, e.i32c(1));
  Value s = stageOf(u);
  Value sPrev = stageOf(prev);
  Value active = e.cmp(P::slt, j, cs.visited);

  h.mbarWait(sharedAt(layout.fullK0(), s, 8), parityOf(u));
  h.namedSync(cs.myTurn, 2 * kConsumerThreads);
  h.wgmmaFence();
  // Issued even where this consumer does not visit block j (consumer 0's
  // last causal block): K_j is there anyway, and a wgmma under a branch
  // keeps ptxas from seeing which group the wait below retires.
  Accumulator scores = issueScores(cs.descQ, s);
  h.wgmmaCommit();
  auto pv = scf::IfOp::create(
      b, loc, st.pending,
      [&](OpBuilder &, Location) {
        h.mbarWait(sharedAt(layout.fullV0(), sPrev, 8), parityOf(prev));
        scf::YieldOp::create(b, loc, issuePV(st.o, st.p, sPrev).value);
      },
      [&](OpBuilder &, Location) {
        scf::YieldOp::create(b, loc, st.o.value);
      });
  h.wgmmaCommit();
  // Hand the tensor cores to the other consumer.
  h.namedArrive(cs.otherTurn, 2 * kConsumerThreads);
  // S_j is the older group.
  h.wgmmaWait(1);
  Accumulator sAcc = h.fenceRegisters(scores);
  release(layout.emptyK0(), s, cs.lane);
  // After the tile's last S, the producer may load the next tile's Q.
  scf::IfOp::create(b, loc,
                    e.cmp(P::eq, j, e.sub(tile.numKV, e.i32c(1))),
                    [&](OpBuilder &, Location) {
                      h.mbarArrive(sharedAt(layout.emptyQ()));
                      scf::YieldOp::create(b, loc);
                    });

  ConsumerState inFlight = st;
  inFlight.o = {pv.getResult(0), oSize()};
  inFlight.pending = constantBool(false);
  Value one = e.f32c(1.0);
  inFlight.alpha[0] = inFlight.alpha[1] = one;
  auto yieldStep = [&](const ConsumerState &r) {
    SmallVector<Value> v = r.flatten();
    v.append({r.alpha[0], r.alpha[1]});
    scf::YieldOp::create(b, loc, v);
  };
  // A tile this consumer does not visit, or skips: V_j is not read, so its
  // stage goes back to the producer at once.
  auto dropTile = [&](Value count) {
    release(layout.emptyV0(), s, cs.lane);
    ConsumerState r = inFlight;
    r.skipped = e.add(st.skipped, count);
    yieldStep(r);
  };
  SmallVector<Type> types;
  for (Value v : st.flatten())
    types.push_back(v.getType());
  types.append({e.f32, e.f32});
  auto step = scf::IfOp::create(b, loc, types, active,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&step.getThenRegion().front());
    SmallVector<Value> sv = maskScores(h.unpack(sAcc), j, cs);
    Value mt[2];
    rowMax(sv, mt);
    // Needed only for a kept tile, but ready while the vote's barrier waits.
    RowUpdate update = rowUpdate(mt, st, cs.c);
    auto decide = scf::IfOp::create(b, loc, types,
                                    skipDecision(cs, j, mt, st, vote),
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(&decide.getThenRegion().front());
      dropTile(e.i32c(1));
      b.setInsertionPointToStart(&decide.getElseRegion().front());
      yieldStep(softmax(sv, update, inFlight, cs.c));
    }
    scf::YieldOp::create(b, loc, decide.getResults());
    b.setInsertionPointToStart(&step.getElseRegion().front());
    dropTile(e.i32c(0));
  }
  ValueRange results = step.getResults();
  ConsumerState next = ConsumerState::unflatten(results.drop_back(2), oSize(),
                                                pSize());
  // Step j + 1 branches on it around wgmma; made known to be uniform here,
  // off the path from the vote to the softmax.
  if (vote)
    next.pending = h.uniformBool(next.pending);

  // P_{j-1} V_{j-1} done: V_{j-1} is free, and O takes tile j's rescale.
  Accumulator o = h.waitFor(0, next.o, st.p);
  scf::IfOp::create(b, loc, st.pending, [&](OpBuilder &, Location) {
    release(layout.emptyV0(), sPrev, cs.lane);
    scf::YieldOp::create(b, loc);
  });
  Value alpha[2] = {results[results.size() - 2], results.back()};
  auto rescaled = scf::IfOp::create(
      b, loc, next.pending,
      [&](OpBuilder &, Location) {
        scf::YieldOp::create(b, loc, rescale(o, alpha).value);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, o.value); });
  next.o = {rescaled.getResult(0), oSize()};
  return next;
}

ConsumerState Sm90PrefillGenerator::kvLoop(const Consumer &cs,
                                           const ConsumerState &init,
                                           bool vote) {
  OpBuilder &b = e.b;
  auto loop = scf::ForOp::create(b, e.loc, e.i32c(0), tile.numKV, e.i32c(1),
                                 init.flatten());
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    ConsumerState st = ConsumerState::unflatten(loop.getRegionIterArgs(),
                                                oSize(), pSize());
    ConsumerState next = consumerStep(cs, loop.getInductionVar(), st, vote);
    scf::YieldOp::create(b, e.loc, next.flatten());
  }
  return ConsumerState::unflatten(loop.getResults(), oSize(), pSize());
}

void Sm90PrefillGenerator::buildConsumer() {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  h.setMaxRegisters(kConsumerRegisters, /*increase=*/true);
  Consumer invariant = consumerSetup();

  // Consumer 1 lets consumer 0 go first on the tensor cores; every step of
  // every tile then passes the turn on, and consumer 0 takes consumer 1's
  // last pass at the end.
  scf::IfOp::create(b, loc, e.cmp(P::eq, invariant.index, e.i32c(1)),
                    [&](OpBuilder &, Location) {
                      h.namedArrive(invariant.otherTurn,
                                    2 * kConsumerThreads);
                      scf::YieldOp::create(b, loc);
                    });

  forEachConsumerTile([&] {
    Consumer cs = consumerTile(invariant);

    ConsumerState init;
    Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
    init.o = h.pack(SmallVector<Value>(oSize(), zero));
    init.m[0] = init.m[1] = ninf;
    init.l[0] = init.l[1] = zero;
    init.p.assign(pSize(), e.i32c(0));
    init.pending = constantBool(false);
    init.skipped = e.i32c(0);

    // A skip kernel whose threshold turns skipping off (0, or 1 and above)
    // runs the loop of the dense kernel: no vote, no skip branch.
    ConsumerState fin;
    if (cfg.skip) {
      SmallVector<Type> types;
      for (Value v : init.flatten())
        types.push_back(v.getType());
      auto loops = scf::IfOp::create(b, loc, types, cs.threshold.enabled,
                                     /*withElseRegion=*/true);
      for (bool vote : {true, false}) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(vote ? &loops.getThenRegion().front()
                                        : &loops.getElseRegion().front());
        scf::YieldOp::create(b, loc, kvLoop(cs, init, vote).flatten());
      }
      fin = ConsumerState::unflatten(loops.getResults(), oSize(), pSize());
    } else {
      fin = kvLoop(cs, init, /*vote=*/false);
    }
    // A tile without kv-blocks (Skv = 0) never reached its last S.
    scf::IfOp::create(b, loc, e.cmp(P::eq, tile.numKV, e.i32c(0)),
                      [&](OpBuilder &, Location) {
                        h.mbarArrive(sharedAt(layout.emptyQ()));
                        scf::YieldOp::create(b, loc);
                      });

    // The P V of the last visited tile.
    auto tail = scf::IfOp::create(
        b, loc, fin.pending,
        [&](OpBuilder &, Location) {
          Value last = e.add(tile.ring, e.sub(tile.numKV, e.i32c(1)));
          Value sLast = stageOf(last);
          h.wgmmaFence();
          h.mbarWait(sharedAt(layout.fullV0(), sLast, 8), parityOf(last));
          Accumulator o = issuePV(fin.o, fin.p, sLast);
          h.wgmmaCommit();
          h.wgmmaWait(0);
          o = h.fenceRegisters(o);
          release(layout.emptyV0(), sLast, cs.lane);
          scf::YieldOp::create(b, loc, o.value);
        },
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, fin.o.value);
        });
    fin.o = {tail.getResult(0), oSize()};
    epilogue(fin, cs);
    if (cfg.stats)
      countTiles(fin, cs);
  });

  scf::IfOp::create(b, loc, e.cmp(P::eq, invariant.index, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      h.namedSync(invariant.myTurn, 2 * kConsumerThreads);
                      scf::YieldOp::create(b, loc);
                    });
}

void Sm90PrefillGenerator::decodeTile(Value pos) {
  // Non-causal tiles are all equal: the q-blocks of one head come together,
  // so that the CTAs in flight share its K/V in L2. Causal tiles differ in
  // length, and the longest go first. While the K/V of all heads is small
  // (kLongestFirstKVBytes), the longest tiles of every head lead, so the
  // shortest come last, where the tile counter evens out the CTAs' ends;
  // beyond it each head's q-blocks come together, longest first, and keep
  // their K/V in L2 (on an H100, at 16K and 32 heads, longest-first over all
  // heads ran 12% slower than this).
  Value heads = e.mul(batch, e.i32c(cfg.qHeads));
  Value last = e.sub(numQTiles, e.i32c(1));
  Value qTile = e.remu(pos, numQTiles);
  Value bh = e.divu(pos, numQTiles);
  if (cfg.causal) {
    int64_t blockBytes = layout.kTileBytes() + layout.vTileBytes();
    Value kvBlocks = e.mul(e.mul(batch, e.i32c(cfg.kvHeads)),
                           e.ceilDiv(skv, layout.bn));
    Value acrossHeads = e.cmp(P::sle, kvBlocks,
                              e.i32c(kLongestFirstKVBytes / blockBytes));
    qTile = e.select(acrossHeads, e.sub(last, e.divu(pos, heads)),
                     e.sub(last, qTile));
    bh = e.select(acrossHeads, e.remu(pos, heads), bh);
  }
  tile.qTile = qTile;
  tile.head = e.remu(bh, e.i32c(cfg.qHeads));
  tile.batch = e.divu(bh, e.i32c(cfg.qHeads));
  tile.sq = sq;
  tile.skv = skv;
}

// Varlen positions: head-major, and within a head one slot per q-tile of
// each sequence in order, sequence b's from slot (cu_q[b] + 127 b) / 128.
// Those starts grow by at least the sequence's q-tiles, ceil(len / 128),
// and by at most one more, so at most one slot per (sequence, head) holds
// no tile, and a position finds its sequence by a binary search over
// cu_seqlens_q. The q-tiles of one (sequence, head) come together, sharing
// its K/V in L2; causal ones longest first.
void Sm90PrefillGenerator::locateVarlenTile(Value pos) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto slotOf = [&](Value seq, Value start) {
    return e.divu(e.add(start, e.mul(seq, e.i32c(127))), e.i32c(128));
  };
  Value slot = e.remu(pos, numSlots);
  tile.head = e.divu(pos, numSlots);
  // The last sequence whose first slot is at most `slot`: slotOf(lo) <=
  // slot < slotOf(hi) throughout.
  auto search = scf::WhileOp::create(
      b, loc, TypeRange{e.i32, e.i32}, ValueRange{e.i32c(0), batch},
      [&](OpBuilder &, Location, ValueRange args) {
        scf::ConditionOp::create(
            b, loc, e.cmp(P::sgt, e.sub(args[1], args[0]), e.i32c(1)), args);
      },
      [&](OpBuilder &, Location, ValueRange args) {
        Value mid = e.divu(e.add(args[0], args[1]), e.i32c(2));
        Value below = e.cmp(P::sle, slotOf(mid, e.loadI32(cuQ, mid)), slot);
        scf::YieldOp::create(b, loc,
                             ValueRange{e.select(below, mid, args[0]),
                                        e.select(below, args[1], mid)});
      });
  tile.batch = search.getResult(0);
  Value next = e.add(tile.batch, e.i32c(1));
  tile.qStart = e.loadI32(cuQ, tile.batch);
  tile.kStart = e.loadI32(cuK, tile.batch);
  tile.sq = e.maxsi(e.sub(e.loadI32(cuQ, next), tile.qStart), e.i32c(0));
  tile.skv = e.maxsi(e.sub(e.loadI32(cuK, next), tile.kStart), e.i32c(0));
  Value t = e.sub(slot, slotOf(tile.batch, tile.qStart));
  Value qTiles = e.ceilDiv(tile.sq, KernelConfig::kSm90CtaRows);
  tile.valid = e.cmp(P::slt, t, qTiles);
  tile.qTile = cfg.causal ? e.sub(e.sub(qTiles, e.i32c(1)), t) : t;
}

void Sm90PrefillGenerator::readVarlenTile(Value pos) {
  // Known warp-uniform, as the position is: the kv loop branches on them
  // around wgmma.
  auto read = [&](TileSlot field) -> Value {
    return h.uniform(LLVM::LoadOp::create(
        e.b, e.loc, e.i32, sharedAt(layout.tilePos() + 4 * field)));
  };
  tile.head = e.divu(pos, numSlots);
  tile.batch = read(kSlotBatch);
  tile.qTile = read(kSlotQTile);
  tile.qStart = read(kSlotQStart);
  tile.sq = read(kSlotQLen);
  tile.kStart = read(kSlotKStart);
  tile.skv = read(kSlotKvLen);
}

void Sm90PrefillGenerator::finishTile() {
  tile.cta0 = e.mul(tile.qTile, e.i32c(KernelConfig::kSm90CtaRows));
  // The producer loads what the later consumer visits, which is at least
  // what the earlier one does.
  tile.numKV = e.maxsi(visitedBlocks(tile.cta0),
                       visitedBlocks(e.add(tile.cta0, e.i32c(64))));
}

// A persistent schedule: the grid has at most one CTA per SM; CTA c starts
// with position c and then takes gridDim + (the tile counter, incremented)
// until the positions run out. Which CTA gets which tile depends on timing;
// what each tile computes does not.
SmallVector<Value> Sm90PrefillGenerator::visitTile(Value pos, Value seq,
                                                   Value ring, bool producer,
                                                   function_ref<void()> body) {
  if (!cfg.varlen)
    decodeTile(pos);
  else if (producer)
    locateVarlenTile(pos);
  else
    readVarlenTile(pos);
  finishTile();
  tile.pos = pos;
  tile.seq = seq;
  tile.ring = ring;
  auto visit = [&]() -> SmallVector<Value> {
    body();
    return {e.add(seq, e.i32c(1)), e.add(ring, tile.numKV)};
  };
  if (!cfg.varlen || !producer)
    return visit();
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto valid = scf::IfOp::create(b, loc, TypeRange{e.i32, e.i32}, tile.valid,
                                 /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&valid.getThenRegion().front());
  scf::YieldOp::create(b, loc, visit());
  b.setInsertionPointToStart(&valid.getElseRegion().front());
  scf::YieldOp::create(b, loc, ValueRange{seq, ring});
  return SmallVector<Value>(valid.getResults());
}

void Sm90PrefillGenerator::forEachProducerTile(function_ref<void()> body) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  auto gridSize = arith::IndexCastUIOp::create(
      b, loc, e.i32, gpu::GridDimOp::create(b, loc, gpu::Dimension::x));
  Value zero = e.i32c(0);
  Value first = e.blockIdx(gpu::Dimension::x);
  SmallVector<Type> types(3, e.i32);
  auto loop = scf::WhileOp::create(
      b, loc, types, ValueRange{first, zero, zero},
      [&](OpBuilder &, Location, ValueRange args) {
        scf::ConditionOp::create(b, loc, e.cmp(P::slt, args[0], numTiles),
                                 args);
      },
      [&](OpBuilder &, Location, ValueRange args) {
        // Taken before this tile's loads are issued, which hide the
        // atomic's latency.
        Value taken = LLVM::AtomicRMWOp::create(
            b, loc, LLVM::AtomicBinOp::add, e.toGlobalPtr(tileCounter),
            e.i32c(1), LLVM::AtomicOrdering::monotonic);
        Value next = e.add(taken, gridSize);
        SmallVector<Value> yielded = {next};
        yielded.append(
            visitTile(args[0], args[1], args[2], /*producer=*/true, body));
        scf::YieldOp::create(b, loc, yielded);
      });
  // The end: a position past the last tile, published when the consumers
  // are done with the last Q, by an arrival without bytes.
  waitQReleased(loop.getResult(1));
  LLVM::StoreOp::create(b, loc, numTiles, sharedAt(layout.tilePos()));
  h.mbarArrive(sharedAt(layout.fullQ()));
}

void Sm90PrefillGenerator::forEachConsumerTile(function_ref<void()> body) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value zero = e.i32c(0);
  // Carried: seq and ring; passed on to the body: pos, seq and ring.
  SmallVector<Type> types(3, e.i32);
  scf::WhileOp::create(
      b, loc, types, ValueRange{zero, zero},
      [&](OpBuilder &, Location, ValueRange args) {
        Value seq = args[0];
        h.mbarWait(sharedAt(layout.fullQ()), e.band(seq, e.i32c(1)));
        Value pos = h.uniform(
            LLVM::LoadOp::create(b, loc, e.i32, sharedAt(layout.tilePos())));
        scf::ConditionOp::create(b, loc, e.cmp(P::slt, pos, numTiles),
                                 ValueRange{pos, seq, args[1]});
      },
      [&](OpBuilder &, Location, ValueRange args) {
        scf::YieldOp::create(
            b, loc,
            visitTile(args[0], args[1], args[2], /*producer=*/false, body));
      });
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
  batch = entry.getArgument(4);
  sq = entry.getArgument(5);
  skv = entry.getArgument(6);
  unsigned next = 7;
  if (cfg.skip)
    skipParam = entry.getArgument(next++);
  if (cfg.stats)
    statsAddr = entry.getArgument(next++);
  if (cfg.varlen) {
    cuQ = entry.getArgument(next++);
    cuK = entry.getArgument(next++);
  }
  tileCounter = entry.getArgument(next++);

  tid = e.threadIdx();
  smem = e.sharedBase(kSharedSymbol);
  smem32 = LLVM::PtrToIntOp::create(b, loc, e.i32, smem);
  if (cfg.varlen) {
    // locateVarlenTile's slots: (cu_q[B] + 127 B) / 128 per head.
    Value tokens = e.loadI32(cuQ, batch);
    numSlots = e.divu(e.add(tokens, e.mul(batch, e.i32c(127))), e.i32c(128));
    numTiles = e.mul(numSlots, e.i32c(cfg.qHeads));
  } else {
    numQTiles = e.ceilDiv(sq, KernelConfig::kSm90CtaRows);
    numTiles = e.mul(e.mul(numQTiles, e.i32c(cfg.qHeads)), batch);
  }

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
