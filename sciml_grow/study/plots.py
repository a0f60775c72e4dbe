"""Figures of a comparison, drawn by the toolkit from its own run files (matplotlib, PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.artist import setp
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.tri import Triangulation
import numpy as np
import torch

from sciml_grow import format as fmt
from sciml_grow.inverse.references import read_reference
from sciml_grow.study.compare import read_results
from sciml_grow.study.plan import Job
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir


def _size(out: Path) -> int | None:
    """The training size the per-run plots show: the largest of a sweep, None otherwise."""
    path = out / "compare.json"
    sizes = json.loads(path.read_text()).get("train_sizes") if path.exists() else None
    if not sizes:
        return None
    return None if None in sizes else max(sizes)


def _runs(out: Path, size: int | None = None) -> dict[str, list[RunDir]]:
    """Finished runs by strategy, of one training size (None: runs without a size)."""
    by: dict[str, list[RunDir]] = {}
    for path in sorted((out / "runs").iterdir()):
        job = Job.from_name(path.name)
        if job and job.train_size == size and (path / "final.json").exists():
            by.setdefault(job.strategy, []).append(RunDir(path))
    return by


def colours(out: Path) -> dict[str, str]:
    """One colour per strategy in every figure of a comparison: by its place in the
    comparison's list of strategies (compare.json), then any other in results.csv."""
    names: list[str] = []
    setup = out / "compare.json"
    if setup.exists():
        names += json.loads(setup.read_text()).get("strategies", [])
    if (out / "results.csv").exists():
        names += [r["strategy"] for r in read_results(out / "results.csv")]
    return {s: f"C{k % 10}" for k, s in enumerate(dict.fromkeys(names))}


