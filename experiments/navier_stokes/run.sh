#!/usr/bin/env bash
# Reproduces experiments/navier_stokes/README.md: 10 paired seeds of every strategy whose run
# costs under a minute here (a layerwise run costs about 2 minutes: not in this comparison).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/navier_stokes/out}
mkdir -p "$OUT"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate navier_stokes --samples 1500 --seed 1 \
    --out "$OUT/ns.h5" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/ns.h5" --seeds 10 \
    --strategies baseline,td,random-1,random-2,net2deeper,forward-thinking \
    --config experiments/navier_stokes/config.toml --reference-samples 16 --out "$OUT/compare"
