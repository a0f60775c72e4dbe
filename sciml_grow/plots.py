"""Figures of a comparison, drawn by the toolkit from its own run files (matplotlib, PNG)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.tri import Triangulation  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from sciml_grow.compare import read_results  # noqa: E402
from sciml_grow.h5format import open_dataset  # noqa: E402
from sciml_grow.predict import Predictor  # noqa: E402
from sciml_grow.rundir import RunDir  # noqa: E402


def _runs(out: Path) -> dict[str, list[RunDir]]:
    by: dict[str, list[RunDir]] = {}
    for path in sorted((out / "runs").iterdir()):
        if (path / "final.json").exists():
            by.setdefault(path.name.rsplit("-seed", 1)[0], []).append(RunDir(path))
    return by


def learning_curves(out: Path) -> Path:
    """Validation loss per epoch for every strategy (all seeds), growth events marked."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (strategy, runs) in enumerate(_runs(out).items()):
        color = f"C{i}"
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
        title="Learning curves (triangles: growth events)",
    )
    ax.legend(fontsize=8)
    return _save(fig, out / "learning_curves.png")


def td_sensitivity(out: Path) -> Path | None:
    """Topological-derivative score of every candidate depth at every insertion (td, seed 0)."""
    runs = _runs(out).get("td")
    if not runs:
        return None
    events = [e for e in runs[0].read_csv("growth_events.csv") if e["scores"]]
    if not events:
        return None
    scores = [[float(v) for v in e["scores"].split(";")] for e in events]
    grid = np.full((max(map(len, scores)), len(scores)), np.nan)
    for j, col in enumerate(scores):
        grid[: len(col), j] = col
    fig, ax = plt.subplots(figsize=(1.2 * len(scores) + 3, 4))
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
        title="TD sensitivity lambda_max(Q_l) (star: chosen)",
    )
    fig.colorbar(im, ax=ax)
    return _save(fig, out / "td_sensitivity.png")


def error_spread(out: Path) -> Path:
    """Test relative L2 error per strategy: every seed, mean and std; MAP as a line."""
    rows = read_results(out / "results.csv")
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.1 * len(strategies) + 3, 4.5))
    for i, s in enumerate(strategies):
        vals = np.array([r["rel_l2_mean"] for r in rows if r["strategy"] == s])
        ax.plot(np.full(len(vals), i), vals, "o", alpha=0.6, color=f"C{i}")
        ax.errorbar(i + 0.15, vals.mean(), yerr=vals.std(), fmt="s", color="k", capsize=4)
    if (out / "map.json").exists():
        mapref = json.loads((out / "map.json").read_text())
        n_map = len(mapref["indices"])
        ax.axhline(mapref["rel_l2_mean"], color="gray", ls="--", label=f"MAP ({n_map} samples)")
        ax.legend()
    ax.set(
        xticks=range(len(strategies)),
        xticklabels=strategies,
        ylabel="test relative L2 error",
        title="Error per strategy (dots: seeds)",
    )
    plt.setp(ax.get_xticklabels(), rotation=25, ha="right")
    return _save(fig, out / "errors.png")


def fields(out: Path, data_path: Path, n_samples: int = 3, n_best: int = 2) -> Path | None:
    """True field, the best strategies' and MAP's predictions, and their errors on the mesh."""
    with open_dataset(data_path, require_tag=False) as f:
        x_all, y_all = f["inputs"][()], f["targets"][()]
        grid = int(f["grid"].attrs["size"]) if "grid" in f else 0
        on_mesh = "mesh" in f and f["mesh/cells"].shape[1] == 3
        if on_mesh and f["mesh/coordinates"].shape[0] == y_all.shape[1]:
            coords, cells = f["mesh/coordinates"][()], f["mesh/cells"][()]
        elif grid * grid == y_all.shape[1]:
            coords = cells = None  # targets on a uniform grid (x fastest): drawn as images
        else:
            return None
    rows = read_results(out / "results.csv")
    means = {}
    for r in rows:
        means.setdefault(r["strategy"], []).append(r["rel_l2_mean"])
    best = sorted(means, key=lambda s: np.mean(means[s]))[:n_best]
    map_path = out / "map.json"
    if map_path.exists():
        idx = np.array(json.loads(map_path.read_text())["indices"][:n_samples])
        map_fields = np.load(out / "map_fields.npy")[:n_samples]
    else:
        cfg = RunDir(out / "runs" / f"{best[0]}-seed0").read_json("config.json")
        from sciml_grow.data import DataConfig, split_indices

        idx = split_indices(len(x_all), DataConfig(**cfg["config"]["data"]))["test"][:n_samples]
        map_fields = None
    preds = {}
    for s in best:
        p = Predictor.from_run(out / "runs" / f"{s}-seed0")
        preds[s] = p(torch.from_numpy(x_all[idx])).numpy()
    if map_fields is not None:
        preds["MAP"] = map_fields
    tri = Triangulation(coords[:, 0], coords[:, 1], cells) if coords is not None else None
    cols = 1 + 2 * len(preds)
    fig, axes = plt.subplots(len(idx), cols, figsize=(2.3 * cols, 2.3 * len(idx)), squeeze=False)
    for i, sample in enumerate(idx):
        truth = y_all[sample]
        lim = np.abs(truth).max()
        panels = [("truth", truth, "RdBu_r", lim)]
        for name, pred in preds.items():
            panels.append((name, pred[i], "RdBu_r", lim))
            panels.append((f"|error| {name}", np.abs(pred[i] - truth), "magma", lim))
        for ax, (title, values, cmap, vmax) in zip(axes[i], panels, strict=True):
            vmin = 0 if cmap == "magma" else -vmax
            if tri is not None:
                ax.tripcolor(tri, values, shading="gouraud", cmap=cmap, vmin=vmin, vmax=vmax)
            else:
                ax.imshow(
                    values.reshape(grid, grid),
                    origin="lower",
                    extent=(0, 1, 0, 1),
                    cmap=cmap,
                    vmin=vmin,
                    vmax=vmax,
                )
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
        axes[i][0].set_ylabel(f"test sample {sample}", fontsize=8)
    fig.suptitle(
        "Target fields: truth and the best strategies (seed 0)"
        + (" and MAP" if "MAP" in preds else "")
    )
    return _save(fig, out / "fields.png")


def all_plots(out: Path, data_path: Path) -> list[Path]:
    made = [learning_curves(out), td_sensitivity(out), error_spread(out), fields(out, data_path)]
    return [p for p in made if p is not None]


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
