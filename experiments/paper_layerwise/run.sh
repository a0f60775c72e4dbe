#!/usr/bin/env bash
# Reproduces experiments/paper_layerwise/README.md: the layerwise paper's heat regime (KL-12
# coefficients, 9x9 mesh, 10 sensors, 5 % noise), every strategy, 10 paired seeds, 20 and 50
# training samples, 20 validation and 500 test samples.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/paper_layerwise/out}
mkdir -p "$OUT"
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate heat --samples 1000 --seed 0 \
    --set mesh_cells=9 --set prior.kind=kl --set prior.terms=12 --set prior.mean=1.0 \
    --set prior.correlation_length=0.5 --set noise.relative_level=0.05 \
    --set noise.reference=std --set targets=coefficients --out "$OUT/kl.h5" --no-progress
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/kl.h5" --seeds 10 \
    --strategies baseline,td,random-1,random-2,net2deeper,forward-thinking,layerwise,layerwise+srl \
    --train-sizes 20,50 --all-pairs --config experiments/paper_layerwise/config.toml \
    --reference-samples 100 --out "$OUT/compare"
