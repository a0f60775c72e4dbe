#!/usr/bin/env bash
# Reproduces experiments/heat/README.md (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/heat/out}
mkdir -p "$OUT"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate heat --samples 6000 --seed 1 \
    --set prior.correlation_length=0.5 --out "$OUT/heat.h5" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/heat.h5" --seeds 10 \
    --config experiments/heat/config.toml --reference-samples 100 --out "$OUT/compare"
