//===- EntryBuilder.cpp - the entry function of a bundle ------------------===//
//
// Every bundle exposes one function, `skipattn_attention`, with buffers in
// and out: q, k, v, an optional mask and out, in the op layout. This file
// builds it around one attn.attention, and reads the spec back from a user's
// module when the input is an .mlir file.
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"

#include "skipattn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"

using namespace mlir;
using namespace skipattn;

SmallVector<std::string> BundleSpec::argumentNames() const {
  SmallVector<std::string> names = {"q", "k", "v"};
  if (mask)
    names.push_back("mask");
  if (pageSize)
    names.append({"block_table", "seq_lens"});
  names.push_back("out");
  if (lse)
    names.push_back("lse");
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

FailureOr<BundleSpec> skipattn::specFromModule(ModuleOp module) {
  PassManager pm(module.getContext());
  pm.addPass(attn::createAttnRaise());
  if (failed(pm.run(module)))
    return failure();
  SmallVector<attn::AttentionOp> ops;
  module.walk([&](attn::AttentionOp op) { ops.push_back(op); });
  if (ops.size() != 1)
    return module.emitError()
           << "expected exactly one attention (attn.attention, or one that "
              "attn-raise recognises), found "
           << ops.size();
  attn::AttentionOp op = ops.front();
  BundleSpec spec;
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
  return spec;
}

void skipattn::addTileAndSkipPasses(OpPassManager &pm, const BundleSpec &spec) {
  attn::AttnTileOptions tile;
  tile.blockM = spec.blockM;
  tile.blockN = spec.blockN;
  tile.packGQA = spec.packGQA;
  tile.kvSplits = spec.kvSplits;
  pm.addPass(attn::createAttnTile(tile));
  attn::AttnInsertBlockSkipOptions skip;
  skip.voteRows = spec.voteRows;
  skip.stats = true;
  pm.addPass(attn::createAttnInsertBlockSkip(skip));
}

static MemRefType bufferOf(RankedTensorType t) {
  return MemRefType::get(t.getShape(), t.getElementType());
}

OwningOpRef<ModuleOp> skipattn::buildEntryModule(MLIRContext &ctx,
                                                 const BundleSpec &spec) {
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());

  SmallVector<RankedTensorType> tensors = {spec.query, spec.key, spec.value};
  if (spec.mask)
    tensors.push_back(spec.mask);
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
  tensors.push_back(spec.result());
  if (spec.lse)
    tensors.push_back(spec.lseType());
  SmallVector<Type> args;
  for (RankedTensorType t : tensors)
    args.push_back(bufferOf(t));
  auto func = func::FuncOp::create(b, loc, "skipattn_attention",
                                   b.getFunctionType(args, {}));
  func->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  unsigned numOutputs = spec.lse ? 2 : 1;
  SmallVector<Value> inputs;
  for (unsigned i = 0; i + numOutputs < tensors.size(); ++i)
    inputs.push_back(bufferization::ToTensorOp::create(
        b, loc, tensors[i], entry->getArgument(i), /*restrict=*/true,
        /*writable=*/false));
  Value mask = spec.mask ? inputs[3] : Value();
  Type lseType = spec.lse ? Type(spec.lseType()) : Type();
  UnitAttr causal = spec.causal ? b.getUnitAttr() : UnitAttr();
  FloatAttr scale = spec.scale ? b.getF32FloatAttr(*spec.scale) : FloatAttr();
  Operation *attention =
      spec.pageSize
          ? attn::PagedAttentionOp::create(
                b, loc, spec.result(), lseType, inputs[0], inputs[1], inputs[2],
                inputs[3], inputs[4], causal, scale, spec.skip)
                .getOperation()
          : attn::AttentionOp::create(b, loc, spec.result(), lseType, inputs[0],
                                      inputs[1], inputs[2], mask, causal, scale,
                                      spec.skip)
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
