// Invalid GPU options get a diagnostic and a failing exit, never a crash in
// the NVPTX back end (an unsupported chip used to abort instruction
// selection or hit a PTX-version fatal error; an empty one segfaulted).
// RUN: not skipattn-opt %s --attn-tile --attn-lower-to-nvvm=chip=sm_100a -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not skipattn-opt %s --attn-tile --attn-lower-to-nvvm=chip=sm_70 -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHIP70
// RUN: not skipattn-opt %s --attn-tile "--attn-lower-to-nvvm=chip=" -o /dev/null 2>&1 | FileCheck %s --check-prefix=EMPTY
// RUN: not skipattn-opt %s --attn-tile --attn-lower-to-nvvm=format=elf -o /dev/null 2>&1 | FileCheck %s --check-prefix=FORMAT
// gpu-module-to-binary's long spellings stay accepted.
// RUN: skipattn-opt %s --attn-tile --attn-lower-to-nvvm=format=assembly -o /dev/null
// RUN: not skipattn-opt %s --attn-tile --convert-attn-to-gpu=chip=sm_75 -o /dev/null 2>&1 | FileCheck %s --check-prefix=PASS
// CHIP: error: attn-lower-to-nvvm: chip must be sm_90a or sm_80, got 'sm_100a'
// CHIP70: error: attn-lower-to-nvvm: chip must be sm_90a or sm_80, got 'sm_70'
// EMPTY: error: attn-lower-to-nvvm: chip must be sm_90a or sm_80, got ''
// FORMAT: error: attn-lower-to-nvvm: format must be isa, bin or fatbin, got 'elf'
// PASS: error: convert-attn-to-gpu: chip must be sm_90a or sm_80, got 'sm_75'

func.func @attention(%q: tensor<1x2x64x64xbf16>, %k: tensor<1x2x64x64xbf16>,
                     %v: tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16> {
  %init_o = tensor.empty() : tensor<1x2x64x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> -> tensor<1x2x64x64xbf16> outs(%init_o)
  return %o : tensor<1x2x64x64xbf16>
}
