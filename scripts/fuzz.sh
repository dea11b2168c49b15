#!/usr/bin/env bash
# The sanitizer and fuzzing half of CI: configures build-fuzz/ with clang-22,
# AddressSanitizer and UndefinedBehaviorSanitizer (and libFuzzer's coverage),
# builds the project and the fuzz targets (fuzz/), runs the runtime's tests
# (test/Tools/skipattn-run, test/Runtime) on the sanitized runtime and
# skipattn-run, then runs each fuzz target for FUZZ_SECONDS (default 60) on a
# seed corpus made from the test inputs. Any sanitizer report, crash or
# timeout fails the script; a crashing input is left in build-fuzz/crashes/.
#
#   scripts/fuzz.sh                 everything
#   scripts/fuzz.sh run TARGET...   only fuzz the named targets (attn,
#                                   manifest, npy), on an existing build
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
seconds="${FUZZ_SECONDS:-60}"

deps() {
  "$root/scripts/deps.sh"
  local missing=()
  for p in clang-22 libclang-rt-22-dev libfuzzer-22-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
  fi
}

# One ASan runtime for every process: the runtime library is loaded by
# Python (ctypes) and by plain C hosts, so everything links the shared one,
# and the test run preloads it.
asan_lib() { clang++-22 -print-file-name=libclang_rt.asan-x86_64.so; }

# allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons a new slab and
# unpoisons what it hands out, in inline header code. Debian's libMLIR is
# not instrumented, so a slab that our (instrumented) code started and
# libMLIR then allocates an attribute from stays poisoned: a false
# use-after-poison (seen in MLIR's attribute uniquer). ASan's own checks of
# heap, stack and globals are unaffected.
asan_options="detect_leaks=0:verify_asan_link_order=0:allow_user_poisoning=0"

build() {
  local flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  flags+=" -fno-omit-frame-pointer -shared-libasan"
  # Programs find the shared ASan runtime through their rpath. clang leaves
  # a shared library's sanitizer references to the program, but the tests
  # also link the runtime into C hosts built with the system cc, so the
  # library itself depends on the ASan runtime (which carries UBSan's
  # handlers and the coverage callbacks too).
  local asan; asan="$(asan_lib)"
  local rpath="-Wl,-rpath,$(dirname "$asan")"
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags -fsanitize=fuzzer-no-link" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags $rpath" \
      -DCMAKE_SHARED_LINKER_FLAGS="$flags $asan $rpath" \
      -DSKIPATTN_FUZZ=ON -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
      -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
  fi
  ninja -C "$build"
}

sanitized_tests() {
  echo "== runtime tests on ASan+UBSan (build-fuzz)"
  # Python and the tools leak at exit by design; leaks are not what this
  # run looks for.
  LD_PRELOAD="$(asan_lib)" \
  ASAN_OPTIONS="$asan_options:abort_on_error=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    /usr/lib/llvm-22/bin/lit -sv --show-unsupported \
    "$build/test/Tools/skipattn-run" "$build/test/Runtime"
}

corpus() {
  rm -rf "$build/corpus" && mkdir -p "$build/corpus"
  /usr/bin/python3 "$root/fuzz/make_corpus.py" --root "$root" --out "$build/corpus"
}

fuzz_one() {
  local name="$1" exe="$build/bin/skipattn-fuzz-$1"
  mkdir -p "$build/crashes/$name" "$build/work/$name"
  echo "== fuzzing $name for ${seconds}s"
  # New inputs go to work/ (the seed corpus stays as made); -timeout: an
  # input that takes longer is a hang.
  ASAN_OPTIONS="$asan_options" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$build/crashes/$name/" \
      "$build/work/$name" "$build/corpus/$name"
}

case "${1:-all}" in
  all)
    deps
    build
    sanitized_tests
    corpus
    for t in manifest npy attn; do fuzz_one "$t"; done
    echo "fuzzing: no crash, hang or sanitizer report"
    ;;
  run)
    shift
    corpus
    for t in "$@"; do fuzz_one "$t"; done
    ;;
  *) echo "usage: scripts/fuzz.sh [run TARGET...]" >&2; exit 2 ;;
esac
