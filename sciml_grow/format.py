"""The dataset file: the one contract between ``pde_data`` (writers) and ``sciml_grow`` (readers).

One HDF5 file per dataset; this module owns every name in it, the one header writer, the typed
reader every consumer uses and the schema checker (``sciml-grow check FILE``)::

    /inputs              (N, ...)  what a network maps from (noisy observations)
    /targets             (N, ...)  what it maps to (the parameter field, or class labels)
    /samples/<name>      (N, ...)  other per-sample arrays: obs_clean, noise_std, states, ...
    /samples/done        (N,)      1 once sample i is written (resume bookkeeping)
    /mesh                coordinates (V, d), cells (C, k); attr cell_type
    /observation         points (k, d), matrix (k, V) CSR; attrs observed, linear
    /noise, /prior       attrs describing the models; prior/mean, prior/precision_factor
    /operators           the discrete operators a torch model re-runs the PDE with; attr kind
    /grid                points (G, d), matrix (G, V), shape: where grid targets live
    attrs: format, format_version, problem, n_samples, seed, config (JSON), versions (JSON),
           created, complete (False until every sample is written), runs (JSON), description

Sparse matrices are groups holding CSR ``data``, ``indices``, ``indptr`` and a ``shape`` attr.
A file of someone else's with only ``inputs`` and ``targets`` trains too; the checker says
what else it would need. This module needs only numpy, scipy and h5py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
import functools
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from sciml_grow.errors import UserError

FORMAT_NAME = "sciml_grow.dataset"
FORMAT_VERSION = 1

# --- names ---------------------------------------------------------------------------------
INPUTS = "inputs"
TARGETS = "targets"
SAMPLES = "samples"
DONE = "samples/done"
NOISE_STD = "samples/noise_std"
OBS_CLEAN = "samples/obs_clean"
MESH = "mesh"
OBSERVATION = "observation"
NOISE = "noise"
PRIOR = "prior"
PRIOR_MEAN = "prior/mean"
PRIOR_PRECISION = "prior/precision_factor"
OPERATORS = "operators"
PARAMETER_MAP = "operators/parameter_map"
GRID = "grid"
# attributes of the root group: the header
HEADER = (
    "format",
    "format_version",
    "problem",
    "n_samples",
    "seed",
    "config",
    "versions",
    "created",
    "complete",
    "runs",
)
JSON_ATTRS = ("config", "versions", "runs")


class DatasetError(UserError):
    """The file is missing, foreign, damaged or incomplete; the message says which."""


# --- writing -------------------------------------------------------------------------------
CHUNK_BYTES = 64 << 10  # per-sample datasets: whole samples per chunk, at most 64 KiB
# (a larger sample is one chunk: a minibatch reads chunks whole, so a 196 KB field in 1 MiB
# chunks read 5x its bytes, 11.5 ms per 64-sample minibatch against 7.8 ms, measured)


def sample_chunks(shape: tuple, dtype: str | np.dtype) -> tuple[int, ...]:
    """Chunk shape of a per-sample dataset of ``shape``: whole samples, as many as fit in
    CHUNK_BYTES (at least one), so a reader of any sample subset (a minibatch of a file larger
    than memory) touches only those samples' chunks."""
    row = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    rows = max(1, min(shape[0], CHUNK_BYTES // max(row, 1)))
    return (rows, *shape[1:])


def write_header(
    f: h5py.File,
    *,
    problem: str,
    n_samples: int,
    seed: int,
    config: str,
    versions: dict[str, str],
    complete: bool,
    description: str | None = None,
) -> None:
    """The root attributes every dataset file carries (``config`` is JSON text)."""
    f.attrs.update(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "problem": problem,
            "n_samples": n_samples,
            "seed": seed,
            "config": config,
            "versions": json.dumps(versions, sort_keys=True),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "complete": complete,
            "runs": "[]",
        }
    )
    if description is not None:
        f.attrs["description"] = description


def write_csr(group: h5py.Group, name: str, matrix: sp.spmatrix | sp.sparray) -> None:
    """Store a sparse matrix as CSR arrays in a subgroup ``name``."""
    csr = sp.csr_array(matrix)
    csr.sort_indices()
    sub = group.create_group(name)
    sub.create_dataset("data", data=csr.data)
    sub.create_dataset("indices", data=csr.indices.astype(np.int64))
    sub.create_dataset("indptr", data=csr.indptr.astype(np.int64))
    sub.attrs["shape"] = np.asarray(csr.shape, dtype=np.int64)
    sub.attrs["sparse"] = "csr"


def read_csr(group: h5py.Group, name: str) -> sp.csr_array:
    """Read a sparse matrix written by :func:`write_csr`."""
    sub = group[name]
    return sp.csr_array(
        (sub["data"][()], sub["indices"][()], sub["indptr"][()]), shape=tuple(sub.attrs["shape"])
    )


def is_csr(obj: Any) -> bool:
    return isinstance(obj, h5py.Group) and obj.attrs.get("sparse") == "csr"


def write_tree(group: h5py.Group, tree: dict[str, Any]) -> None:
    """Write a nested dict: dicts become groups, sparse matrices CSR groups, arrays datasets,
    and scalars or strings attributes of ``group``."""
    for key, value in tree.items():
        if isinstance(value, dict):
            write_tree(group.require_group(key), value)
        elif sp.issparse(value):
            write_csr(group, key, value)
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value)
        elif isinstance(value, list | tuple):
            group.create_dataset(key, data=np.asarray(value))
        else:
            group.attrs[key] = value


