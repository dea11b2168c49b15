#!/usr/bin/env bash
# Instruction counts from the SASS of the benchmark's cubins (needs
# cuobjdump; after bench/run.sh prepare): per kernel, the tensor-core MMAs,
# ldmatrix, cp.async, barriers, votes, ex2 and any local memory traffic.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for cubin in "$root"/build-gpu/bench/*/kernel.cubin; do
  cuobjdump -sass "$cubin" | awk -v bundle="$(basename "$(dirname "$cubin")")" '
    /Function : / { fn = $3 }
    / (HMMA|HGMMA|UTMALDG|USETMAXREG|SYNCS|LDSM|LDGSTS|BAR|VOTE|MUFU\.EX2|LDL|STL)[. ]/ {
      for (i = 1; i <= NF; ++i)
        if ($i ~ /^(HMMA|HGMMA|UTMALDG|USETMAXREG|SYNCS|LDSM|LDGSTS|BAR|VOTE|MUFU|LDL|STL)/) {
          op = $i; sub(/\..*/, "", op)
          if ($i ~ /^MUFU\.EX2/) op = "MUFU.EX2"
          if ($i ~ /^BAR\./) op = $i
          count[fn " " op]++
          break
        }
    }
    END { for (k in count) print bundle, k, count[k] }' | sort
done
