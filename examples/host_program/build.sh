#!/usr/bin/env bash
# Builds the host-program example: attention.mlir becomes an object through
# skipattn-opt (attn-tile, attn-insert-block-skip=stats, attn-lower-to-nvvm),
# mlir-translate and llc, and links with main.c against libskipattn_runtime.
#
#   build.sh OUTDIR                  object and executable (needs MLIR and a
#                                    built skipattn)
#   build.sh --object OUTDIR         the object only
#   build.sh --link OUTDIR LIBDIR    the executable from OUTDIR/attention.o
#                                    against LIBDIR/libskipattn_runtime.so
#                                    (the GPU machine, which has no MLIR)
#
# skipattn-opt is taken from $SKIPATTN_BIN (default: build/bin of this
# checkout), the runtime of the one-step form from $SKIPATTN_LIB (default:
# build/lib), so that any build folder works.
#
# OUTDIR/attention_host then runs the function twice on the GPU and checks
# the results against float64 (see main.c).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
llvm_bin="${LLVM_BIN:-/usr/lib/llvm-22/bin}"
skipattn_bin="${SKIPATTN_BIN:-$root/build/bin}"
skipattn_lib="${SKIPATTN_LIB:-$root/build/lib}"

object() {
  mkdir -p "$1"
  "$skipattn_bin/skipattn-opt" "$here/attention.mlir" \
      --attn-tile --attn-insert-block-skip=stats --attn-lower-to-nvvm |
    "$llvm_bin/mlir-translate" --mlir-to-llvmir |
    "$llvm_bin/llc" -O2 -filetype=obj -relocation-model=pic -o "$1/attention.o"
}

link() {
  cc -O2 -std=c11 -Wall -Wextra -I"$root/kernels_runtime/include" \
    "$here/main.c" "$1/attention.o" -o "$1/attention_host" \
    -L"$2" -lskipattn_runtime -lm -Wl,-rpath,"$(cd "$2" && pwd)"
}

case "${1:-}" in
--object) object "${2:?OUTDIR}" ;;
--link) link "${2:?OUTDIR}" "${3:?LIBDIR}" ;;
"" | -*) echo "usage: build.sh [--object|--link] OUTDIR [LIBDIR]" >&2; exit 2 ;;
*) object "$1"; link "$1" "$skipattn_lib" ;;
esac
