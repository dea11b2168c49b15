//===- Sm90Emitter.cpp - Hopper instructions for the sm_90a kernel --------===//
//
// See Sm90Emitter.h. Descriptors follow the PTX ISA's "matrix descriptor"
// layout for 128-byte swizzled tiles: bits 0-13 the shared address / 16,
// 16-29 the leading byte offset / 16, 32-45 the stride byte offset / 16,
// 62-63 the swizzle mode (1 = 128 bytes). Tiles are 1024-byte aligned, so
// moving a descriptor by a multiple of 16 bytes inside a tile is an add.
//
//===----------------------------------------------------------------------===//

#include "Sm90Emitter.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace skipattn::kernels;

void Sm90Emitter::mbarInit(Value bar, int64_t count) {
  NVVM::MBarrierInitOp::create(e.b, e.loc, bar, e.i32c(count),
                               /*predicate=*/Value());
}

void Sm90Emitter::fenceMbarInit() {
  NVVM::FenceMbarrierInitOp::create(e.b, e.loc);
}

void Sm90Emitter::mbarArriveExpectTx(Value bar, int64_t bytes) {
  NVVM::MBarrierArriveExpectTxOp::create(
      e.b, e.loc, /*res=*/Type(), bar, e.i32c(bytes),
      NVVM::MemScopeKindAttr::get(e.b.getContext(), NVVM::MemScopeKind::CTA),
      /*relaxed=*/BoolAttr(), /*predicate=*/Value());
}

void Sm90Emitter::mbarArrive(Value bar) {
  NVVM::MBarrierArriveOp::create(
      e.b, e.loc, /*res=*/Type(), bar, /*count=*/Value(),
      NVVM::MemScopeKindAttr::get(e.b.getContext(), NVVM::MemScopeKind::CTA));
}

void Sm90Emitter::mbarWait(Value bar, Value parity) {
  NVVM::MBarrierTryWaitParityOp::create(e.b, e.loc, bar, parity,
                                        e.i32c(10000000));
}

void Sm90Emitter::tmaLoad(Value dst, Value map, ArrayRef<Value> coords,
                          Value bar) {
  // The intrinsic writes shared::cluster memory; this CTA's shared window
  // is part of it.
  Value cluster = LLVM::AddrSpaceCastOp::create(
      e.b, e.loc, LLVM::LLVMPointerType::get(e.b.getContext(), 7), dst);
  NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
      e.b, e.loc, cluster, map, coords, bar, /*im2colOffsets=*/ValueRange(),
      /*multicastMask=*/Value(), /*l2CacheHint=*/Value(),
      NVVM::TMALoadModeAttr::get(e.b.getContext(), NVVM::TMALoadMode::TILE),
      /*isCTAOnly=*/BoolAttr(), /*group=*/NVVM::CTAGroupKindAttr(),
      /*predicate=*/Value());
}

void Sm90Emitter::setMaxRegisters(int64_t count, bool increase) {
  NVVM::SetMaxRegisterOp::create(
      e.b, e.loc, e.b.getI32IntegerAttr(count),
      NVVM::SetMaxRegisterActionAttr::get(
          e.b.getContext(), increase ? NVVM::SetMaxRegisterAction::increase
                                     : NVVM::SetMaxRegisterAction::decrease));
}

void Sm90Emitter::namedSync(Value id, int64_t threads) {
  NVVM::BarrierOp::create(e.b, e.loc, /*res=*/Type(), id, e.i32c(threads),
                          NVVM::BarrierReductionAttr(), Value());
}

void Sm90Emitter::namedArrive(Value id, int64_t threads) {
  NVVM::BarrierArriveOp::create(e.b, e.loc, id, e.i32c(threads));
}

