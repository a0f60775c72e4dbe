#!/usr/bin/env bash
# Reproduces experiments/paper_td/README.md: the topological-derivative paper's protocol on heat,
# every strategy, 10 paired seeds, training sizes 200 and 1000 (same data file as
# experiments/heat: generating it again is a no-op when it is complete).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/heat/out}
OUT="$OUT" bash experiments/heat/data.sh
.venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/heat.h5" --seeds 10 \
    --strategies baseline,td,random-1,random-2,net2deeper,forward-thinking \
    --train-sizes 200,1000 --all-pairs --config experiments/paper_td/config.toml \
    --reference-samples 100 --out experiments/paper_td/out/compare
