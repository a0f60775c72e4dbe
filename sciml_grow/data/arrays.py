"""Your own arrays as a dataset file: ``sciml-grow import arrays`` and ``sg.from_arrays``.

A user who has inputs and targets from another solver (MATLAB, hIPPYlib, a paper's published
CSV files, another HDF5 file) gets a complete, checked dataset file: the arrays, the header,
``samples/done``, provenance (each source's path, name and SHA-256) and, when given, a fixed
split (a published test set, or a label per sample) and the mesh and sensor points.

Sources: ``.npy``, ``.npz``, ``.csv`` / ``.txt`` / ``.dat`` (numbers, UTF-8 with or without a
byte-order mark; a header row by the rule of :func:`header_row`), ``.mat`` (MATLAB v5 through
scipy.io, v7.3 through h5py) and HDF5 (``.h5``/``.hdf5``), each as ``FILE`` or ``FILE:NAME``
(the array's name inside the file; needed when the file holds several). Nothing is
unpickled: ``.npy``/``.npz`` are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sciml_grow import format as fmt
from sciml_grow._version import __version__
from sciml_grow.errors import DataImportError, arg, reason
from sciml_grow.outputs import OutputLock, atomic_h5, check_file_output, file_sha256
from sciml_grow.resources import ResourceError, check_memory

TEXT = (".csv", ".txt", ".dat")
HDF5 = (".h5", ".hdf5", ".he5")
SUFFIXES = (".npy", ".npz", *TEXT, ".mat", *HDF5)
PART_NAMES = {"train": 0, "val": 1, "validation": 1, "test": 2, "0": 0, "1": 1, "2": 2}
Source = str | Path | np.ndarray
Header = Literal["auto", "yes", "no"]
HEADERS: tuple[str, ...] = ("auto", "yes", "no")


def parse_source(text: str | Path) -> tuple[Path, str | None]:
    """``FILE`` or ``FILE:NAME`` -> (path, name or None). The name is what follows the last
    colon after a known suffix, so a path holding colons still reads as a path."""
    text = str(text)
    for suffix in SUFFIXES:
        at = text.lower().rfind(suffix + ":")
        if at >= 0:
            return Path(text[: at + len(suffix)]), text[at + len(suffix) + 1 :] or None
    return Path(text), None


def _pick(named: dict[str, Any], name: str | None, where: str) -> Any:
    """The array ``name`` of a file holding ``named`` arrays (the only one if name is None)."""
    if name is not None:
        if name not in named:
            raise DataImportError(
                f"{where}: has no array {name!r} (it holds: {', '.join(named) or 'none'})"
            )
        return named[name]
    if len(named) != 1:
        raise DataImportError(
            f"{where}: holds {len(named)} arrays ({', '.join(named) or 'none'}); name one as "
            f"{where}:NAME"
        )
    return next(iter(named.values()))


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def header_row(cells: list[str], header: Header, where: str) -> bool:
    """Whether the first row of a table of numbers is a header. ``yes`` and ``no`` say so;
    ``auto``: a header when any of its cells is not a number; a first row that reads 0, 1,
    ..., k-1 (the names pandas' ``to_csv`` gives unnamed columns, and also a possible
    sample) is refused as ambiguous; anything else is a sample."""
    if header != "auto":
        return header == "yes"
    cells = [c.strip() for c in cells]
    if not all(_number(c) for c in cells):
        return True
    if cells == [str(i) for i in range(len(cells))]:
        raise DataImportError(
            f"{where}: the first row reads {','.join(cells[:4])}{',...' if len(cells) > 4 else ''}"
            f": column names (as pandas writes them) or a sample? say {arg('header')} yes or no"
        )
    return False


def _read_text(
    path: Path, words: bool, where: str, header: Header = "auto"
) -> tuple[np.ndarray, dict[str, Any]]:
    """Numbers (or, for a split, words) separated by commas (.csv) or blanks, and what was
    read (rows, the header skipped if any). UTF-8 with or without a byte-order mark. numpy
    parses; where it fails, the first bad cell is named by line and column of the file."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")  # -sig: a BOM is no data
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines())]
    lines = [(i, ln) for i, ln in lines if ln.strip()]
    if not lines:
        raise DataImportError(f"{where}: empty")
    sep = "," if path.suffix.lower() == ".csv" else None
    if words:
        return np.array([c.strip() for _, ln in lines for c in ln.split(sep)]), {}
    skipped = None
    if header_row(lines[0][1].split(sep), header, where):
        skipped, lines = lines[0][1].strip(), lines[1:]
    read = {"rows": len(lines), "header": skipped}
    if not lines:
        raise DataImportError(f"{where}: a header row and no numbers")
    try:
        table = io.StringIO("\n".join(ln for _, ln in lines))
        return np.loadtxt(table, delimiter=sep, ndmin=2), read
    except ValueError:
        pass
    width = len(lines[0][1].split(sep))
    for i, line in lines:
        cells = line.split(sep)
        if len(cells) != width:
            raise DataImportError(f"{where}: line {i} has {len(cells)} values, not {width}")
        for j, cell in enumerate(cells):
            if not _number(cell):
                raise DataImportError(
                    f"{where}: line {i}, column {j + 1} is not a number ({cell.strip()[:30]!r})"
                )
    raise DataImportError(f"{where}: not a table of numbers")


