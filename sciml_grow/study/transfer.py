"""`sciml-grow transfer`: fine-tuning methods side by side over target training-set sizes.

Every (method, N, seed) is a ``finetune`` run (``scratch``: the pretrained architecture trained
from scratch, a ``baseline`` run) on N target training samples, validated on N validation
samples, the N drawn by the seed (the test split is the same for every run). Runs are spread
over MPI ranks (one thread each) and skipped once finished. Rank 0 then writes
``results.csv``, ``table.md`` (test error per method and N, trainable parameters) and
``transfer.png``; the pretrained network without any tuning is the reference row. Method
notes, section 2 (transfer learning).
"""

from __future__ import annotations

import csv
from pathlib import Path
import statistics
from typing import Any

import torch

from sciml_grow.config import from_dict
from sciml_grow.data.dataset import Dataset
from sciml_grow.errors import InputError, arg
from sciml_grow.outputs import json_text
from sciml_grow.study import tables
from sciml_grow.study.compare import same_data
from sciml_grow.study.plan import Job
from sciml_grow.study.report import resolved_best
from sciml_grow.study.stats import STATS_COLUMNS, PairedResult, paired_stats
from sciml_grow.training.config import TrainConfig
from sciml_grow.training.evaluation import evaluate_predictions
from sciml_grow.training.lifecycle import train_or_resume
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir

COLUMNS = ["method", "samples", "seed", "rel_l2_mean", "accuracy", "n_trainable", "wall_seconds"]


def job_config(
    base: dict[str, Any], pretrained: Path, method: str, n: int, seed: int
) -> TrainConfig:
    """The run's config: the base config plus the method, the few-shot split and the seed."""
    raw = {**base, "seed": seed}
    few = {"max_train": n, "max_val": n, "subset_seed": seed}  # each seed draws its N samples
    raw["data"] = {**base.get("data", {}), **few}
    if method == "scratch":
        cfg = from_dict(TrainConfig, {**raw, "strategy": "baseline"})
        cfg.baseline_from = str(pretrained)
        return cfg
    finetune = {**base.get("finetune", {}), "pretrained": str(pretrained), "method": method}
    return from_dict(TrainConfig, {**raw, "strategy": "finetune", "finetune": finetune})


