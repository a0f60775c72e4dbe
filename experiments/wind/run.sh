#!/usr/bin/env bash
# Reproduces experiments/wind/README.md (about 25 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/wind/out}
mkdir -p "$OUT"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate wind --samples 2000 --seed 1 \
    --out "$OUT/wind.h5" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/wind.h5" --seeds 2 \
    --config experiments/wind/config.toml --reference-samples 200 --out "$OUT/compare"