Value Sm90Emitter::namedAnd(Value id, int64_t threads, Value pred) {
  // nvvm.barrier takes a reduction only on barrier 0 (the whole CTA).
  Value p = arith::ExtUIOp::create(e.b, e.loc, e.i32, pred);
  auto op = LLVM::InlineAsmOp::create(
      e.b, e.loc, e.i32, ValueRange{p, id},
      "{\n.reg .pred p, q;\nsetp.ne.b32 p, $1, 0;\nbar.red.and.pred q, $2, " +
          std::to_string(threads) + ", p;\nselp.u32 $0, 1, 0, q;\n}",
      "=r,r,r", /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  return e.cmp(arith::CmpIPredicate::ne, op.getResult(0), e.i32c(0));
}

Value Sm90Emitter::uniformBool(Value v) {
  Value i = arith::ExtUIOp::create(e.b, e.loc, e.i32, v);
  return e.cmp(arith::CmpIPredicate::ne, uniform(i), e.i32c(0));
}

Value Sm90Emitter::uniform(Value v) {
  return NVVM::ShflOp::create(e.b, e.loc, e.i32, e.i32c(-1), v, e.i32c(0),
                              e.i32c(31), NVVM::ShflKind::idx,
                              /*return_value_and_is_valid=*/UnitAttr());
}

Value Sm90Emitter::descriptor(Value address, int64_t leadingBytes,
                              int64_t strideBytes) {
  int64_t high = (int64_t{1} << 62) | ((strideBytes >> 4) << 32) |
                 ((leadingBytes >> 4) << 16);
  Value a = e.toI64(e.band(address, e.i32c(0x3FFFF)));
  Value start = arith::ShRUIOp::create(e.b, e.loc, a, e.i64c(4));
  return arith::OrIOp::create(e.b, e.loc, start, e.i64c(high));
}

Value Sm90Emitter::advance(Value desc, int64_t bytes) {
  if (bytes == 0)
    return desc;
  return arith::AddIOp::create(e.b, e.loc, desc, e.i64c(bytes >> 4));
}

Type Sm90Emitter::accumulatorType(int64_t size) {
  return LLVM::LLVMStructType::getLiteral(e.b.getContext(),
                                          SmallVector<Type>(size, e.f32));
}

Accumulator Sm90Emitter::poisonAccumulator(int64_t size) {
  return {LLVM::PoisonOp::create(e.b, e.loc, accumulatorType(size)), size};
}

SmallVector<Value> Sm90Emitter::unpack(const Accumulator &acc) {
  SmallVector<Value> values;
  for (int64_t i = 0; i < acc.size; ++i)
    values.push_back(LLVM::ExtractValueOp::create(e.b, e.loc, acc.value, i));
  return values;
}

Accumulator Sm90Emitter::pack(ArrayRef<Value> values) {
  int64_t size = values.size();
  Value s = LLVM::PoisonOp::create(e.b, e.loc, accumulatorType(size));
  for (int64_t i = 0; i < size; ++i)
    s = LLVM::InsertValueOp::create(e.b, e.loc, s, values[i], i);
  return {s, size};
}

void Sm90Emitter::wgmmaFence() { NVVM::WgmmaFenceAlignedOp::create(e.b, e.loc); }
void Sm90Emitter::wgmmaCommit() {
  NVVM::WgmmaGroupSyncAlignedOp::create(e.b, e.loc);
}
void Sm90Emitter::wgmmaWait(int64_t pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(e.b, e.loc, pending);
}

static NVVM::WGMMATypes wgmmaType(Type elt) {
  return elt.isBF16() ? NVVM::WGMMATypes::bf16 : NVVM::WGMMATypes::f16;
}

Accumulator Sm90Emitter::wgmmaSS(Type elt, int64_t n, const Accumulator &acc,
                                 Value descA, Value descB, bool accumulate) {
  MLIRContext *ctx = e.b.getContext();
  auto type = NVVM::WGMMATypesAttr::get(ctx, wgmmaType(elt));
  auto op = NVVM::WgmmaMmaAsyncOp::create(
      e.b, e.loc, acc.value.getType(), acc.value, descA, descB,
      NVVM::MMAShapeAttr::get(ctx, 64, n, 16), type, type,
      NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::f32),
      NVVM::WGMMAScaleOutAttr::get(ctx, accumulate
                                            ? NVVM::WGMMAScaleOut::one
                                            : NVVM::WGMMAScaleOut::zero),
      NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
      NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
      NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::row),
      NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::col),
      NVVM::MMAIntOverflowAttr());
  return {op.getResult(), acc.size};
}

/// "$first, ..., $last" for the operands of an inline asm.
static std::string operandList(int64_t first, int64_t count) {
  SmallVector<std::string> names;
  for (int64_t i = 0; i < count; ++i)
    names.push_back("$" + std::to_string(first + i));
  return llvm::join(names, ", ");
}

/// Constraints for `count` f32 outputs tied to the same number of inputs
/// that follow `middle`.
static std::string tiedConstraints(int64_t count, StringRef middle) {
  SmallVector<std::string> parts(count, "=f");
  if (!middle.empty())
    parts.push_back(middle.str());
  for (int64_t i = 0; i < count; ++i)
    parts.push_back(std::to_string(i));
  return llvm::join(parts, ",");
}

static Value sideEffectAsm(KernelEmitter &e, Type result, ValueRange operands,
                           StringRef code, StringRef constraints) {
  auto op = LLVM::InlineAsmOp::create(
      e.b, e.loc, result, operands, code, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
  return op.getResult(0);
}

Accumulator Sm90Emitter::wgmmaRS(Type elt, int64_t n, const Accumulator &acc,
                                 ArrayRef<Value> a, Value descB) {
  int64_t size = acc.size;
  StringRef t = elt.isBF16() ? "bf16" : "f16";
  // scale-d is a predicate (set from a register holding 1: accumulate);
  // imm-scale-a, imm-scale-b = 1; imm-trans-b = 1: B (V) is MN-major.
  std::string code = "{\n.reg .pred p;\nsetp.ne.b32 p, $" +
                     std::to_string(size + 5) +
                     ", 0;\nwgmma.mma_async.sync.aligned.m64n" +
                     std::to_string(n) + "k16.f32." + t.str() + "." + t.str() +
                     " {" + operandList(0, size) + "}, {" +
                     operandList(size, 4) + "}, $" + std::to_string(size + 4) +
                     ", p, 1, 1, 1;\n}";
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  operands.push_back(e.i32c(1));
  operands.append(unpack(acc));
  Value result = sideEffectAsm(e, acc.value.getType(), operands, code,
                               tiedConstraints(size, "r,r,r,r,l,r"));
  return {result, size};
}

Accumulator Sm90Emitter::waitFor(int64_t pending, const Accumulator &acc,
                                 ArrayRef<Value> stillRead) {
  SmallVector<Value> operands(stillRead.begin(), stillRead.end());
  operands.append(unpack(acc));
  std::string inputs = llvm::join(
      SmallVector<std::string>(stillRead.size(), std::string("r")), ",");
  Value result = sideEffectAsm(
      e, acc.value.getType(), operands,
      "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";",
      tiedConstraints(acc.size, inputs));
  return {result, acc.size};
}

Accumulator Sm90Emitter::fenceRegisters(const Accumulator &acc) {
  Value result = sideEffectAsm(e, acc.value.getType(), unpack(acc), "",
                               tiedConstraints(acc.size, ""));
  return {result, acc.size};
}
