"""Reading a dataset file: opening it checked, the typed metadata, samples, prior, split."""

from __future__ import annotations

from dataclasses import dataclass, field
import functools
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from sciml_grow.format import rules
from sciml_grow.format.names import (
    DONE,
    FORMAT_NAME,
    GRID,
    INPUTS,
    MESH,
    NOISE,
    OBSERVATION,
    OPERATORS,
    PRIOR,
    PRIOR_MEAN,
    PRIOR_PRECISION,
    SAMPLES,
    SPLIT,
    SPLIT_PARTS,
    TARGETS,
    DatasetError,
)

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


OUTPUT_KINDS = {
    "sciml_grow.predictions": "predictions",
    "sciml_grow.map_estimates": "MAP estimates",
}


def output_kind(f: h5py.File) -> str | None:
    """What a file the toolkit wrote that is not a dataset holds, in words (None for any
    other file): so that check and info say what it is instead of what it lacks."""
    kind = OUTPUT_KINDS.get(str(f.attrs.get("format", "")))
    if kind is None:
        return None
    array = f.get("predictions", f.get("fields"))
    rows = f"{len(array)} samples" if isinstance(array, h5py.Dataset) else "no samples"
    part = ", the samples listed in 'indices'" if "indices" in f else ""
    run = f" by the run {f.attrs['run']}" if "run" in f.attrs else ""
    return f"{kind} ({rows}{part}) of {f.attrs.get('data', 'an unnamed dataset')}{run}"


def check_format(
    f: h5py.File, path: str | Path, require_tag: bool = True, require_targets: bool = True
) -> bool:
    """Raise DatasetError unless ``f`` is a sciml_grow dataset of a version we can read (or,
    without ``require_tag``, has ``inputs`` and ``targets``; without ``require_targets``,
    those of them it has are checked); returns whether it is tagged. The first problem of
    :mod:`sciml_grow.format.rules` (the checker's rules) is the message."""
    outside = rules.outside_problem(f)
    if outside:
        raise DatasetError(f"{path}: {outside}")
    tagged = f.attrs.get("format") == FORMAT_NAME
    kind = output_kind(f)
    if kind:
        raise DatasetError(f"{path}: not a dataset but {kind}")
    if require_tag and not tagged:
        raise DatasetError(f"{path}: not a sciml_grow dataset (no '{FORMAT_NAME}' format tag)")
    if require_targets:
        names: tuple[str, ...] = (INPUTS, TARGETS)
    elif tagged:  # ours always holds inputs; targets where it has them
        names = (INPUTS, TARGETS) if TARGETS in f else (INPUTS,)
    else:  # a user's file to predict on: inputs may go by another name (data.inputs)
        names = tuple(n for n in (INPUTS, TARGETS) if n in f)
    problems = [rules.array_problem(f, name) for name in names]
    if not any(problems) and len(names) == 2 and len(f[TARGETS]) != len(f[INPUTS]):
        problems.append(f"'{INPUTS}' has {len(f[INPUTS])} samples, '{TARGETS}' {len(f[TARGETS])}")
    if tagged and not any(problems):
        n = len(f[INPUTS])
        problems += rules.header_problems(f, n, ("n_samples", "complete"))
        problems.append(rules.split_problem(f, n))
    for problem in problems:
        if problem:
            raise DatasetError(f"{path}: {problem}")
    return tagged


def check_array(f: h5py.File, name: str, path: str | Path) -> h5py.Dataset:
    """``f[name]`` if it is a non-empty array of real numbers (N, ...), else DatasetError."""
    problem = rules.array_problem(f, name)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    return f[name]


def open_dataset(f: h5py.File, name: str, path: str | Path) -> Any:
    """``f[name]``, or DatasetError if it is missing or cannot be opened (a dangling link)."""
    obj, problem = rules.opened(f, name)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    return obj


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


def read_csr(group: h5py.Group, name: str) -> sp.csr_array:
    """Read a sparse matrix written by :func:`write_csr`."""
    sub = group[name]
    return sp.csr_array(
        (sub["data"][()], sub["indices"][()], sub["indptr"][()]), shape=tuple(sub.attrs["shape"])
    )


def is_csr(obj: Any) -> bool:
    return isinstance(obj, h5py.Group) and obj.attrs.get("sparse") == "csr"


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
    split: dict[str, int] | None = None  # samples per part of a split stored in the file
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
        split=_split_counts(read_split(f, path)),
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


def read_prior_basis(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The prior's own basis of a file's field targets: ``targets = mean + basis @ xi`` with
    ``xi ~ N(0, I)``; (mean (d,), basis (d, k)). A Karhunen-Loeve prior stores its scaled
    modes; a sine-series prior (Navier-Stokes) its coefficients' standard deviations, whose
    sines are evaluated at the grid points the targets live on. DatasetError naming what is
    missing otherwise."""
    with open_file(path) as f:
        prior = f.get(PRIOR)
        kind = str(prior.attrs.get("kind", "")) if isinstance(prior, h5py.Group) else ""
        d = int(np.prod(f[TARGETS].shape[1:]))
        if kind == "kl" and "modes" in prior and "field_mean" in prior:
            mean, basis = prior["field_mean"][()], prior["modes"][()]
        elif kind == "sine_series_grf" and "coefficient_std" in prior and GRID in f:
            std = prior["coefficient_std"][()]
            points = f[GRID]["points"][()]
            k = np.arange(1, std.shape[0] + 1)
            sx = np.sin(np.pi * np.outer(points[:, 0], k))
            sy = np.sin(np.pi * np.outer(points[:, 1], k))
            basis = (sx[:, :, None] * sy[:, None, :] * std[None]).reshape(len(points), -1)
            mean = np.zeros(len(points))
        else:
            raise DatasetError(
                f"{path}: its prior ({kind or 'none stored'}) states no basis of the targets "
                "(a Karhunen-Loeve or sine-series prior does); use model.output_basis = pod"
            )
    if basis.shape[0] != d:
        raise DatasetError(
            f"{path}: the prior's basis has {basis.shape[0]} values per field, the targets "
            f"{d} (targets that are the prior's coefficients need no basis)"
        )
    return mean, basis


def read_samples(path: str | Path, name: str, indices: np.ndarray | None = None) -> np.ndarray:
    """Per-sample array ``name`` (e.g. :data:`NOISE_STD`) of the samples ``indices`` (all if
    None)."""
    with open_file(path, require_tag=False) as f:
        if name not in f:
            raise DatasetError(f"{path}: has no '{name}' dataset")
        data = check_array(f, name, path)
        return data[()] if indices is None else data[()][np.asarray(indices)]


def read_split(f: h5py.File, path: str | Path) -> np.ndarray | None:
    """The split stored in an open file (0 train, 1 validation, 2 test per sample), or None
    if it stores none; DatasetError if it breaks the rule."""
    problem = rules.split_problem(f, len(f[INPUTS]))
    if problem:
        raise DatasetError(f"{path}: {problem}")
    return f[SPLIT][()].astype(np.int8) if SPLIT in f else None


def _split_counts(parts: np.ndarray | None) -> dict[str, int] | None:
    if parts is None:
        return None
    return {name: int(np.count_nonzero(parts == i)) for i, name in enumerate(SPLIT_PARTS)}
