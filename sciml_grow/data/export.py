"""Fields for ParaView: an XDMF file beside a dataset (or a ``predict`` output) that points
into the HDF5 data, so the mesh and the chosen samples' fields open without being copied.

Each chosen sample is one step of a temporal collection; its per-vertex arrays (targets,
states, predictions: anything of shape (N, V) or (N, V, d) with V the mesh's vertices) are
hyperslabs of the HDF5 datasets. ParaView, VisIt and meshio read it with the XDMF 3 reader.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any
import xml.etree.ElementTree as ET

import h5py
import numpy as np

from sciml_grow import format as fmt
from sciml_grow.errors import InputError, arg
from sciml_grow.format import DatasetError
from sciml_grow.outputs import (
    OutputError,
    OutputLock,
    atomic_write_bytes,
    check_not_input,
    check_parent,
    file_sha256,
)

MARKER = "written by sciml-grow export"
TOPOLOGY = {"triangle": "Triangle", "tetrahedron": "Tetrahedron"}
DEFAULT_SAMPLES = 10


def export_xdmf(
    path: str | Path,
    samples: list[int] | None = None,
    out: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Write ``<path>.xdmf`` (or ``out``) for a dataset or a predictions file; ``samples``
    are sample indices (default: the first ten). Returns the XDMF path."""
    path = Path(path)
    data_path, fields = _sources(path)
    meta = fmt.read_metadata(data_path)
    mesh = meta.mesh
    if mesh is None or mesh.cell_type not in TOPOLOGY:
        raise DatasetError(f"{data_path}: no triangle or tetrahedron mesh to export fields on")
    n = meta.n_samples
    rows = next((f.rows for f in fields if f.rows is not None), None)  # predictions' samples
    have = list(rows) if rows is not None else list(range(n))
    chosen = have[:DEFAULT_SAMPLES] if samples is None else list(samples)
    bad = [i for i in chosen if not 0 <= i < n]
    if not chosen or bad:
        raise InputError(f"{arg('samples')}: {bad[0] if bad else 'none'} is not a sample of {n}")
    missing = [i for i in chosen if rows is not None and i not in rows]
    if missing:
        shown = ", ".join(map(str, have[:8])) + (", ..." if len(have) > 8 else "")
        raise InputError(
            f"{arg('samples')}: sample {missing[0]} has no prediction in {path} (it holds "
            f"{len(have)} samples: {shown})"
        )
    out = Path(out) if out is not None else path.with_suffix(".xdmf")
    _check_output(out, force, (path, data_path))
    nodal = [field for field in fields if field.shape[1] == len(mesh.coordinates)]
    if not nodal:
        raise DatasetError(
            f"{path}: no per-vertex fields (arrays of shape (N, {len(mesh.coordinates)}, ...))"
        )
    xml = _document(out.parent, data_path, mesh, nodal, chosen)
    with OutputLock(out):
        atomic_write_bytes(out, xml)
    return out


@dataclass(frozen=True)
class Field:
    """A per-sample array to show: its name and file, shape, dtype, and where its rows are
    not the dataset's samples (a predictions file of one split), the row of each sample."""

    name: str
    file: Path
    shape: tuple[int, ...]
    dtype: Any
    rows: dict[int, int] | None = None

    def row(self, sample: int) -> int:
        return sample if self.rows is None else self.rows[sample]


