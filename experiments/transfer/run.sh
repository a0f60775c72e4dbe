#!/usr/bin/env bash
# Reproduces experiments/transfer/README.md: pretrain on one heat problem, fine-tune on
# another with 50, 100 and 200 samples.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/transfer/out}
mkdir -p "$OUT"
G=".venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate heat --no-progress"
# source: no-flux top side; target: the top side loses heat (Robin, coefficient 5)
$G --samples 4000 --seed 1 --set prior.correlation_length=0.5 --out "$OUT/source.h5"
$G --samples 1000 --seed 2 --set prior.correlation_length=0.5 --set top_boundary=robin \
    --set robin_coefficient=5.0 --out "$OUT/target.h5"
[ -f "$OUT/pretrained/final.json" ] || .venv/bin/sciml-grow train --data "$OUT/source.h5" \
    --strategy td --config experiments/heat/config.toml --out "$OUT/pretrained" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow transfer --run "$OUT/pretrained" \
    --data "$OUT/target.h5" --samples 50,100,200 --seeds 10 \
    --config experiments/transfer/config.toml --out "$OUT/transfer"
