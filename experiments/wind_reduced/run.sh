#!/usr/bin/env bash
# Reproduces experiments/wind_reduced/README.md: the wind comparison with a reduced output basis
# (10 paired seeds of every strategy), and full-head td against reduced td on 6 paired seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/wind_reduced/out}
mkdir -p "$OUT"
# the data of experiments/wind
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate wind --samples 2000 --seed 1 \
    --out "$OUT/wind.h5" --no-progress
# the number of modes, on the validation split
.venv/bin/python experiments/choose_modes.py "$OUT/wind.h5" "$OUT" \
    --config experiments/wind_reduced/config.toml --modes 16,32,64,128,256
MODES=$(cat "$OUT/modes.txt")
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/wind.h5" --seeds 10 \
    --config experiments/wind_reduced/config.toml --set model.output_modes="$MODES" \
    --reference-samples 200 --out "$OUT/compare"
# full head against reduced, td, seeds 0-5 (the same split and seeds as the comparison's)
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/wind.h5" --seeds 6 \
    --strategies td --config experiments/wind/config.toml --reference-samples 0 \
    --no-plots --out "$OUT/full_td"
.venv/bin/python experiments/wind_reduced/full_vs_reduced.py "$OUT/full_td" "$OUT/compare"
