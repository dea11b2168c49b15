//===- KernelEmitter.cpp - instruction-level helpers for the kernels ------===//
//
// The kernels are written at the level of PTX instructions, through the
// LLVM and NVVM dialects: 32-bit address arithmetic, raw global and shared
// pointers, ldmatrix / mma.sync / cp.async, warp votes and shuffles. This
// keeps every instruction of the hot loop visible in the IR, where the
// memref and vector abstractions would add 64-bit indexing and copies.
// ex2 and lg2 use the approximate PTX instructions directly: MLIR's GPU
// lowering would otherwise call libdevice, which a bundle does not link.
//
//===----------------------------------------------------------------------===//

#include "KernelConfig.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace skipattn::kernels;

std::string KernelConfig::name(StringRef role) const {
  std::string s = ("skipattn_" + role).str();
  s += elementType.isBF16() ? "_bf16" : "_f16";
  s += "_h" + std::to_string(qHeads) + "x" + std::to_string(kvHeads);
  s += "_d" + std::to_string(headDim);
  if (valueHeadDim != headDim)
    s += "x" + std::to_string(valueHeadDim);
  s += "_m" + std::to_string(blockM) + "n" + std::to_string(blockN);
  if (causal)
    s += "_causal";
  if (sm90 && role == "prefill")
    s += "_sm90";
  if (skip)
    s += skipKind == attn::SkipKind::Threshold ? "_skip" : "_skipsf";
  if (skip && warpVote())
    s += "_warpvote";
  if (skip && decodeSharedMax && role.starts_with("decode"))
    s += "_sharedmax";
  if (stats)
    s += "_stats";
  if (lse)
    s += "_lse";
  if (initMax)
    s += "_carry";
  if (pageSize)
    s += "_paged" + std::to_string(pageSize);
  if (mask != Mask::None)
    s += mask == Mask::Bool ? "_maskb" : "_maska";
  if (varlen)
    s += "_varlen";
  return s;
}

KernelEmitter::KernelEmitter(OpBuilder &b, Location loc) : b(b), loc(loc) {
  MLIRContext *ctx = b.getContext();
  i1 = b.getI1Type();
  i32 = b.getI32Type();
  i64 = b.getI64Type();
  f32 = b.getF32Type();
  globalPtr = LLVM::LLVMPointerType::get(ctx, 1);
  sharedPtr = LLVM::LLVMPointerType::get(ctx, 3);
}

Value KernelEmitter::i32c(int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
}
Value KernelEmitter::i64c(int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
}
Value KernelEmitter::f32c(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

Value KernelEmitter::add(Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}
Value KernelEmitter::sub(Value x, Value y) {
  return arith::SubIOp::create(b, loc, x, y);
}
Value KernelEmitter::mul(Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}
Value KernelEmitter::divu(Value x, Value y) {
  return arith::DivUIOp::create(b, loc, x, y);
}
Value KernelEmitter::remu(Value x, Value y) {
  return arith::RemUIOp::create(b, loc, x, y);
}
Value KernelEmitter::band(Value x, Value y) {
  return arith::AndIOp::create(b, loc, x, y);
}
Value KernelEmitter::bxor(Value x, Value y) {
  return arith::XOrIOp::create(b, loc, x, y);
}
Value KernelEmitter::shl(Value x, int64_t bits) {
  return arith::ShLIOp::create(b, loc, x, i32c(bits));
}
Value KernelEmitter::minsi(Value x, Value y) {
  return arith::MinSIOp::create(b, loc, x, y);
}
Value KernelEmitter::maxsi(Value x, Value y) {
  return arith::MaxSIOp::create(b, loc, x, y);
}
Value KernelEmitter::cmp(arith::CmpIPredicate p, Value x, Value y) {
  return arith::CmpIOp::create(b, loc, p, x, y);
}
Value KernelEmitter::select(Value c, Value x, Value y) {
  return arith::SelectOp::create(b, loc, c, x, y);
}
Value KernelEmitter::ceilDiv(Value x, int64_t y) {
  return divu(add(x, i32c(y - 1)), i32c(y));
}
Value KernelEmitter::toI64(Value v) {
  return arith::ExtUIOp::create(b, loc, i64, v);
}

static arith::FastMathFlagsAttr contract(OpBuilder &b) {
  return arith::FastMathFlagsAttr::get(b.getContext(),
                                       arith::FastMathFlags::contract);
}

Value KernelEmitter::fadd(Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y, contract(b));
}
Value KernelEmitter::fsub(Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y, contract(b));
}
Value KernelEmitter::fmul(Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y, contract(b));
}
Value KernelEmitter::fma(Value x, Value y, Value z) {
  return LLVM::FMAOp::create(b, loc, x, y, z);
}
Value KernelEmitter::fmax(Value x, Value y) {
  return arith::MaxNumFOp::create(b, loc, x, y);
}
Value KernelEmitter::fcmp(arith::CmpFPredicate p, Value x, Value y) {
  return arith::CmpFOp::create(b, loc, p, x, y);
}
Value KernelEmitter::fdiv(Value x, Value y) {
  return arith::DivFOp::create(b, loc, x, y);
}

