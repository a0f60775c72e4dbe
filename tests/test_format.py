"""The file contract: header writer, typed reader, schema checker and ``sciml-grow check``.

Files are written by hand here (h5py only), so these tests need neither FEniCSx nor torch
models: each damage is made to a valid file and must be named by the checker.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from sciml_grow import format as fmt
from sciml_grow.cli import main

from .toy import K, N, V, write_valid


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    return write_valid(tmp_path / "toy.h5")


def test_valid_file_and_typed_metadata(valid: Path) -> None:
    report = fmt.check_file(valid)
    assert report.ok and report.warnings == [], report.text()
    assert any("MAP" in s for s in report.supports)
    assert any("POD" in s for s in report.supports)
    meta = fmt.read_metadata(valid)
    assert (meta.problem, meta.n_samples, meta.seed, meta.complete) == ("toy", N, 3, True)
    assert meta.config == {"a": 1} and meta.versions == {"numpy": np.__version__}
    assert meta.mesh.cells.shape == (4, 3) and meta.mesh.cell_type == "triangle"
    assert meta.sensors.matrix.shape == (K, V) and meta.sensors.linear
    assert meta.grid.shape == (3, 3) and meta.operator_kind == "toy_operator"
    assert meta.noise["relative_level"] == 0.01
    assert meta.arrays[fmt.TARGETS] == ((V,), "float64")
    assert meta.has(fmt.NOISE_STD) and meta.has(fmt.PRIOR_PRECISION)
    assert not meta.has("samples/nothing")
    with h5py.File(valid, "r") as f:
        mean, factor = fmt.read_prior(f, valid)
    assert mean.shape == (V,) and factor.shape == (V, V)
    np.testing.assert_array_equal(fmt.read_samples(valid, fmt.NOISE_STD, [2, 5]), [0.01, 0.01])


def test_metadata_is_read_once_per_file_version(valid: Path) -> None:
    first = fmt.read_metadata(valid)
    assert fmt.read_metadata(str(valid)) is first  # cached: the file is not opened again
    with h5py.File(valid, "r+") as f:
        f.attrs["problem"] = "renamed"
    st = valid.stat()
    os.utime(valid, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fmt.read_metadata(valid).problem == "renamed"


def _damage(path: Path, edit) -> Path:
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _set(name: str, value):
    def edit(f: h5py.File) -> None:
        del f[name]
        f[name] = value

    return edit


DAMAGES = {
    "no targets": (lambda f: f.__delitem__(fmt.TARGETS), "no 'targets' dataset"),
    "targets short": (_set(fmt.TARGETS, np.zeros((N - 1, V))), "'inputs' has 12 samples"),
    "complex inputs": (_set(fmt.INPUTS, np.zeros((N, K), complex)), "real numbers"),
    "n_samples edited": (lambda f: f.attrs.__setitem__("n_samples", 99), "n_samples = 99"),
    "header attr gone": (lambda f: f.attrs.__delitem__("versions"), "missing: versions"),
    "bad JSON": (lambda f: f.attrs.__setitem__("config", "{oops"), "'config' is not valid JSON"),
    "done short": (_set(fmt.DONE, np.ones(3, np.uint8)), "'samples/done' is missing"),
    "complete, not done": (_set(fmt.DONE, np.zeros(N, np.uint8)), "only 0 of 12"),
    "NaN target": (lambda f: f[fmt.TARGETS].__setitem__((7, 2), np.nan), "sample 7"),
    "cell index": (_set("mesh/cells", np.array([[0, 1, 99]])), "vertices outside 0..8"),
    "sample array": (_set(fmt.NOISE_STD, np.ones(3)), "'samples/noise_std' must hold"),
    "prior shape": (_set("prior/mean", np.zeros(3)), "prior mean has 3 entries"),
    "grid shape": (_set("grid/shape", np.array([4, 4])), "does not hold 9 points"),
    "operator kind": (lambda f: f["operators"].attrs.__delitem__("kind"), "no 'kind'"),
    "newer version": (lambda f: f.attrs.__setitem__("format_version", 99), "newer"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_checker_names_each_damage(valid: Path, case: str) -> None:
    edit, expected = DAMAGES[case]
    report = fmt.check_file(_damage(valid, edit))
    assert not report.ok
    assert any(expected in e for e in report.errors), report.text()


def test_foreign_file_with_inputs_and_targets_is_valid_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "mine.h5"
    with h5py.File(path, "w") as f:
        f["inputs"] = np.ones((5, 3))
        f["targets"] = np.arange(5)
    report = fmt.check_file(path)
    assert report.ok and "format tag" in report.warnings[0]
    assert "classification, 5 samples" in report.supports[0]
    assert not fmt.read_metadata(path).tagged


def test_incomplete_file_is_valid_but_warned_and_only_written_rows_scanned(valid: Path) -> None:
    def half_written(f: h5py.File) -> None:
        f.attrs["complete"] = False
        f[fmt.DONE][6:] = 0
        f[fmt.TARGETS][8] = np.nan  # not written yet: NaN is the fill value

    report = fmt.check_file(_damage(valid, half_written))
    assert report.ok and "6 of 12" in report.warnings[0]


def test_check_command(valid: Path, tmp_path: Path, capsys) -> None:
    assert main(["check", str(valid)]) == 0
    assert "valid" in capsys.readouterr().out
    bad = _damage(valid, lambda f: f.attrs.__setitem__("n_samples", 99))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "n_samples = 99" in err[0]
    (tmp_path / "text.h5").write_text("not hdf5")
    assert main(["check", str(tmp_path / "text.h5")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err
