//===- WarpTile.cpp - one warp's share of the attention tile math ---------===//
//
// The arithmetic of DESIGN.md section 5 for one warp of 16 query rows:
//
// - tiles are stored with 16-byte chunks XOR-swizzled by row % 8, so the 8
//   rows an ldmatrix reads at one column fall in 8 different bank groups;
// - ldmatrix.x4 of Q rows gives the A fragment of an m16k16 step; of K rows
//   (the "col" B layout of mma.row.col) the B fragments of two n8 tiles; of
//   V rows with .trans the B fragments of P V;
// - the addresses come from four per-lane offsets and constants, so the
//   hot loop keeps a handful of address registers;
// - the C fragments of two adjacent n8 tiles of S, rounded to bf16/f16
//   pairs, are exactly the A fragment of P for P V: P stays in registers.
//
//===----------------------------------------------------------------------===//

#include "WarpTile.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace skipattn::kernels;
using FP = arith::CmpFPredicate;
using P = arith::CmpIPredicate;

SmallVector<Value> SoftmaxState::flatten() const {
  SmallVector<Value> out = {m[0], m[1], l[0], l[1]};
  for (const auto &tile : o)
    out.append(tile.begin(), tile.end());
  return out;
}

SoftmaxState SoftmaxState::unflatten(ValueRange values, int64_t oTiles) {
  SoftmaxState s;
  s.m[0] = values[0];
  s.m[1] = values[1];
  s.l[0] = values[2];
  s.l[1] = values[3];
  for (int64_t n = 0; n < oTiles; ++n)
    s.o.push_back(SmallVector<Value, 4>(values.slice(4 + 4 * n, 4)));
  return s;
}

WarpTile::WarpTile(KernelEmitter &e, const KernelConfig &cfg, Value smem,
                   Value lane)
    : e(e), cfg(cfg), smem(smem), lane(lane), d(cfg.headDim),
      dv(cfg.valueHeadDim), bn(cfg.blockN), kSteps(d / 16), sTiles(bn / 8),
      oTiles(dv / 8) {
  g = e.divu(lane, e.i32c(4));
  t = e.remu(lane, e.i32c(4));
  // K (B of Q K^T, two n8 tiles per x4): rows lane%8 + 8*(lane/16), chunk
  // half (lane/8)%2. V (B of P V, .trans): rows lane%8 + 8*((lane/8)%2),
  // chunk half lane/16.
  Value low = e.band(lane, e.i32c(7));
  Value bit3 = e.band(e.divu(lane, e.i32c(8)), e.i32c(1));
  Value bit4 = e.divu(lane, e.i32c(16));
  kBases = laneBases(e.add(low, e.mul(bit4, e.i32c(8))), bit3, 2 * d);
  vBases = laneBases(e.add(low, e.mul(bit3, e.i32c(8))), bit4, 2 * dv);
}

Value WarpTile::swizzled(Value base, Value row, Value chunk, int64_t rowBytes) {
  Value phys = e.bxor(chunk, e.band(row, e.i32c(7)));
  Value off = e.add(e.mul(row, e.i32c(rowBytes)), e.shl(phys, 4));
  return e.gep(smem, e.add(base, off));
}

/// A lane reads chunk 2s + half of row rowConst + rowIn (rowConst a multiple
/// of 8); swizzled, that is ((half ^ rowIn % 8) ^ (2s % 8)) + (2s & 8). So
/// four per-lane offsets, one per value of 2s % 8, plus a constant reach
/// every chunk.
SmallVector<Value, 4> WarpTile::laneBases(Value rowIn, Value half,
                                          int64_t rowBytes) {
  Value x = e.bxor(half, e.band(rowIn, e.i32c(7)));
  Value rowOff = e.mul(rowIn, e.i32c(rowBytes));
  SmallVector<Value, 4> bases;
  for (int64_t w = 0; w < 8; w += 2)
    bases.push_back(e.add(rowOff, e.shl(e.bxor(x, e.i32c(w)), 4)));
  return bases;
}

Value WarpTile::chunkAddr(Value tileBase, ArrayRef<Value> bases, int64_t s,
                          int64_t rowConst, int64_t rowBytes) {
  int64_t c = 2 * s;
  Value lanePtr = e.gep(smem, e.add(tileBase, bases[(c & 7) / 2]));
  return e.gep(lanePtr, e.i32c(rowConst * rowBytes + (c & 8) * 16));
}

