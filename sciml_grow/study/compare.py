"""`sciml-grow compare`: every (strategy, seed[, training size]) as an independent run, side by
side, and paired statistics that say which differences are real.

Paired by construction: seed k is the same experiment for every strategy. All runs share the
file's train / validation / test split (``data.split_seed``) and the epoch budget; seed k gives
every strategy
- the same training and validation samples: when the training set is a subset (a training-size
  sweep, or ``data.max_train``), seed k draws it (``data.subset_seed = k``, unless the config
  fixes it), the same for every strategy; the test split never moves;
- the same starting network: every strategy that starts from ``model.initial_blocks`` blocks
  (td, random-1, random-2, net2deeper, forward-thinking) begins from identical weights (torch
  seeded by k before the network is built); layerwise begins from its own smaller network, and
  the baseline, the td run's final architecture of the same seed and size trained from scratch,
  from weights seeded by k;
- the same minibatch order (a generator seeded by k draws the batches, independent of growth).
What differs is the strategy alone, so the per-seed test errors are paired and their
differences go to :mod:`sciml_grow.study.stats` (``stats.csv``, verdicts in ``table.md``).

Runs are spread over MPI ranks (each run on one thread, so results do not depend on the rank
count); finished runs are skipped and interrupted ones resumed. Rank 0 then writes
``results.csv``, ``stats.csv``, ``table.md`` and the plots; the classical reference row (MAP,
POD; see :mod:`sciml_grow.inverse.references`) comes from ``reference.json``, and the linear
reference (ridge regression fitted on each run's own training and validation samples, so its
test errors pair with the networks' seed by seed) from ``linear.json``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import json
import math
from pathlib import Path
import re
import statistics
import time
from typing import Any

import numpy as np
import torch

from sciml_grow.config import from_dict
from sciml_grow.data.dataset import Dataset, relative_errors
from sciml_grow.inverse.references import Ridge, read_reference, run_floor, run_reference
from sciml_grow.outputs import atomic_write_bytes, json_text
from sciml_grow.study import tables
from sciml_grow.study.stats import MIN_SEEDS_FOR_VERDICT, STATS_COLUMNS, PairedResult, iqm, paired
from sciml_grow.training.config import TrainConfig
from sciml_grow.training.evaluation import evaluate_predictions, headline
from sciml_grow.training.lifecycle import train_or_resume
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
    "wall_seconds",
    "inference_seconds_per_sample",
    "rel_l2_on_reference_samples",
    "rel_l2_on_floor_samples",
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
LINEAR = "linear (ridge)"  # the linear reference's name in tables and statistics


RUN_NAME = re.compile(r"^(?P<strategy>.+?)(?:-n(?P<size>\d+))?-seed(?P<seed>\d+)$")


@dataclass(frozen=True)
class Job:
    strategy: str
    seed: int
    train_size: int | None = None  # None: the whole training split

    @property
    def name(self) -> str:
        """The run directory's name: ``<strategy>[-n<size>]-seed<k>``."""
        size = "" if self.train_size is None else f"-n{self.train_size}"
        return f"{self.strategy}{size}-seed{self.seed}"

    @classmethod
    def from_name(cls, name: str) -> Job | None:
        """The job a run directory's name stands for (None for any other name)."""
        m = RUN_NAME.match(name)
        if m is None:
            return None
        size = None if m["size"] is None else int(m["size"])
        return cls(m["strategy"], int(m["seed"]), size)


def jobs(
    strategies: list[str], seeds: int, sizes: list[int | None] | None = None
) -> list[list[Job]]:
    """Waves of jobs: the baseline needs the finished td run of its seed, so it runs later."""
    sizes = sizes or [None]
    first = [
        Job(s, k, n) for n in sizes for s in strategies if s != "baseline" for k in range(seeds)
    ]
    later = (
        [Job("baseline", k, n) for n in sizes for k in range(seeds)]
        if "baseline" in strategies
        else []
    )
    return [w for w in (first, later) if w]


