"""XDMF export: the file parses, every HDF5 reference names an existing dataset of the stated
shape, each chosen sample is one hyperslab row, and nothing is overwritten by surprise."""

from __future__ import annotations

from pathlib import Path
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest

from sciml_grow.cli import main
from sciml_grow.data.export import export_xdmf
from sciml_grow.outputs import OutputError, atomic_h5, file_sha256

from .toy import N, V, write_valid


def references(xdmf: Path) -> list[tuple[ET.Element, ET.Element | None]]:
    """Every HDF DataItem of the file, with its enclosing hyperslab (if any); each checked
    against the HDF5 file it points to."""
    tree = ET.parse(xdmf)
    parents = {child: parent for parent in tree.iter() for child in parent}
    found = []
    for item in tree.iter("DataItem"):
        if item.get("Format") != "HDF":
            continue
        file, _, name = item.text.strip().partition(":/")
        dims = tuple(int(d) for d in item.get("Dimensions").split())
        with h5py.File(xdmf.parent / file, "r") as f:
            assert name in f, name
            assert f[name].shape == dims, (name, f[name].shape, dims)
            assert int(item.get("Precision")) == f[name].dtype.itemsize
        parent = parents[item]
        found.append((item, parent if parent.get("ItemType") == "HyperSlab" else None))
    return found


def test_dataset_export_points_into_the_file(tmp_path: Path) -> None:
    data = write_valid(tmp_path / "toy.h5")
    xdmf = export_xdmf(data, samples=[0, 5, 11])
    assert xdmf == tmp_path / "toy.xdmf"
    grids = [g for g in ET.parse(xdmf).iter("Grid") if g.get("GridType") == "Uniform"]
    assert [g.get("Name") for g in grids] == ["sample 0", "sample 5", "sample 11"]
    assert grids[1].find("Topology").get("NumberOfElements") == "4"
    refs = references(xdmf)
    slabs = [(item.text, slab) for item, slab in refs if slab is not None]
    names = {text.partition(":/")[2] for text, _ in slabs}
    assert names == {"targets"}  # the only (N, V) field of the toy file
    rows = []
    for _, slab in slabs:
        start, stride, count = np.array(slab[0].text.split(), int).reshape(3, -1)
        assert list(stride) == [1, 1] and list(count) == [1, V]
        rows.append(int(start[0]))
    assert rows == [0, 5, 11]
    with pytest.raises(OutputError, match="exists; pass force=True"):
        export_xdmf(data)
    assert export_xdmf(data, force=True) == xdmf
    uniform = [g for g in ET.parse(xdmf).iter("Grid") if g.get("GridType") == "Uniform"]
    assert len(uniform) == 10  # the default: the first ten of the file's 12 samples
    with pytest.raises(ValueError, match="12 is not a sample"):
        export_xdmf(data, samples=[12], force=True)


def test_predictions_export_and_foreign_files_refused(tmp_path: Path) -> None:
    data = write_valid(tmp_path / "toy.h5")
    pred = tmp_path / "pred.h5"
    with atomic_h5(pred, "predictions") as f:
        f["predictions"] = np.ones((N, V))
        f.attrs["data"] = str(data.resolve())
        f.attrs["data_sha256"] = file_sha256(data)
    xdmf = export_xdmf(pred, samples=[2])
    names = {item.text.strip() for item, slab in references(xdmf) if slab is not None}
    assert names == {"pred.h5:/predictions", "toy.h5:/targets"}
    foreign = tmp_path / "mine.xdmf"
    foreign.write_text("<Xdmf/>")
    with pytest.raises(OutputError, match="not written by sciml-grow"):
        export_xdmf(data, out=foreign, force=True)
    assert foreign.read_text() == "<Xdmf/>"


def test_export_command(tmp_path: Path, capsys) -> None:
    data = write_valid(tmp_path / "toy.h5")
    assert main(["export", str(data), "--samples", "1,2"]) == 0
    assert "toy.xdmf" in capsys.readouterr().out
    assert main(["export", str(data), "--samples", "x"]) == 2
    assert main(["export", str(tmp_path / "missing.h5")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.h5: no such file" in err[1]
