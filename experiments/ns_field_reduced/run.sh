#!/usr/bin/env bash
# Reproduces experiments/ns_field_reduced/README.md: w(T) field -> w0 field with an MLP on
# input and output POD bases, 10 paired seeds of every strategy (the data of ns_reduced).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/ns_field_reduced/out}
DATA=${DATA:-experiments/ns_reduced/out/ns.h5}
mkdir -p "$OUT" "$(dirname "$DATA")"
[ -f "$DATA" ] || .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate navier_stokes \
    --samples 1500 --seed 1 --out "$DATA" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$DATA" --seeds 10 \
    --config experiments/ns_field_reduced/config.toml --reference-samples 0 --out "$OUT/compare"
