#!/usr/bin/env bash
# Reproduces experiments/wind_physics/README.md: a wind file of 1,000 samples and 6 paired
# seeds of td training without and with the constraint term (about 60 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/wind_physics/out}
mkdir -p "$OUT"
[ -f "$OUT/wind.h5" ] || .venv/bin/sciml-grow generate wind --samples 1000 --seed 2 \
    --out "$OUT/wind.h5" --no-progress
.venv/bin/python experiments/wind_physics/run.py "$OUT/wind.h5" "$OUT/runs" \
    experiments/wind_physics 6