def validation_size(train_size: int, val_fraction: float) -> int:
    """Validation samples for a training subset: the split's own ratio, at least 5."""
    return max(5, round(train_size * val_fraction / (1 - val_fraction)))


def job_config(job: Job, base: dict[str, Any]) -> dict[str, Any]:
    """The run's raw config: the base config, the strategy and seed, and its training subset
    (seed k draws it, the same for every strategy)."""
    raw = {**base, "strategy": job.strategy, "seed": job.seed}
    data = dict(base.get("data", {}))
    if job.train_size is not None:
        data["max_train"] = job.train_size
        if "max_val" not in data:  # validation scales with the training set
            fraction = from_dict(TrainConfig, {"data": data}).data.val_fraction
            data["max_val"] = validation_size(job.train_size, fraction)
    if data.get("max_train") is not None and "subset_seed" not in data:
        data["subset_seed"] = job.seed
    raw["data"] = data
    return raw


def run_job(job: Job, data: Dataset, base: dict[str, Any], out: Path, td: bool) -> dict:
    """Train (or resume, or just read) one run; returns its final.json."""
    run = RunDir(out / "runs" / job.name)
    if run.finished():
        return run.read_json("final.json")
    cfg = from_dict(TrainConfig, job_config(job, base))
    if job.strategy == "baseline" and td and cfg.baseline_blocks is None:
        cfg.baseline_from = str(out / "runs" / Job("td", job.seed, job.train_size).name)
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
) -> list[dict[str, Any]]:
    """Run every (strategy, seed, training size) and the classical reference; rank 0 writes
    results, statistics and the table, and returns the result rows."""
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = from_dict(TrainConfig, {**base, "strategy": strategies[0]})  # validates the config
    data = Dataset(data_path, cfg.data)
    against = against or default_reference(strategies)
    if rank == 0:  # what was compared, beside the results
        setup = {
            "data": str(Path(data_path).resolve()),
            "strategies": strategies,
            "seeds": seeds,
            "train_sizes": train_sizes or [None],
            "against": against,
            "all_pairs": all_pairs,
            "reference_samples": reference_samples,
            "floor_samples": floor_samples,
            "config": base,
        }
        atomic_write_bytes(out / "compare.json", json_text(setup).encode())
    torch.set_num_threads(1)  # the same arithmetic on any number of ranks
    waves = jobs(strategies, seeds, train_sizes)
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
    linear = linear_reference(data, base, all_jobs, out)
    atomic_write_bytes(out / "linear.json", json_text(linear).encode())
    results = paired_stats(rows + linear, against, all_pairs)
    write_results(out, rows, results, against)
    return rows


def default_reference(strategies: list[str]) -> str:
    """What every strategy is compared with unless told: the baseline, else the first."""
    return "baseline" if "baseline" in strategies else strategies[0]


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


def error_of(row: dict[str, Any]) -> float:
    """The error a row is ranked by: the test relative L2 error, or 1 - accuracy."""
    accuracy = row.get("accuracy")
    if accuracy is not None and not _nan(accuracy):
        return 1.0 - float(accuracy)
    return float(row["rel_l2_mean"])


def paired_stats(
    rows: list[dict[str, Any]], against: str, all_pairs: bool = False
) -> list[PairedResult]:
    """Every strategy against ``against`` (and, with ``all_pairs``, every pair), per training
    size, on the seeds both ran."""
    out: list[PairedResult] = []
    for n in dict.fromkeys(r["train_size"] for r in rows):
        errors: dict[str, dict[int, float]] = {}
        for r in rows:
            if r["train_size"] == n:
                errors.setdefault(r["strategy"], {})[int(r["seed"])] = error_of(r)
        names = list(errors)
        pairs = [(a, against) for a in names if a != against and against in errors]
        if all_pairs:
            others = [a for a in names if a != against]
            pairs += [(a, b) for i, a in enumerate(others) for b in others[i + 1 :]]
        for a, b in pairs:
            seeds = sorted(set(errors[a]) & set(errors[b]))
            ea = np.array([errors[a][k] for k in seeds])
            eb = np.array([errors[b][k] for k in seeds])
            out.append(paired(ea, eb, a, b, n))
    return out


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


