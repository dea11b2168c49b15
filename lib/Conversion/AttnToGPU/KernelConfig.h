//===- KernelConfig.h - what a generated attention kernel computes -*- C++ -*-//
//
// The parameters convert-attn-to-gpu reads off the tiled IR and hands to the
// kernel generators, and the small instruction-level builder the generators
// share (i32 address arithmetic, pointers, warp shuffles, ex2, the
// tensor-core and async-copy instructions through the NVVM dialect).
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_CONVERSION_ATTNTOGPU_KERNELCONFIG_H
#define SKIPATTN_LIB_CONVERSION_ATTNTOGPU_KERNELCONFIG_H

#include "skipattn/Dialect/Attn/IR/AttnAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/Builders.h"

#include <algorithm>
#include <string>

namespace skipattn::kernels {

/// One attention kernel: shapes that are fixed at compile time, the tiling,
/// and what the skip machinery must do. Batch and lengths are run-time
/// kernel arguments.
struct KernelConfig {
  mlir::Type elementType; // bf16 or f16
  int64_t qHeads = 0, kvHeads = 0, headDim = 0, valueHeadDim = 0;
  bool causal = false;
  float scale = 1.0f;
  int64_t blockM = 64, blockN = 64;
  bool skip = false;
  attn::SkipKind skipKind = attn::SkipKind::Threshold;
  int64_t voteRows = 0; // rows per vote group: blockM (CTA) or 16 (warp)
  bool stats = false;
  /// Also write the log-sum-exp of each row: an f32 [B, Hq, Sq] output
  /// address as an argument of the prefill and decode kernels.
  bool lse = false;
  /// The carry of a ring (attn.attention's init_max and max,
  /// docs/distributed.md): the prefill kernel takes the addresses of
  /// init_max and max (f32 [B, Hq, Sq]) after the lse's, starts each row's
  /// running max at init_max, votes every kv-block (block 0 included) and
  /// writes the final running max. The mma.sync prefill kernel only: no
  /// decode kernels, no Hopper kernel.
  bool initMax = false;
  /// Skipping decode kernels: also vote against the row maxima that other
  /// splits publish (opt-in, timing-dependent counts; docs/serving.md).
  bool decodeSharedMax = false;
  /// Paged K/V (attn.paged_attention): keys per page; 0 for K and V as
  /// [B, Hkv, Skv, D]. Paged attention has decode kernels only.
  int64_t pageSize = 0;
  /// The mask operand: none, i1 (one byte per entry, true keeps) or
  /// additive (the element type, added to the scaled scores). Its address
  /// and its four extents (each 1, broadcast, or the full extent) are the
  /// last arguments of the prefill and decode kernels.
  enum class Mask { None, Bool, Additive };
  Mask mask = Mask::None;
  /// A varlen batch (attn.varlen_attention): q, k, v and out are packed
  /// [tokens, heads, dim], and the prefill kernel takes the addresses of
  /// cu_seqlens_q and cu_seqlens_k (i32 [B + 1]) as its last arguments;
  /// blockIdx.z is the sequence, blockIdx.x a q-block of it (CTAs past the
  /// sequence's q-blocks do nothing). No decode kernels, no Hopper kernel.
  bool varlen = false;
  /// Generate the Hopper kernel (chip sm_90a) instead of the mma.sync one.
  bool sm90 = false;

