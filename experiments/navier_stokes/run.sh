#!/usr/bin/env bash
# Reproduces experiments/navier_stokes/README.md (about 15 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/navier_stokes/out}
mkdir -p "$OUT"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate navier_stokes --samples 1500 --seed 1 \
    --out "$OUT/ns.h5" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/ns.h5" --seeds 2 \
    --config experiments/navier_stokes/config.toml --out "$OUT/compare"
