"""`sciml-grow compare`: run every (strategy, seed[, training size]) of the plan
(:mod:`.plan`) as an independent run directory, then the references, the paired statistics
(:mod:`.stats`) and the report (:mod:`.report`).

Runs are spread over MPI ranks (each run on one thread, so results do not depend on the rank
count); finished runs are skipped and interrupted ones resumed. Rank 0 then writes
``results.csv``, ``stats.csv`` and ``table.md``; the classical reference row (MAP, POD; see
:mod:`sciml_grow.inverse.references`) comes from ``reference.json``, the Bayes floor from
``floor.json``, and the linear reference (:mod:`.linear`) from ``linear.json``. Why the runs
pair, and what the statistics can resolve: docs/statistics.md.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch

from sciml_grow.config import from_dict
from sciml_grow.data.dataset import Dataset
from sciml_grow.errors import arg
from sciml_grow.inverse.references import read_reference, run_floor, run_reference
from sciml_grow.outputs import OutputError, atomic_write_bytes, json_text
from sciml_grow.study.costs import reach_cost
from sciml_grow.study.linear import linear_reference, read_linear
from sciml_grow.study.plan import Job, default_reference, job_config, jobs
from sciml_grow.study.report import budget_key, budget_table, table
from sciml_grow.study.stats import STATS_COLUMNS, PairedResult, holm, paired_stats
from sciml_grow.training.config import TrainConfig
from sciml_grow.training.evaluation import evaluate_predictions, headline
from sciml_grow.training.lifecycle import same_settings, train_or_resume
from sciml_grow.training.rundir import RunDir

RESULT_COLUMNS = [
    "strategy",
    "seed",
    "train_size",
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
    "converged",
    "wall_seconds",
    "training_flops",
    "decision_flops",
    "peak_memory_mb",
    "flops_to_reference",
    "inference_seconds_per_sample",
    "rel_l2_on_reference_samples",
    "rel_l2_on_floor_samples",
    "basis_modes",
    "basis_floor",
]


def run_job(job: Job, data: Dataset, base: dict[str, Any], out: Path, td: bool) -> dict:
    """Train (or resume, or just read) one run; returns its final.json. A run already there
    made with other settings is refused, never reused."""
    run = RunDir(out / "runs" / job.name)
    cfg = from_dict(TrainConfig, job_config(job, base))
    if cfg.strategy == "baseline" and td and cfg.baseline_blocks is None:
        cfg.baseline_from = str(out / "runs" / Job("td", job.seed, job.train_size).name)
    if cfg.strategy == "search" and cfg.search.matched and not cfg.search.match_run:
        # equal compute: the same seed's (and size's) run of the matched strategy
        cfg.search.match_run = str(
            out / "runs" / Job(cfg.search.matched, job.seed, job.train_size).name
        )
    if run.finished():
        same_settings(run, cfg)
        return run.read_json("final.json")
    return train_or_resume(cfg, data.resplit(cfg.data), run)


def compare(
    data_path: str | Path,
    strategies: list[str],
    seeds: int,
    out: str | Path,
    base: dict[str, Any],
    comm: Any = None,
    reference_samples: int = 100,
    echo: bool = True,
    train_sizes: list[int | None] | None = None,
    against: str | None = None,
    all_pairs: bool = False,
    floor_samples: int = 0,
    mcmc: Any = None,
    budget_shares: list[float] | None = None,
) -> list[dict[str, Any]]:
    """Run every (strategy, seed, training size) and the classical reference; rank 0 writes
    results, statistics and the table, and returns the result rows."""
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = from_dict(TrainConfig, job_config(Job(strategies[0], 0), base))  # validates it
    data = Dataset(data_path, cfg.data)
    against = against or default_reference(strategies)
    same_data(out, data)
    if rank == 0:  # what was compared, beside the results
        setup = {
            "data": str(Path(data_path).resolve()),
            "data_sha256": data.fingerprint,
            "strategies": strategies,
            "seeds": seeds,
            "train_sizes": train_sizes or [None],
            "against": against,
            "all_pairs": all_pairs,
            "reference_samples": reference_samples,
            "floor_samples": floor_samples,
            "budget_shares": budget_shares,
            "config": base,
        }
        atomic_write_bytes(out / "compare.json", json_text(setup).encode())
    torch.set_num_threads(1)  # the same arithmetic on any number of ranks
    waves = jobs(strategies, seeds, train_sizes, base)
    for wave in waves:
        for job in wave[rank::size]:
            final = run_job(job, data, base, out, "td" in strategies)
            if echo:
                print(f"[rank {rank}] {job.name}: {headline(final)}", flush=True)
        if comm is not None:
            comm.barrier()
    run_reference(data, out, reference_samples, comm)
    run_floor(data, out, floor_samples, comm, mcmc)
    if rank != 0:
        return []
    all_jobs = [j for wave in waves for j in wave]
    rows = [result_row(RunDir(out / "runs" / j.name)) for j in all_jobs]
    _errors_on_reference_samples(rows, all_jobs, data, out)
    _cost_to_reach_reference(rows, all_jobs, out, against)
    linear = linear_reference(data, base, all_jobs, out)
    atomic_write_bytes(out / "linear.json", json_text(linear).encode())
    results = paired_stats(rows + linear, against, all_pairs)
    write_results(out, rows, results, against)
    if base.get("budgets") or budget_shares:
        at = budget_rows(all_jobs, out, against, budget_shares)
        write_budgets(out, at, budget_stats(at, against), against)
    return rows


BUDGET_COLUMNS = ["strategy", "seed", "train_size", "budget", "x", "flops", "reached",
                  "best_epoch", "rel_l2_mean", "accuracy"]  # fmt: skip


def budget_rows(
    runs: list[Job], out: Path, against: str, shares: list[float] | None = None
) -> list[dict[str, Any]]:
    """A row per run and compute budget: the test error of the best-validation network the
    run had seen within it (``reached`` 0: the run ended first, with that final error). FLOP
    budgets come from each run's own record; shares of ``against``'s FLOPs (same seed and
    size) are read off each run's trajectory.csv."""
    rows = []
    for job in runs:
        run = RunDir(out / "runs" / job.name)
        final = run.read_json("final.json")
        n = run.read_json("config.json")["split_sizes"]["train"]
        head = {"strategy": job.strategy, "seed": final["seed"], "train_size": n}
        for b in final.get("budgets") or []:
            rows.append({
                **head, "budget": f"{b['flops']:.3g} FLOPs", "x": b["flops"], "flops": b["flops"],
                "reached": int(b["reached"]), "best_epoch": b["best_epoch"],
                "rel_l2_mean": b.get("rel_l2_mean"), "accuracy": b.get("accuracy"),
            })  # fmt: skip
        if not shares:
            continue
        ref = RunDir(out / "runs" / Job(against, job.seed, job.train_size).name)
        ref_final = ref.read_json("final.json")
        total = ref_final["training_flops"] + ref_final["decision_flops"]
        spent = final["training_flops"] + final["decision_flops"]
        trace = run.read_csv("trajectory.csv")
        for share in shares:
            within = [t for t in trace if float(t["flops"]) <= share * total]
            if not within:  # no network yet within that budget: nothing to compare
                continue
            last = within[-1]
            rows.append({
                **head, "budget": f"{share:g}x {against}", "x": share, "flops": share * total,
                "reached": int(spent >= share * total),
                "best_epoch": last["epoch"],
                **{k: float(last[k]) if last.get(k) not in (None, "") else None
                   for k in ("rel_l2_mean", "accuracy")},
            })  # fmt: skip
    return rows


