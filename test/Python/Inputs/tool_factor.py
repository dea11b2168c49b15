#!/usr/bin/env python3
"""Prints what a calibration JSON gives for a target and what a tool used:

  tool_factor.py CALIB TARGET manifest DIR    the bundle's compiled factor
  tool_factor.py CALIB TARGET run JSON_LINE   skipattn-run's lambda * kv_len

as `TARGET: calibration F, tool G, same|DIFFERENT` (relative 1e-6; the
factor of an exactly calibrated target, else the fit a * exp(b * t))."""
import json
import math
import sys

calib, target, what, where = sys.argv[1], float(sys.argv[2]), sys.argv[3], \
    sys.argv[4]
entry = json.load(open(calib))["calibration"]["prefill"]
want = None
for t in entry["targets"]:
    if abs(t["target"] - target) < 1e-9:
        want = t["factor"]
if want is None:
    want = entry["fit"]["a"] * math.exp(entry["fit"]["b"] * target)
if what == "manifest":
    skip = json.load(open(where + "/manifest.json"))["skip"]
    got = skip["value"] if skip["kind"] == "scale_factor" else None
else:
    line = json.loads(open(where).read())
    got = line["lambda"] * line["k"][2]
same = got is not None and abs(got - want) <= 1e-6 * abs(want)
print("%g: calibration %.6g, tool %s, %s" % (
    target, want, "%.6g" % got if got is not None else None,
    "same" if same else "DIFFERENT"))
