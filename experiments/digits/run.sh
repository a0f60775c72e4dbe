#!/usr/bin/env bash
# Reproduces experiments/digits/README.md (CNN and ViT, every strategy that grows them).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/digits/out}
mkdir -p "$OUT"
.venv/bin/sciml-grow import digits --out "$OUT/digits.h5"
STRATEGIES=baseline,td,random-1,random-2,net2deeper,forward-thinking
for net in cnn vit; do
    .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow compare --data "$OUT/digits.h5" --seeds 10 \
        --strategies "$STRATEGIES" --config "experiments/digits/$net.toml" --out "$OUT/$net"
done
