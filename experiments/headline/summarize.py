"""One table over the headline study's benchmarks (README.md): per benchmark and training size,
the baseline, the best growing strategy, the searches, ridge, the best network against the
classical reference, and every verdict (Holm-corrected, against the baseline).

    .venv/bin/python experiments/headline/summarize.py [OUT]   # default experiments/headline/out
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
import statistics
import sys

GROWING = ("td", "sensli", "random-1", "random-2", "net2deeper", "forward-thinking",
           "layerwise", "layerwise+srl", "periodic")  # fmt: skip
SEARCHES = ("search", "search-5x")


def rows_of(compare: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader((compare / "results.csv").open()))
    linear = (
        json.loads((compare / "linear.json").read_text())
        if (compare / "linear.json").exists()
        else []
    )
    return rows + [{k: str(v) for k, v in r.items()} for r in linear]


def summarize(compare: Path, name: str) -> list[str]:
    rows, stats = rows_of(compare), list(csv.DictReader((compare / "stats.csv").open()))
    ref = (
        json.loads((compare / "reference.json").read_text())
        if (compare / "reference.json").exists()
        else None
    )
    lines = []
    for n in sorted({int(r["train_size"]) for r in rows}):
        at = [r for r in rows if int(r["train_size"]) == n]

        def mean(s: str, key: str = "rel_l2_mean", at: list = at) -> float | None:
            v = [
                float(r[key])
                for r in at
                if r["strategy"] == s and r.get(key) not in (None, "", "None")
            ]
            return statistics.fmean(v) if v else None

        strategies = sorted({r["strategy"] for r in at})
        ridge = next((s for s in strategies if s.startswith("linear")), None)
        networks = [s for s in strategies if s != ridge]
        grow = [s for s in networks if s in GROWING]
        best_grow = min(grow, key=mean) if grow else None
        best_net = min(networks, key=mean)
        seeds = len({r["seed"] for r in at if r["strategy"] == "baseline"})
        verdicts = [
            f"{s['strategy']} {float(s['rel_diff']) * 100:+.1f} % {s['verdict']}"
            for s in stats
            if int(s["train_size"]) == n and s["verdict"] in ("better", "worse")
        ]

        def cell(s: str | None) -> str:
            return f"{mean(s):.4f}" if s and mean(s) is not None else "–"

        base = mean("baseline")
        grow_cell = (f"{best_grow} {cell(best_grow)} ({(mean(best_grow) / base - 1) * 100:+.1f} %)"
                     if best_grow else "–")  # fmt: skip
        ratio = "–"
        if ref:
            on = mean(best_net, "rel_l2_on_reference_samples")
            ratio = f"{on / ref['rel_l2_mean']:.2f} ({best_net})" if on else "–"
        lines.append(
            f"| {name} | {n} | {seeds} | {cell('baseline')} | {grow_cell} | {cell('search')} | "
            f"{cell('search-5x')} | {cell(ridge)} | {ratio} | {'; '.join(verdicts) or 'none'} |"
        )
    return lines


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "experiments/headline/out")
    print(
        "| benchmark | N | seeds | baseline | best growing (vs baseline) | search (td's FLOPs) "
        "| search-5x | ridge | best network / reference | verdicts vs baseline (Holm, 95 %) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for bench in sorted(p for p in out.iterdir() if (p / "compare" / "stats.csv").exists()):
        print("\n".join(summarize(bench / "compare", bench.name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
