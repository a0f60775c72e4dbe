"""Human summary of a dataset file (``sciml-grow info``)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from sciml_grow.format import DatasetError, attr_json, check_format


def _stats(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "no values yet"
    return (
        f"mean {finite.mean():.4g}  std {finite.std():.4g}  "
        f"min {finite.min():.4g}  max {finite.max():.4g}"
    )


def _attrs_line(group: h5py.Group, skip: tuple[str, ...] = ()) -> str:
    items = []
    for key, value in sorted(group.attrs.items()):
        if key in skip:
            continue
        if isinstance(value, float | np.floating):
            value = f"{value:.6g}"
        items.append(f"{key}={value}")
    return ", ".join(items)


def describe(path: str | Path) -> str:
    """Problem, sizes, completeness, noise, prior, versions and statistics of a dataset."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r", locking=False)  # never blocks a generator writing it
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged") from None
    with f:
        check_format(f, path)
        try:
            return "\n".join(_lines(f, path))
        except (KeyError, TypeError, ValueError) as exc:  # an attribute edited by hand
            raise DatasetError(f"{path}: damaged metadata ({exc})") from None


def _lines(f: h5py.File, path: Path) -> list[str]:
    """The summary's lines (KeyError etc. where the file's metadata was damaged)."""
    n = int(f.attrs["n_samples"])
    done = f["samples/done"][()].astype(bool)
    lines = [
        f"file        {path}",
        f"problem     {f.attrs['problem']}  ({f.attrs.get('description', '')})",
        f"format      {f.attrs['format']} v{int(f.attrs['format_version'])}",
        f"samples     {n}  seed {int(f.attrs['seed'])}  "
        + (
            "complete"
            if f.attrs["complete"]
            else f"INCOMPLETE: {done.sum()} of {n} written; "
            "re-run the same generate command to finish"
        ),
        f"inputs      {f['inputs'].shape} {f['inputs'].dtype}",
        f"targets     {f['targets'].shape} {f['targets'].dtype}",
    ]
    if "mesh" in f:
        mesh = f["mesh"]
        lines.append(
            f"mesh        {mesh['coordinates'].shape[0]} vertices, {mesh['cells'].shape[0]} "
            f"{mesh.attrs.get('cell_type', 'cell')}s"
        )
    if "observation" in f:
        pts = f["observation/points"][()]
        lines.append(f"sensors     {len(pts)} points of {f['observation'].attrs.get('observed')}")
    for group in ("noise", "prior"):
        if group in f:
            lines.append(f"{group:<12}{_attrs_line(f[group], skip=('description',))}")
    lines.append(
        "versions    " + ", ".join(f"{k} {v}" for k, v in attr_json(f, "versions").items())
    )
    runs = json.loads(f.attrs.get("runs", "[]"))
    for run in runs:
        rate = run["samples"] / run["seconds"] if run["seconds"] else float("nan")
        lines.append(
            f"run         {run['samples']} samples on {run['ranks']} "
            f"rank{'s' if run['ranks'] != 1 else ''} in "
            f"{run['seconds']:.2f} s ({rate:.0f} samples/s), finished {run['finished']}"
        )
    lines.append(f"inputs      {_stats(f['inputs'][()][done])}")
    lines.append(f"targets     {_stats(f['targets'][()][done])}")
    for name in f["samples"]:
        if name != "done":
            lines.append(f"{name:<12}{_stats(f['samples'][name][()][done])}")
    lines.append("config      " + json.dumps(attr_json(f, "config"), sort_keys=True))
    return lines
