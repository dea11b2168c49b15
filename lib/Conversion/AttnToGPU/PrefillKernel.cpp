//===- PrefillKernel.cpp - the FlashAttention-2 prefill kernel ------------===//
//
// Generates the prefill kernel for one KernelConfig, following the anatomy
// of DESIGN.md section 5 (phase 1, mma.sync):
//
// - one CTA per (q-block, query head, batch); 16 query rows per warp; the
//   causal grid runs the longest q-blocks first;
// - Q is loaded once (cp.async) and kept in registers as ldmatrix A
//   fragments; K and V tiles are double-buffered through shared memory with
//   cp.async, the next tile always prefetched before the current one is
//   used, whatever the skip decision;
// - shared rows are swizzled (16-byte chunk XOR row % 8), so ldmatrix reads
//   are conflict-free;
// - S = Q K^T and O += P V run on mma.sync.m16n8k16 with f32 accumulation;
//   P never leaves registers: two f32 C fragments make one A fragment;
// - exp2 with scale * log2(e) folded into one FMA; the accumulator is
//   rescaled only on the rows whose max moved;
// - with skipping, each thread tests its two rows, vote.sync.all makes the
//   warp's decision and bar.red.and the CTA's (or the warp skips on its own
//   with a 16-row vote group); a skipped tile costs no exp2, no rescale and
//   no P V;
// - the epilogue divides by l, stages the tile through shared memory and
//   writes 16-byte stores; rows past Sq are masked on store only.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

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
        bn(cfg.blockN), threads(cfg.numThreads()), kSteps(d / 16),
        sTiles(bn / 8), oTiles(dv / 8) {}

  void build(gpu::GPUFuncOp func);

private:
  const KernelConfig &cfg;
  KernelEmitter &e;
  int64_t d, dv, bm, bn, threads, kSteps, sTiles, oTiles;

  // Per-thread values.
  Value tid, warp, lane, g, t, smem;
  // Run-time extents and the CTA's place.
  Value batch, sq, skv, q0, h, bIdx, kvh;
  Value qBase, kBase, vBase, oBase;

  int64_t qOffset() const { return 0; }
  int64_t kOffset(int64_t stage) const {
    return 2 * bm * d + stage * 2 * bn * d;
  }
  int64_t vOffset(int64_t stage) const {
    return 2 * bm * d + 4 * bn * d + stage * 2 * bn * dv;
  }

  /// Byte address in shared memory of 16-byte chunk `chunk` of row `row` in
  /// a swizzled tile at `base` whose rows are `rowBytes` long.
  Value swizzled(Value base, Value row, Value chunk, int64_t rowBytes) {
    Value phys = e.bxor(chunk, e.band(row, e.i32c(7)));
    Value off = e.add(e.mul(row, e.i32c(rowBytes)), e.shl(phys, 4));
    return e.gep(smem, e.add(base, off));
  }

  /// ldmatrix addresses without 32 live registers. A lane reads chunk
  /// `2s + half` of row `row0 + rowIn`; swizzled, that is chunk
  /// ((half ^ rowIn % 8) ^ (2s % 8)) + (2s & 8), since the constant part of
  /// the row never touches its low three bits. So four per-lane offsets (one
  /// per value of 2s % 8) plus a constant reach every chunk.
  SmallVector<Value, 4> laneBases(Value rowIn, Value half, int64_t rowBytes) {
    Value x = e.bxor(half, e.band(rowIn, e.i32c(7)));
    Value rowOff = e.mul(rowIn, e.i32c(rowBytes));
    SmallVector<Value, 4> bases;
    for (int64_t w = 0; w < 8; w += 2)
      bases.push_back(e.add(rowOff, e.shl(e.bxor(x, e.i32c(w)), 4)));
    return bases;
  }
  /// The address of the chunk pair 2s (+ half) at row offset `rowConst`
  /// (a multiple of 8 rows) from lane bases made by laneBases.
  Value chunkAddr(Value tileBase, ArrayRef<Value> bases, int64_t s,
                  int64_t rowConst, int64_t rowBytes) {
    int64_t c = 2 * s;
    Value lanePtr = e.gep(smem, e.add(tileBase, bases[(c & 7) / 2]));
    return e.gep(lanePtr, e.i32c(rowConst * rowBytes + (c & 8) * 16));
  }

  /// cp.async of `rows` rows (of `rowBytes`) from `global` (rows row0.., up
  /// to `limit`) into the swizzled tile at shared offset `base`.
  void loadTile(Value base, Value global, Value row0, Value limit,
                int64_t rows, int64_t rowBytes);
  /// Issue the cp.async of kv-block `j` into `stage` (K then V).
  void loadKV(Value j, Value stage);

  /// The base pointer of head `head` of batch `bIdx` for a [B, H, S, D]
  /// tensor at `address`.
  Value headBase(Value address, int64_t heads, Value head, Value len,
                 int64_t rowBytes) {
    Value bh = e.add(e.mul(bIdx, e.i32c(heads)), head);
    Value rows = e.mul(e.toI64(bh), e.toI64(len));
    Value bytes = arith::MulIOp::create(e.b, e.loc, rows, e.i64c(rowBytes));
    return e.gep64(e.toGlobalPtr(address), bytes);
  }
};
} // namespace

