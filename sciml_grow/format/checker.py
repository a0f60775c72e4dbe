"""The schema checker (``sciml-grow check FILE``): every rule a file breaks, what it supports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from sciml_grow.format import rules
from sciml_grow.format.names import (
    DONE,
    FORMAT_NAME,
    GRID,
    HEADER,
    INPUTS,
    MESH,
    NOISE_STD,
    OBS_CLEAN,
    OBSERVATION,
    OPERATORS,
    PRIOR,
    PRIOR_PRECISION,
    SAMPLES,
    SPLIT,
    SPLIT_PARTS,
    TARGETS,
    DatasetError,
)
from sciml_grow.format.reader import BEING_WRITTEN, is_csr, output_kind


@dataclass
class CheckReport:
    """What the checker found: errors (the file cannot be used as it is), warnings (it can,
    with less) and what it supports."""

    path: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    supports: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self) -> str:
        lines = [f"{self.path}: " + ("valid" if self.ok else f"{len(self.errors)} error(s)")]
        lines += [f"  error:    {e}" for e in self.errors]
        lines += [f"  warning:  {w}" for w in self.warnings]
        lines += [f"  supports: {s}" for s in self.supports]
        return "\n".join(lines)

    def raise_if_invalid(self) -> None:
        if self.errors:
            raise DatasetError(f"{self.path}: {self.errors[0]}")


SCAN_BYTES = 16 << 20  # the finiteness scan reads at most this much at a time


def _scan_regions(ds: h5py.Dataset) -> list[tuple[slice, ...]]:
    """Selections covering what ``ds`` stores, each of at most about SCAN_BYTES: runs of
    whole samples, or parts of one sample along its first axis when a sample is larger.
    Of a chunked dataset stored only in part, just the chunks written (the rest hold the
    fill value, checked on its own): a file declared huge but empty is checked at once."""
    n = len(ds)
    logical = ds.size * ds.dtype.itemsize
    if ds.chunks is not None and ds.id.get_storage_size() < logical // 2:
        regions = []
        for i in range(ds.id.get_num_chunks()):
            offset = ds.id.get_chunk_info(i).chunk_offset
            regions.append(
                tuple(
                    slice(o, min(o + c, s))
                    for o, c, s in zip(offset, ds.chunks, ds.shape, strict=True)
                )
            )
        return sorted(regions, key=lambda r: r[0].start)
    row = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
    if row <= SCAN_BYTES:
        step = SCAN_BYTES // row
        return [(slice(a, min(a + step, n)),) for a in range(0, n, step)]
    inner = max(1, int(np.prod(ds.shape[2:], dtype=np.int64)) * ds.dtype.itemsize)
    step = max(1, SCAN_BYTES // inner)
    return [
        (slice(a, a + 1), slice(b, min(b + step, ds.shape[1])))
        for a in range(n)
        for b in range(0, ds.shape[1], step)
    ]


def largest(ds: h5py.Dataset, rows: np.ndarray | None = None) -> float:
    """The largest magnitude among the samples ``rows`` (all if None) of a float array,
    read in the same bounded pieces as :func:`first_nonfinite`."""
    top = 0.0
    for region in _scan_regions(ds):
        block = np.abs(ds[region])
        if rows is not None:  # an incomplete file: the samples written
            start = region[0].start
            block = block[np.isin(np.arange(start, start + len(block)), rows)]
        if block.size:
            top = max(top, float(block.max()))
    return top


def first_nonfinite(ds: h5py.Dataset, rows: np.ndarray | None = None) -> int | None:
    """Index of the first sample of ``ds`` (among ``rows``, sorted) holding NaN or inf, or
    None; read in bounded pieces, so a file larger than memory can be checked."""
    if ds.dtype.kind != "f":
        return None
    first = None
    fill = ds.fillvalue
    if ds.id.get_storage_size() < ds.size * ds.dtype.itemsize and not np.isfinite(fill).all():
        return 0 if rows is None or not len(rows) else int(rows[0])  # unwritten values
    for region in _scan_regions(ds):
        start = region[0].start
        if first is not None and start >= first:
            continue
        block = ds[region]
        bad = ~np.isfinite(block.reshape(len(block), -1)).all(axis=1)
        if rows is not None:
            bad &= np.isin(np.arange(start, start + len(block)), rows)
        if bad.any():
            first = start + int(np.flatnonzero(bad)[0])
    return first


def check_file(path: str | Path) -> CheckReport:
    """Validate any HDF5 file against the format: ours, damaged or someone else's."""
    path = Path(path)
    report = CheckReport(path)
    if not path.is_file():
        report.errors.append("no such file")
        return report
    try:
        h5py.File(path, "r").close()
    except BlockingIOError:  # still readable: say so, as reading it for training would
        report.warnings.append(f"{BEING_WRITTEN}: its content may still change")
    except OSError:
        pass  # reported below
    try:
        f = h5py.File(path, "r", locking=False)  # never blocks a generator writing it
    except OSError:
        report.errors.append("not an HDF5 file, or damaged")
        return report
    with f:
        check_open(f, report)
    return report