  int64_t group() const { return qHeads / kvHeads; }
  int64_t numWarps() const { return blockM / 16; }
  int64_t numThreads() const { return 32 * numWarps(); }
  bool warpVote() const { return voteRows == 16 && blockM > 16; }
  /// K/V stages of the prefill kernel: kv-block j is used while j + 1 and
  /// j + 2 load.
  static constexpr int64_t kPrefillStages = 3;
  /// Dynamic shared memory of the prefill kernel: the Hopper kernel's
  /// layout, or Q, then the K stages and the V stages.
  int64_t prefillSharedBytes() const {
    if (sm90)
      return sm90SharedBytes();
    return 2 * (blockM * headDim +
                kPrefillStages * blockN * (headDim + valueHeadDim));
  }
  /// The Hopper prefill kernel: K/V stages, threads (a producer and two
  /// consumer warpgroups), and query rows per CTA (one q-block of 64 rows
  /// per consumer).
  static constexpr int64_t kSm90Stages = 2;
  static constexpr int64_t kSm90Threads = 384;
  static constexpr int64_t kSm90CtaRows = 128;
  /// Dynamic shared memory of the Hopper prefill kernel.
  int64_t sm90SharedBytes() const;
  /// Threads and query rows (q-blocks x block-m) of a prefill CTA.
  int64_t prefillThreads() const { return sm90 ? kSm90Threads : numThreads(); }
  int64_t prefillCtaRows() const { return sm90 ? kSm90CtaRows : blockM; }
  /// Keys per kv-block of the decode kernel: at most 64 whatever the
  /// prefill tile, so that three decode CTAs fit in an SM's shared memory
  /// and skipping decides on finer tiles.
  int64_t decodeBlockN() const { return std::min<int64_t>(blockN, 64); }
  /// Dynamic shared memory of a decode kernel of `warps` warps: 16 Q rows
  /// per warp, three K stages, one V tile.
  int64_t decodeSharedBytes(int64_t warps = 1) const;
  /// The most query rows per head a decode kernel of `warps` warps takes:
  /// 16 rows per warp hold G heads of this many queries each.
  int64_t decodeMaxQueryLen(int64_t warps = 1) const {
    return 16 * warps / group();
  }
  /// The most query tokens per sequence the wide decode kernel serves
  /// (speculative decoding), and its warps: enough 16-row warps for G heads
  /// of that many queries. 1 when the one-warp kernel already serves them.
  static constexpr int64_t kDecodeWideQueries = 8;
  int64_t decodeWideWarps() const {
    return (kDecodeWideQueries * group() + 15) / 16;
  }
  /// The kernel's name, unique for the configuration.
  std::string name(llvm::StringRef role) const;
};

/// The instruction-level builder the kernel generators share.
class KernelEmitter {
public:
  KernelEmitter(mlir::OpBuilder &b, mlir::Location loc);

  mlir::OpBuilder &b;
  mlir::Location loc;
  mlir::Type i1, i32, i64, f32;
  mlir::Type globalPtr, sharedPtr;

  // Constants.
  mlir::Value i32c(int64_t v);
  mlir::Value i64c(int64_t v);
  mlir::Value f32c(double v);

  // i32 arithmetic.
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  mlir::Value divu(mlir::Value a, mlir::Value b);
  mlir::Value remu(mlir::Value a, mlir::Value b);
  mlir::Value band(mlir::Value a, mlir::Value b);
  mlir::Value bxor(mlir::Value a, mlir::Value b);
  mlir::Value shl(mlir::Value a, int64_t bits);
  mlir::Value minsi(mlir::Value a, mlir::Value b);
  mlir::Value maxsi(mlir::Value a, mlir::Value b);
  mlir::Value cmp(mlir::arith::CmpIPredicate p, mlir::Value a, mlir::Value b);
  mlir::Value select(mlir::Value c, mlir::Value a, mlir::Value b);
  mlir::Value ceilDiv(mlir::Value a, int64_t b);
  mlir::Value toI64(mlir::Value v);

  // f32 arithmetic (contractable into FMA).
  mlir::Value fadd(mlir::Value a, mlir::Value b);
  mlir::Value fsub(mlir::Value a, mlir::Value b);
  mlir::Value fmul(mlir::Value a, mlir::Value b);
  mlir::Value fma(mlir::Value a, mlir::Value b, mlir::Value c);
  mlir::Value fmax(mlir::Value a, mlir::Value b);
  mlir::Value fcmp(mlir::arith::CmpFPredicate p, mlir::Value a, mlir::Value b);
  mlir::Value fdiv(mlir::Value a, mlir::Value b);
  /// 2^x with ex2.approx.ftz.f32 (the scale is folded in by the caller).
  mlir::Value ex2(mlir::Value x);
  /// log2(x) with lg2.approx.f32.
  mlir::Value lg2(mlir::Value x);

  // Special registers.
  mlir::Value threadIdx();
  mlir::Value blockIdx(mlir::gpu::Dimension d);

