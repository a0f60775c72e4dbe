#!/usr/bin/env bash
# Reproduces experiments/grow_vs_search/README.md: every growing strategy against a search over
# fixed networks at td's compute and at 5 times it, 10 paired seeds, on heat (the demo's regime,
# N = 200 and 1,000) and on Navier–Stokes with a reduced output basis (N = all, 1,200).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/grow_vs_search/out}
STRATEGIES=baseline,td,sensli,net2deeper,random-2,periodic,search,search-5x
mkdir -p "$OUT"
# heat: the data of `make demo`
test -f "$OUT/heat.h5" || .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate heat \
    --samples 2000 --out "$OUT/heat.h5" --seed 0 --set prior.correlation_length=0.5 --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/heat.h5" --seeds 10 \
    --strategies "$STRATEGIES" --train-sizes 200,1000 --reference-samples 0 \
    --config experiments/grow_vs_search/heat.toml --out "$OUT/heat"
# Navier–Stokes: the data and mode count of experiments/ns_reduced (3.9 min to generate)
test -f "$OUT/ns.h5" || .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate navier_stokes \
    --samples 1500 --seed 1 --out "$OUT/ns.h5" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/ns.h5" --seeds 10 \
    --strategies "$STRATEGIES" --reference-samples 0 --set model.output_modes=256 \
    --config experiments/grow_vs_search/ns.toml --out "$OUT/ns"