def _log_ticks(ax: Any, values: np.ndarray, count: int = 4) -> None:
    """At most ``count`` labelled ticks on a log x axis (matplotlib labels minor ticks too
    where the data span less than a decade, and they overlap)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    ticks = np.geomspace(lo, hi, count) if hi > lo else np.array([lo])
    ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
    ax.minorticks_off()


def _run_path(out: Path, strategy: str, size: int | None, seed: int = 0) -> Path:
    return out / "runs" / Job(strategy, seed, size).name


def learning_curves(out: Path) -> Path:
    """Validation loss per epoch for every strategy (all seeds), growth events marked."""
    return _save(_draw_learning_curves(out), out / "learning_curves.png")


def _draw_learning_curves(out: Path) -> Figure:
    fig, ax = _subplots(figsize=(8, 5))
    colour = colours(out)
    size = _size(out)
    for strategy, runs in _runs(out, size).items():
        color = colour.get(strategy, "k")
        for k, run in enumerate(runs):
            rows = run.read_csv("metrics.csv")
            epochs = [int(r["epoch"]) for r in rows]
            val = [float(r["val_loss"]) for r in rows]
            ax.plot(epochs, val, color=color, lw=1, alpha=0.8, label=strategy if k == 0 else None)
            grown = [
                int(e["epoch"]) for e in run.read_csv("growth_events.csv") if e["inserted"] == "1"
            ]
            ax.plot(grown, [val[g - 1] for g in grown], "v", color=color, ms=5)
    ax.set(
        xlabel="epoch",
        ylabel="validation loss (standardized MSE)",
        yscale="log",
        title="Learning curves (triangles: growth events)" + _of_size(size),
    )
    ax.legend(fontsize=8)
    return fig


def _of_size(size: int | None, sep: str = ", ") -> str:
    """A title's note of the training size a per-run figure shows (a sweep's largest)."""
    return "" if size is None else f"{sep}N = {size} training samples"


def td_sensitivity(out: Path) -> Path | None:
    """Topological-derivative score of every candidate depth at every insertion (td, seed 0)."""
    runs = _runs(out, _size(out)).get("td")
    if not runs:
        return None
    events = [e for e in runs[0].read_csv("growth_events.csv") if e["scores"]]
    if not events:  # say why the figure is empty rather than leave it out
        final = runs[0].read_json("final.json")
        why = final.get("growth_stop") or (
            "growth was never due: see growth.patience, growth.every, growth.min_phase_epochs"
        )
        fig, ax = _subplots(figsize=(7, 2.5))
        ax.axis("off")
        text = f"td (seed {final['seed']}) scored no depth in {final['epochs']} epochs:\n{why}"
        ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
        ax.set_title("TD sensitivity lambda_max(Q_l)")
        return _save(fig, out / "td_sensitivity.png")
    scores = [[float(v) for v in e["scores"].split(";")] for e in events]
    grid = np.full((max(map(len, scores)), len(scores)), np.nan)
    for j, col in enumerate(scores):
        grid[: len(col), j] = col
    fig, ax = _subplots(figsize=(1.2 * len(scores) + 3, 4))
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    for j, e in enumerate(events):
        if e["inserted"] == "1":
            ax.plot(j, int(e["position"]), "r*", ms=12)
    ax.set(
        xticks=range(len(events)),
        xticklabels=[f"ep {e['epoch']}" for e in events],
        yticks=range(grid.shape[0]),
        xlabel="insertion",
        ylabel="candidate position (hidden state l)",
        title=f"TD sensitivity lambda_max(Q_l) (star: chosen)\ntd, seed "
        f"{runs[0].read_json('final.json')['seed']}" + _of_size(_size(out)),
    )
    fig.colorbar(im, ax=ax, label="lambda_max")
    return _save(fig, out / "td_sensitivity.png")


def error_spread(out: Path) -> Path:
    """Test relative L2 error (or accuracy) per strategy: every seed, mean and std; the
    classical reference as a line."""
    return _save(_draw_error_spread(out), out / "errors.png")


def _draw_error_spread(out: Path) -> Figure:
    rows = _rows_of_size(out)
    key, label = _metric(rows)
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    colour = colours(out)
    fig, ax = _subplots(figsize=(1.1 * len(strategies) + 3, 4.5))
    for i, s in enumerate(strategies):
        vals = np.array([r[key] for r in rows if r["strategy"] == s])
        ax.plot(np.full(len(vals), i), vals, "o", alpha=0.6, color=colour.get(s, "k"))
        ax.errorbar(i + 0.15, vals.mean(), yerr=vals.std(), fmt="s", color="k", capsize=4)
    lines = _reference_lines(ax, out, "samples")
    if lines:
        ax.legend()
    ax.set(
        xticks=range(len(strategies)),
        xticklabels=strategies,
        ylabel=label,
        title=f"{label[0].upper()}{label[1:]} per strategy (dots: seeds)"
        + _of_size(int(rows[0]["train_size"]) if rows else None, "\n"),
    )
    setp(ax.get_xticklabels(), rotation=25, ha="right")
    return fig


def _rows_of_size(out: Path) -> list[dict]:
    """results.csv rows of the training size the per-run plots show."""
    rows = read_results(out / "results.csv")
    size = _size(out)
    return rows if size is None else [r for r in rows if r["train_size"] == size]


def _metric(rows: list[dict]) -> tuple[str, str]:
    """The results column that ranks runs, and its axis label."""
    if any(np.isfinite(r.get("accuracy", np.nan)) for r in rows):
        return "accuracy", "test accuracy"
    return "rel_l2_mean", "test relative L2 error"


def fields(out: Path, data_path: Path, n_samples: int = 3, n_best: int = 2) -> Path | None:
    """True field, the best strategies' and the reference's predictions, and their errors on
    the mesh, each row with its colour bars (field values, and |error|)."""
    meta = fmt.read_metadata(data_path)
    grid_shape = meta.grid.shape if meta.grid is not None else None
    if grid_shape is not None and len(grid_shape) == 3:
        return wind_fields(out, data_path)
    fig = _draw_fields(out, data_path, n_samples, n_best)
    return None if fig is None else _save(fig, out / "fields.png")


def _draw_fields(out: Path, data_path: Path, n_samples: int, n_best: int) -> Figure | None:
    meta = fmt.read_metadata(data_path)
    if np.dtype(meta.arrays[fmt.TARGETS][1]).kind in "iu":
        return None  # class labels: no field to draw
    grid_shape = meta.grid.shape if meta.grid is not None else None
    keys = _data_keys(out)
    x_all = fmt.read_samples(data_path, keys["inputs"])
    x_all = x_all.reshape(len(x_all), -1)
    y_all = fmt.read_samples(data_path, keys["targets"])
    mesh = meta.mesh
    if mesh is not None and mesh.cells.shape[1] == 3 and len(mesh.coordinates) == y_all.shape[1]:
        coords, cells = mesh.coordinates, mesh.cells
    elif grid_shape is not None and int(np.prod(grid_shape)) == y_all.shape[1]:
        coords = cells = None  # targets on a uniform grid (x fastest): drawn as images
    else:
        return None
    idx, preds = _estimates(out, data_path, x_all, n_samples, n_best)
    tri = Triangulation(coords[:, 0], coords[:, 1], cells) if coords is not None else None
    cols = 1 + 2 * len(preds)
    fig, axes = _subplots(
        len(idx), cols, figsize=(2.3 * cols + 1.2, 2.3 * len(idx)), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for i, sample in enumerate(idx):
        truth = y_all[sample]
        lim = np.abs(truth).max()
        panels = [("truth", truth, "RdBu_r", lim)]
        for name, pred in preds.items():
            panels.append((name, pred[i], "RdBu_r", lim))
            panels.append((f"|error| {name}", np.abs(pred[i] - truth), "magma", lim))
        drawn = {}
        for ax, (title, values, cmap, vmax) in zip(axes[i], panels, strict=True):
            vmin = 0 if cmap == "magma" else -vmax
            if tri is not None:
                im = ax.tripcolor(tri, values, shading="gouraud", cmap=cmap, vmin=vmin, vmax=vmax)
            else:
                im = ax.imshow(
                    values.reshape(grid_shape),
                    origin="lower",
                    extent=(0, 1, 0, 1),
                    cmap=cmap,
                    vmin=vmin,
                    vmax=vmax,
                )
            drawn[cmap] = im
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
        axes[i][0].set_ylabel(f"test sample {sample}", fontsize=8)
        for cmap, label in (("RdBu_r", "field"), ("magma", "|error|")):
            if cmap in drawn:  # one bar per row and kind: the panels of a row share limits
                fig.colorbar(drawn[cmap], ax=list(axes[i]), shrink=0.8, label=label, pad=0.01)
    ref = read_reference(out)
    fig.suptitle(
        "Target fields: truth and the best strategies (seed 0)"
        + (f" and {ref['label']}" if ref else "")
        + _of_size(_size(out))
    )
    return fig


def _data_keys(out: Path) -> dict[str, str]:
    """Which datasets of the file the comparison's runs map from and to (data.inputs,
    data.targets; the same for every run of a comparison)."""
    first = next(p for p in sorted((out / "runs").iterdir()) if (p / "final.json").exists())
    data = RunDir(first).read_json("config.json")["config"]["data"]
    return {"inputs": data.get("inputs", "inputs"), "targets": data.get("targets", "targets")}


def _estimates(
    out: Path, data_path: Path, x_all: np.ndarray, n_samples: int, n_best: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Test samples to show (those the reference solved, else the first test samples) and the
    estimates of the ``n_best`` strategies (seed 0) and of the reference, by name."""
    rows = _rows_of_size(out)
    size = _size(out)
    means: dict[str, list[float]] = {}
    for r in rows:
        means.setdefault(r["strategy"], []).append(r["rel_l2_mean"])
    best = sorted(means, key=lambda s: np.mean(means[s]))[:n_best]
    ref = read_reference(out)
    if ref:
        idx = np.array(ref["indices"][:n_samples])
    else:
        from sciml_grow.data.dataset import DataConfig, split_indices

        cfg = RunDir(_run_path(out, best[0], size)).read_json("config.json")
        with fmt.open_file(data_path, require_tag=False) as f:
            stored = fmt.read_split(f, data_path)
        data_cfg = DataConfig(**cfg["config"]["data"])
        idx = split_indices(len(x_all), data_cfg, stored)["test"][:n_samples]
    preds = {}
    for s in best:
        p = Predictor.from_run(_run_path(out, s, size))
        preds[s] = p(torch.from_numpy(x_all[idx])).numpy()
    if ref and (out / "reference_fields.npy").exists():  # (a reference kept without its fields)
        preds[ref["label"]] = np.load(out / "reference_fields.npy")[:n_samples]
    return idx, preds