void WarpTile::loadTile(Value base, Value global, Value row0, Value limit,
                        int64_t rows, int64_t rowBytes, Value tid,
                        int64_t threads, int64_t globalStride) {
  if (!globalStride)
    globalStride = rowBytes;
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
    Value src =
        e.gep(global, e.add(e.mul(safe, e.i32c(globalStride)), e.shl(c, 4)));
    e.cpAsync16(swizzled(base, r, c, rowBytes), src, valid);
  }
}

Fragments WarpTile::loadQ(Value base, Value rowBase) {
  // Rows rowBase + lane%16, chunk 2ks + lane/16: the four 8x8 matrices of
  // an m16k16 A operand.
  Value row = e.add(rowBase, e.band(lane, e.i32c(15)));
  SmallVector<Value, 4> bases = laneBases(row, e.divu(lane, e.i32c(16)), 2 * d);
  Fragments q;
  for (int64_t ks = 0; ks < kSteps; ++ks)
    q.push_back(e.ldmatrix4(chunkAddr(base, bases, ks, 0, 2 * d), false));
  return q;
}

Fragments WarpTile::scores(const Fragments &q, Value kTile) {
  Value zero = e.f32c(0.0);
  Fragments s(sTiles, SmallVector<Value, 4>(4, zero));
  for (int64_t ks = 0; ks < kSteps; ++ks)
    for (int64_t np = 0; np < sTiles / 2; ++np) {
      SmallVector<Value, 4> kf =
          e.ldmatrix4(chunkAddr(kTile, kBases, ks, 16 * np, 2 * d), false);
      s[2 * np] = e.mma(cfg.elementType, q[ks], {kf[0], kf[1]}, s[2 * np]);
      s[2 * np + 1] =
          e.mma(cfg.elementType, q[ks], {kf[2], kf[3]}, s[2 * np + 1]);
    }
  return s;
}

void WarpTile::rowMax(const Fragments &s, Value mt[2]) {
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
}

SoftmaxState WarpTile::initial() {
  SoftmaxState s;
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  s.m[0] = s.m[1] = ninf;
  s.l[0] = s.l[1] = zero;
  s.o.assign(oTiles, SmallVector<Value, 4>(4, zero));
  return s;
}

SoftmaxState WarpTile::update(const Fragments &s, Value mt[2],
                              const SoftmaxState &state, Value vTile, Value c) {
  Value ninf = e.f32c(-INFINITY), zero = e.f32c(0.0);
  SoftmaxState next;
  Value shift[2], alpha[2];
  for (int r = 0; r < 2; ++r) {
    next.m[r] = e.fmax(state.m[r], mt[r]);
    // A row with no key yet keeps m = -inf: shift by 0, so exp2 gives 0.
    Value scaled = e.fmul(next.m[r], c);
    shift[r] = e.select(e.fcmp(FP::OEQ, next.m[r], ninf), zero, scaled);
    alpha[r] = e.ex2(e.fsub(e.fmul(state.m[r], c), shift[r]));
  }
  // p = exp2(s * c - shift): one FMA and one ex2; l sums per thread (the
  // quad adds up at the end).
  Value negShift[2] = {e.fsub(zero, shift[0]), e.fsub(zero, shift[1])};
  Fragments p(sTiles);
  Value rowSum[2] = {zero, zero};
  for (int64_t n = 0; n < sTiles; ++n)
    for (int el = 0; el < 4; ++el) {
      Value x = e.ex2(e.fma(s[n][el], c, negShift[el >> 1]));
      p[n].push_back(x);
      rowSum[el >> 1] = e.fadd(rowSum[el >> 1], x);
    }
  for (int r = 0; r < 2; ++r)
    next.l[r] = e.fma(state.l[r], alpha[r], rowSum[r]);
  next.o.resize(oTiles);
  for (int64_t n = 0; n < oTiles; ++n)
    for (int el = 0; el < 4; ++el)
      next.o[n].push_back(e.fmul(state.o[n][el], alpha[el >> 1]));

  // O += P V.
  for (int64_t kk = 0; kk < bn / 16; ++kk) {
    SmallVector<Value, 4> a = {
        e.pack(cfg.elementType, p[2 * kk][0], p[2 * kk][1]),
        e.pack(cfg.elementType, p[2 * kk][2], p[2 * kk][3]),
        e.pack(cfg.elementType, p[2 * kk + 1][0], p[2 * kk + 1][1]),
        e.pack(cfg.elementType, p[2 * kk + 1][2], p[2 * kk + 1][3])};
    for (int64_t dp = 0; dp < oTiles / 2; ++dp) {
      SmallVector<Value, 4> vf =
          e.ldmatrix4(chunkAddr(vTile, vBases, dp, 16 * kk, 2 * dv), true);
      next.o[2 * dp] =
          e.mma(cfg.elementType, a, {vf[0], vf[1]}, next.o[2 * dp]);
      next.o[2 * dp + 1] =
          e.mma(cfg.elementType, a, {vf[2], vf[3]}, next.o[2 * dp + 1]);
    }
  }
  return next;
}