def check_open(f: h5py.File, report: CheckReport, scan_values: bool = True) -> CheckReport:
    """The checks of :func:`check_file` on an open file (what the writers call before they
    hand a file over); ``scan_values`` False skips reading the sample arrays."""
    err, warn, can = report.errors.append, report.warnings.append, report.supports.append
    outside = rules.outside_problem(f)
    if outside:  # nothing of another file is read, not even to check it
        err(outside)
        return report
    kind = output_kind(f)
    if kind:  # the toolkit's own output: say what it is, not what it lacks
        err(f"not a dataset but {kind}; 'sciml-grow export' shows its fields in ParaView")
        return report
    n = _check_samples(f, err, warn)
    if n is None:
        return report
    tagged = f.attrs.get("format") == FORMAT_NAME
    complete = True
    if tagged:
        complete = _check_header(f, n, err, warn)
    else:
        warn(
            f"no '{FORMAT_NAME}' format tag: training and prediction work on inputs and "
            "targets; info, generate's resume and the metadata below need the header"
        )
    done = f.get(DONE)
    rows = None
    if isinstance(done, h5py.Dataset) and done.shape == (n,) and not complete:
        rows = np.flatnonzero(done[()])
    if scan_values and not report.errors:
        for name in [INPUTS, TARGETS, *(f"{SAMPLES}/{k}" for k in f.get(SAMPLES, {}))]:
            obj = f.get(name)
            if name == DONE or not isinstance(obj, h5py.Dataset) or obj.shape[:1] != (n,):
                continue
            bad = first_nonfinite(obj, rows)
            if bad is not None:
                err(f"'{name}' holds NaN or inf (first: sample {bad})")
            elif name == TARGETS and obj.dtype.kind == "f":  # what training refuses too
                problem = rules.target_scale_problem(largest(obj, rows))
                if problem:
                    err(f"'{name}' {problem}")
    classification = f[TARGETS].dtype.kind in "iu"
    can("training and prediction (" + ("classification" if classification else "regression")
        + f", {n} samples)")  # fmt: skip
    if SPLIT in f and not report.errors:
        counts = ", ".join(f"{int(np.count_nonzero(f[SPLIT][()] == i))} {part}"
                           for i, part in enumerate(SPLIT_PARTS))  # fmt: skip
        can(f"a fixed split stored in the file ({counts}); every command uses it")
    _check_metadata(f, n, err, warn, can)
    return report


def _check_samples(f: h5py.File, err, warn) -> int | None:
    """inputs and targets: real (N, ...) arrays of one N; per-sample arrays of the same N."""
    found = {}
    for name in (INPUTS, TARGETS):
        problem = rules.array_problem(f, name)
        if problem:
            err(problem)
        else:
            found[name] = f[name]
    if len(found) < 2:
        return None
    problem = rules.shape_problem(found[INPUTS], found[TARGETS])
    if problem:
        err(problem)
        return None
    n = len(found[INPUTS])
    if isinstance(f.get(SAMPLES), h5py.Group):
        for key, obj in f[SAMPLES].items():
            if not isinstance(obj, h5py.Dataset) or obj.ndim == 0 or len(obj) != n:
                shape = getattr(obj, "shape", "a group")
                err(f"'{SAMPLES}/{key}' must hold one entry per sample ({n}), has {shape}")
    problem = rules.split_problem(f, n)
    if problem:
        err(problem)
    return n


