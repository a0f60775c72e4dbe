#!/usr/bin/env bash
# The heat data file of experiments/heat and experiments/paper_td: 6,000 samples, correlation
# length 0.5 (a complete file is left as it is: generating it again is a no-op).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/heat/out}
mkdir -p "$OUT"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate heat --samples 6000 --seed 1 \
    --set prior.correlation_length=0.5 --out "$OUT/heat.h5" --no-progress
