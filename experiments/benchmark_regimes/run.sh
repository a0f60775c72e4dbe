#!/usr/bin/env bash
# Reproduces experiments/benchmark_regimes/README.md: probes for a heat benchmark with headroom
# (ridge far above the best estimator, networks that can get near it), each a benchmark
# declaration run by `sciml-grow benchmark run`.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/benchmark_regimes/out}
for b in heat-rich-3k heat-rich-12k heat-smooth-12k heat-rich-50k heat-rich-100k \
    ns-rich-4k wind-shear-1h wind-shear-2h; do
    .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow benchmark run \
        "experiments/benchmark_regimes/$b.toml" --out "$OUT/$b" --no-plots
done
.venv/bin/python experiments/benchmark_regimes/ns_nonlinearity.py  # the Navier-Stokes table