def wind_fields(out: Path, data_path: Path, n_best: int = 1) -> Path:
    """One test sample of a 3-D wind dataset: wind speed draped over the terrain at the lowest
    and a middle grid level (3-D, truth beside the best strategy and the reference), and below
    maps of the lowest level with arrows and the speed error."""
    meta = fmt.read_metadata(data_path)
    x_all = fmt.read_samples(data_path, _data_keys(out)["inputs"])
    gz, gy, gx = meta.grid.shape
    points = meta.grid.points.reshape(gz, gy, gx, 3)
    idx, preds = _estimates(out, data_path, x_all, 1, n_best)
    truth = fmt.read_samples(data_path, fmt.TARGETS, idx[:1])[0]
    ground = meta.mesh.coordinates
    panels = {"truth": truth, **{k: v[0] for k, v in preds.items()}}
    comps = {k: v.reshape(3, gz, gy, gx) for k, v in panels.items()}
    speed = {k: np.linalg.norm(v, axis=0) for k, v in comps.items()}
    vmax = max(float(v.max()) for v in speed.values())
    norm = Normalize(0, vmax)
    err_norm = Normalize(
        0, max(float(np.abs(v[0] - speed["truth"][0]).max()) for v in speed.values())
    )
    cmap = matplotlib.colormaps["viridis"]
    levels = sorted({0, gz // 2})
    n = len(panels)
    fig = Figure(figsize=(4.2 * n, 8.4))
    for j, (name, sp) in enumerate(speed.items()):
        ax = fig.add_subplot(2, n, j + 1, projection="3d")
        for k in levels:
            X, Y, Z = points[k, :, :, 0], points[k, :, :, 1], points[k, :, :, 2]
            ax.plot_surface(X, Y, Z, facecolors=cmap(norm(sp[k])), shade=False, lw=0)
        ax.set(xlabel="x (m)", ylabel="y (m)", zlabel="z (m)", zlim=(0, ground[:, 2].max()))
        ax.view_init(elev=28, azim=-60)
        ax.set_title(f"{name}: speed at levels {', '.join(str(k) for k in levels)}", fontsize=9)
        ax2 = fig.add_subplot(2, n, n + j + 1)
        X, Y = points[0, :, :, 0], points[0, :, :, 1]
        if name == "truth":
            im = ax2.pcolormesh(X, Y, sp[0], cmap=cmap, norm=norm, shading="auto")
            u, v = comps[name][0, 0], comps[name][1, 0]
            step = max(1, gx // 12)
            sl = (slice(None, None, step), slice(None, None, step))
            ax2.quiver(X[sl], Y[sl], u[sl], v[sl], color="w", scale=vmax * 14, width=0.004)
            ax2.set_title("truth: lowest level, speed and direction", fontsize=9)
            fig.colorbar(im, ax=ax2, label="speed (m/s)")
        else:
            err = np.abs(sp[0] - speed["truth"][0])
            im = ax2.pcolormesh(X, Y, err, cmap="magma", norm=err_norm, shading="auto")
            ax2.set_title(f"|speed error| {name}, lowest level", fontsize=9)
            fig.colorbar(im, ax=ax2, label="m/s")
        ax2.set_aspect("equal")
    fig.suptitle(f"Wind over terrain, test sample {int(idx[0])} (networks: seed 0)")
    return _save(fig, out / "fields.png")


def transfer_curves(out: Path) -> Path:
    """Test error (or accuracy) against the number of target samples, per fine-tuning method
    (mean and std over seeds), with the untuned pretrained network as a line."""
    import csv
    import json

    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    accuracy = rows[0]["accuracy"] not in ("", "None")
    key = "accuracy" if accuracy else "rel_l2_mean"
    fig, ax = _subplots(figsize=(7, 4.5))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for i, m in enumerate(methods):
        sizes = sorted({int(r["samples"]) for r in rows if r["method"] == m})
        vals = [
            [float(r[key]) for r in rows if r["method"] == m and int(r["samples"]) == n]
            for n in sizes
        ]
        mean, std = np.array([np.mean(v) for v in vals]), np.array([np.std(v) for v in vals])
        ax.errorbar(
            np.array(sizes) * (1 + 0.02 * i),
            mean,
            yerr=std,
            marker="o",
            capsize=3,
            label=m,
            color=f"C{i}",
        )
    zero = json.loads((out / "zero_shot.json").read_text())["score"]
    ax.axhline(zero, color="gray", ls="--", label="pretrained, no tuning")
    ax.set(
        xscale="log",
        xlabel="target training samples N (and N for validation)",
        ylabel="test accuracy" if accuracy else "test relative L2 error",
        title="Fine-tuning with few target samples",
    )
    ax.legend(fontsize=8)
    return _save(fig, out / "transfer.png")


def sweep_curves(out: Path) -> Path | None:
    """Test error (or error rate) against the training-set size per strategy: mean over the
    paired seeds with its 95 % bootstrap band; the classical reference as a line."""
    fig = _draw_sweep(out)
    return None if fig is None else _save(fig, out / "sweep.png")


def _draw_sweep(out: Path) -> Figure | None:
    rows = read_results(out / "results.csv")
    sizes = sorted({int(r["train_size"]) for r in rows})
    if len(sizes) < 2:
        return None
    classes = _metric(rows)[0] == "accuracy"
    colour = colours(out)
    fig, ax = _subplots(figsize=(7.5, 4.8))
    _banded(ax, rows, "train_size", sizes, colour)
    if not classes:
        _reference_lines(ax, out, "test samples")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set(
        xlabel="training samples",
        ylabel="test error rate" if classes else "test relative L2 error",
        title="Test error against training-set size (bands: 95 % bootstrap interval)",
    )
    ax.legend(fontsize=8)
    return fig


def error_vs_cost(out: Path) -> Path | None:
    """Test error against training cost (training + decision FLOPs, log scale): one dot per
    seed, per strategy its mean with the 95 % bootstrap interval of the mean error; a panel
    per training-set size. What growing buys against what it costs, beside a search."""
    fig = _draw_cost(out)
    return None if fig is None else _save(fig, out / "cost.png")


def _draw_cost(out: Path) -> Figure | None:
    if (out / "budgets.csv").exists():
        return _draw_budgets(out)
    return _draw_cost_dots(out)


def _draw_budgets(out: Path) -> Figure:
    """Test error against compute: per strategy the mean over seeds at every budget with its
    95 % bootstrap band, a panel per training size, the references as lines."""
    rows = read_results(out / "budgets.csv", text=("strategy", "budget"))
    sizes = sorted({int(r["train_size"]) for r in rows})
    colour = colours(out)
    fig, axes = _subplots(1, len(sizes), figsize=(5.2 * len(sizes) + 1.5, 4.6), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        mine = [r for r in rows if int(r["train_size"]) == n]
        budgets = sorted({r["x"] for r in mine})
        _banded(ax, mine, "x", budgets, colour)
        _reference_lines(ax, out, "test samples")
        ax.set_xscale("log")
        if len(budgets) <= 5:  # a tick at every budget
            ax.set_xticks(budgets, [f"{b:.3g}" for b in budgets])
            ax.minorticks_off()
        else:
            _log_ticks(ax, np.array(budgets))
        shares = not mine[0]["budget"].endswith("FLOPs")  # "0.3x baseline"
        what = "share of the reference's FLOPs" if shares else "training + decision FLOPs"
        ax.set(xlabel=f"compute budget ({what})", ylabel="test error", title=f"N = {n}")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.suptitle("Test error against compute (best network within each budget; bands: 95 %)")
    return fig


def _draw_cost_dots(out: Path) -> Figure | None:
    from sciml_grow.study.stats import error_of, mean_interval

    rows = [
        r
        for r in read_results(out / "results.csv")
        if np.isfinite(r.get("training_flops", np.nan))
        and np.isfinite(r.get("decision_flops", np.nan))
    ]
    if not rows:
        return None
    sizes = sorted({int(r["train_size"]) for r in rows})
    classes = _metric(rows)[0] == "accuracy"
    fig, axes = _subplots(1, len(sizes), figsize=(5.2 * len(sizes) + 1.5, 4.6), squeeze=False)
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    colour = colours(out)
    for ax, n in zip(axes[0], sizes, strict=True):
        spent = []
        for s in strategies:
            mine = [r for r in rows if r["strategy"] == s and int(r["train_size"]) == n]
            if not mine:
                continue
            cost = np.array([r["training_flops"] + r["decision_flops"] for r in mine])
            spent.append(cost)
            err = np.array([error_of(r) for r in mine])
            ax.plot(cost, err, "o", color=colour.get(s, "k"), alpha=0.35, ms=4)
            lo, hi = mean_interval(err, n_resamples=2000)
            ax.errorbar(
                cost.mean(), err.mean(), yerr=[[err.mean() - lo], [hi - err.mean()]],
                fmt="s", color=colour.get(s, "k"), capsize=4, label=s, mec="k",
            )  # fmt: skip
        ax.set_xscale("log")
        _log_ticks(ax, np.concatenate(spent))
        ax.set(
            xlabel="training + decision FLOPs",
            ylabel="test error rate" if classes else "test relative L2 error",
            title=f"N = {n}",
        )
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.suptitle("Test error against cost (dots: seeds; squares: mean, 95 % interval)")
    return fig


def _banded(ax: Any, rows: list[dict], key: str, xs: list, colour: dict[str, str]) -> None:
    """Per strategy, the mean error over seeds at every value ``xs`` of ``key`` (a training
    size, a budget) as a line, with the 95 % bootstrap interval of the mean as a band."""
    from sciml_grow.study.stats import error_of, mean_interval

    for s in dict.fromkeys(r["strategy"] for r in rows):
        mean, low, high = [], [], []
        for x in xs:
            e = np.array([error_of(r) for r in rows if r["strategy"] == s and r[key] == x])
            lo, hi = mean_interval(e, n_resamples=2000)
            mean.append(e.mean())
            low.append(lo)
            high.append(hi)
        ax.plot(xs, mean, "o-", color=colour.get(s, "k"), label=s, ms=4)
        ax.fill_between(xs, low, high, color=colour.get(s, "k"), alpha=0.15)


def _reference_lines(ax: Any, out: Path, what: str) -> int:
    """The classical reference (dashed) and the Bayes floor (dotted) as horizontal lines."""
    drawn = 0
    for stem, style in (("reference", "--"), ("floor", ":")):
        ref = read_reference(out, stem)
        if ref:
            label = f"{ref['label']} ({len(ref['indices'])} {what})"
            ax.axhline(
                ref["rel_l2_mean"], color="gray" if drawn == 0 else "k", ls=style, label=label
            )
            drawn += 1
    return drawn


def all_plots(out: Path, data_path: Path) -> list[Path]:
    """Every figure of a comparison (per-run figures at the largest size of a sweep)."""
    made = [
        sweep_curves(out),
        error_vs_cost(out),
        learning_curves(out),
        td_sensitivity(out),
        error_spread(out),
        fields(out, data_path),
    ]
    return [p for p in made if p is not None]


def _subplots(*args: int, figsize: tuple[float, float], **kw: Any) -> tuple[Figure, Any]:
    """A figure and its axes without pyplot: drawing never touches the user's backend."""
    fig = Figure(figsize=figsize, layout=kw.pop("layout", None))
    return fig, fig.subplots(*args, **kw)


def _save(fig: Figure, path: Path) -> Path:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
