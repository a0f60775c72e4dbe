"""A wind run with the full head against the same run with a reduced output basis, side by side.

The same td run (seed, split, config of experiments/wind) twice: the head mapping width 64 to
every one of the 24,576 grid values, and ``model.output_basis = "pod"`` with ``--modes``
modes. Printed: seconds per epoch (median of metrics.csv), seconds per run, the test error,
and the ratios. Issue 24's target: the reduced run >= 10x faster at no worse error (the error
over paired seeds is in experiments/wind_reduced).

    .venv/bin/python benchmarks/output_basis.py --data experiments/wind_reduced/out/wind.h5 \\
        [--epochs 60] [--modes 256]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import tomllib

import torch

import sciml_grow as sg

ROOT = Path(__file__).resolve().parents[1]


def run(data: Path, config: dict, epochs: int) -> dict:
    model = sg.fit(data, {**config, "epochs": epochs}, strategy="td", seed=0, progress=False)
    seconds = [float(r["seconds"]) for r in model.history]
    return {
        "epoch": statistics.median(seconds),
        "run": model.final["wall_seconds"],
        "error": model.final["test"]["rel_l2_mean"],
        "params": model.final["n_params"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="a wind dataset")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--modes", type=float, default=256)
    args = p.parse_args()
    torch.set_num_threads(1)
    config = tomllib.loads((ROOT / "experiments/wind/config.toml").read_text())
    config["growth"] = {**config["growth"], "every": 15, "min_phase_epochs": 10}
    reduced = {**config, "model": {**config["model"], "output_basis": "pod",
                                   "output_modes": args.modes}}  # fmt: skip
    full, pod = run(args.data, config, args.epochs), run(args.data, reduced, args.epochs)
    print(f"td, seed 0, {args.epochs} epochs, one thread, {args.data}")
    print("| head | s per epoch | s per run | test rel. L2 error | parameters |")
    print("|---|---|---|---|---|")
    for name, r in (("full (24,576 values)", full), (f"POD ({args.modes:g} modes)", pod)):
        print(f"| {name} | {r['epoch']:.3f} | {r['run']:.1f} | {r['error']:.4f} | {r['params']} |")
    print(f"reduced: {full['epoch'] / pod['epoch']:.1f}x less per epoch, "
          f"{full['run'] / pod['run']:.1f}x less per run")  # fmt: skip


if __name__ == "__main__":
    main()
