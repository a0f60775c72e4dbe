"""Full head against reduced basis, td, paired by seed: test error and time per epoch.

.venv/bin/python experiments/wind_reduced/full_vs_reduced.py FULL_COMPARE REDUCED_COMPARE
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
import statistics

import numpy as np

from sciml_grow.study.stats import paired


def runs(folder: Path) -> dict[int, dict]:
    """td runs by seed: test error, wall time, epochs, seconds per epoch (metrics.csv)."""
    out = {}
    for run in sorted((folder / "runs").glob("td-seed*")):
        seed = int(run.name.removeprefix("td-seed"))
        with open(run / "metrics.csv", newline="") as fh:
            seconds = [float(r["seconds"]) for r in csv.DictReader(fh)]
        with open(folder / "results.csv", newline="") as fh:
            row = next(
                r for r in csv.DictReader(fh) if r["strategy"] == "td" and int(r["seed"]) == seed
            )
        out[seed] = {
            "error": float(row["rel_l2_mean"]),
            "wall": float(row["wall_seconds"]),
            "epoch": statistics.median(seconds),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("full", type=Path)
    p.add_argument("reduced", type=Path)
    args = p.parse_args()
    full, reduced = runs(args.full), runs(args.reduced)
    seeds = sorted(set(full) & set(reduced))
    print(
        "| seed | full: error | reduced: error | full: s/epoch | reduced: s/epoch | full: run (s) "
        "| reduced: run (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for k in seeds:
        f, r = full[k], reduced[k]
        print(
            f"| {k} | {f['error']:.4f} | {r['error']:.4f} | {f['epoch']:.3f} | {r['epoch']:.4f} "
            f"| {f['wall']:.0f} | {r['wall']:.0f} |"
        )
    ef = np.array([full[k]["error"] for k in seeds])
    er = np.array([reduced[k]["error"] for k in seeds])
    res = paired(er, ef, "reduced td", "full td")
    speed_epoch = statistics.fmean(full[k]["epoch"] / reduced[k]["epoch"] for k in seeds)
    speed_run = statistics.fmean(full[k]["wall"] / reduced[k]["wall"] for k in seeds)
    print(
        f"\nreduced - full over {len(seeds)} paired seeds: {res.relative_text(float(ef.mean()))}, "
        f"{res.verdict} (p = {res.p_value:.3g}); time per epoch {speed_epoch:.1f}x, per run "
        f"{speed_run:.1f}x shorter"
    )


if __name__ == "__main__":
    main()