Value KernelEmitter::inlineAsm(StringRef code, StringRef constraints,
                               Type result, ValueRange operands) {
  auto op = LLVM::InlineAsmOp::create(
      b, loc, result, operands, code, constraints, /*has_side_effects=*/false,
      /*is_align_stack=*/false, LLVM::TailCallKind::None,
      LLVM::AsmDialectAttr(), ArrayAttr());
  return op.getResult(0);
}

Value KernelEmitter::ex2(Value x) {
  return inlineAsm("ex2.approx.ftz.f32 $0, $1;", "=f,f", f32, x);
}
Value KernelEmitter::lg2(Value x) {
  return inlineAsm("lg2.approx.f32 $0, $1;", "=f,f", f32, x);
}

Value KernelEmitter::threadIdx() {
  Value idx = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  return arith::IndexCastUIOp::create(b, loc, i32, idx);
}
Value KernelEmitter::blockIdx(gpu::Dimension d) {
  Value idx = gpu::BlockIdOp::create(b, loc, d);
  return arith::IndexCastUIOp::create(b, loc, i32, idx);
}

Value KernelEmitter::toGlobalPtr(Value address) {
  return LLVM::IntToPtrOp::create(b, loc, globalPtr, address);
}
Value KernelEmitter::gep(Value ptr, Value byteOffset) {
  return LLVM::GEPOp::create(b, loc, ptr.getType(), b.getI8Type(), ptr,
                             ValueRange{byteOffset});
}
Value KernelEmitter::loadI32(Value address, Value index) {
  Value offset = mul(index, i32c(4));
  Value at = gep(toGlobalPtr(address), offset);
  return LLVM::LoadOp::create(b, loc, i32, at, /*alignment=*/4);
}
Value KernelEmitter::headBase(Value address, Value batch, int64_t heads,
                              Value head, Value len, int64_t rowBytes) {
  Value bh = add(mul(batch, i32c(heads)), head);
  Value rows = arith::MulIOp::create(b, loc, toI64(bh), toI64(len));
  Value bytes = arith::MulIOp::create(b, loc, rows, i64c(rowBytes));
  return gep(toGlobalPtr(address), bytes);
}
Value KernelEmitter::sharedBase(StringRef symbol) {
  return LLVM::AddressOfOp::create(b, loc, sharedPtr, symbol);
}
void KernelEmitter::countTiles(Value address, Value batch, int64_t heads,
                               Value head, Value total, Value skipped) {
  Value bh = add(mul(batch, i32c(heads)), head);
  Value bytes = arith::MulIOp::create(b, loc, toI64(bh), i64c(16));
  Value pair = gep(toGlobalPtr(address), bytes);
  LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, pair, toI64(total),
                            LLVM::AtomicOrdering::monotonic);
  LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::add, gep(pair, i32c(8)),
                            toI64(skipped), LLVM::AtomicOrdering::monotonic);
}

