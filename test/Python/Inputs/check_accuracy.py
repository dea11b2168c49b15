#!/usr/bin/env python3
"""Checks an accuracy.json of bench/accuracy.py: the sweep spans sparsity,
a run that skipped nothing equals the dense kernel, skipping costs
accuracy, and with --targets the measured sparsity meets each target."""
import json
import math
import sys

result = json.load(open(sys.argv[1]))
targets = [float(t) for t in sys.argv[2].split(",")] if len(sys.argv) > 2 \
    else None
rows = sorted(result["rows"], key=lambda r: r["lambda"])
problems = []
for r in rows:
    for key in ("vs_float64", "vs_dense"):
        if not all(math.isfinite(x) for x in r[key].values()):
            problems.append("non-finite %s at lambda %g" % (key, r["lambda"]))
sp = [r["sparsity"] for r in rows]
if sp != sorted(sp):
    problems.append("sparsity falls as lambda grows: %s" % sp)
if targets:
    for t, r in zip(sorted(targets), rows):
        if abs(r["sparsity"] - t) > 0.02:
            problems.append("target %g: sparsity %.4f" % (t, r["sparsity"]))
else:
    if not (sp[0] == 0.0 and sp[-1] >= 0.8):
        problems.append("sweep does not span 0 .. 0.8: %s" % sp)
    for r in rows:
        if r["tiles_skipped"] == 0 and r["vs_dense"]["l2"] > 1e-6:
            problems.append("nothing skipped at lambda %g but %.2e from dense"
                            % (r["lambda"], r["vs_dense"]["l2"]))
    if not rows[-1]["vs_float64"]["l2"] > 10 * rows[0]["vs_float64"]["l2"]:
        problems.append("skipping %.2f of the tiles did not raise the error: "
                        "%.2e vs %.2e" % (sp[-1], rows[-1]["vs_float64"]["l2"],
                                          rows[0]["vs_float64"]["l2"]))
for p in problems:
    print("FAIL:", p)
print("accuracy json: %d rows, %s" % (len(rows),
                                     "FAILED" if problems else "OK"))
sys.exit(1 if problems else 0)
