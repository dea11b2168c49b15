//===- EntryBuilder.cpp - the entry function of a bundle ------------------===//
//
// Every bundle exposes one function, `skipattn_attention`, with buffers in
// and out: q, k, v, an optional mask and out, in the op layout. This file
// builds it around one attn.attention, reads the spec back from a user's
// module when the input is an .mlir file (refusing one that computes more
// than the attention, which the bundle would drop), and runs skipattn's
// pipelines under MLIR's pass-manager options.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"

using namespace mlir;
using namespace skipattn;

SmallVector<std::string> BundleSpec::argumentNames() const {
  SmallVector<std::string> names = {"q", "k", "v"};
  if (mask)
    names.push_back("mask");
  if (initMax)
    names.push_back("init_max");
  if (pageSize)
    names.append({"block_table", "seq_lens"});
  if (varlen)
    names.append({"cu_seqlens_q", "cu_seqlens_k"});
  names.push_back("out");
  if (lse)
    names.push_back("lse");
  if (initMax)
    names.push_back("max");
  if (kvSplits)
    names.push_back("num_splits");
  if (skip) {
    names.push_back(skip.getKind() == attn::SkipKind::Threshold
                        ? "threshold"
                        : "scale_factor");
    names.push_back("stats");
  }
  return names;
}

RankedTensorType BundleSpec::lseType() const {
  return RankedTensorType::get(result().getShape().drop_back(),
                               Float32Type::get(query.getContext()));
}

LogicalResult skipattn::runPasses(ModuleOp module,
                                  function_ref<void(OpPassManager &)> build) {
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  applyDefaultTimingPassManagerCLOptions(pm);
  build(pm);
  return pm.run(module);
}

/// The first op of `func` that the bundle would not compute: the bundle is
/// the attention on the function's arguments, into a new destination,
/// returned as it is.
static Operation *firstForeignOp(func::FuncOp func, attn::AttentionOp op) {
  llvm::SmallPtrSet<Operation *, 4> own = {op.getOperation()};
  // The destinations (the output's, the lse's and the max's).
  for (Value init : op.getDpsInits()) {
    auto empty = init.getDefiningOp<tensor::EmptyOp>();
    if (!empty)
      continue;
    own.insert(empty);
    for (Value size : empty.getDynamicSizes())
      if (auto dim = size.getDefiningOp<tensor::DimOp>())
        own.insert(dim), own.insert(dim.getIndex().getDefiningOp());
  }
  for (Operation &other : func.getBody().getOps()) {
    if (own.contains(&other))
      continue;
    auto ret = dyn_cast<func::ReturnOp>(other);
    if (ret && llvm::all_of(ret.getOperands(), [&](Value v) {
          return v.getDefiningOp() == op.getOperation();
        }))
      continue;
    return &other;
  }
  return nullptr;
}

FailureOr<BundleSpec> skipattn::specFromModule(ModuleOp module) {
  if (failed(runPasses(module, [](OpPassManager &pm) {
        pm.nest<func::FuncOp>().addPass(attn::createAttnRaise());
      })))
    return failure();
  SmallVector<attn::AttentionOp> ops;
  module.walk([&](attn::AttentionOp op) { ops.push_back(op); });
  if (ops.size() != 1)
    return module.emitError()
           << "expected exactly one attention (attn.attention, or one that "
              "attn-raise recognises), found "
           << ops.size();
  attn::AttentionOp op = ops.front();
  // A bundle computes the attention alone, on buffers in the op's layout:
  // anything else the input computes would be dropped without a word.
  auto func = dyn_cast<func::FuncOp>(op->getParentOp());
  if (!func)
    return op.emitError("the attention must be in the body of a func.func "
                        "to become a bundle");
  for (auto [i, operand] : llvm::enumerate(op.getDpsInputs()))
    if (auto arg = dyn_cast<BlockArgument>(operand);
        !arg || arg.getOwner() != &func.getBody().front())
      return op.emitError()
             << "a bundle computes the attention on its own inputs, but "
                "operand #"
             << i
             << " is computed in the input; the bundle would drop that "
                "computation (compile the whole function with attn-compile "
                "instead)";
  if (Operation *foreign = firstForeignOp(func, op))
    return foreign->emitError()
           << "'" << foreign->getName()
           << "' is part of the input but not of the attention; a bundle "
              "computes the attention alone and would drop it (compile the "
              "whole function with attn-compile instead)";
  BundleSpec spec;
  spec.origin = op.getLoc();
  spec.query = op.getQuery().getType();
  spec.key = op.getKey().getType();
  spec.value = op.getValue().getType();
  if (Value mask = op.getMask())
    spec.mask = cast<RankedTensorType>(mask.getType());
  spec.causal = op.getCausal();
  if (std::optional<APFloat> scale = op.getScale())
    spec.scale = scale->convertToFloat();
  spec.skip = op.getSkipAttr();
  spec.lse = static_cast<bool>(op.getLse());
  // The carry comes whole: an init_max without the max result (or the
  // reverse) is not a bundle's interface.
  if (!op.getInitMax() != !op.getMax())
    return op.emitError("a bundle takes init_max and returns max together "
                        "(skipattn-compile --init-max); this attention has "
                        "only one of them");
  spec.initMax = static_cast<bool>(op.getInitMax());
  return spec;
}