# --- opening -------------------------------------------------------------------------------
BEING_WRITTEN = "open for writing by another process (HDF5 file lock)"


def open_file(
    path: str | Path,
    require_complete: bool = True,
    require_tag: bool = True,
    require_targets: bool = True,
) -> h5py.File:
    """Open a dataset read-only after checking it is readable, ours (or, with ``require_tag``
    False, any HDF5 file with ``inputs`` and ``targets``; without ``require_targets``, inputs
    suffice: what prediction needs) and, if ours, complete."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except BlockingIOError:
        raise DatasetError(f"{path}: {BEING_WRITTEN}; wait for it to finish") from None
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged") from None
    try:
        tagged = check_format(f, path, require_tag, require_targets)
        if tagged and require_complete and not bool(f.attrs["complete"]):
            done = int(np.count_nonzero(f[DONE][()]))
            raise DatasetError(
                f"{path}: incomplete ({done} of {int(f.attrs['n_samples'])} samples); "
                "re-run the generate command that made it to finish it"
            )
    except BaseException:
        f.close()
        raise
    return f


def check_format(
    f: h5py.File, path: str | Path, require_tag: bool = True, require_targets: bool = True
) -> bool:
    """Raise DatasetError unless ``f`` is a sciml_grow dataset of a version we can read (or,
    without ``require_tag``, has ``inputs`` and ``targets``; without ``require_targets``,
    those of them it has are checked); returns whether it is tagged."""
    tagged = f.attrs.get("format") == FORMAT_NAME
    if require_tag and not tagged:
        raise DatasetError(f"{path}: not a sciml_grow dataset (no '{FORMAT_NAME}' format tag)")
    version = int(f.attrs.get("format_version", -1))
    if tagged and version > FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format version {version} is newer than this sciml_grow reads "
            f"({FORMAT_VERSION}); upgrade sciml_grow"
        )
    if require_targets:
        names: tuple[str, ...] = (INPUTS, TARGETS)
    elif tagged:  # ours always holds inputs; targets where it has them
        names = (INPUTS, TARGETS) if TARGETS in f else (INPUTS,)
    else:  # a user's file to predict on: inputs may go by another name (data.inputs)
        names = tuple(n for n in (INPUTS, TARGETS) if n in f)
    for name in names:
        if name not in f:
            raise DatasetError(f"{path}: has no '{name}' dataset")
        check_array(f, name, path)
    if len(names) == 2 and len(f[TARGETS]) != len(f[INPUTS]):
        raise DatasetError(
            f"{path}: '{INPUTS}' has {len(f[INPUTS])} samples, '{TARGETS}' {len(f[TARGETS])}"
        )
    if tagged:
        for key in ("n_samples", "complete"):
            if key not in f.attrs:
                raise DatasetError(f"{path}: damaged, the '{key}' attribute is missing")
        n = int(f.attrs["n_samples"])
        if n != len(f[INPUTS]):
            raise DatasetError(
                f"{path}: damaged, attribute n_samples = {n} but '{INPUTS}' holds "
                f"{len(f[INPUTS])} samples"
            )
        done = f.get(DONE)
        if not isinstance(done, h5py.Dataset) or done.shape != (n,):
            raise DatasetError(f"{path}: damaged, '{DONE}' is missing or not ({n},)")
    return tagged


def check_array(f: h5py.File, name: str, path: str | Path) -> h5py.Dataset:
    """``f[name]`` if it is a non-empty array of real numbers (N, ...), else DatasetError."""
    obj = open_dataset(f, name, path)
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{path}: '{name}' is a group, not an array")
    if obj.ndim == 0 or len(obj) == 0:
        raise DatasetError(f"{path}: '{name}' holds no samples (shape {obj.shape})")
    if obj.dtype.kind not in "fiu":
        raise DatasetError(
            f"{path}: '{name}' has dtype {obj.dtype}; sciml_grow needs real numbers (float or "
            "integer)"
        )
    return obj


def shape_problem(
    x: h5py.Dataset, y: h5py.Dataset, inputs: str = INPUTS, targets: str = TARGETS
) -> str | None:
    """What keeps inputs ``x`` and targets ``y`` from training, in one line, or None: the
    checker and the reader say the same thing of a file."""
    if len(y) != len(x):
        return f"'{inputs}' has {len(x)} samples, '{targets}' {len(y)}"
    if x.ndim < 2:
        return (
            f"'{inputs}' has shape {x.shape}, one value per sample; store it as (N, 1) "
            "(one feature per sample) or (N, ...)"
        )
    if y.dtype.kind in "iu" and int(np.prod(y.shape[1:], dtype=np.int64)) != 1:
        return (
            f"'{targets}' holds integers of shape {y.shape}: class labels must be one per "
            "sample, (N,); store the values as floats for regression"
        )
    if y.dtype.kind == "f" and y.ndim < 2:
        return f"'{targets}' has shape {y.shape}, one value per sample; store it as (N, 1)"
    if "image_shape" in x.attrs:
        shape = np.asarray(x.attrs["image_shape"])
        size = int(np.prod(x.shape[1:], dtype=np.int64))
        if (
            shape.dtype.kind not in "iu"
            or shape.shape != (3,)
            or (shape <= 0).any()
            or int(np.prod(shape, dtype=np.int64)) != size
        ):
            return (
                f"'{inputs}' attribute image_shape must be 3 positive integers (channels, "
                f"height, width) holding its {size} values per sample, got {shape.tolist()!r}"
            )
    return None


def open_dataset(f: h5py.File, name: str, path: str | Path) -> Any:
    """``f[name]``, or DatasetError if it is missing or cannot be opened (a dangling link)."""
    if name not in f:
        raise DatasetError(f"{path}: has no '{name}' dataset")
    try:
        return f[name]
    except (KeyError, OSError) as exc:
        link = f.get(name, getlink=True)
        what = f"a link to {link.filename}:{link.path}" if hasattr(link, "filename") else "it"
        raise DatasetError(f"{path}: '{name}' cannot be opened ({what}: {exc})") from None


def attr_json(f: h5py.File, name: str) -> Any:
    """Decode a JSON-valued file attribute (config, versions, runs)."""
    return json.loads(f.attrs[name])


def file_key(path: str | Path) -> tuple[str, int, int]:
    """What identifies a file's content for the per-process caches: its resolved path, size
    and modification time (a regenerated file is read again)."""
    p = Path(path).resolve()
    st = p.stat()
    return str(p), st.st_size, st.st_mtime_ns


def cached_per_file(fn):
    """``fn(path)`` computed once per process for each version of the file."""
    cached = functools.lru_cache(maxsize=16)(lambda key: fn(Path(key[0])))

    @functools.wraps(fn)
    def wrapper(path: str | Path):
        try:
            key = file_key(path)
        except OSError:
            raise DatasetError(f"{path}: no such file") from None
        return cached(key)

    return wrapper


# --- the typed reader ----------------------------------------------------------------------
@dataclass(frozen=True)
class Mesh:
    """The FEniCSx mesh the samples were computed on (vertices in the file's canonical order)."""

    coordinates: np.ndarray  # (V, d)
    cells: np.ndarray  # (C, vertices per cell)
    cell_type: str

    @property
    def dim(self) -> int:
        return self.coordinates.shape[1]


@dataclass(frozen=True)
class Sensors:
    """Where the observations come from: points, the observation matrix on mesh vertices."""

    points: np.ndarray | None  # (k, d)
    matrix: sp.csr_array | None  # (k, V) for the observed P1 field
    observed: str  # what is observed: "state", "w(T)", "velocity"
    linear: bool  # clean observations are linear in the field the targets sample


@dataclass(frozen=True)
class Grid:
    """The uniform grid grid-valued targets live on."""

    points: np.ndarray  # (G, d)
    shape: tuple[int, ...] | None  # array shape of a grid field (e.g. levels, y, x)


@dataclass(frozen=True)
class Metadata:
    """Everything a dataset file says about itself, read once per process (arrays of samples
    are not loaded: see :class:`sciml_grow.data.dataset.Dataset`)."""

    path: Path
    tagged: bool  # carries the sciml_grow.dataset format tag
    problem: str
    n_samples: int
    complete: bool
    seed: int | None = None
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    arrays: dict[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)
    mesh: Mesh | None = None
    sensors: Sensors | None = None
    grid: Grid | None = None
    noise: dict[str, Any] = field(default_factory=dict)
    prior: dict[str, Any] = field(default_factory=dict)
    operators: dict[str, Any] = field(default_factory=dict)  # attrs of /operators (kind, ...)
    names: frozenset[str] = frozenset()  # every group and dataset in the file

    def has(self, name: str) -> bool:
        """Whether the file holds the group or dataset ``name`` (e.g. :data:`NOISE_STD`)."""
        return name in self.names

    @property
    def operator_kind(self) -> str | None:
        """The forward operator the file stores (``operators.kind``), if any."""
        kind = self.operators.get("kind")
        return None if kind is None else str(kind)


def _attrs(obj: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    out = {}
    for k, v in obj.attrs.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, bytes):
            v = v.decode()
        out[k] = v
    return out


def _read_metadata(f: h5py.File, path: Path) -> Metadata:
    tagged = check_format(f, path, require_tag=False)
    a = f.attrs
    n = len(f[INPUTS])
    arrays = {
        name: (tuple(obj.shape[1:]), str(obj.dtype))
        for name, obj in [(INPUTS, f[INPUTS]), (TARGETS, f[TARGETS])]
        + [(f"{SAMPLES}/{k}", v) for k, v in f.get(SAMPLES, {}).items()]
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 1 and len(obj) == n
    }
    mesh = sensors = grid = None
    if MESH in f and "coordinates" in f[MESH] and "cells" in f[MESH]:
        g = f[MESH]
        mesh = Mesh(g["coordinates"][()], g["cells"][()], str(g.attrs.get("cell_type", "cell")))
    if OBSERVATION in f:
        g = f[OBSERVATION]
        points = g["points"][()] if "points" in g else None
        matrix = read_csr(g, "matrix") if is_csr(g.get("matrix")) else None
        observed, linear = str(g.attrs.get("observed", "")), bool(g.attrs.get("linear", False))
        sensors = Sensors(points, matrix, observed, linear)
    if GRID in f and "points" in f[GRID]:
        g = f[GRID]
        shape = tuple(int(v) for v in g["shape"][()]) if "shape" in g else None
        if shape is None and "size" in g.attrs:  # a square grid of size x size (x fastest)
            shape = (int(g.attrs["size"]),) * 2
        grid = Grid(g["points"][()], shape)
    return Metadata(
        path=path,
        tagged=tagged,
        problem=str(a.get("problem", "unknown")),
        n_samples=n,
        complete=bool(a.get("complete", True)),
        seed=int(a["seed"]) if "seed" in a else None,
        description=str(a.get("description", "")),
        config=attr_json(f, "config") if "config" in a else {},
        versions=attr_json(f, "versions") if "versions" in a else {},
        runs=attr_json(f, "runs") if "runs" in a else [],
        arrays=arrays,
        mesh=mesh,
        sensors=sensors,
        grid=grid,
        noise=_attrs(f[NOISE]) if NOISE in f else {},
        prior=_attrs(f[PRIOR]) if PRIOR in f else {},
        operators=_attrs(f[OPERATORS]) if OPERATORS in f else {},
        names=frozenset(_names(f)),
    )


def _names(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visit(names.append)
    return names


@cached_per_file
def read_metadata(path: Path) -> Metadata:
    """The typed metadata of a dataset file (ours or any HDF5 file with inputs and targets),
    read once per process for each version of the file. Opened without HDF5's file lock, so
    reading never blocks a generator writing the file."""
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged") from None
    with f:
        try:
            return _read_metadata(f, path)
        except (KeyError, TypeError, ValueError) as exc:  # an attribute edited by hand
            raise DatasetError(f"{path}: damaged metadata ({exc})") from None


def read_prior(f: h5py.File, path: str | Path) -> tuple[np.ndarray, sp.csr_array]:
    """The Gaussian prior of an open file's targets: mean and a factor R of its precision
    (R^T R)."""
    if PRIOR_PRECISION not in f or PRIOR_MEAN not in f:
        raise DatasetError(f"{path}: stores no Gaussian prior ({PRIOR_MEAN}, {PRIOR_PRECISION})")
    return f[PRIOR_MEAN][()], read_csr(f[PRIOR], "precision_factor")


def read_samples(path: str | Path, name: str, indices: np.ndarray | None = None) -> np.ndarray:
    """Per-sample array ``name`` (e.g. :data:`NOISE_STD`) of the samples ``indices`` (all if
    None)."""
    with open_file(path, require_tag=False) as f:
        if name not in f:
            raise DatasetError(f"{path}: has no '{name}' dataset")
        data = check_array(f, name, path)
        return data[()] if indices is None else data[()][np.asarray(indices)]


# --- the schema checker --------------------------------------------------------------------
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
    classification = f[TARGETS].dtype.kind in "iu"
    can("training and prediction (" + ("classification" if classification else "regression")
        + f", {n} samples)")  # fmt: skip
    _check_metadata(f, n, err, warn, can)
    return report


def _check_samples(f: h5py.File, err, warn) -> int | None:
    """inputs and targets: real (N, ...) arrays of one N; per-sample arrays of the same N."""
    found = {}
    for name in (INPUTS, TARGETS):
        try:
            obj = open_dataset(f, name, "") if name in f else None
        except DatasetError as exc:
            err(str(exc).removeprefix(": "))
            continue
        if obj is None:
            err(f"no '{name}' dataset: a file needs inputs (N, ...) and targets (N, ...)")
        elif not isinstance(obj, h5py.Dataset):
            err(f"'{name}' is a group, not an array")
        elif obj.ndim == 0 or len(obj) == 0:
            err(f"'{name}' holds no samples (shape {obj.shape})")
        elif obj.dtype.kind not in "fiu":
            err(f"'{name}' has dtype {obj.dtype}; real numbers (float or integer) are needed")
        else:
            found[name] = obj
    if len(found) < 2:
        return None
    problem = shape_problem(found[INPUTS], found[TARGETS])
    if problem:
        err(problem)
        return None
    n = len(found[INPUTS])
    if isinstance(f.get(SAMPLES), h5py.Group):
        for key, obj in f[SAMPLES].items():
            if not isinstance(obj, h5py.Dataset) or obj.ndim == 0 or len(obj) != n:
                shape = getattr(obj, "shape", "a group")
                err(f"'{SAMPLES}/{key}' must hold one entry per sample ({n}), has {shape}")
    return n


def _check_header(f: h5py.File, n: int, err, warn) -> bool:
    """The root attributes of a tagged file; returns whether it says it is complete."""
    a = f.attrs
    missing = [k for k in HEADER if k not in a]
    if missing:
        err(f"header attribute(s) missing: {', '.join(missing)}")
    version = a.get("format_version")
    if version is not None and int(version) > FORMAT_VERSION:
        err(f"format version {int(version)} is newer than this sciml_grow reads "
            f"({FORMAT_VERSION})")  # fmt: skip
    for key in JSON_ATTRS:
        if key in a:
            try:
                json.loads(a[key])
            except (TypeError, ValueError):
                err(f"attribute '{key}' is not valid JSON")
    if "n_samples" in a and int(a["n_samples"]) != n:
        err(f"attribute n_samples = {int(a['n_samples'])} but '{INPUTS}' holds {n} samples")
    done = f.get(DONE)
    if not isinstance(done, h5py.Dataset) or done.shape != (n,):
        err(f"'{DONE}' is missing or not ({n},)")
        return False
    complete = bool(a.get("complete", False))
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