SkipThreshold SkipThreshold::build(KernelEmitter &e, const KernelConfig &cfg,
                                   Value lambdaArg, Value skv) {
  Value lambda = lambdaArg;
  if (cfg.skipKind == skipattn::attn::SkipKind::ScaleFactor)
    lambda = e.fdiv(lambda, arith::UIToFPOp::create(e.b, e.loc, e.f32, skv));
  return {e.band(e.fcmp(arith::CmpFPredicate::OGT, lambda, e.f32c(0.0)),
                 e.fcmp(arith::CmpFPredicate::OLT, lambda, e.f32c(1.0))),
          e.lg2(lambda)};
}

Value skipattn::kernels::visitedKvBlocks(KernelEmitter &e,
                                         const KernelConfig &cfg, Value q0,
                                         int64_t rows, Value sq, Value skv) {
  Value all = e.ceilDiv(skv, cfg.blockN);
  if (!cfg.causal)
    return all;
  Value rowsEnd = e.minsi(e.add(q0, e.i32c(rows)), sq);
  Value keysEnd = e.sub(e.add(rowsEnd, skv), sq);
  Value blocks = e.ceilDiv(e.maxsi(keysEnd, e.i32c(0)), cfg.blockN);
  return e.minsi(blocks, all);
}

Value skipattn::kernels::tileNeedsMask(KernelEmitter &e,
                                       const KernelConfig &cfg, Value k0,
                                       Value q0, Value sq, Value skv) {
  Value tileEnd = e.add(k0, e.i32c(cfg.blockN));
  Value need = e.cmp(P::sgt, tileEnd, skv);
  if (!cfg.causal)
    return need;
  Value lastKey = e.add(e.sub(tileEnd, e.i32c(1)), sq);
  return arith::OrIOp::create(e.b, e.loc, need,
                              e.cmp(P::sgt, lastKey, e.add(q0, skv)));
}

Value skipattn::kernels::keyVisible(KernelEmitter &e, const KernelConfig &cfg,
                                    Value key, Value query, Value sq,
                                    Value skv) {
  Value keep = e.cmp(P::slt, key, skv);
  if (!cfg.causal)
    return keep;
  return e.band(keep,
                e.cmp(P::sle, e.add(key, sq), e.add(query, skv)));
}

Value skipattn::kernels::rowLse(KernelEmitter &e, Value m, Value l,
                                double scale) {
  Value lnL = e.fmul(e.lg2(l), e.f32c(M_LN2));
  Value value = e.fma(m, e.f32c(scale), lnL);
  return e.select(e.fcmp(arith::CmpFPredicate::OEQ, l, e.f32c(0.0)),
                  e.f32c(-INFINITY), value);
}

Value skipattn::kernels::skipVoteRows(KernelEmitter &e, const Value mt[2],
                                      const Value m[2], const Value outside[2],
                                      Value c,
                                      const SkipThreshold &threshold) {
  Value yes;
  for (int r = 0; r < 2; ++r) {
    Value empty = e.fcmp(arith::CmpFPredicate::OEQ, mt[r], e.f32c(-INFINITY));
    Value far = e.fcmp(arith::CmpFPredicate::OLT,
                       e.fmul(e.fsub(mt[r], m[r]), c), threshold.log2Lambda);
    Value row = arith::OrIOp::create(
        e.b, e.loc, outside[r], arith::OrIOp::create(e.b, e.loc, empty, far));
    yes = r == 0 ? row : e.band(yes, row);
  }
  return yes;
}

Value WarpTile::skipVote(const Value mt[2], const Value m[2],
                         const Value outside[2], Value c,
                         const SkipThreshold &threshold) {
  return skipVoteRows(e, mt, m, outside, c, threshold);
}

