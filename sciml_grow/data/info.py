"""Human summary of a dataset file (``sciml-grow info``), from its typed metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sciml_grow import format as fmt
from sciml_grow.format import DatasetError


def _stats(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "no values yet"
    return (
        f"mean {finite.mean():.4g}  std {finite.std():.4g}  "
        f"min {finite.min():.4g}  max {finite.max():.4g}"
    )


def _attrs_line(attrs: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    items = []
    for key, value in sorted(attrs.items()):
        if key in skip:
            continue
        if isinstance(value, float):
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
        kind = fmt.output_kind(f) if not fmt.outside_problem(f) else None
        if kind:  # the toolkit's own output, not a dataset: say what it is
            export = f"not a dataset; 'sciml-grow export {path}' shows it in ParaView"
            return f"file        {path}\nholds       {kind}\n({export})"
        fmt.check_format(f, path)
        meta = fmt.read_metadata(path)
        try:
            return "\n".join(_lines(meta, f))
        except (KeyError, TypeError, ValueError) as exc:  # an attribute edited by hand
            raise DatasetError(f"{path}: damaged metadata ({exc})") from None


def _lines(meta: fmt.Metadata, f: h5py.File) -> list[str]:
    """The summary's lines (KeyError etc. where the file's metadata was damaged)."""
    n = meta.n_samples
    done = f[fmt.DONE][()].astype(bool)
    lines = [
        f"file        {meta.path}",
        f"problem     {meta.problem}  ({meta.description})",
        f"format      {fmt.FORMAT_NAME} v{int(f.attrs['format_version'])}",
        f"samples     {n}  seed {meta.seed}  "
        + (
            "complete"
            if meta.complete
            else f"INCOMPLETE: {done.sum()} of {n} written; "
            "re-run the same generate command to finish"
        ),
    ]
    for name in (fmt.INPUTS, fmt.TARGETS):
        shape, dtype = meta.arrays[name]
        lines.append(f"{name:<12}{(n, *shape)} {dtype}")
    if meta.split is not None:
        parts = ", ".join(f"{count} {part}" for part, count in meta.split.items())
        lines.append(f"split       stored in the file: {parts} (every command uses it)")
    if meta.mesh is not None:
        mesh = meta.mesh
        lines.append(
            f"mesh        {len(mesh.coordinates)} vertices, {len(mesh.cells)} {mesh.cell_type}s"
        )
    if meta.sensors is not None and meta.sensors.points is not None:
        lines.append(f"sensors     {len(meta.sensors.points)} points of {meta.sensors.observed}")
    for group, attrs in (("noise", meta.noise), ("prior", meta.prior)):
        if attrs:
            lines.append(f"{group:<12}{_attrs_line(attrs, skip=('description',))}")
    lines.append("versions    " + ", ".join(f"{k} {v}" for k, v in meta.versions.items()))
    for run in meta.runs:
        rate = run["samples"] / run["seconds"] if run["seconds"] else float("nan")
        lines.append(
            f"run         {run['samples']} samples on {run['ranks']} "
            f"rank{'s' if run['ranks'] != 1 else ''} in "
            f"{run['seconds']:.2f} s ({rate:.0f} samples/s), finished {run['finished']}"
        )
    lines.append(f"inputs      {_stats(f[fmt.INPUTS][()][done])}")
    lines.append(f"targets     {_stats(f[fmt.TARGETS][()][done])}")
    for name in f[fmt.SAMPLES]:
        if name != "done":
            lines.append(f"{name:<12}{_stats(f[fmt.SAMPLES][name][()][done])}")
    lines.append("config      " + json.dumps(meta.config, sort_keys=True))
    return lines
