#!/usr/bin/env bash
# Reproduces experiments/heat/README.md (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/heat/out}
OUT="$OUT" bash experiments/heat/data.sh
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/heat.h5" --seeds 10 \
    --config experiments/heat/config.toml --reference-samples 100 --floor-samples 6 \
    --out "$OUT/compare"