MaskView MaskView::fromArgs(const KernelConfig &cfg, ValueRange args) {
  MaskView m;
  m.address = args[0];
  for (int i = 0; i < 4; ++i)
    m.extents[i] = args[1 + i];
  m.isBool = cfg.mask == KernelConfig::Mask::Bool;
  return m;
}

void MaskView::addArgTypes(OpBuilder &b, SmallVectorImpl<Type> &types) {
  types.push_back(b.getI64Type());
  types.append(4, b.getI32Type());
}

void WarpTile::applyMask(Fragments &s, const MaskView &mask, Value batch,
                         const Value head[2], const Value query[2], Value k0,
                         Value sq, Value skv) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  // An index of extent 1 is 0 (broadcast); indices are clamped into the
  // tensor so that out-of-range keys and padding rows read a legal entry.
  auto index = [&](Value i, Value extent, Value limit) {
    Value last = e.sub(e.minsi(extent, limit), e.i32c(1));
    return e.select(e.cmp(P::eq, extent, e.i32c(1)), e.i32c(0),
                    e.minsi(i, last));
  };
  Value rowBase[2];
  Value bi = index(batch, mask.extents[0], mask.extents[0]);
  for (int r = 0; r < 2; ++r) {
    Value hi = index(head[r], mask.extents[1], mask.extents[1]);
    Value qi = index(query[r], mask.extents[2], sq);
    Value bh = e.add(e.mul(bi, mask.extents[1]), hi);
    Value row = e.add(e.mul(bh, mask.extents[2]), qi);
    rowBase[r] = arith::MulIOp::create(b, loc, e.toI64(row),
                                       e.toI64(mask.extents[3]));
  }
  Value base = e.toGlobalPtr(mask.address);
  int64_t eltBytes = mask.isBool ? 1 : 2;
  Value ninf = e.f32c(-INFINITY);
  Value invScale = e.f32c(1.0 / cfg.scale);
  Value colBase = e.add(k0, e.mul(t, e.i32c(2)));
  for (int64_t n = 0; n < sTiles; ++n)
    for (int64_t el = 0; el < 4; ++el) {
      Value col = index(e.add(colBase, e.i32c(n * 8 + (el & 1))),
                        mask.extents[3], skv);
      Value linear = arith::AddIOp::create(b, loc, rowBase[el >> 1],
                                           e.toI64(col));
      Value at = e.gep(base, arith::MulIOp::create(b, loc, linear,
                                                   e.i64c(eltBytes)));
      Value &score = s[n][el];
      if (mask.isBool) {
        Value byte = LLVM::LoadOp::create(b, loc, b.getI8Type(), at, 1);
        Value keep = arith::CmpIOp::create(
            b, loc, P::ne, byte,
            arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0)));
        score = e.select(keep, score, ninf);
      } else {
        Value value = LLVM::LoadOp::create(b, loc, cfg.elementType, at, 2);
        Value wide = arith::ExtFOp::create(b, loc, e.f32, value);
        score = e.fma(wide, invScale, score);
      }
    }
}

void WarpTile::maskScores(Fragments &s, Value needMask, Value k0, Value sq,
                          Value skv, const Value query[2]) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  SmallVector<Value> flat;
  for (auto &tile : s)
    flat.append(tile.begin(), tile.end());
  auto masked = scf::IfOp::create(
      b, loc, needMask,
      [&](OpBuilder &, Location) {
        SmallVector<Value> out;
        Value colBase = e.add(k0, e.mul(t, e.i32c(2)));
        Value ninf = e.f32c(-INFINITY);
        for (int64_t n = 0; n < sTiles; ++n)
          for (int64_t el = 0; el < 4; ++el) {
            Value col = e.add(colBase, e.i32c(n * 8 + (el & 1)));
            Value keep = keyVisible(e, cfg, col, query[el >> 1], sq, skv);
            out.push_back(e.select(keep, flat[n * 4 + el], ninf));
          }
        scf::YieldOp::create(b, loc, out);
      },
      [&](OpBuilder &, Location) { scf::YieldOp::create(b, loc, flat); });
  for (int64_t n = 0; n < sTiles; ++n)
    for (int64_t el = 0; el < 4; ++el)
      s[n][el] = masked.getResult(n * 4 + el);
}
