#!/usr/bin/env bash
# Reproduces experiments/sparsity/README.md: 13 settings x 6 paired seeds of layerwise training
# (about 5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/sparsity/out}
mkdir -p "$OUT"
CLI=.venv/bin/sciml-grow
.venv/bin/mpiexec -n 2 $CLI generate heat --samples 1000 --seed 11 --out "$OUT/heat.h5" \
    --set prior.correlation_length=0.5 --no-progress
for mode in proximal subgradient; do
    for alpha in 0 3e-5 5e-5 1e-4 2e-4 3e-4 1e-3; do
        if [ "$mode" = subgradient ] && [ "$alpha" = 0 ]; then continue; fi  # the same run
        .venv/bin/mpiexec -n 2 $CLI compare --data "$OUT/heat.h5" --strategies layerwise \
            --seeds 6 --config experiments/sparsity/config.toml --reference-samples 0 \
            --set layerwise.alpha=$alpha --set "layerwise.l1_mode=\"$mode\"" --no-plots \
            --out "$OUT/$mode-$alpha" > "$OUT/$mode-$alpha.log"
    done
done
.venv/bin/python experiments/sparsity/summarize.py "$OUT" experiments/sparsity
