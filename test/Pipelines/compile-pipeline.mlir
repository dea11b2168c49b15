// RUN: skipattn-opt %s --attn-compile="skip-threshold=0.001 stats" | FileCheck %s --check-prefix=CPU
// RUN: skipattn-opt %s --attn-compile="target=gpu chip=sm_80 skip-scale-factor=8" | FileCheck %s --check-prefix=GPU
// RUN: not skipattn-opt %s --attn-compile="target=tpu" 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not skipattn-opt %s --attn-compile="skip-threshold=0.1 skip-scale-factor=2" 2>&1 | FileCheck %s --check-prefix=BOTH
// RUN: not skipattn-opt %s --attn-compile="skip-threshold=1.5" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not skipattn-opt %s --attn-compile="target=gpu chip=sm_70" 2>&1 | FileCheck %s --check-prefix=CHIP

// attn-compile is the whole pipeline (skipattn::buildCompilePipeline): from
// attention written in linalg to the LLVM dialect, with skipping turned on
// by the options. The function the attention sits in gets the threshold and
// counter arguments.

// CPU-LABEL: llvm.func @attention(
//  CPU-SAME:   f32
//       CPU:   llvm.intr.log
//       CPU:   llvm.atomicrmw add
//   CPU-NOT:   attn.
//   CPU-NOT:   linalg.

// GPU-LABEL: llvm.func @attention(
//       GPU:   gpu.launch_func @skipattn_kernels::@skipattn_prefill_f16_h2x2_d64_m128n64_skipsf blocks
//       GPU: gpu.binary @skipattn_kernels
//  GPU-SAME:   bar.red.and.pred

// TARGET: error: attn-compile: target must be cpu or gpu, got 'tpu'
// BOTH: error: attn-compile: give skip-threshold or skip-scale-factor, not both
// RANGE: error: attn-request-skip: skip threshold must be in (0, 1), got 1.5
// CHIP: error: attn-lower-to-nvvm: chip must be sm_90a or sm_80, got 'sm_70'

func.func @attention(%q: tensor<1x2x128x64xf16>, %k: tensor<1x2x128x64xf16>,
                     %v: tensor<1x2x128x64xf16>) -> tensor<1x2x128x64xf16> {
  %cst = arith.constant 0.000000e+00 : f16
  %ninf = arith.constant 0xFC00 : f16
  %zero = arith.constant 0.000000e+00 : f32
  %scale = arith.constant 1.250000e-01 : f16
  %e = tensor.empty() : tensor<1x2x64x128xf16>
  %kt = linalg.transpose ins(%k : tensor<1x2x128x64xf16>) outs(%e : tensor<1x2x64x128xf16>) permutation = [0, 1, 3, 2]
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x2x128x64xf16> into tensor<2x128x64xf16>
  %k3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x2x64x128xf16> into tensor<2x64x128xf16>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x2x128x64xf16> into tensor<2x128x64xf16>
  %se = tensor.empty() : tensor<2x128x128xf16>
  %sz = linalg.fill ins(%cst : f16) outs(%se : tensor<2x128x128xf16>) -> tensor<2x128x128xf16>
  %s = linalg.batch_matmul ins(%q3, %k3 : tensor<2x128x64xf16>, tensor<2x64x128xf16>) outs(%sz : tensor<2x128x128xf16>) -> tensor<2x128x128xf16>
  %ss = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%s : tensor<2x128x128xf16>) outs(%se : tensor<2x128x128xf16>) {
  ^bb0(%in: f16, %out: f16):
    %m = arith.mulf %in, %scale : f16
    linalg.yield %m : f16
  } -> tensor<2x128x128xf16>
  %p = linalg.softmax dimension(2) ins(%ss : tensor<2x128x128xf16>) outs(%se : tensor<2x128x128xf16>) -> tensor<2x128x128xf16>
  %oe = tensor.empty() : tensor<2x128x64xf16>
  %oz = linalg.fill ins(%cst : f16) outs(%oe : tensor<2x128x64xf16>) -> tensor<2x128x64xf16>
  %o = linalg.batch_matmul ins(%p, %v3 : tensor<2x128x128xf16>, tensor<2x128x64xf16>) outs(%oz : tensor<2x128x64xf16>) -> tensor<2x128x64xf16>
  %o4 = tensor.expand_shape %o [[0, 1], [2], [3]] output_shape [1, 2, 128, 64] : tensor<2x128x64xf16> into tensor<1x2x128x64xf16>
  return %o4 : tensor<1x2x128x64xf16>
}