void skipattn::setCompileOptions(const BundleSpec &spec,
                                 CompileOptions &options) {
  options.target = spec.target;
  options.chip = spec.chip;
  options.raise = false;
  options.blockM = spec.blockM;
  options.blockN = spec.blockN;
  options.voteRows = spec.voteRows;
  options.packGQA = spec.packGQA;
  options.kvSplits = spec.kvSplits;
  options.stats = true;
  options.decodeKernels = true;
  if (!spec.cpu.name.empty())
    options.cpu = spec.cpu.name;
}

static MemRefType bufferOf(RankedTensorType t) {
  return MemRefType::get(t.getShape(), t.getElementType());
}

OwningOpRef<ModuleOp> skipattn::buildEntryModule(MLIRContext &ctx,
                                                 const BundleSpec &spec) {
  OpBuilder b(&ctx);
  Location loc = spec.origin ? Location(spec.origin) : b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  SmallVector<RankedTensorType> tensors = {spec.query, spec.key, spec.value};
  if (spec.mask)
    tensors.push_back(spec.mask);
  if (spec.initMax)
    tensors.push_back(spec.lseType());
  // Paged: K and V are page pools [num_pages, P, Hkv, D], then the block
  // table [B, max_pages] and the lengths [B] (i32).
  if (spec.pageSize) {
    auto pages = [&](RankedTensorType logical) {
      return RankedTensorType::get({ShapedType::kDynamic, spec.pageSize,
                                    logical.getDimSize(1),
                                    logical.getDimSize(3)},
                                   logical.getElementType());
    };
    tensors[1] = pages(spec.key);
    tensors[2] = pages(spec.value);
    Type i32 = b.getI32Type();
    int64_t batch = spec.query.getDimSize(0);
    tensors.push_back(
        RankedTensorType::get({batch, ShapedType::kDynamic}, i32));
    tensors.push_back(RankedTensorType::get({batch}, i32));
  }
  // Varlen: q, k, v and out as [tokens, heads, head dim], then the
  // cumulative lengths [B + 1] (i32).
  auto packed = [](RankedTensorType logical) {
    return RankedTensorType::get({ShapedType::kDynamic, logical.getDimSize(1),
                                  logical.getDimSize(3)},
                                 logical.getElementType());
  };
  if (spec.varlen) {
    for (int i = 0; i < 3; ++i)
      tensors[i] = packed(tensors[i]);
    Type i32 = b.getI32Type();
    tensors.push_back(RankedTensorType::get({ShapedType::kDynamic}, i32));
    tensors.push_back(RankedTensorType::get({ShapedType::kDynamic}, i32));
  }
  tensors.push_back(spec.varlen ? packed(spec.result()) : spec.result());
  if (spec.lse)
    tensors.push_back(spec.lseType());
  if (spec.initMax)
    tensors.push_back(spec.lseType());
  SmallVector<Type> args;
  for (RankedTensorType t : tensors)
    args.push_back(bufferOf(t));
  auto func = func::FuncOp::create(b, loc, "skipattn_attention",
                                   b.getFunctionType(args, {}));
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  unsigned numOutputs = 1 + spec.lse + spec.initMax;
  SmallVector<Value> inputs;
  for (unsigned i = 0; i + numOutputs < tensors.size(); ++i)
    inputs.push_back(bufferization::ToTensorOp::create(
        b, loc, tensors[i], entry->getArgument(i), /*restrict=*/true,
        /*writable=*/false));
  Value mask = spec.mask ? inputs[3] : Value();
  Value initMax = spec.initMax ? inputs[spec.mask ? 4 : 3] : Value();
  Type lseType = spec.lse ? Type(spec.lseType()) : Type();
  Type maxType = spec.initMax ? Type(spec.lseType()) : Type();
  UnitAttr causal = spec.causal ? b.getUnitAttr() : UnitAttr();
  FloatAttr scale = spec.scale ? b.getF32FloatAttr(*spec.scale) : FloatAttr();
  Operation *attention =
      spec.varlen
          ? attn::VarlenAttentionOp::create(b, loc, tensors[5], inputs[0],
                                            inputs[1], inputs[2], inputs[3],
                                            inputs[4], causal, scale, spec.skip)
                .getOperation()
      : spec.pageSize
          ? attn::PagedAttentionOp::create(
                b, loc, spec.result(), lseType, inputs[0], inputs[1], inputs[2],
                inputs[3], inputs[4], causal, scale, spec.skip)
                .getOperation()
          : attn::AttentionOp::create(b, loc, spec.result(), lseType, maxType,
                                      inputs[0], inputs[1], inputs[2], mask,
                                      initMax, causal, scale, spec.skip)
                .getOperation();
  SmallVector<Value> results(attention->getResults());
  for (auto [i, result] : llvm::enumerate(results)) {
    auto store = bufferization::MaterializeInDestinationOp::create(
        b, loc, result, entry->getArgument(tensors.size() - numOutputs + i));
    store.setRestrict(true);
    store.setWritable(true);
  }
  func::ReturnOp::create(b, loc);
  return module;
}