def _fits(shape: tuple[int, ...], dtype: Any, where: str) -> None:
    """Refuse an array whose declared size exceeds the memory here, before reading it."""
    size = float(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    try:
        check_memory(size, f"{where} (shape {tuple(shape)}, {np.dtype(dtype)})")
    except ResourceError as exc:
        raise DataImportError(str(exc)) from None


def _npy_header(fp: Any, where: str) -> None:
    """Check the shape and dtype an .npy header declares against the memory here."""
    fmt_ = np.lib.format
    try:
        version = fmt_.read_magic(fp)
        read = fmt_.read_array_header_1_0 if version == (1, 0) else fmt_.read_array_header_2_0
        shape, _, dtype = read(fp)
    except (ValueError, OSError, EOFError) as exc:
        raise DataImportError(f"{where}: not a readable .npy array ({exc})") from None
    _fits(shape, dtype, where)


def _read_npy(path: Path, name: str | None, where: str) -> np.ndarray:
    """An .npy array, or one of an .npz archive, after its header's size is checked."""
    if path.suffix.lower() == ".npy":
        with open(path, "rb") as fp:
            _npy_header(fp, where)
        return np.load(path, allow_pickle=False)
    with np.load(path, allow_pickle=False) as z:
        member = _pick({k: k for k in z.files}, name, where)
        with z.zip.open(f"{member}.npy") as fp:
            _npy_header(fp, f"{where}:{member}")
        return z[member]


def _read_mat(path: Path, name: str | None, where: str) -> np.ndarray:
    import scipy.io

    try:
        listed = scipy.io.whosmat(path)  # names, shapes, classes: nothing read yet
    except NotImplementedError:  # MATLAB v7.3 files are HDF5, stored column-major
        return np.asarray(_read_h5(path, name, where)).T
    except Exception as exc:  # a damaged file breaks scipy's parser in many ways
        raise DataImportError(f"{where}: not a readable .mat file ({reason(exc)})") from None
    for k, shape, _ in listed:
        if name is None or k == name:
            _fits(shape, np.float64, f"{where}:{k}")
    try:
        named = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except Exception as exc:
        raise DataImportError(f"{where}: not a readable .mat file ({reason(exc)})") from None
    return np.asarray(_pick(named, name, where))


def _read_h5(path: Path, name: str | None, where: str) -> np.ndarray:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DataImportError(f"{where}: not an HDF5 file, or damaged") from None
    with f:
        outside = fmt.outside_problem(f)
        if outside:
            raise DataImportError(f"{where}: {outside}")
        if name is None:
            found: list[str] = []
            f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
            name = _pick({n: n for n in found}, None, where)
        obj = f.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise DataImportError(f"{where}: has no dataset {name!r}")
        _fits(obj.shape, obj.dtype, f"{where}:{name}")
        return obj[()]


def read_array(
    source: Source, what: str, words: bool = False, header: Header = "auto"
) -> tuple[np.ndarray, dict]:
    """An array from a file (``FILE[:NAME]``) or given as is, and its provenance (for a text
    file also the rows read and the header skipped)."""
    if isinstance(source, np.ndarray) or not isinstance(source, str | Path):
        try:
            a = np.asarray(source)
        except (ValueError, TypeError) as exc:
            raise DataImportError(f"{arg(what)}: not an array ({exc})") from None
        digest = (
            hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
            if a.dtype.kind in "biufcUS"
            else ""
        )
        return a, {"given": "array", "shape": list(a.shape), "sha256": digest}
    path, name = parse_source(source)
    read: dict[str, Any] = {}
    if not path.is_file():
        raise DataImportError(f"{arg(what)} {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".npy", ".npz"):
            a = _read_npy(path, name, f"{arg(what)} {path}")
        elif suffix in TEXT:
            a, read = _read_text(path, words, f"{arg(what)} {path}", header)
        elif suffix == ".mat":
            a = _read_mat(path, name, f"{arg(what)} {path}")
        elif suffix in HDF5:
            a = _read_h5(path, name, f"{arg(what)} {path}")
        else:
            raise DataImportError(
                f"{arg(what)} {path}: unknown kind of file (known: {', '.join(SUFFIXES)})"
            )
    except ValueError as exc:  # numpy refusing a pickled (object) array, a damaged file
        if isinstance(exc, DataImportError):
            raise
        text = str(exc)
        why = (
            "it holds Python objects (pickled), which are never loaded"
            if "pickle" in text
            else text
        )
        raise DataImportError(f"{arg(what)} {path}: cannot read it as an array ({why})") from None
    except OSError as exc:
        raise DataImportError(f"{arg(what)} {path}: cannot read it ({exc})") from None
    where = {"path": str(path.resolve()), "sha256": file_sha256(path), **read}
    if name is not None:
        where["name"] = name
    return np.asarray(a), where


def check_numbers(a: np.ndarray, where: str) -> np.ndarray:
    """``a`` if it is a non-empty array of finite real numbers, else one line saying why."""
    kind = a.dtype.kind
    if kind == "c":
        raise DataImportError(
            f"{where}: complex numbers; store the real and imaginary parts as separate values"
        )
    if kind not in "fiu":
        raise DataImportError(
            f"{where}: dtype {a.dtype}; real numbers (float or integer) are needed"
        )
    if a.ndim == 0 or a.size == 0:
        raise DataImportError(f"{where}: empty (shape {a.shape})")
    if kind == "f":
        bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
        if bad.any():
            raise DataImportError(
                f"{where}: NaN or inf in sample {int(np.flatnonzero(bad)[0])} "
                f"({int(bad.sum())} samples)"
            )
    return a


def _split_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
    """Per-sample labels (0/1/2 or train/val/test, from a file of words or numbers, a first
    row naming the column allowed) -> int8 part numbers."""
    labels = labels.reshape(-1) if labels.ndim == 2 and 1 in labels.shape else labels
    if labels.dtype.kind in "US":
        words = np.char.strip(np.char.lower(labels.astype(str)))
        if len(words) == n + 1 and words[0] not in PART_NAMES:
            words = words[1:]  # a header
        labels = words
    if labels.shape != (n,):
        count = labels.shape[0] if labels.ndim else 0
        raise DataImportError(f"{where}: {count} labels for {n} samples; one per sample is needed")
    if labels.dtype.kind in "US":
        unknown = sorted(set(labels.tolist()) - set(PART_NAMES))
        if unknown:
            raise DataImportError(
                f"{where}: unknown label {unknown[0]!r} (train, val, test or 0, 1, 2)"
            )
        return np.array([PART_NAMES[w] for w in labels], dtype=np.int8)
    check_numbers(labels, where)
    if not np.isin(labels, (0, 1, 2)).all():
        bad = labels[~np.isin(labels, (0, 1, 2))][0]
        raise DataImportError(f"{where}: label {bad} is not 0 (train), 1 (val) or 2 (test)")
    return labels.astype(np.int8)


def _with_validation(parts: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Where no sample is labelled validation, a fixed share of the training part becomes it."""
    if (parts == 1).any():
        return parts
    train = np.flatnonzero(parts == 0)
    n_val = max(1, round(val_fraction * len(train)))
    if n_val >= len(train):
        return parts  # refused below: the training part would be empty
    parts = parts.copy()
    parts[np.random.default_rng(seed).permutation(train)[:n_val]] = 1
    return parts


def _cell_type(dim: int, per_cell: int) -> str:
    return {
        (1, 2): "interval",
        (2, 3): "triangle",
        (2, 4): "quadrilateral",
        (3, 4): "tetrahedron",
        (3, 8): "hexahedron",
    }.get((dim, per_cell), "cell")


def from_arrays(
    inputs: Source,
    targets: Source,
    *,
    out: str | Path,
    test_inputs: Source | None = None,
    test_targets: Source | None = None,
    split: Source | None = None,
    mesh_points: Source | None = None,
    mesh_cells: Source | None = None,
    sensor_points: Source | None = None,
    task: Literal["auto", "regression", "classification"] = "auto",
    header: Header = "auto",
    name: str = "arrays",
    description: str | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Write ``inputs`` (N, ...) and ``targets`` (N, ...) as a complete dataset file ``out``.

    Each array is a numpy array or a file ``FILE[:NAME]``. ``test_inputs``/``test_targets``
    append a fixed test set (a published one); ``split`` instead labels every sample train,
    val or test (0/1/2 or the words). Where neither says which samples validate, a share
    ``val_fraction`` of the training part does (drawn with ``seed``). The split is stored in
    the file and every command honours it. ``task`` "auto" makes 1-D integer targets class
    labels and anything else regression. ``header`` says whether text files start with a
    row of column names (:func:`header_row`; each text source's provenance in the file
    records its rows and the header skipped). Everything is read and checked before ``out``
    is created; ``force`` replaces a file this toolkit made.
    """
    if header not in HEADERS:
        raise DataImportError(f"{arg('header')}: {header!r} is not auto, yes or no")
    if task not in ("auto", "regression", "classification"):
        raise DataImportError(f"{arg('task')}: {task!r} is not auto, regression or classification")
    if not 0 < val_fraction < 1:
        raise DataImportError(f"{arg('val_fraction')}: {val_fraction} must lie in (0, 1)")
    if split is not None and (test_inputs is not None or test_targets is not None):
        raise DataImportError(
            f"give either {arg('split')} or {arg('test_inputs')}/{arg('test_targets')}, not both"
        )
    if (test_inputs is None) != (test_targets is None):
        raise DataImportError(f"{arg('test_inputs')} and {arg('test_targets')} come together")
    sources: dict[str, dict] = {}

    def get(source: Source, what: str, words: bool = False) -> np.ndarray:
        a, where = read_array(source, what, words, header)
        sources[what] = where
        return a

    paths = [s for s in (inputs, targets, test_inputs, test_targets, split, mesh_points,
                         mesh_cells, sensor_points) if isinstance(s, str | Path)]  # fmt: skip
    out = check_file_output(out, force=force, inputs=[parse_source(p)[0] for p in paths])
    x, y = get(inputs, "inputs"), get(targets, "targets")
    label = {k: f"{arg(k)} {v.get('path', '(array)')}" for k, v in sources.items()}
    x, y = check_numbers(x, label["inputs"]), check_numbers(y, label["targets"])
    parts = None
    if test_inputs is not None:
        xt, yt = get(test_inputs, "test_inputs"), get(test_targets, "test_targets")
        for a, b, what in ((x, xt, "inputs"), (y, yt, "targets")):
            check_numbers(
                b, f"{arg('test_' + what)} {sources['test_' + what].get('path', '(array)')}"
            )
            if a.shape[1:] != b.shape[1:]:
                raise DataImportError(
                    f"{arg('test_' + what)}: samples of shape {b.shape[1:]}, the training "
                    f"{what} have {a.shape[1:]}"
                )
        if len(xt) != len(yt):
            raise DataImportError(
                f"{arg('test_inputs')} has {len(xt)} samples, {arg('test_targets')} {len(yt)}"
            )
        parts = np.r_[np.zeros(len(x), np.int8), np.full(len(xt), 2, np.int8)]
        x, y = np.concatenate([x, xt]), np.concatenate([y, yt.astype(y.dtype, copy=False)])
    if len(x) != len(y):
        raise DataImportError(
            f"{label['inputs']} has {len(x)} samples, {label['targets']} {len(y)}"
        )
    n = len(x)
    if split is not None:
        parts = _split_labels(
            get(split, "split", words=True),
            n,
            f"{arg('split')} {sources['split'].get('path', '(array)')}",
        )
    if parts is not None:
        parts = _with_validation(parts, val_fraction, seed)
        for value, part in ((0, "training"), (1, "validation"), (2, "test")):
            if not (parts == value).any():
                raise DataImportError(f"{arg('split')}: the {part} part would be empty")
    x, y = _shaped(x, y, task)
    mesh = _mesh(get, mesh_points, mesh_cells)
    sensors = (
        None
        if sensor_points is None
        else check_numbers(
            np.atleast_2d(get(sensor_points, "sensor_points")).astype(np.float64),
            arg("sensor_points"),
        )
    )
    config = {
        "sources": sources,
        "task": "classification" if y.dtype.kind in "iu" else "regression",
    }
    if parts is not None:
        config["split"] = {
            "val_fraction": val_fraction,
            "seed": seed,
            "test": "test_inputs" in sources,
        }
    try:
        with OutputLock(out), atomic_h5(out, "dataset") as f:
            fmt.write_header(
                f, problem=name, n_samples=n, seed=seed,
                config=json.dumps(config, sort_keys=True),
                versions={"sciml_grow": __version__, "numpy": np.__version__},
                complete=True,
                description=description or f"{name}: arrays imported by sciml-grow import arrays",
            )  # fmt: skip
            for key, values in ((fmt.INPUTS, x), (fmt.TARGETS, y)):
                f.create_dataset(
                    key, data=values, chunks=fmt.sample_chunks(values.shape, values.dtype)
                )
            if y.dtype.kind in "iu":
                f[fmt.TARGETS].attrs["classes"] = int(y.max()) + 1
            f.create_dataset(fmt.DONE, data=np.ones(n, dtype=np.uint8))
            if parts is not None:
                fmt.write_split(f, parts)
            if mesh is not None:
                g = f.create_group(fmt.MESH)
                g.create_dataset("coordinates", data=mesh[0])
                g.create_dataset("cells", data=mesh[1])
                g.attrs["cell_type"] = _cell_type(mesh[0].shape[1], mesh[1].shape[1])
            if sensors is not None:
                f.create_group(fmt.OBSERVATION).create_dataset("points", data=sensors)
            fmt.check_open(f, fmt.CheckReport(out)).raise_if_invalid()
    except OSError as exc:
        raise DataImportError(f"cannot write {out}: {exc}") from None
    return out


def _shaped(x: np.ndarray, y: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, ...) as floats, one feature per sample as (N, 1); targets as class labels
    (N,) or float values (N, ...)."""
    if x.ndim == 1:
        x = x[:, None]
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    labels = task == "classification" or (task == "auto" and y.dtype.kind in "iu" and y.ndim == 1)
    if labels:
        flat = y.reshape(len(y), -1)
        if flat.shape[1] != 1 or not np.array_equal(flat, np.round(flat)) or flat.min() < 0:
            raise DataImportError(
                f"{arg('targets')}: class labels must be one non-negative integer per sample"
            )
        return x, flat[:, 0].astype(np.int64)
    y = y.astype(np.float64) if y.dtype.kind != "f" else y
    return x, (y[:, None] if y.ndim == 1 else y)


def _mesh(get, points: Source | None, cells: Source | None) -> tuple[np.ndarray, np.ndarray] | None:
    if points is None and cells is None:
        return None
    if points is None or cells is None:
        raise DataImportError(f"{arg('mesh_points')} and {arg('mesh_cells')} come together")
    p = check_numbers(get(points, "mesh_points"), arg("mesh_points")).astype(np.float64)
    c = check_numbers(get(cells, "mesh_cells"), arg("mesh_cells"))
    if p.ndim != 2 or not 1 <= p.shape[1] <= 3:
        raise DataImportError(
            f"{arg('mesh_points')}: shape {p.shape}; (vertices, 1..3 coordinates) is needed"
        )
    if c.ndim != 2 or not np.array_equal(c, np.round(c)):
        raise DataImportError(
            f"{arg('mesh_cells')}: (cells, vertices per cell) integers are needed"
        )
    c = c.astype(np.int64)
    if c.min() < 0 or c.max() >= len(p):
        raise DataImportError(f"{arg('mesh_cells')}: refers to vertices outside 0..{len(p) - 1}")
    return p, c


__all__ = ["from_arrays", "parse_source", "read_array"]
