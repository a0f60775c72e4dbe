"""A fixed network trained to convergence on make demo's data, as a reference for the demo's
growing strategies (issue 34, items 1-2): the baseline strategy with the demo's recipe and
width 20 / 1 block, and a width-64 / 2-block network with a cosine schedule over 2,000 epochs
or with the demo's plateau-and-convergence recipe; 2 seeds at N = 1,000.

    make demo   # makes demo_out/heat.h5
    .venv/bin/python experiments/recipe/fixed_network.py demo_out/heat.h5
"""

from __future__ import annotations

import sys
import time

import sciml_grow as sg

RECIPE = {"early_stopping": 100, "early_stopping_delta": 1e-3}
PLATEAU = {"schedule": "plateau", "plateau_patience": 30}
W20 = {"width": 20, "initial_blocks": 1}
W64 = {"width": 64, "initial_blocks": 2}
SETTINGS = {
    "width 20, 1 block, 200 epochs, constant": ({"epochs": 200}, W20, {}),
    "width 64, 2 blocks, cosine, 2000 epochs": ({"epochs": 2000}, W64, {"schedule": "cosine"}),
    "width 64, 2 blocks, plateau, converged": ({"epochs": 2000, **RECIPE}, W64, PLATEAU),
}


def main(data: str, n: int = 1000) -> None:
    print("| network | test rel. L2 (seed 0, 1) | epochs | converged | seconds |")
    print("|---|---|---|---|---|")
    for name, (top, model, optim) in SETTINGS.items():
        t0, runs = time.perf_counter(), []
        for seed in range(2):
            cfg = {"strategy": "baseline", "seed": seed, **top, "model": model,
                   "optim": {"lr": 3e-3, "batch_size": 0, **optim},
                   "data": {"max_train": n, "max_val": n // 8, "subset_seed": seed}}  # fmt: skip
            runs.append(sg.fit(data, cfg, progress=False).final)
        errors = ", ".join(f"{f['test']['rel_l2_mean']:.4f}" for f in runs)
        epochs = ", ".join(str(f["epochs"]) for f in runs)
        converged = ", ".join(str(f["converged"]) for f in runs)
        print(f"| {name} | {errors} | {epochs} | {converged} | {time.perf_counter() - t0:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo_out/heat.h5")
