"""A reduced output head with and without whitening, beside a full head (issue 34, item 1).

Wind, 600 samples generated here (default generator settings, seed 0, 2 ranks if run under
mpiexec), 400 training samples, the baseline network of width 64, 30 epochs, 3 seeds: the
test relative L2 error of a full head (every grid value), of a POD head predicting the
coefficients themselves, and of a POD head predicting them divided by their standard
deviations (``model.output_whiten``), with the training loss at the first and last epoch.

    .venv/bin/python experiments/recipe/whitened_head.py OUT
"""

from __future__ import annotations

from pathlib import Path
import statistics
import sys
import time

import sciml_grow as sg

HEADS = {
    "full": {},
    "pod": {"output_basis": "pod"},
    "pod, whitened": {"output_basis": "pod", "output_whiten": True},
}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "wind-600.h5"
    sg.generate("wind", 600, data, seed=0, progress=False)  # resumes or finds it complete
    print("| head | test rel. L2 (mean of 3 seeds) | per seed | train loss, epoch 1 -> 30 "
          "(seed 0) | seconds |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, model in HEADS.items():
        errors, losses, t0 = [], None, time.perf_counter()
        for seed in range(3):
            cfg = {"strategy": "baseline", "epochs": 30, "seed": seed,
                   "data": {"max_train": 400}, "model": {"width": 64, **model}}  # fmt: skip
            fit = sg.fit(data, cfg, progress=False)
            errors.append(fit.final["test"]["rel_l2_mean"])
            if seed == 0:
                first, last = (float(fit.history[i]["train_loss"]) for i in (0, -1))
                losses = f"{first:.4g} -> {last:.4g}"
        per = ", ".join(f"{e:.4f}" for e in errors)
        seconds = time.perf_counter() - t0
        print(f"| {name} | {statistics.fmean(errors):.4f} | {per} | {losses} | {seconds:.1f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "experiments/recipe/out"))