def result_row(run: RunDir) -> dict[str, Any]:
    """One results.csv row from a finished run's files."""
    final = run.read_json("final.json")
    t = final["test"]
    return {
        "strategy": final["strategy"],
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
        "wall_seconds": final["wall_seconds"],
        "inference_seconds_per_sample": final["inference_seconds_per_sample"],
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


def read_results(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k, v in r.items():
            if k != "strategy":
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
        out.append(PairedResult(**values))
    return out


def table(
    rows: list[dict[str, Any]],
    ref: dict[str, Any] | None = None,
    results: list[PairedResult] | None = None,
    against: str | None = None,
    linear: list[dict[str, Any]] | None = None,
    floor: dict[str, Any] | None = None,
) -> str:
    """Markdown: per training size, one row per strategy with mean ± std and IQM over seeds,
    the paired difference against ``against`` with its 95 % interval and verdict, and the
    classical reference's ratios; the ``linear`` reference's rows after the strategies (never
    the best: it is what the networks should beat); with a ``floor`` (posterior means by MCMC)
    its row and a column "error / floor"; a sweep starts with a summary over sizes."""
    sizes = list(dict.fromkeys(r["train_size"] for r in rows))
    against = against or default_reference(list(dict.fromkeys(r["strategy"] for r in rows)))
    rows = rows + [r for r in linear or [] if r["train_size"] in sizes]
    if results is None:
        results = paired_stats(rows, against)
    if len(sizes) == 1:
        return _size_table(rows, ref, results, against, floor)
    parts = [_sweep_summary(rows, results, against, sizes)]
    for n in sizes:
        mine = [r for r in rows if r["train_size"] == n]
        parts.append(f"### {int(n)} training samples\n")
        mine_results = [p for p in results if p.train_size == n]
        parts.append(_size_table(mine, ref, mine_results, against, floor))
    return "\n".join(parts)


def _size_table(
    rows: list[dict[str, Any]],
    ref: dict[str, Any] | None,
    results: list[PairedResult],
    against: str,
    floor: dict[str, Any] | None = None,
) -> str:
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    classes = any(not _nan(r.get("accuracy")) and r.get("accuracy") is not None for r in rows)
    columns = CLASS_TABLE if classes else TABLE
    stats: dict[str, dict[str, tuple[float, float]]] = {}
    for s in strategies:
        mine = [r for r in rows if r["strategy"] == s]
        stats[s] = {}
        extra = [
            ("inference_seconds_per_sample", "", ""),
            ("rel_l2_on_reference_samples", "", ""),
            ("rel_l2_on_floor_samples", "", ""),
        ]
        for key, _, _ in columns + extra:
            vals = [float(r[key]) for r in mine if r.get(key) is not None and not _nan(r[key])]
            mean = statistics.fmean(vals) if vals else math.nan
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            stats[s][key] = (mean, std)
    versus = {p.strategy: p for p in results if p.against == against}
    errors = {s: [error_of(r) for r in rows if r["strategy"] == s] for s in strategies}
    networks = [s for s in strategies if s != LINEAR]
    best, best_line = resolved_best([r for r in rows if r["strategy"] != LINEAR], networks)
    seeds = len({r["seed"] for r in rows})
    metric = columns[0]
    head = ["strategy", metric[1], "IQM", f"vs {against} (95 % CI)", "verdict"]
    head += [h for _, h, _ in columns[1:]]
    short = ref.get("short", ref["label"]) if ref else ""
    if ref:
        head += [f"error / {short}", f"inference time / {short}"]
    if floor:
        head.append("error / floor")
    lines = tables.header(head)
    for s in strategies:
        mean, std = stats[s][metric[0]]
        text = metric[2].format(mean) + (f" ± {metric[2].format(std)}" if seeds > 1 else "")
        cells = [s, f"**{text}**" if s == best else text]
        score = [1 - e for e in errors[s]] if classes else errors[s]
        cells.append(metric[2].format(iqm(score)))
        cells += _versus_cells(versus.get(s), statistics.fmean(errors.get(against, [math.nan])))
        for key, _, fmt in columns[1:]:
            mean, std = stats[s][key]
            if math.isnan(mean):  # e.g. no forward operator for this problem
                cells.append("n/a")
                continue
            cells.append(fmt.format(mean) + (f" ± {fmt.format(std)}" if seeds > 1 else ""))
        if ref:
            error = stats[s]["rel_l2_on_reference_samples"][0] / ref["rel_l2_mean"]
            ratio = stats[s]["inference_seconds_per_sample"][0] / ref["seconds_per_sample"]
            cells += [f"{error:.3f}", f"{ratio:.1e}"]
        if floor:
            cells.append(f"{stats[s]['rel_l2_on_floor_samples'][0] / floor['rel_l2_mean']:.3f}")
        lines.append(tables.row(cells))
    notes = []
    for r in (ref, floor):
        if not r:
            continue
        cells = [r["label"], f"{r['rel_l2_mean']:.4f} ± {r['rel_l2_std']:.4f}"]
        ratios = (["1", "1"] if r is ref else ["", ""]) if ref else []
        if floor:
            ratios.append(_ratio_on(r, floor))
        cells += [""] * (len(head) - len(cells) - len(ratios)) + ratios
        lines.append(tables.row(cells))
        n = len(r["indices"])
        notes.append(
            f"{r['label']}: {n} test samples, {r['seconds_per_sample']:.3g} s per sample "
            f"(± is the spread over samples); error / {r.get('short', r['label'])} compares "
            "mean errors on those same samples."
        )
    if floor:
        notes.append(_floor_note(floor))
    if notes:
        lines += ["", *notes]
    lines.append("")
    what = "test error rate" if classes else "test error"
    misfit = (
        ""
        if classes
        else " Obs. misfit: noise-weighted mean squared misfit of the re-simulated "
        "observations (1 = noise level)."
    )
    lines.append(
        f"Mean ± std and interquartile mean (IQM) over {seeds} paired seeds. vs {against}: mean "
        f"paired difference of the {what} (strategy - {against}), relative to {against}'s mean, "
        "with its 95 % bootstrap interval; a verdict needs the interval to exclude 0 and the "
        f"Wilcoxon signed-rank p < 0.05.{misfit}"
    )
    identical = [s for s, p in versus.items() if p.identical]
    if identical:
        lines.append(f"Identical to {against} in every seed: {', '.join(identical)}.")
    widths = [p.half_width for p in versus.values() if not p.identical]
    if widths and seeds < MIN_SEEDS_FOR_VERDICT:
        lines.append(
            f"With {seeds} seeds no verdict is possible: the signed-rank test's smallest p-value "
            f"is 2/2^{seeds} = {2 / 2**seeds:.2g}; use at least {MIN_SEEDS_FOR_VERDICT} seeds."
        )
    elif widths:
        base = statistics.fmean(errors.get(against, [math.nan]))
        w = statistics.median(widths)
        lines.append(
            f"Resolvable here: differences larger than about {w:.3g} ({100 * w / base:.1f} % of "
            f"{against}'s {what}; median interval half-width); smaller ones need more seeds."
        )
    lines.append(best_line)
    return "\n".join(lines) + "\n"


def _ratio_on(r: dict[str, Any], floor: dict[str, Any]) -> str:
    """``r``'s mean error on the floor's samples over the floor's ("" if it lacks some)."""
    if r is floor:
        return "1"
    errors = dict(zip(r["indices"], r.get("rel_l2", []), strict=False))
    if not all(i in errors for i in floor["indices"]):
        return ""
    return f"{statistics.fmean(errors[i] for i in floor['indices']) / floor['rel_l2_mean']:.3f}"


def _floor_note(floor: dict[str, Any]) -> str:
    """What the floor is and whether its chains converged."""
    d = floor.get("details", {})
    per = d.get("per_rank", [])
    rhat = max((x for p in per for x in p.get("rhat_max", [])), default=math.nan)
    ess = min((x for p in per for x in p.get("ess_min", [])), default=math.nan)
    mcmc = d.get("mcmc", {})
    state = "all converged" if d.get("all_converged") else "NOT all converged"
    return (
        "Floor: the posterior mean E[m | y] (no estimator has a lower mean squared error), by "
        f"HMC, {mcmc.get('chains', '?')} chains per sample; {state} (bar: R-hat < "
        f"{mcmc.get('rhat', '?')}, ESS >= {mcmc.get('ess', '?')}; worst here: R-hat "
        f"{rhat:.4f}, ESS {ess:.0f})."
    )


def _versus_cells(p: PairedResult | None, base: float) -> list[str]:
    if p is None:
        return ["", ""]
    return [
        p.relative_text(base),
        f"{p.verdict} (p = {p.p_value:.2g}, P(better) = {p.p_improve:.2f})",
    ]


def resolved_best(rows: list[dict[str, Any]], strategies: list[str]) -> tuple[str | None, str]:
    """The strategy with the lowest mean error, if it is lower than every other at 95 %
    (paired), and a sentence saying so or saying what could not be resolved."""
    errors = {
        s: {int(r["seed"]): error_of(r) for r in rows if r["strategy"] == s} for s in strategies
    }
    means = {s: statistics.fmean(e.values()) for s, e in errors.items()}
    top = min(means, key=means.get)
    if len(strategies) < 2:
        return None, ""
    tied = [s for s in strategies if errors[s] == errors[top]]
    if len(tied) > 1:
        names = ", ".join(tied[:-1]) + f" and {tied[-1]}"
        return None, f"No strategy is best at 95 %: {names} tie (identical errors)."
    unresolved = []
    for s in strategies:
        if s == top:
            continue
        seeds = sorted(set(errors[top]) & set(errors[s]))
        p = paired(
            np.array([errors[top][k] for k in seeds]), np.array([errors[s][k] for k in seeds])
        )
        if p.verdict != "better":
            unresolved.append((s, p))
    if not unresolved:
        return top, f"Best: **{top}**, lower than every other strategy at 95 % (bold)."
    s, p = unresolved[0]
    return None, (
        f"No strategy is best at 95 %: {top} has the lowest mean, but {top} - {s} = "
        f"{p.relative_text(means[s])} is not resolved"
        + (f" (nor against {len(unresolved) - 1} more)" if len(unresolved) > 1 else "")
        + "."
    )


def _sweep_summary(
    rows: list[dict[str, Any]], results: list[PairedResult], against: str, sizes: list
) -> str:
    """Mean test error per strategy and training size, with the verdict against ``against``."""
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    verdict = {(p.strategy, p.train_size): p.verdict for p in results if p.against == against}
    head = ["strategy", *(f"N = {int(n)}" for n in sizes)]
    lines = tables.header(head)
    for s in strategies:
        cells = [s]
        for n in sizes:
            e = [error_of(r) for r in rows if r["strategy"] == s and r["train_size"] == n]
            v = verdict.get((s, n), "")
            note = "" if v in ("", "no difference") else f" ({v})"
            cells.append(f"{statistics.fmean(e):.4f}{note}" if e else "")
        lines.append(tables.row(cells))
    lines += [
        "",
        f"Mean test error (classification: error rate) over paired seeds per training-set size "
        f"N; (better)/(worse): resolved at 95 % against {against} (see each size below).",
        "",
    ]
    return "\n".join(lines)


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)
