"""The linear reference of a comparison: ridge regression fitted, for every (training size,
seed), on exactly the samples that seed's networks saw, so its test errors pair with theirs."""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any

import torch

from sciml_grow.config import from_dict
from sciml_grow.data.dataset import Dataset, relative_errors
from sciml_grow.inverse.references import Ridge, read_reference
from sciml_grow.study.plan import Job, job_config
from sciml_grow.training.config import TrainConfig

LINEAR = "linear (ridge)"  # the linear reference's name in tables and statistics


def linear_reference(
    data: Dataset, base: dict[str, Any], runs: list[Job], out: Path
) -> list[dict[str, Any]]:
    """The ridge reference for every (training size, seed) of ``runs``, each fitted on the
    training and validation samples that seed's networks saw, evaluated on the whole test
    split (and on the samples the classical reference and the floor solved, from ``out``):
    rows in the results' columns."""
    subsets = {stem: read_reference(out, stem) for stem in ("reference", "floor")}
    if data.task != "regression":
        return []
    rows, fits = [], {}
    for job in {(j.train_size, j.seed): j for j in runs}.values():  # the data is the same
        ds = data.resplit(from_dict(TrainConfig, job_config(job, base)).data)  # for any strategy
        train, val, test = ds.splits["train"], ds.splits["val"], ds.splits["test"]
        key = (train.tobytes(), val.tobytes())
        if key not in fits:  # one fit per distinct training set
            start = time.perf_counter()
            parts = (a[i].numpy() for i in (train, val) for a in (data.x, data.y))
            model = Ridge.fit(*parts)  # x, y of the training, then the validation samples
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            pred = torch.from_numpy(model.predict(data.x[test].numpy()))
            seconds = (time.perf_counter() - start) / len(test)
            position = {int(i): k for k, i in enumerate(test)}
            on: dict[str, float | None] = {}
            for stem, ref in subsets.items():
                on[stem] = None
                if ref is not None:
                    where = [position[i] for i in ref["indices"]]
                    on[stem] = float(relative_errors(pred[where], data.y[ref["indices"]]).mean())
            errors = relative_errors(pred, data.y[test])
            fits[key] = {
                "rel_l2_mean": float(errors.mean()),
                "rel_l2_median": float(errors.median()),
                "mse": float(torch.mean((pred - data.y[test]) ** 2)),
                "n_params": model.weights.size + model.y_mean.size,
                "wall_seconds": fit_seconds,
                "inference_seconds_per_sample": seconds,
                "rel_l2_on_reference_samples": on["reference"],
                "rel_l2_on_floor_samples": on["floor"],
                "lambda": model.lam,
                "validation_rel_l2": model.validation_rel_l2,
            }
        rows.append({"strategy": LINEAR, "seed": job.seed, "train_size": len(train), **fits[key]})
    return rows


def read_linear(out: Path) -> list[dict[str, Any]]:
    """A comparison's linear-reference rows (none before this reference existed)."""
    path = out / "linear.json"
    return json.loads(path.read_text()) if path.exists() else []
