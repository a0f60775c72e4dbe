#!/usr/bin/env bash
# Reproduces experiments/ns_field/README.md: the Navier-Stokes data set's full vorticity field
# at T (64 x 64) -> the initial vorticity, with growing CNNs and ViTs.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/ns_field/out}
DATA=${DATA:-experiments/navier_stokes/out/ns.h5}
mkdir -p "$OUT" "$(dirname "$DATA")"
# the Navier-Stokes experiment's data set (made by experiments/navier_stokes/run.sh)
[ -f "$DATA" ] || .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow generate navier_stokes \
    --samples 1500 --seed 1 --out "$DATA" --no-progress
STRATEGIES=baseline,td,random-1,random-2,net2deeper,forward-thinking
for net in cnn vit; do
    .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$DATA" --seeds 2 \
        --strategies "$STRATEGIES" --config "experiments/ns_field/$net.toml" \
        --reference-samples 0 --out "$OUT/$net"
done