def _check_header(f: h5py.File, n: int, err, warn) -> bool:
    """The root attributes of a tagged file; returns whether it says it is complete."""
    for problem in rules.header_problems(f, n, HEADER):
        err(problem)
    done = f.get(DONE)
    if not isinstance(done, h5py.Dataset) or done.shape != (n,):
        return False
    complete = bool(f.attrs.get("complete", False))
    written = int(np.count_nonzero(done[()]))
    if complete and written != n:
        err(f"marked complete but only {written} of {n} samples are flagged done")
    if not complete:
        warn(f"incomplete: {written} of {n} samples written; re-run its generate command")
    return complete


def _check_metadata(f: h5py.File, n: int, err, warn, can) -> None:
    """Mesh, sensors, noise, prior, operators and grid: shapes that agree with each other."""
    n_vertices = None
    if MESH in f:
        g = f[MESH]
        coords, cells = g.get("coordinates"), g.get("cells")
        if not isinstance(coords, h5py.Dataset) or coords.ndim != 2:
            err("'mesh/coordinates' must be a (vertices, dimension) array")
        elif not isinstance(cells, h5py.Dataset) or cells.ndim != 2 or cells.dtype.kind not in "iu":
            err("'mesh/cells' must be a (cells, vertices per cell) integer array")
        else:
            n_vertices = len(coords)
            c = cells[()]
            if c.size and (c.min() < 0 or c.max() >= n_vertices):
                err(f"'mesh/cells' refers to vertices outside 0..{n_vertices - 1}")
            else:
                can(f"field plots and export (mesh of {n_vertices} vertices, {len(c)} "
                    f"{g.attrs.get('cell_type', 'cell')}s)")  # fmt: skip
    if OBSERVATION in f:
        g = f[OBSERVATION]
        points = g.get("points")
        if not isinstance(points, h5py.Dataset) or points.ndim != 2:
            err("'observation/points' must be a (sensors, dimension) array")
        elif is_csr(g.get("matrix")):
            shape = tuple(int(v) for v in g["matrix"].attrs["shape"])
            if shape[0] % len(points):
                err(f"'observation/matrix' has {shape[0]} rows for {len(points)} sensors")
            if n_vertices is not None and shape[1] % n_vertices:
                err(f"'observation/matrix' has {shape[1]} columns for {n_vertices} vertices")
    has_noise = NOISE_STD in f
    if has_noise:
        std = f[NOISE_STD]
        if std.shape != (n,):
            err(f"'{NOISE_STD}' must be ({n},), is {std.shape}")
        elif not np.all(std[()] > 0):
            warn(f"'{NOISE_STD}' is 0 for some samples: their observation misfit is undefined")
    if PRIOR in f and "precision_factor" in f[PRIOR]:
        if not is_csr(f[PRIOR]["precision_factor"]) or "mean" not in f[PRIOR]:
            err("'prior' needs mean and a CSR precision_factor")
        else:
            size = len(f[PRIOR]["mean"])
            shape = tuple(int(v) for v in f[PRIOR]["precision_factor"].attrs["shape"])
            if shape != (size, size):
                err(f"'prior/precision_factor' is {shape}, the prior mean has {size} entries")
    kind = f[OPERATORS].attrs.get("kind") if OPERATORS in f else None
    if OPERATORS in f and kind is None:
        err("'operators' has no 'kind' attribute naming its discretization")
    if kind is not None:
        can(f"forward operator '{kind}'" + (" and per-sample noise" if has_noise else ""))
    if PRIOR_PRECISION in f and kind is not None and has_noise:
        can("MAP estimation (Gaussian prior, forward operator, noise)")
    linear = OBSERVATION in f and bool(f[OBSERVATION].attrs.get("linear", False))
    if linear and OBS_CLEAN in f:
        can("POD least-squares reference (linear clean observations)")
    if GRID in f:
        g = f[GRID]
        points = g.get("points")
        if not isinstance(points, h5py.Dataset) or points.ndim != 2:
            err("'grid/points' must be a (points, dimension) array")
        elif "shape" in g and int(np.prod(g["shape"][()])) != len(points):
            err(f"'grid/shape' {g['shape'][()].tolist()} does not hold {len(points)} points")
