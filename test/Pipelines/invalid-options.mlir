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

// The other passes' options: the message names the option and prints its
// value (a cl::opt<int64_t> streamed into a diagnostic printed a byte).
// RUN: not skipattn-opt %s --attn-tile=block-m=0 -o /dev/null 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not skipattn-opt %s "--attn-tile=block-m=64 block-n=-128" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BLOCK-N
// RUN: not skipattn-opt %s --attn-tile --attn-insert-block-skip=vote=-1 -o /dev/null 2>&1 | FileCheck %s --check-prefix=VOTE
// RUN: not skipattn-opt %s --attn-request-skip=threshold=nan -o /dev/null 2>&1 | FileCheck %s --check-prefix=NAN
// RUN: not skipattn-opt %s --attn-request-skip=scale-factor=-2 -o /dev/null 2>&1 | FileCheck %s --check-prefix=FACTOR
// RUN: not skipattn-opt %s "--attn-compile=cpu=pentium" -o /dev/null 2>&1 | FileCheck %s --check-prefix=COMPILE-CPU
// RUN: not skipattn-opt %s "--attn-compile=vote=-2" -o /dev/null 2>&1 | FileCheck %s --check-prefix=COMPILE-VOTE
// BLOCK: error: attn-tile: block-m and block-n must be positive, got 0 and 64{{$}}
// BLOCK-N: error: attn-tile: block-m and block-n must be positive, got 64 and -128{{$}}
// VOTE: error: attn-insert-block-skip: vote must be 0 or positive, got -1{{$}}
// NAN: error: attn-request-skip: skip threshold must be in (0, 1), got nan
// FACTOR: error: attn-request-skip: skip scale_factor must be positive and finite, got -2.000000e+00
// COMPILE-CPU: error: attn-lower-to-cpu: cpu must be x86-64, x86-64-v2, x86-64-v3, x86-64-v4 or native, got 'pentium'
// COMPILE-VOTE: error: attn-compile: vote must be 0 (the q-block) or positive, got -2

func.func @attention(%q: tensor<1x2x64x64xbf16>, %k: tensor<1x2x64x64xbf16>,
                     %v: tensor<1x2x64x64xbf16>) -> tensor<1x2x64x64xbf16> {
  %init_o = tensor.empty() : tensor<1x2x64x64xbf16>
  %o = attn.attention %q, %k, %v : tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16>, tensor<1x2x64x64xbf16> -> tensor<1x2x64x64xbf16> outs(%init_o)
  return %o : tensor<1x2x64x64xbf16>
}
