// attn-lower-to-cpu's cpu option: every function is marked with the
// x86-64 baseline plus exactly the extensions of the level asked for (the
// ones the bundle's manifest lists and the runtime tests at load), and an
// unknown level is a diagnostic and a failing exit.
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats --attn-lower-to-cpu | FileCheck %s --check-prefix=V2
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats "--attn-lower-to-cpu=cpu=x86-64-v4" | FileCheck %s --check-prefix=V4
// RUN: skipattn-opt %s --attn-tile --attn-insert-block-skip=stats "--attn-lower-to-cpu=cpu=x86-64" | FileCheck %s --check-prefix=BASE
// RUN: not skipattn-opt %s --attn-tile --attn-insert-block-skip=stats "--attn-lower-to-cpu=cpu=skylake" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD

// V2: llvm.func @attention({{.*}} attributes {target_cpu = "x86-64"
// V2-SAME: target_features = #llvm.target_features<["+cx16", "+crc32", "+sahf", "+popcnt", "+sse3", "+ssse3", "+sse4.1", "+sse4.2"]>
// V2-SAME: tune_cpu = "generic"
// V4: target_features = #llvm.target_features<["+cx16", "+crc32", "+sahf", "+popcnt", "+sse3", "+ssse3", "+sse4.1", "+sse4.2", "+avx", "+avx2", "+bmi", "+bmi2", "+f16c", "+fma", "+lzcnt", "+movbe", "+xsave", "+avx512f", "+avx512bw", "+avx512cd", "+avx512dq", "+avx512vl"]>
// BASE: llvm.func @attention(
// BASE-NOT: target_features
// BASE-SAME: attributes {target_cpu = "x86-64", tune_cpu = "generic"}
// BAD: error: attn-lower-to-cpu: cpu must be x86-64, x86-64-v2, x86-64-v3, x86-64-v4 or native, got 'skylake'

func.func @attention(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>,
                     %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %init_o = tensor.empty() : tensor<1x2x8x16xf32>
  %o = attn.attention %q, %k, %v {skip = #attn.skip<threshold = 1.0e-3>} : tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32> -> tensor<1x2x8x16xf32> outs(%init_o)
  return %o : tensor<1x2x8x16xf32>
}