void PrefillGenerator::loadTile(Value base, Value global, Value row0,
                                Value limit, int64_t rows, int64_t rowBytes) {
  int64_t chunks = rowBytes / 16;
  int64_t rowsPerPass = threads / chunks;
  Value c = e.remu(tid, e.i32c(chunks));
  Value r0 = e.divu(tid, e.i32c(chunks));
  for (int64_t pass = 0; pass < rows / rowsPerPass; ++pass) {
    Value r = e.add(r0, e.i32c(pass * rowsPerPass));
    Value gr = e.add(row0, r);
    Value valid = e.cmp(P::slt, gr, limit);
    // An invalid row copies nothing (zero-fill) but still needs a legal
    // address.
    Value safe = e.select(valid, gr, e.i32c(0));
    Value src = e.gep(global, e.add(e.mul(safe, e.i32c(rowBytes)),
                                    e.shl(c, 4)));
    e.cpAsync16(swizzled(base, r, c, rowBytes), src, valid);
  }
}

void PrefillGenerator::loadKV(Value j, Value stage) {
  Value k0 = e.mul(j, e.i32c(bn));
  Value kStage = e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
  Value vStage = e.add(e.i32c(vOffset(0)), e.mul(stage, e.i32c(2 * bn * dv)));
  loadTile(kStage, kBase, k0, skv, bn, 2 * d);
  loadTile(vStage, vBase, k0, skv, bn, 2 * dv);
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
  Value skipParam, statsAddr;
  if (cfg.skip)
    skipParam = entry.getArgument(next++);
  if (cfg.stats)
    statsAddr = entry.getArgument(next++);

  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  tid = e.threadIdx();
  warp = e.divu(tid, e.i32c(32));
  lane = e.remu(tid, e.i32c(32));
  g = e.divu(lane, e.i32c(4));
  t = e.remu(lane, e.i32c(4));
  smem = e.sharedBase(kSharedSymbol);

  // The CTA's q-block: the causal grid starts with the longest ones.
  Value numQBlocks = e.ceilDiv(sq, bm);
  Value qb = e.blockIdx(gpu::Dimension::x);
  if (cfg.causal)
    qb = e.sub(e.sub(numQBlocks, e.i32c(1)), qb);
  h = e.blockIdx(gpu::Dimension::y);
  bIdx = e.blockIdx(gpu::Dimension::z);
  q0 = e.mul(qb, e.i32c(bm));
  kvh = cfg.group() == 1 ? h : e.divu(h, e.i32c(cfg.group()));
  qBase = headBase(qAddr, cfg.qHeads, h, sq, 2 * d);
  kBase = headBase(kAddr, cfg.kvHeads, kvh, skv, 2 * d);
  vBase = headBase(vAddr, cfg.kvHeads, kvh, skv, 2 * dv);
  oBase = headBase(oAddr, cfg.qHeads, h, sq, 2 * dv);

  // kv-blocks to visit: all, or (causal) up to the last one that holds an
  // unmasked key for some valid row: keys < min(q0 + BM, Sq) + Skv - Sq.
  Value numKV = e.ceilDiv(skv, bn);
  if (cfg.causal) {
    Value rowsEnd = e.minsi(e.add(q0, e.i32c(bm)), sq);
    Value keysEnd = e.sub(e.add(rowsEnd, skv), sq);
    Value blocks = e.ceilDiv(e.maxsi(keysEnd, e.i32c(0)), bn);
    numKV = e.minsi(blocks, numKV);
  }

  // The threshold in log2 space: skipping is on only for 0 < lambda < 1.
  double scaleLog2 = cfg.scale * M_LOG2E;
  Value c = e.f32c(scaleLog2);
  Value enabled, log2Lambda;
  if (cfg.skip) {
    Value lambda = skipParam;
    if (cfg.skipKind == skipattn::attn::SkipKind::ScaleFactor)
      lambda = e.fdiv(lambda, arith::UIToFPOp::create(b, loc, e.f32, skv));
    enabled = e.band(e.fcmp(FP::OGT, lambda, zero),
                     e.fcmp(FP::OLT, lambda, e.f32c(1.0)));
    log2Lambda = e.lg2(lambda);
  }

  // Prologue: Q, then kv-block 0, each its own cp.async group.
  loadTile(e.i32c(qOffset()), qBase, q0, sq, bm, 2 * d);
  e.cpAsyncCommit();
  scf::IfOp::create(b, loc, e.cmp(P::sgt, numKV, e.i32c(0)),
                    [&](OpBuilder &, Location) {
                      loadKV(e.i32c(0), e.i32c(0));
                      scf::YieldOp::create(b, loc);
                    });
  e.cpAsyncCommit();
  e.cpAsyncWait(1);
  e.barrier();

  // Q fragments, kept in registers: rows warp*16 + lane%16, chunk 2ks +
  // lane/16 (the four 8x8 matrices of an m16k16 A operand).
  SmallVector<SmallVector<Value, 4>> qFrag;
  {
    Value row = e.add(e.mul(warp, e.i32c(16)), e.band(lane, e.i32c(15)));
    SmallVector<Value, 4> bases =
        laneBases(row, e.divu(lane, e.i32c(16)), 2 * d);
    for (int64_t ks = 0; ks < kSteps; ++ks)
      qFrag.push_back(e.ldmatrix4(
          chunkAddr(e.i32c(qOffset()), bases, ks, 0, 2 * d), false));
  }

  // Per-lane ldmatrix offsets into K tiles (B operand of Q K^T: two n8
  // tiles per x4) and V tiles (B operand of P V, transposed).
  SmallVector<Value, 4> kBases = laneBases(
      e.add(e.band(lane, e.i32c(7)), e.mul(e.divu(lane, e.i32c(16)), e.i32c(8))),
      e.band(e.divu(lane, e.i32c(8)), e.i32c(1)), 2 * d);
  SmallVector<Value, 4> vBases = laneBases(
      e.add(e.band(lane, e.i32c(7)),
            e.mul(e.band(e.divu(lane, e.i32c(8)), e.i32c(1)), e.i32c(8))),
      e.divu(lane, e.i32c(16)), 2 * dv);

  // The rows of this thread: warp*16 + g and + 8.
  Value rowInBlock = e.add(e.mul(warp, e.i32c(16)), g);
  Value row[2] = {e.add(q0, rowInBlock), e.add(q0, e.add(rowInBlock, e.i32c(8)))};

  // Loop state: m[2], l[2], O fragments, skipped-tile count.
  SmallVector<Value> init = {ninf, ninf, zero, zero};
  for (int64_t i = 0; i < oTiles * 4; ++i)
    init.push_back(zero);
  init.push_back(e.i32c(0));
  unsigned skippedIdx = init.size() - 1;

  auto loop = scf::ForOp::create(b, loc, e.i32c(0), numKV, e.i32c(1), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    ValueRange state = loop.getRegionIterArgs();
    Value stage = e.band(j, e.i32c(1));

    // Prefetch kv-block j + 1 into the other stage, skip or not.
    Value nextJ = e.add(j, e.i32c(1));
    scf::IfOp::create(b, loc, e.cmp(P::slt, nextJ, numKV),
                      [&](OpBuilder &, Location) {
                        loadKV(nextJ, e.bxor(stage, e.i32c(1)));
                        scf::YieldOp::create(b, loc);
                      });
    e.cpAsyncCommit();
    e.cpAsyncWait(1);
    e.barrier();

    Value kStage = e.add(e.i32c(kOffset(0)), e.mul(stage, e.i32c(2 * bn * d)));
    Value vStage = e.add(e.i32c(vOffset(0)), e.mul(stage, e.i32c(2 * bn * dv)));

    // S = Q K_j^T: K rows are the "col" B operand; one ldmatrix.x4 gives
    // the B fragments of two n8 tiles.
    SmallVector<SmallVector<Value, 4>> s(sTiles, SmallVector<Value, 4>(4, zero));
    {
      for (int64_t ks = 0; ks < kSteps; ++ks) {
        for (int64_t np = 0; np < sTiles / 2; ++np) {
          SmallVector<Value, 4> kf = e.ldmatrix4(
              chunkAddr(kStage, kBases, ks, 16 * np, 2 * d), false);
          s[2 * np] = e.mma(cfg.elementType, qFrag[ks], {kf[0], kf[1]},
                            s[2 * np]);
          s[2 * np + 1] = e.mma(cfg.elementType, qFrag[ks], {kf[2], kf[3]},
                                s[2 * np + 1]);
        }
      }
    }

    // Mask the ragged last tile and (causal) the tiles on the diagonal:
    // key j is kept for row i when j < Skv and j + Sq <= i + Skv.
    Value k0 = e.mul(j, e.i32c(bn));
    Value tileEnd = e.add(k0, e.i32c(bn));
    Value needMask = e.cmp(P::sgt, tileEnd, skv);
    if (cfg.causal) {
      Value lastKey = e.add(e.sub(tileEnd, e.i32c(1)), sq);
      Value firstRowLimit = e.add(q0, skv);
      needMask = arith::OrIOp::create(b, loc, needMask,
                                      e.cmp(P::sgt, lastKey, firstRowLimit));
    }
    SmallVector<Value> flat;
    for (auto &tile : s)
      flat.append(tile.begin(), tile.end());
    SmallVector<Type> flatTypes(flat.size(), e.f32);
    auto masked = scf::IfOp::create(
        b, loc, needMask,
        [&](OpBuilder &, Location) {
          SmallVector<Value> out;
          Value colBase = e.add(k0, e.mul(t, e.i32c(2)));
          for (int64_t n = 0; n < sTiles; ++n)
            for (int64_t el = 0; el < 4; ++el) {
              Value col = e.add(colBase, e.i32c(n * 8 + (el & 1)));
              Value keep = e.cmp(P::slt, col, skv);
              if (cfg.causal) {
                Value lhs = e.add(col, sq);
                Value rhs = e.add(row[el >> 1], skv);
                keep = e.band(keep, e.cmp(P::sle, lhs, rhs));
              }
              out.push_back(e.select(keep, flat[n * 4 + el], ninf));
            }
          scf::YieldOp::create(b, loc, out);
        },
        [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, flat); });
    for (int64_t n = 0; n < sTiles; ++n)
      for (int64_t el = 0; el < 4; ++el)
        s[n][el] = masked.getResult(n * 4 + el);

    // Row max of the raw logits: two rows per thread, then the quad.
    Value mt[2];
    for (int r = 0; r < 2; ++r) {
      Value acc = s[0][2 * r];
      for (int64_t n = 0; n < sTiles; ++n)
        for (int el = 0; el < 2; ++el)
          if (n || el)
            acc = e.fmax(acc, s[n][2 * r + el]);
      acc = e.fmax(acc, e.shflXor(acc, 1));
      acc = e.fmax(acc, e.shflXor(acc, 2));
      mt[r] = acc;
    }

    // The Skip-Softmax test against the running max from before the tile,
    // in log2 space on the raw logits: (mt - m) * scale * log2e < log2(lambda).
    Value skip = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    if (cfg.skip) {
      Value yes = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
      for (int r = 0; r < 2; ++r) {
        Value pastEnd = e.cmp(P::sge, row[r], sq);
        Value empty = e.fcmp(FP::OEQ, mt[r], ninf);
        Value gap = e.fmul(e.fsub(mt[r], state[r]), c);
        Value far = e.fcmp(FP::OLT, gap, log2Lambda);
        Value rowYes = arith::OrIOp::create(
            b, loc, pastEnd, arith::OrIOp::create(b, loc, empty, far));
        yes = e.band(yes, rowYes);
      }
      Value vote = e.warpAll(yes);
      if (!cfg.warpVote())
        vote = e.barrierAnd(vote);
      Value notFirst = e.cmp(P::sgt, j, e.i32c(0));
      skip = e.band(e.band(enabled, notFirst), vote);
    }

    // Skipped: (m, l, O) unchanged. Otherwise the online-softmax update and
    // O += P V_j.
    SmallVector<Type> stateTypes;
    for (Value v : state.drop_back())
      stateTypes.push_back(v.getType());
    auto update = scf::IfOp::create(
        b, loc, skip,
        [&](OpBuilder &, Location) {
          scf::YieldOp::create(b, loc, state.drop_back());
        },
        [&](OpBuilder &, Location) {
          Value mNew[2], shift[2], alpha[2], lNew[2];
          for (int r = 0; r < 2; ++r) {
            mNew[r] = e.fmax(state[r], mt[r]);
            Value scaled = e.fmul(mNew[r], c);
            shift[r] = e.select(e.fcmp(FP::OEQ, mNew[r], ninf), zero, scaled);
            alpha[r] = e.ex2(e.fsub(e.fmul(state[r], c), shift[r]));
          }
          // p = exp2(s * c - shift), summed per thread (the quad sums at
          // the end).
          Value negShift[2] = {e.fsub(zero, shift[0]), e.fsub(zero, shift[1])};
          SmallVector<SmallVector<Value, 4>> p(sTiles);
          Value rowSum[2] = {zero, zero};
          for (int64_t n = 0; n < sTiles; ++n)
            for (int el = 0; el < 4; ++el) {
              Value x = e.ex2(e.fma(s[n][el], c, negShift[el >> 1]));
              p[n].push_back(x);
              rowSum[el >> 1] = e.fadd(rowSum[el >> 1], x);
            }
          for (int r = 0; r < 2; ++r)
            lNew[r] = e.fma(state[2 + r], alpha[r], rowSum[r]);
          SmallVector<SmallVector<Value, 4>> o(oTiles);
          for (int64_t n = 0; n < oTiles; ++n)
            for (int el = 0; el < 4; ++el)
              o[n].push_back(e.fmul(state[4 + n * 4 + el], alpha[el >> 1]));

          // O += P V_j: the C fragments of two adjacent n8 tiles of S are
          // the A fragment of an m16k16 tile; V needs ldmatrix.trans.
          for (int64_t kk = 0; kk < bn / 16; ++kk) {
            SmallVector<Value, 4> a = {
                e.pack(cfg.elementType, p[2 * kk][0], p[2 * kk][1]),
                e.pack(cfg.elementType, p[2 * kk][2], p[2 * kk][3]),
                e.pack(cfg.elementType, p[2 * kk + 1][0], p[2 * kk + 1][1]),
                e.pack(cfg.elementType, p[2 * kk + 1][2], p[2 * kk + 1][3])};
            for (int64_t dp = 0; dp < oTiles / 2; ++dp) {
              SmallVector<Value, 4> vf = e.ldmatrix4(
                  chunkAddr(vStage, vBases, dp, 16 * kk, 2 * dv), true);
              o[2 * dp] = e.mma(cfg.elementType, a, {vf[0], vf[1]}, o[2 * dp]);
              o[2 * dp + 1] =
                  e.mma(cfg.elementType, a, {vf[2], vf[3]}, o[2 * dp + 1]);
            }
          }
          SmallVector<Value> out = {mNew[0], mNew[1], lNew[0], lNew[1]};
          for (auto &tile : o)
            out.append(tile.begin(), tile.end());
          scf::YieldOp::create(b, loc, out);
        });

    SmallVector<Value> yielded(update.getResults());
    Value skipped = e.add(state[skippedIdx],
                          arith::ExtUIOp::create(b, loc, e.i32, skip));
    yielded.push_back(skipped);
    // Every warp is done with this stage before the next prefetch reuses it.
    e.barrier();
    scf::YieldOp::create(b, loc, yielded);
  }

  // Epilogue: the quad's row sums, O / l (0 for rows that saw no key).
  ValueRange fin = loop.getResults();
  Value inv[2];
  for (int r = 0; r < 2; ++r) {
    Value l = fin[2 + r];
    l = e.fadd(l, e.shflXor(l, 1));
    l = e.fadd(l, e.shflXor(l, 2));
    Value none = e.fcmp(FP::OEQ, l, zero);
    inv[r] = e.select(none, zero, e.fdiv(e.f32c(1.0), l));
  }
  // Stage the bf16/f16 tile in shared memory (the Q area, free since the
  // fragments are in registers), then write rows < Sq with 16-byte stores.
  Value pairCol = e.mul(t, e.i32c(4));
  for (int64_t n = 0; n < oTiles; ++n)
    for (int r = 0; r < 2; ++r) {
      Value lo = e.fmul(fin[4 + n * 4 + 2 * r], inv[r]);
      Value hi = e.fmul(fin[4 + n * 4 + 2 * r + 1], inv[r]);
      Value packed = e.pack(cfg.elementType, lo, hi);
      Value rr = e.add(rowInBlock, e.i32c(8 * r));
      Value addr = e.gep(swizzled(e.i32c(qOffset()), rr, e.i32c(n), 2 * dv),
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
      scf::IfOp::create(b, loc, e.cmp(P::slt, gr, sq),
                        [&](OpBuilder &, Location) {
                          Value src = swizzled(e.i32c(qOffset()), r, cIdx,
                                               2 * dv);
                          Value val = LLVM::LoadOp::create(b, loc, v4, src, 16);
                          Value dst = e.gep(
                              oBase, e.add(e.mul(gr, e.i32c(2 * dv)),
                                           e.shl(cIdx, 4)));
                          LLVM::StoreOp::create(b, loc, val, dst, 16);
                          scf::YieldOp::create(b, loc);
                        });
    }
  }

  // Counters: one atomic per CTA (per warp with warp votes).
  if (cfg.stats) {
    Value counter = cfg.warpVote() ? lane : tid;
    scf::IfOp::create(
        b, loc, e.cmp(P::eq, counter, e.i32c(0)), [&](OpBuilder &, Location) {
          Value base = e.toGlobalPtr(statsAddr);
          Value total = e.toI64(numKV);
          Value skipped = e.toI64(fin[skippedIdx]);
          LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, base,
                                    total, LLVM::AtomicOrdering::monotonic);
          LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add,
                                    e.gep(base, e.i32c(8)), skipped,
                                    LLVM::AtomicOrdering::monotonic);
          scf::YieldOp::create(b, loc);
        });
  }
  gpu::ReturnOp::create(b, loc);
}

