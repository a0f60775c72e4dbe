#!/usr/bin/env bash
# Reproduces experiments/headline/README.md: every registered benchmark's protocol (every
# growing strategy and the two searches, at td's compute and at five times it; 10 paired
# seeds) at the training sizes its card measures, except where a run costs more than a minute:
# heat-capacity at N = 9,720 only, with 2 seeds of baseline and td (a td run there took about
# 15 minutes beside other jobs); ns-advective at N = 800 with 3 seeds of 7 strategies, at
# N = 3,240 with 10 seeds of all but search-5x (a td run there takes 80 s; its table then
# holds N = 3,240 only). Each benchmark's data are generated into OUT (fixed seed and split;
# checked against the benchmark's card before any training). ONLY=name runs one benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-experiments/headline/out}
bench() {  # NAME [options]: one benchmark's protocol into OUT/NAME
    local name=$1
    shift
    if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then return; fi
    .venv/bin/mpiexec -n 2 .venv/bin/sciml-grow benchmark run "$name" --out "$OUT/$name" "$@"
}
bench heat-demo
bench ns-reduced
# wind-reduced without random-1, forward-thinking and the layerwise pair (in experiments/wind_reduced)
bench wind-reduced --strategies baseline,td,sensli,random-2,net2deeper,periodic,search,search-5x
bench heat-capacity --train-sizes 9720 --strategies baseline,td --seeds 2
bench paper-layerwise-kl12
bench paper-td-heat
bench wind-shear
bench ns-advective --seeds 3 --strategies baseline,td,sensli,random-2,net2deeper,periodic,search
if [ -z "${ONLY:-}" ] || [ "$ONLY" = ns-advective ]; then  # the 3-seed table, before N = 800 leaves it
    cp "$OUT/ns-advective/compare/table.md" "$OUT/ns-advective/table-3seeds.md"
fi
bench ns-advective --seeds 10 --train-sizes 3240 --strategies \
    baseline,td,sensli,random-1,random-2,net2deeper,forward-thinking,layerwise,layerwise+srl,periodic,search