def transfer(
    pretrained: str | Path,
    data_path: str | Path,
    methods: list[str],
    sizes: list[int],
    seeds: int,
    out: str | Path,
    base: dict[str, Any],
    comm: Any = None,
) -> list[dict[str, Any]]:
    """Run the grid; rank 0 returns the result rows (and writes the summary files)."""
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    pretrained, out = Path(pretrained), Path(out)
    if not RunDir(pretrained).finished():
        raise InputError(f"{arg('run')} {pretrained}: not a finished training run")
    same_data(out, Dataset(data_path, job_config(base, pretrained, methods[0], 2, 0).data))
    out.mkdir(parents=True, exist_ok=True)
    grid = [(m, n, k) for n in sizes for m in methods for k in range(seeds)]
    torch.set_num_threads(1)
    for method, n, seed in grid[rank::size]:
        cfg = job_config(base, pretrained, method, n, seed)
        final = train_or_resume(
            cfg, Dataset(data_path, cfg.data), RunDir(out / "runs" / Job(method, seed, n).name)
        )
        print(f"[rank {rank}] {Job(method, seed, n).name}: {_score(final):.4f}", flush=True)
    if comm is not None:
        comm.barrier()
    if rank != 0:
        return []
    rows = []
    for method, n, seed in grid:
        final = RunDir(out / "runs" / Job(method, seed, n).name).read_json("final.json")
        t = final["test"]
        rows.append(
            {
                "method": method,
                "samples": n,
                "seed": seed,
                "rel_l2_mean": t.get("rel_l2_mean"),
                "accuracy": t.get("accuracy"),
                "n_trainable": final["n_trainable"],
                "wall_seconds": final["wall_seconds"],
            }
        )
    zero_shot = _zero_shot(pretrained, data_path, base)
    (out / "zero_shot.json").write_text(json_text({"score": zero_shot}))
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    results = transfer_stats(rows)
    with open(out / "stats.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=STATS_COLUMNS)
        writer.writeheader()
        writer.writerows(r.row() for r in results)
    (out / "table.md").write_text(table(rows, zero_shot, results))
    return rows


REFERENCES = ("full", "scratch")  # what every fine-tuning method is compared with


def transfer_stats(rows: list[dict[str, Any]]) -> list[PairedResult]:
    """Every method against full fine-tuning and against training from scratch, per target
    size, on paired seeds (seed k draws the same N samples for every method)."""
    as_runs = [
        {
            "strategy": r["method"],
            "seed": r["seed"],
            "train_size": int(r["samples"]),
            "rel_l2_mean": r["rel_l2_mean"],
            "accuracy": r["accuracy"],
        }
        for r in rows
    ]
    methods = {r["strategy"] for r in as_runs}
    return [p for ref in REFERENCES if ref in methods for p in paired_stats(as_runs, ref)]


def _score(final: dict[str, Any]) -> float:
    t = final["test"]
    return t["accuracy"] if "accuracy" in t else t["rel_l2_mean"]


def _zero_shot(pretrained: Path, data_path: str | Path, base: dict[str, Any]) -> float:
    """Test error of the pretrained network on the target, without tuning (same test split)."""
    cfg = from_dict(TrainConfig, {"data": base.get("data", {})})
    data = Dataset(data_path, cfg.data)
    idx = torch.from_numpy(data.splits["test"])
    pred = Predictor.from_run(pretrained)(data.x[idx])
    return _score({"test": evaluate_predictions(pred, data.y[idx], data.task)})


def table(
    rows: list[dict[str, Any]], zero_shot: float, results: list[PairedResult] | None = None
) -> str:
    """Markdown: a row per method, a column per training-set size (mean ± std over seeds),
    the best per column in bold only where it beats every other method at 95 % (paired),
    the trainable parameters; then the paired differences against full fine-tuning and
    scratch with their intervals and verdicts."""
    accuracy = rows[0]["accuracy"] is not None
    key = "accuracy" if accuracy else "rel_l2_mean"
    methods = list(dict.fromkeys(r["method"] for r in rows))
    sizes = sorted({int(r["samples"]) for r in rows})
    stats = {}
    for m in methods:
        for n in sizes:
            vals = [float(r[key]) for r in rows if r["method"] == m and int(r["samples"]) == n]
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            stats[m, n] = (statistics.fmean(vals), std)
    results = transfer_stats(rows) if results is None else results
    best = {n: _resolved_best(rows, methods, n) for n in sizes}
    what = "test accuracy" if accuracy else "test rel. L2 error"
    head = ["method", *(f"{what}, N = {n}" for n in sizes), "trainable params"]
    lines = tables.header(head)
    for m in methods:
        cells = [m]
        for n in sizes:
            mean, std = stats[m, n]
            text = f"{mean:.4f} ± {std:.4f}"
            cells.append(f"**{text}**" if m == best[n] else text)
        trainable = {int(r["n_trainable"]) for r in rows if r["method"] == m}
        cells.append(", ".join(str(t) for t in sorted(trainable)))
        lines.append(tables.row(cells))
    lines.append(tables.row(["pretrained, no tuning", *[f"{zero_shot:.4f}"] * len(sizes), "0"]))
    seeds = len({r["seed"] for r in rows})
    lines += [
        "",
        f"Mean ± std over {seeds} paired seeds; N target samples for training and N for "
        "validation (early stopping), drawn by the seed, the same for every method; the same "
        "target test split for every run; bold: best in its column at 95 % (paired, against "
        "every other method).",
    ]
    for ref in REFERENCES:
        mine = [p for p in results if p.against == ref]
        if not mine:
            continue
        what = "error rate" if accuracy else "error"
        lines += [
            "",
            f"Against {ref} (paired difference of the test {what}, 95 % interval; verdicts "
            "corrected by Holm over the methods compared at each size):",
            "",
        ]
        lines += tables.header(["method", *(f"N = {n}" for n in sizes)])
        for m in dict.fromkeys(p.strategy for p in mine):
            cells = [m]
            for n in sizes:
                p = next((q for q in mine if q.strategy == m and int(q.train_size) == n), None)
                base = stats[ref, n][0] if not accuracy else 1 - stats[ref, n][0]
                cells.append("" if p is None else f"{p.relative_text(base)} {p.verdict}")
            lines.append(tables.row(cells))
    return "\n".join(lines) + "\n"


def _resolved_best(rows: list[dict[str, Any]], methods: list[str], n: int) -> str | None:
    """The method with the lowest mean error at size ``n`` if it beats every other there."""
    as_runs = [
        {"strategy": r["method"], "seed": r["seed"], "rel_l2_mean": r["rel_l2_mean"],
         "accuracy": r["accuracy"]}
        for r in rows
        if int(r["samples"]) == n
    ]  # fmt: skip
    return resolved_best(as_runs, methods)[0]
