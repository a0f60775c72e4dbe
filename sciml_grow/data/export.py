"""Fields for ParaView: an XDMF file beside a dataset (or a ``predict`` output) that points
into the HDF5 data, so the mesh and the chosen samples' fields open without being copied.

Each chosen sample is one step of a temporal collection; its per-vertex arrays (targets,
states, predictions: anything of shape (N, V) or (N, V, d) with V the mesh's vertices) are
hyperslabs of the HDF5 datasets. ParaView, VisIt and meshio read it with the XDMF 3 reader.
"""

from __future__ import annotations

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
    chosen = list(range(min(n, DEFAULT_SAMPLES))) if samples is None else list(samples)
    bad = [i for i in chosen if not 0 <= i < n]
    if not chosen or bad:
        raise InputError(f"{arg('samples')}: {bad[0] if bad else 'none'} is not a sample of {n}")
    out = Path(out) if out is not None else path.with_suffix(".xdmf")
    _check_output(out, force, (path, data_path))
    nodal = [field for field in fields if field[2][1] == len(mesh.coordinates)]
    if not nodal:
        raise DatasetError(
            f"{path}: no per-vertex fields (arrays of shape (N, {len(mesh.coordinates)}, ...))"
        )
    xml = _document(out.parent, data_path, mesh, nodal, chosen)
    with OutputLock(out):
        atomic_write_bytes(out, xml)
    return out


Field = tuple[str, Path, tuple[int, ...], Any]  # name, file, shape, dtype


def _sources(path: Path) -> tuple[Path, list[Field]]:
    """The dataset holding the mesh, and the candidate fields."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged") from None
    with f:
        tag = str(f.attrs.get("format", ""))
        if tag == "sciml_grow.predictions":  # predict --out: its fields beside the data's
            data_path = Path(str(f.attrs["data"]))
            if not data_path.is_absolute():
                data_path = (Path.cwd() / data_path).resolve()
            fields = [("predictions", path, f["predictions"].shape, f["predictions"].dtype)]
        else:
            data_path, fields = path, []
    with h5py.File(data_path, "r", locking=False) as f:
        fmt.check_format(f, data_path)
        names = [fmt.TARGETS, *(f"{fmt.SAMPLES}/{k}" for k in f[fmt.SAMPLES] if k != "done")]
        for name in names:
            obj = f[name]
            if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.dtype.kind == "f":
                fields.append((name, data_path, obj.shape, obj.dtype))
    return data_path, fields


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
        for name, file, shape, dtype in fields:
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
            start = [i] + [0] * (rank - 1)
            select.text = " ".join(map(str, [*start, *([1] * rank), 1, *per_sample]))
            _item(slab, file, name, shape, dtype, root)
    ET.indent(xdmf)
    body = ET.tostring(xdmf, encoding="unicode")
    head = f'<?xml version="1.0" ?>\n<!-- {MARKER}: {data_path.name}; data stay in HDF5 -->\n'
    return (head + body + "\n").encode()