def _open(path: Path) -> h5py.File:
    """An HDF5 file to read, refused if missing, damaged or reading other files."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged") from None
    outside = fmt.outside_problem(f)
    if outside:
        f.close()
        raise DatasetError(f"{path}: {outside}")
    return f


def _sources(path: Path) -> tuple[Path, list[Field]]:
    """The dataset holding the mesh, and the candidate fields. A predictions file names its
    data by absolute path and SHA-256: a file moved, deleted or changed since is refused, and
    its rows are paired with the samples they predict (``indices``), not row for row."""
    with _open(path) as f:
        tag = str(f.attrs.get("format", ""))
        if tag == "sciml_grow.predictions":  # predict --out: its fields beside the data's
            data_path = _predicted_data(f, path)
            preds = f["predictions"]
            n_rows = len(preds)
            indices = f["indices"][()] if "indices" in f else None
            rows = None if indices is None else {int(i): k for k, i in enumerate(indices)}
            fields = [Field("predictions", path, preds.shape, preds.dtype, rows)]
        else:
            data_path, fields, n_rows, rows = path, [], None, None
    with _open(data_path) as f:
        fmt.check_format(f, data_path)
        n = len(f[fmt.INPUTS])
        if n_rows is not None and rows is None and n_rows != n:
            raise DatasetError(
                f"{path}: {n_rows} predictions and no sample indices, but {data_path} holds "
                f"{n} samples; predict again"
            )
        names = [fmt.TARGETS, *(f"{fmt.SAMPLES}/{k}" for k in f[fmt.SAMPLES] if k != "done")]
        for name in names:
            obj = f[name]
            if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.dtype.kind == "f":
                fields.append(Field(name, data_path, obj.shape, obj.dtype))
    return data_path, fields


def _predicted_data(f: h5py.File, path: Path) -> Path:
    """The dataset a predictions file was made from: an absolute path to a file whose bytes
    are the ones predicted on."""
    data_path = Path(str(f.attrs.get("data", "")))
    sha = f.attrs.get("data_sha256")
    if not data_path.is_absolute() or sha is None:
        raise DatasetError(
            f"{path}: made by an older sciml-grow that stored its data by a relative path and "
            "no SHA-256; run predict --out again to export it"
        )
    if not data_path.is_file():
        raise DatasetError(
            f"{path}: its data file {data_path} does not exist (moved or deleted); predict "
            "again on the data where it is now"
        )
    if file_sha256(data_path) != str(sha):
        raise DatasetError(
            f"{path}: its data file {data_path} has changed since the predictions were made; "
            "predict again"
        )
    return data_path


def _check_output(out: Path, force: bool, inputs: tuple[Path, ...]) -> None:
    """A new XDMF file, or with ``force`` one this command wrote; never an input."""
    check_not_input(out, inputs)
    OutputLock(out).check_free()
    if out.is_dir():
        raise OutputError(f"{arg('out')} {out} is a directory; give a file name")
    check_parent(out)
    if out.exists():
        if not force:
            raise OutputError(f"{arg('out')} {out} exists; pass {arg('force')} to replace it")
        if MARKER not in out.read_text(errors="replace")[:300]:
            raise OutputError(
                f"{arg('out')} {out} exists and was not written by sciml-grow export; refusing to "
                "replace it even with --force"
            )


def _item(
    parent: ET.Element, file: Path, name: str, shape: tuple[int, ...], dtype: Any, root: Path
) -> None:
    kind = "Int" if np.dtype(dtype).kind in "iu" else "Float"
    item = ET.SubElement(
        parent,
        "DataItem",
        Dimensions=" ".join(map(str, shape)),
        NumberType=kind,
        Precision=str(np.dtype(dtype).itemsize),
        Format="HDF",
    )
    item.text = f"{os.path.relpath(file, root)}:/{name}"


def _document(
    root: Path,
    data_path: Path,
    mesh: fmt.Mesh,
    fields: list[Field],
    samples: list[int],
) -> bytes:
    """The XDMF text: a temporal collection with one uniform grid per chosen sample."""
    xdmf = ET.Element("Xdmf", Version="3.0")
    collection = ET.SubElement(
        ET.SubElement(xdmf, "Domain"),
        "Grid",
        Name="samples",
        GridType="Collection",
        CollectionType="Temporal",
    )
    for i in samples:
        grid = ET.SubElement(collection, "Grid", Name=f"sample {i}", GridType="Uniform")
        ET.SubElement(grid, "Time", Value=str(i))
        topo = ET.SubElement(
            grid,
            "Topology",
            TopologyType=TOPOLOGY[mesh.cell_type],
            NumberOfElements=str(len(mesh.cells)),
        )
        _item(topo, data_path, "mesh/cells", mesh.cells.shape, mesh.cells.dtype, root)
        geo = ET.SubElement(grid, "Geometry", GeometryType="XYZ" if mesh.dim == 3 else "XY")
        _item(
            geo, data_path, "mesh/coordinates", mesh.coordinates.shape, mesh.coordinates.dtype, root
        )
        for field in fields:
            name, file, shape, dtype = field.name, field.file, field.shape, field.dtype
            vector = len(shape) == 3
            attr = ET.SubElement(
                grid,
                "Attribute",
                Name=name.rpartition("/")[2],
                AttributeType="Vector" if vector else "Scalar",
                Center="Node",
            )
            per_sample = shape[1:]
            slab = ET.SubElement(
                attr,
                "DataItem",
                ItemType="HyperSlab",
                Dimensions=" ".join(map(str, (1, *per_sample))),
                Type="HyperSlab",
            )
            rank = len(shape)
            select = ET.SubElement(slab, "DataItem", Dimensions=f"3 {rank}", Format="XML")
            start = [field.row(i)] + [0] * (rank - 1)
            select.text = " ".join(map(str, [*start, *([1] * rank), 1, *per_sample]))
            _item(slab, file, name, shape, dtype, root)
    ET.indent(xdmf)
    body = ET.tostring(xdmf, encoding="unicode")
    head = f'<?xml version="1.0" ?>\n<!-- {MARKER}: {data_path.name}; data stay in HDF5 -->\n'
    return (head + body + "\n").encode()
