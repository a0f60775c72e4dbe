"""Choose the number of POD modes of a reduced-basis comparison on the validation split.

For each count, one td run (seed 0) with the comparison's config and ``model.output_modes``
set to it; its kept network's relative L2 error on the validation fields (never the test
split) and the basis' own validation projection error are printed, and the count with the
lowest validation error is written to ``OUT/modes.txt`` for the run.sh that called it.

    .venv/bin/python experiments/choose_modes.py DATA OUT --config CONFIG [--modes 16,32,64]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import tomllib

import torch

import sciml_grow as sg
from sciml_grow.data.basis import projection_errors
from sciml_grow.data.dataset import relative_errors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--config", type=Path, required=True, help="the comparison's config.toml")
    p.add_argument("--modes", default="16,32,64,128,256")
    args = p.parse_args()
    config = tomllib.loads(args.config.read_text())
    config["model"] = {**config.get("model", {}), "output_basis": "pod"}
    torch.set_num_threads(1)
    data = sg.load(args.data)
    val = torch.from_numpy(data.splits["val"])
    rows = []
    print("| modes | validation rel. L2 error (td, seed 0) | basis alone on validation | s |")
    print("|---|---|---|---|")
    for r in (int(v) for v in args.modes.split(",")):
        cfg = {**config, "model": {**config["model"], "output_modes": r}}
        model = sg.fit(data, cfg, strategy="td", seed=0, progress=False)
        pred = model(data.x[val])
        err = float(relative_errors(pred, data.y[val]).mean())
        floor = float(projection_errors(data.y[val], model.y_scaler).mean())
        rows.append((err, r))
        print(f"| {r} | {err:.4f} | {floor:.4f} | {model.final['wall_seconds']:.0f} |", flush=True)
    best = min(rows)[1]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "modes.txt").write_text(f"{best}\n")
    print(f"chosen: {best} modes")


if __name__ == "__main__":
    main()
