#!/usr/bin/env bash
# Reproduces experiments/ns_reduced/README.md: Navier–Stokes with a reduced output basis,
# 10 paired seeds of every strategy, against ridge and the 4D-Var MAP.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/ns_reduced/out}
mkdir -p "$OUT/compare/runs"  # a comparison folder: it may hold the reference already
# the data of experiments/navier_stokes
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate navier_stokes --samples 1500 --seed 1 \
    --out "$OUT/ns.h5" --no-progress
.venv/bin/python experiments/choose_modes.py "$OUT/ns.h5" "$OUT" \
    --config experiments/ns_reduced/config.toml --modes 16,32,64,128,256
# the 4D-Var MAP of experiments/navier_stokes on the same 16 test samples (44 min to recompute:
# delete this line and compare computes it again)
cp experiments/navier_stokes/reference.json "$OUT/compare/reference.json"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/ns.h5" --seeds 10 \
    --config experiments/ns_reduced/config.toml --set model.output_modes="$(cat "$OUT/modes.txt")" \
    --reference-samples 16 --out "$OUT/compare"
