//===- Sm90Emitter.h - Hopper instructions for the sm_90a kernel -*- C++ -*-===//
//
// The Hopper-only instructions the sm_90a prefill kernel is made of, as NVVM
// dialect ops: mbarriers (init, arrive, expect-tx, parity wait), TMA tensor
// loads, warpgroup register reallocation, named barriers, and wgmma with
// both operands in shared memory. MLIR 22 has no form of wgmma with A in
// registers, so that one (and the register fence that keeps accumulator
// reads behind wgmma.wait_group) is inline PTX.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_LIB_CONVERSION_ATTNTOGPU_SM90EMITTER_H
#define SKIPATTN_LIB_CONVERSION_ATTNTOGPU_SM90EMITTER_H

#include "KernelConfig.h"

namespace skipattn::kernels {

/// A wgmma accumulator: an LLVM struct of f32, one per register.
struct Accumulator {
  mlir::Value value;
  int64_t size = 0;
};

class Sm90Emitter {
public:
  explicit Sm90Emitter(KernelEmitter &e) : e(e) {}
  KernelEmitter &e;

  // mbarriers, addressed by shared pointers.
  void mbarInit(mlir::Value bar, int64_t count);
  void fenceMbarInit();
  /// Arrive and expect `bytes` of TMA transactions in this phase.
  void mbarArriveExpectTx(mlir::Value bar, int64_t bytes);
  void mbarArrive(mlir::Value bar);
  /// Spins until the phase with parity `parity` (i32 0 or 1) completed.
  void mbarWait(mlir::Value bar, mlir::Value parity);

  /// cp.async.bulk.tensor of the box at `coords` (innermost first) of the
  /// tensor map at generic address `map` into shared `dst`, completing on
  /// `bar`.
  void tmaLoad(mlir::Value dst, mlir::Value map,
               llvm::ArrayRef<mlir::Value> coords, mlir::Value bar);

  /// setmaxnreg for the executing warpgroup.
  void setMaxRegisters(int64_t count, bool increase);
  /// bar.sync / bar.arrive on named barrier `id` for `threads` threads.
  void namedSync(mlir::Value id, int64_t threads);
  void namedArrive(mlir::Value id, int64_t threads);
  /// bar.red.and.pred on named barrier `id`: true when `pred` holds in all
  /// `threads` threads. The result is the same in all of them, but ptxas
  /// does not know it (see uniform()).
  mlir::Value namedAnd(mlir::Value id, int64_t threads, mlir::Value pred);

  /// `v` (i32) from lane 0: a value ptxas knows to be warp-uniform, so that
  /// branches on it around wgmma are not treated as divergent.
  mlir::Value uniform(mlir::Value v);
  /// uniform() of an i1.
  mlir::Value uniformBool(mlir::Value v);

  /// The wgmma descriptor (128-byte swizzle) of the shared tile at 32-bit
  /// shared address `address`, with leading and stride byte offsets.
  mlir::Value descriptor(mlir::Value address, int64_t leadingBytes,
                         int64_t strideBytes);
  /// `desc` moved by `bytes` (a multiple of 16, within the same tile).
  mlir::Value advance(mlir::Value desc, int64_t bytes);

  mlir::Type accumulatorType(int64_t size);
  Accumulator poisonAccumulator(int64_t size);
  llvm::SmallVector<mlir::Value> unpack(const Accumulator &acc);
  Accumulator pack(llvm::ArrayRef<mlir::Value> values);

  void wgmmaFence();
  void wgmmaCommit();
  void wgmmaWait(int64_t pending);
  /// D (+)= A B for m64nNk16, A and B K-major in shared memory (A row, B
  /// col): Q K^T. `accumulate` false ignores the incoming D.
  Accumulator wgmmaSS(mlir::Type elt, int64_t n, const Accumulator &acc,
                      mlir::Value descA, mlir::Value descB, bool accumulate);
  /// D += A B for m64nNk16 with A from four 32-bit registers (packed pairs
  /// of `elt`) and B MN-major in shared memory: P V.
  Accumulator wgmmaRS(mlir::Type elt, int64_t n, const Accumulator &acc,
                      llvm::ArrayRef<mlir::Value> a, mlir::Value descB);
  /// wgmma.wait_group `pending` as one asm statement that returns `acc`,
  /// so that no read of it is scheduled before the wait, and takes
  /// `stillRead`: registers an outstanding wgmma reads (the A fragment of
  /// P V), which LLVM would otherwise consider dead after the wgmma and
  /// reuse for new values while the tensor cores still read them.
  Accumulator waitFor(int64_t pending, const Accumulator &acc,
                      llvm::ArrayRef<mlir::Value> stillRead);
  /// An empty volatile asm that takes and returns every accumulator
  /// register, so no read of them is scheduled before the wgmma.wait_group
  /// that precedes it.
  Accumulator fenceRegisters(const Accumulator &acc);
};

} // namespace skipattn::kernels

#endif // SKIPATTN_LIB_CONVERSION_ATTNTOGPU_SM90EMITTER_H