  // Memory.
  mlir::Value toGlobalPtr(mlir::Value address);
  mlir::Value gep(mlir::Value ptr, mlir::Value byteOffset);
  /// Element `index` (i32) of the i32 array at global `address` (i64).
  mlir::Value loadI32(mlir::Value address, mlir::Value index);
  /// The global pointer to head `head` of batch `batch` in a [B, heads, len,
  /// rowBytes] tensor at `address`, with 64-bit offset arithmetic.
  mlir::Value headBase(mlir::Value address, mlir::Value batch, int64_t heads,
                       mlir::Value head, mlir::Value len, int64_t rowBytes);
  mlir::Value sharedBase(llvm::StringRef symbol);
  /// Adds `total` and `skipped` (i32) to the {tiles_total, tiles_skipped}
  /// pair of (batch, head) in the [B, heads, 2] i64 stats buffer at
  /// `address`, with relaxed atomics.
  void countTiles(mlir::Value address, mlir::Value batch, int64_t heads,
                  mlir::Value head, mlir::Value total, mlir::Value skipped);
  /// cp.async.cg 16 bytes, zero-filling when `valid` is false.
  void cpAsync16(mlir::Value dst, mlir::Value src, mlir::Value valid);
  void cpAsyncCommit();
  void cpAsyncWait(int64_t pending);
  void barrier();
  /// bar.red.and.pred across the CTA: true when `pred` holds in every thread.
  mlir::Value barrierAnd(mlir::Value pred);
  /// vote.sync.all across the warp.
  mlir::Value warpAll(mlir::Value pred);
  mlir::Value shflXor(mlir::Value v, int64_t lanes);

  // Tensor cores.
  /// ldmatrix.x4 (optionally .trans): four 32-bit registers.
  llvm::SmallVector<mlir::Value, 4> ldmatrix4(mlir::Value sharedAddr,
                                              bool transpose);
  /// mma.sync.m16n8k16 with f32 accumulation: d = a * b + c.
  llvm::SmallVector<mlir::Value, 4> mma(mlir::Type elt,
                                        llvm::ArrayRef<mlir::Value> a,
                                        llvm::ArrayRef<mlir::Value> b,
                                        llvm::ArrayRef<mlir::Value> c);
  /// Two f32 rounded to a packed pair of `elt` (cvt.rn.bf16x2/f16x2).
  mlir::Value pack(mlir::Type elt, mlir::Value lo, mlir::Value hi);

private:
  mlir::Value inlineAsm(llvm::StringRef code, llvm::StringRef constraints,
                        mlir::Type result, mlir::ValueRange operands);
};

/// Declares the dynamic shared memory symbol of `module` once.
void declareSharedMemory(mlir::OpBuilder &b, mlir::gpu::GPUModuleOp module);
/// Declares an extern shared array `symbol` with `alignment` once.
void declareSharedMemory(mlir::OpBuilder &b, mlir::gpu::GPUModuleOp module,
                         llvm::StringRef symbol, int64_t alignment);

/// An empty prefill kernel of `threads` threads with the arguments both
/// prefill kernels take: q, k, v (addresses or tensor maps), out (i64),
/// batch, q_len, kv_len (i32), [threshold (f32)], [stats (i64)], [lse
/// (i64)], [init_max, max (i64)], [mask], [cu_seqlens_q, cu_seqlens_k],
/// [tile counter (i64)].
mlir::gpu::GPUFuncOp createPrefillFunc(mlir::OpBuilder &b,
                                       mlir::gpu::GPUModuleOp module,
                                       const KernelConfig &config,
                                       int64_t threads);

/// The split-KV decode kernels: one warp, a wide one of decodeWideWarps()
/// warps (null when that is 1). The last split of each group to finish
/// merges the splits.
struct DecodeKernels {
  mlir::gpu::GPUFuncOp decode, wide;
};

/// Builds the split-KV decode kernels into `module`.
DecodeKernels buildDecodeKernels(mlir::OpBuilder &b,
                                 mlir::gpu::GPUModuleOp module,
                                 const KernelConfig &cfg);

/// Builds the prefill kernel (FlashAttention-2 structure on mma.sync) into
/// `module` and returns it.
mlir::gpu::GPUFuncOp buildPrefillKernel(mlir::OpBuilder &b,
                                        mlir::gpu::GPUModuleOp module,
                                        const KernelConfig &config);

/// Builds the Hopper prefill kernel (TMA, wgmma, warp specialization) into
/// `module` and returns it. Its pointer arguments q, k and v are CUtensorMap
/// addresses (3-D maps [B * heads, len, head dim], 128-byte swizzle, boxes
/// of 64 columns by block-m rows for Q and block-n rows for K and V).
mlir::gpu::GPUFuncOp buildSm90PrefillKernel(mlir::OpBuilder &b,
                                            mlir::gpu::GPUModuleOp module,
                                            const KernelConfig &config);

} // namespace skipattn::kernels

#endif // SKIPATTN_LIB_CONVERSION_ATTNTOGPU_KERNELCONFIG_H