def budget_stats(rows: list[dict[str, Any]], against: str) -> list[PairedResult]:
    """Every strategy against ``against`` at every (size, budget), on paired seeds; one
    family, the whole table, corrected by Holm's method."""
    keyed = [{**r, "train_size": budget_key(r["train_size"], r["budget"])} for r in rows]
    return holm(paired_stats(keyed, against))


def write_budgets(
    out: Path, rows: list[dict[str, Any]], results: list[PairedResult], against: str
) -> None:
    """budgets.csv (a row per run and budget), budget_stats.csv, and the section of
    table.md that compares at equal compute."""
    with open(out / "budgets.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=BUDGET_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with open(out / "budget_stats.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=STATS_COLUMNS)
        writer.writeheader()
        writer.writerows(r.row() for r in results)
    with open(out / "table.md", "a") as fh:
        fh.write("\n" + budget_table(rows, results, against))


def same_data(out: Path, data: Dataset) -> None:
    """Refuse to resume or extend a study on data other than its runs were trained on (the
    fingerprint in compare.json, or in a run's config.json for studies made before it was
    recorded there): one table never pairs runs of two datasets."""
    began, where = None, None
    setup = out / "compare.json"
    if setup.is_file():
        began, where = RunDir(out).read_json("compare.json").get("data_sha256"), setup
    if began is None:
        for run in sorted((out / "runs").glob("*/config.json")):
            began, where = RunDir(run.parent).read_json("config.json").get("data_fingerprint"), run
            if began is not None:
                break
    if began is not None and began != data.fingerprint:
        raise OutputError(
            f"{data.path}: its content is not the data the study in {out} was run on ({where} "
            f"records another SHA-256; the file changed since); choose another {arg('out')} "
            "for a study of the new data"
        )