void KernelEmitter::cpAsync16(Value dst, Value src, Value valid) {
  Value size = select(valid, i32c(16), i32c(0));
  NVVM::CpAsyncOp::create(b, loc, dst, src, /*size=*/16,
                          NVVM::LoadCacheModifierKind::CG, size);
}
void KernelEmitter::cpAsyncCommit() {
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}
void KernelEmitter::cpAsyncWait(int64_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, pending);
}
void KernelEmitter::barrier() { NVVM::Barrier0Op::create(b, loc); }

Value KernelEmitter::barrierAnd(Value pred) {
  Value p = arith::ExtUIOp::create(b, loc, i32, pred);
  auto bar = NVVM::BarrierOp::create(
      b, loc, i32, /*barrierId=*/Value(), /*numberOfThreads=*/Value(),
      NVVM::BarrierReductionAttr::get(b.getContext(),
                                      NVVM::BarrierReduction::AND),
      p);
  return cmp(arith::CmpIPredicate::ne, bar.getRes(), i32c(0));
}

Value KernelEmitter::warpAll(Value pred) {
  return NVVM::VoteSyncOp::create(b, loc, i1, i32c(-1), pred,
                                  NVVM::VoteSyncKind::all);
}

Value KernelEmitter::shflXor(Value v, int64_t lanes) {
  return NVVM::ShflOp::create(b, loc, v.getType(), i32c(-1), v, i32c(lanes),
                              i32c(31), NVVM::ShflKind::bfly,
                              /*return_value_and_is_valid=*/UnitAttr());
}

SmallVector<Value, 4> KernelEmitter::ldmatrix4(Value sharedAddr,
                                               bool transpose) {
  MLIRContext *ctx = b.getContext();
  Type structType = LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i32, i32});
  auto op = NVVM::LdMatrixOp::create(
      b, loc, structType, sharedAddr, /*num=*/4,
      transpose ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
  SmallVector<Value, 4> regs;
  for (int64_t i = 0; i < 4; ++i)
    regs.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
  return regs;
}

SmallVector<Value, 4> KernelEmitter::mma(Type elt, ArrayRef<Value> a,
                                         ArrayRef<Value> bFrag,
                                         ArrayRef<Value> c) {
  MLIRContext *ctx = b.getContext();
  Type structType = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  NVVM::MMATypes type =
      elt.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  // bf16 fragments travel as i32, f16 ones as vector<2xf16>.
  auto operands = [&](ArrayRef<Value> regs) {
    SmallVector<Value, 4> out;
    for (Value r : regs)
      out.push_back(elt.isBF16() ? r
                                 : LLVM::BitcastOp::create(
                                       b, loc, VectorType::get({2}, elt), r)
                                       .getResult());
    return out;
  };
  auto op =
      NVVM::MmaOp::create(b, loc, structType, operands(a), operands(bFrag), c,
                          ArrayRef<int64_t>{16, 8, 16},
                          /*b1Op=*/std::nullopt, /*intOverflow=*/std::nullopt,
                          std::array<NVVM::MMATypes, 2>{type, type},
                          std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                         NVVM::MMALayout::col});
  SmallVector<Value, 4> d;
  for (int64_t i = 0; i < 4; ++i)
    d.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
  return d;
}

Value KernelEmitter::pack(Type elt, Value lo, Value hi) {
  auto v2f = VectorType::get({2}, f32);
  Value v = LLVM::PoisonOp::create(b, loc, v2f);
  v = LLVM::InsertElementOp::create(b, loc, v, lo, i32c(0));
  v = LLVM::InsertElementOp::create(b, loc, v, hi, i32c(1));
  Value narrow = arith::TruncFOp::create(b, loc, VectorType::get({2}, elt), v);
  return LLVM::BitcastOp::create(b, loc, i32, narrow);
}
