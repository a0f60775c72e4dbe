"""Wind with and without the physics term: test error and the predictions' constraint
violation (weak divergence, flow through the ground) per weight optim.physics, over paired
seeds; writes results.csv and table.md to DEST.

Usage: python experiments/wind_physics/run.py DATA.h5 OUT_DIR DEST_DIR [SEEDS]
"""

from __future__ import annotations

import csv
from pathlib import Path
import sys
import tomllib

import numpy as np
import torch

import sciml_grow as sg
from sciml_grow.config import from_dict
from sciml_grow.inverse.constraints import load_constraint
from sciml_grow.study.stats import paired
from sciml_grow.study.tables import header, row

WEIGHTS = (0.0, 10.0)  # without and with (README: a small calibration run tried 10 to 1000)


def main(data_path: str, out: str, dest: str, seeds: int = 5) -> None:
    torch.set_num_threads(1)
    base = tomllib.loads((Path(__file__).parent / "config.toml").read_text())
    ds = sg.load(data_path)
    constraint = load_constraint(data_path)
    test = torch.from_numpy(ds.splits["test"])
    truth = constraint.report(ds.y[test])
    rows = []
    for weight in WEIGHTS:
        for seed in range(seeds):
            cfg = from_dict(sg.TrainConfig, {**base, "seed": seed})
            cfg.optim.physics = weight
            run = Path(out) / f"physics{weight:g}-seed{seed}"
            if (run / "final.json").exists():  # finished before: read, not retrained
                model = sg.Predictor.load(run)
            else:
                model = sg.fit(ds, cfg, out=run, force=True, progress=False)
            pred = torch.from_numpy(np.asarray(model.predict(ds.x[test].numpy())))
            rows.append(
                {
                    "weight": weight,
                    "seed": seed,
                    "rel_l2": model.final["test"]["rel_l2_mean"],
                    **constraint.report(pred.double()),
                }  # fmt: skip
            )
            print(rows[-1], flush=True)
    Path(dest).mkdir(parents=True, exist_ok=True)
    with open(Path(dest) / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (Path(dest) / "table.md").write_text(table(rows, truth, seeds))


def table(rows: list[dict], truth: dict[str, float], seeds: int) -> str:
    dense = {r["seed"]: r for r in rows if r["weight"] == 0}
    lines = header(["optim.physics", "test rel. L2 error", "vs 0 (95 % CI)", "divergence",
                    "ground flow", "divergence / truth's", "ground flow / truth's"])  # fmt: skip
    for w in WEIGHTS:
        mine = sorted((r for r in rows if r["weight"] == w), key=lambda r: r["seed"])
        err = np.array([r["rel_l2"] for r in mine])
        div = np.array([r["divergence"] for r in mine])
        gf = np.array([r["ground_flow"] for r in mine])
        versus = ""
        if w != 0:
            p = paired(err, np.array([dense[r["seed"]]["rel_l2"] for r in mine]))
            base = float(np.mean([d["rel_l2"] for d in dense.values()]))
            versus = f"{p.relative_text(base)} ({p.verdict})"
        lines.append(row([
            f"{w:g}", f"{err.mean():.4f} ± {err.std(ddof=1):.4f}", versus,
            f"{div.mean():.3g}", f"{gf.mean():.3g}",
            f"{div.mean() / truth['divergence']:.1f}", f"{gf.mean() / truth['ground_flow']:.2f}",
        ]))  # fmt: skip
    lines += [
        "",
        f"Mean over {seeds} paired seeds; divergence and ground flow: the relative violation "
        "r = |D u|^2 / |(|D| |u|)|^2 over interior and ground vertices (0 = the discrete "
        "constraints hold), of the test predictions carried to the mesh; the true test fields "
        f"give divergence {truth['divergence']:.3g} and ground flow {truth['ground_flow']:.3g} "
        "(interpolation from the grid and the generator's nodal recovery are not exactly "
        "divergence free).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(*sys.argv[1:4], *(int(a) for a in sys.argv[4:5]))
