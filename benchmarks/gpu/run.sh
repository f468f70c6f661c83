#!/usr/bin/env bash
# The GPU kit's one entry point, run from the repository root on the GPU machine:
#   bash benchmarks/gpu/run.sh              (figures to $OUT, else benchmarks/gpu/out)
# Installs the carried wheels (benchmarks/gpu/wheels) into benchmarks/gpu/site, then measures
# for at most 430 s (kit.py --budget); `timeout` stops everything after 470 s in any case.
set -uo pipefail
OUT=${OUT:-benchmarks/gpu/out}
mkdir -p "$OUT"
timeout -k 10 470 "${PYTHON:-python3}" benchmarks/gpu/kit.py --out "$OUT" "$@" 2>&1 | tee "$OUT/kit.log"
