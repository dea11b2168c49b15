// Debian's stock mlir-opt (not skipattn-opt) loads skipattn as a plugin and
// runs its passes and pipelines. --load-dialect-plugin adds the attn dialect
// and registers the passes; --load-pass-plugin registers the passes alone.
// Plugin passes are named in --pass-pipeline: mlir-opt makes its per-pass
// flags before it loads plugins.

// The dialect round-trips.
// RUN: mlir-opt %s --load-dialect-plugin=%skipattn_plugin | FileCheck %s --check-prefix=PARSE
// PARSE-LABEL: func.func @attention
//       PARSE:   attn.attention %arg0, %arg1, %arg2 {causal, skip = #attn.skip<threshold = 1.000000e-03>}

// The pass plugin alone raises linalg (attn-raise loads the dialect it
// creates).
// RUN: mlir-opt %skipattn_src/examples/attention_linalg.mlir --load-pass-plugin=%skipattn_plugin --pass-pipeline="builtin.module(func.func(attn-raise))" | FileCheck %s --check-prefix=RAISE
// RAISE: attn.attention %arg0, %arg1, %arg2 {causal, scale = 1.250000e-01 : f32}
// RAISE-NOT: linalg.

// Tiling, the skip predicate and the CPU pipeline, to the LLVM dialect.
// RUN: mlir-opt %s --load-dialect-plugin=%skipattn_plugin --load-pass-plugin=%skipattn_plugin --pass-pipeline="builtin.module(func.func(attn-tile{block-m=32 block-n=32}),attn-insert-block-skip{stats},attn-lower-to-cpu)" | FileCheck %s --check-prefix=CPU
// CPU-LABEL: llvm.func @attention
//       CPU:   llvm.atomicrmw add
//   CPU-NOT:   attn.

// The GPU pipeline: kernels, launch, PTX.
// RUN: mlir-opt %s --load-dialect-plugin=%skipattn_plugin --load-pass-plugin=%skipattn_plugin --pass-pipeline="builtin.module(func.func(attn-tile),attn-insert-block-skip,attn-lower-to-nvvm{chip=sm_80})" | FileCheck %s --check-prefix=GPU
// GPU-LABEL: llvm.func @attention
//       GPU:   gpu.launch_func @skipattn_kernels::@skipattn_prefill_bf16_h4x4_d64_m64n64_causal_skip
//       GPU: gpu.binary @skipattn_kernels
//  GPU-SAME:   mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
//  GPU-SAME:   bar.red.and.pred

// The whole compile pipeline from linalg, with skipping turned on.
// RUN: mlir-opt %skipattn_src/examples/attention_linalg.mlir --load-dialect-plugin=%skipattn_plugin --load-pass-plugin=%skipattn_plugin --pass-pipeline="builtin.module(attn-compile{skip-threshold=0.001 stats})" | FileCheck %s --check-prefix=COMPILE
// COMPILE-LABEL: llvm.func @causal_attention
//       COMPILE:   llvm.atomicrmw add
//   COMPILE-NOT:   attn.
//   COMPILE-NOT:   linalg.

func.func @attention(%q: tensor<1x4x128x64xbf16>, %k: tensor<1x4x128x64xbf16>,
                     %v: tensor<1x4x128x64xbf16>) -> tensor<1x4x128x64xbf16> {
  %init_o = tensor.empty() : tensor<1x4x128x64xbf16>
  %o = attn.attention %q, %k, %v {causal, skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16>, tensor<1x4x128x64xbf16> -> tensor<1x4x128x64xbf16> outs(%init_o)
  return %o : tensor<1x4x128x64xbf16>
}