def _errors_on_reference_samples(
    rows: list[dict[str, Any]], runs: list[Job], data: Dataset, out: Path
) -> None:
    """Each run's mean error on exactly the test samples the reference and the floor solved,
    for like-for-like ratios (they may cover only part of the test split)."""
    from sciml_grow.training.predictor import Predictor

    subsets = {}
    for stem in ("reference", "floor"):
        ref = read_reference(out, stem)
        subsets[f"rel_l2_on_{stem}_samples"] = torch.tensor(ref["indices"]) if ref else None
    for row, job in zip(rows, runs, strict=True):
        predictor = None
        for key, idx in subsets.items():
            row[key] = None
            if idx is not None:
                predictor = predictor or Predictor.from_run(out / "runs" / job.name)
                pred = predictor(data.x[idx])
                row[key] = evaluate_predictions(pred, data.y[idx], "regression")["rel_l2_mean"]


def _cost_to_reach_reference(
    rows: list[dict[str, Any]], runs: list[Job], out: Path, against: str
) -> None:
    """Each run's FLOPs when its validation loss first reached the best validation loss of
    the reference run of its seed and size (empty where it never did)."""
    for row, job in zip(rows, runs, strict=True):
        ref = RunDir(out / "runs" / Job(against, job.seed, job.train_size).name)
        row["flops_to_reference"] = None
        if ref.finished():
            target = ref.read_json("final.json")["best_val_loss"]
            row["flops_to_reference"] = reach_cost(out / "runs" / job.name, target)


def result_row(run: RunDir) -> dict[str, Any]:
    """One results.csv row from a finished run's files."""
    final = run.read_json("final.json")
    t = final["test"]
    job = Job.from_name(run.path.name)  # a variant's name, where the run is one
    return {
        "strategy": job.strategy if job else final["strategy"],
        "seed": final["seed"],
        "train_size": run.read_json("config.json")["split_sizes"]["train"],
        **{k: t.get(k) for k in ("rel_l2_mean", "rel_l2_median", "mse")},
        **{k: t.get(k) for k in ("accuracy", "cross_entropy")},
        "obs_misfit": final["obs_misfit"],
        "final_depth": final["final_depth"],
        "srl_stages": final["srl_stages"],
        "n_params": final["n_params"],
        "zero_weight_fraction": final["zero_weight_fraction"],
        "insertions": final["insertions"],
        # 1: stopped by the convergence rule, 0: by its budget ("" for runs made before)
        "converged": "" if "converged" not in final else int(final["converged"]),
        "wall_seconds": final["wall_seconds"],
        # what the run cost (runs made before these were counted have none)
        **{k: final.get(k) for k in ("training_flops", "decision_flops", "peak_memory_mb")},
        "inference_seconds_per_sample": final["inference_seconds_per_sample"],
        # a reduced output basis: its modes and its own test error (a reduced network's floor)
        "basis_modes": (final.get("output_basis") or {}).get("modes"),
        "basis_floor": (final.get("output_basis") or {}).get("test_projection_rel_l2"),
    }


def write_results(
    out: Path,
    rows: list[dict[str, Any]],
    results: list[PairedResult] | None = None,
    against: str | None = None,
) -> None:
    """results.csv (a row per run), stats.csv (a row per compared pair) and table.md."""
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if results is not None:
        with open(out / "stats.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=STATS_COLUMNS)
            writer.writeheader()
            writer.writerows(r.row() for r in results)
    (out / "table.md").write_text(
        table(
            rows,
            read_reference(out),
            results,
            against,
            read_linear(out),
            read_reference(out, "floor"),
        )  # fmt: skip
    )


def read_results(path: Path, text: tuple[str, ...] = ("strategy",)) -> list[dict[str, Any]]:
    """A results CSV with its numbers as floats (NaN where empty); ``text`` columns as is."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k, v in r.items():
            if k not in text:
                r[k] = float(v) if v not in ("", "None") else math.nan
    return rows


def read_stats(path: Path) -> list[PairedResult]:
    """stats.csv back as PairedResult rows."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    text = ("strategy", "against", "verdict")
    out = []
    for r in rows:
        values = {k: (v if k in text else float(v) if v not in ("", "None") else math.nan)
                  for k, v in r.items()}  # fmt: skip
        values["n_seeds"] = int(values["n_seeds"])
        values["family_size"] = int(values.get("family_size", 1))  # older files: uncorrected
        out.append(PairedResult(**values))
    return out
