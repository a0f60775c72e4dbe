"""`sciml-grow compare`: every (strategy, seed) as an independent run, side by side.

Fair by construction: every run gets the same config (split, standardization, epoch budget),
only ``strategy`` and ``seed`` differ; a baseline trains the kept architecture of the td run of
the same seed. Runs are spread over MPI ranks (each run on one thread, so results do not
depend on the rank count); finished runs are skipped and interrupted ones resumed. Rank 0 then
writes ``results.csv``, ``table.md`` and the plots; the classical reference row (MAP, POD; see
:mod:`sciml_grow.references`) comes from ``reference.json``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import math
from pathlib import Path
import statistics
from typing import Any

import torch

from sciml_grow.config import from_dict
from sciml_grow.data import Dataset
from sciml_grow.references import read_reference, run_reference
from sciml_grow.rundir import RunDir
from sciml_grow.train import headline, train_or_resume
from sciml_grow.train_config import TrainConfig

RESULT_COLUMNS = [
    "strategy",
    "seed",
    "rel_l2_mean",
    "rel_l2_median",
    "mse",
    "accuracy",
    "cross_entropy",
    "obs_misfit",
    "final_depth",
    "srl_stages",
    "n_params",
    "zero_weight_fraction",
    "insertions",
    "wall_seconds",
    "inference_seconds_per_sample",
    "rel_l2_on_reference_samples",
]
# table column: (results key, header, format)
SHARED = [
    ("final_depth", "depth", "{:.1f}"),
    ("n_params", "params", "{:.0f}"),
    ("wall_seconds", "train time (s)", "{:.1f}"),
]
TABLE = [
    ("rel_l2_mean", "test rel. L2 error", "{:.4f}"),
    ("mse", "test MSE", "{:.4g}"),
    ("obs_misfit", "obs. misfit", "{:.3g}"),
    *SHARED,
]
CLASS_TABLE = [
    ("accuracy", "test accuracy", "{:.4f}"),
    ("cross_entropy", "test cross-entropy", "{:.4g}"),
    *SHARED,
]
HIGHER_IS_BETTER = {"accuracy"}


@dataclass
class Job:
    strategy: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.strategy}-seed{self.seed}"


def jobs(strategies: list[str], seeds: int) -> list[list[Job]]:
    """Waves of jobs: the baseline needs the finished td run of its seed, so it runs later."""
    first = [Job(s, k) for s in strategies if s != "baseline" for k in range(seeds)]
    later = [Job("baseline", k) for k in range(seeds)] if "baseline" in strategies else []
    return [w for w in (first, later) if w]


def run_job(job: Job, data: Dataset, base: dict[str, Any], out: Path, td: bool) -> dict:
    """Train (or resume, or just read) one run; returns its final.json."""
    run = RunDir(out / "runs" / job.name)
    if run.finished():
        return run.read_json("final.json")
    raw = {**base, "strategy": job.strategy, "seed": job.seed}
    cfg = from_dict(TrainConfig, raw)
    if job.strategy == "baseline" and td and cfg.baseline_blocks is None:
        cfg.baseline_from = str(out / "runs" / Job("td", job.seed).name)
        cfg.baseline_spec = RunDir(cfg.baseline_from).read_json("final.json")["architecture"]
    return train_or_resume(cfg, data, run)


def compare(
    data_path: str | Path,
    strategies: list[str],
    seeds: int,
    out: str | Path,
    base: dict[str, Any],
    comm: Any = None,
    reference_samples: int = 100,
    echo: bool = True,
) -> list[dict[str, Any]]:
    """Run every (strategy, seed) and the classical reference; rank 0 returns the result
    rows."""
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = from_dict(TrainConfig, {**base, "strategy": strategies[0]})  # validates the config
    data = Dataset(data_path, cfg.data)
    torch.set_num_threads(1)  # the same arithmetic on any number of ranks
    for wave in jobs(strategies, seeds):
        for job in wave[rank::size]:
            final = run_job(job, data, base, out, "td" in strategies)
            if echo:
                print(f"[rank {rank}] {job.name}: {headline(final)}", flush=True)
        if comm is not None:
            comm.barrier()
    run_reference(data, out, reference_samples, comm)
    if rank != 0:
        return []
    rows = [
        result_row(RunDir(out / "runs" / j.name).read_json("final.json"))
        for wave in jobs(strategies, seeds)
        for j in wave
    ]
    _errors_on_reference_samples(rows, data, out)
    write_results(out, rows)
    return rows


def _errors_on_reference_samples(rows: list[dict[str, Any]], data: Dataset, out: Path) -> None:
    """Each run's mean error on exactly the test samples the reference solved, for a
    like-for-like ratio (the reference may cover only part of the test split)."""
    from sciml_grow.data import relative_errors
    from sciml_grow.predict import Predictor

    ref = read_reference(out)
    idx = torch.tensor(ref["indices"]) if ref else None
    for row in rows:
        row["rel_l2_on_reference_samples"] = None
        if idx is not None:
            predictor = Predictor.from_run(out / "runs" / Job(row["strategy"], row["seed"]).name)
            rel = relative_errors(predictor(data.x[idx]), data.y[idx])
            row["rel_l2_on_reference_samples"] = float(rel.mean())


def result_row(final: dict[str, Any]) -> dict[str, Any]:
    t = final["test"]
    return {
        "strategy": final["strategy"],
        "seed": final["seed"],
        **{k: t.get(k) for k in ("rel_l2_mean", "rel_l2_median", "mse")},
        **{k: t.get(k) for k in ("accuracy", "cross_entropy")},
        "obs_misfit": final["obs_misfit"],
        "final_depth": final["final_depth"],
        "srl_stages": final["srl_stages"],
        "n_params": final["n_params"],
        "zero_weight_fraction": final["zero_weight_fraction"],
        "insertions": final["insertions"],
        "wall_seconds": final["wall_seconds"],
        "inference_seconds_per_sample": final["inference_seconds_per_sample"],
    }


def write_results(out: Path, rows: list[dict[str, Any]]) -> None:
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "table.md").write_text(table(rows, read_reference(out)))


def read_results(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k, v in r.items():
            if k != "strategy":
                r[k] = float(v) if v not in ("", "None") else math.nan
    return rows


def table(rows: list[dict[str, Any]], ref: dict[str, Any] | None = None) -> str:
    """Markdown table: one row per strategy, mean ± std over seeds; the best mean per column
    (lowest; highest accuracy) in bold; error and inference time relative to the classical
    reference where it ran. Fields get error columns, classes accuracy columns."""
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    classes = any(not _nan(r.get("accuracy")) and r.get("accuracy") is not None for r in rows)
    columns = CLASS_TABLE if classes else TABLE
    stats: dict[str, dict[str, tuple[float, float]]] = {}
    for s in strategies:
        mine = [r for r in rows if r["strategy"] == s]
        stats[s] = {}
        extra = [("inference_seconds_per_sample", "", ""), ("rel_l2_on_reference_samples", "", "")]
        for key, _, _ in columns + extra:
            vals = [float(r[key]) for r in mine if r[key] is not None and not _nan(r[key])]
            mean = statistics.fmean(vals) if vals else math.nan
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            stats[s][key] = (mean, std)
    best = {
        key: (max if key in HIGHER_IS_BETTER else min)(
            (stats[s][key][0] for s in strategies), default=math.nan
        )
        for key, _, _ in columns
    }
    seeds = len({r["seed"] for r in rows})
    head = ["strategy", *(h for _, h, _ in columns)]
    short = ref.get("short", ref["label"]) if ref else ""
    if ref:
        head += [f"error / {short}", f"inference time / {short}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in strategies:
        cells = [s]
        for key, _, fmt in columns:
            mean, std = stats[s][key]
            if math.isnan(mean):  # e.g. no forward operator for this problem
                cells.append("n/a")
                continue
            text = fmt.format(mean) + (f" ± {fmt.format(std)}" if seeds > 1 else "")
            cells.append(f"**{text}**" if mean == best[key] else text)
        if ref:
            error = stats[s]["rel_l2_on_reference_samples"][0] / ref["rel_l2_mean"]
            ratio = stats[s]["inference_seconds_per_sample"][0] / ref["seconds_per_sample"]
            cells += [f"{error:.3f}", f"{ratio:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    if ref:
        n = len(ref["indices"])
        cells = [ref["label"], f"{ref['rel_l2_mean']:.4f} ± {ref['rel_l2_std']:.4f}"]
        cells += [""] * (len(columns) - 1) + ["1", "1"]
        lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(
            f"{ref['label']}: {n} test samples, {ref['seconds_per_sample']:.3g} s per sample "
            f"(± is the spread over samples); error / {short} compares mean errors on those "
            "same samples."
        )
    lines.append("")
    misfit = (
        ""
        if classes
        else " Obs. misfit: noise-weighted mean squared misfit of the re-simulated "
        "observations (1 = noise level)."
    )
    lines.append(f"Mean ± std over {seeds} seeds; bold: best mean per column.{misfit}")
    return "\n".join(lines) + "\n"


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