gpu::GPUFuncOp skipattn::kernels::buildPrefillKernel(OpBuilder &b,
                                                 gpu::GPUModuleOp module,
                                                 const KernelConfig &cfg) {
  OpBuilder::InsertionGuard guard(b);
  Location loc = module.getLoc();
  b.setInsertionPointToStart(module.getBody());
  if (!module.lookupSymbol(kSharedSymbol)) {
    auto arrayType = LLVM::LLVMArrayType::get(b.getI8Type(), 0);
    LLVM::GlobalOp::create(b, loc, arrayType, /*isConstant=*/false,
                           LLVM::Linkage::External, kSharedSymbol,
                           Attribute(), /*alignment=*/128, /*addrSpace=*/3);
  }
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> args = {b.getI64Type(), b.getI64Type(), b.getI64Type(),
                            b.getI64Type(), b.getI32Type(), b.getI32Type(),
                            b.getI32Type()};
  if (cfg.skip)
    args.push_back(b.getF32Type());
  if (cfg.stats)
    args.push_back(b.getI64Type());
  auto func = gpu::GPUFuncOp::create(b, loc, cfg.name("prefill"),
                                     b.getFunctionType(args, {}));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(cfg.numThreads()), 1, 1}));
  KernelEmitter e(b, loc);
  PrefillGenerator(cfg, e).build(func);
  return func;
}
