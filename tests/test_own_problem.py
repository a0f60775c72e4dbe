"""Bring your own PDE: a problem class outside the package, by import path or file path.

The example Poisson source problem (``examples/poisson_source.py``) goes through the same
writer as the built-in ones: 2 ranks give the file 1 rank gives, and an interrupted file
resumes to it. The writer checks a problem's metadata against the format before creating a
file, so a user's mistake is one line, not a file that readers trip over later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from pde_data import get_problem
from pde_data.problem import Problem
from sciml_grow import format as fmt
from sciml_grow.config import ConfigError, Validated

from .conftest import needs_fenicsx, run_cli
from .toy import h5_arrays

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = f"{ROOT / 'examples' / 'poisson_source.py'}:PoissonSource"


@needs_fenicsx
@pytest.mark.mpi
def test_own_problem_is_rank_invariant_and_resumes(tmp_path: Path) -> None:
    files = {}
    for ranks in (1, 2):
        files[ranks] = tmp_path / f"p{ranks}.h5"
        proc = run_cli(
            "generate", EXAMPLE, "--samples", "24", "--out", str(files[ranks]), "--seed", "5",
            "--set", "mesh_cells=8", "--no-progress", ranks=ranks,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    one, two = h5_arrays(files[1]), h5_arrays(files[2])
    assert one.keys() == two.keys() and "samples/state" in one
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)
    assert fmt.check_file(files[1]).ok
    meta = fmt.read_metadata(files[1])
    assert meta.problem == "poisson_source" and meta.mesh.cells.shape == (128, 3)
    # physics: u = 0 on the boundary and B u = the clean observations
    state = one["samples/state"]
    xy = meta.mesh.coordinates  # dolfinx may place the corner at 2.7e-18, not at 0
    boundary = np.any(np.isclose(xy, 0, atol=1e-12) | np.isclose(xy, 1, atol=1e-12), axis=1)
    assert np.abs(state[:, boundary]).max() < 1e-12 and np.abs(state).max() > 1e-4
    np.testing.assert_allclose(state @ meta.sensors.matrix.T, one["samples/obs_clean"])
    # interrupted after half the samples: the rest are redone, the file ends identical
    with h5py.File(files[2], "r+") as f:
        f.attrs["complete"] = False
        f[fmt.DONE][10:] = 0
        for name in (fmt.INPUTS, fmt.TARGETS):
            f[name][10:] = np.nan
    proc = run_cli(
        "generate", EXAMPLE, "--samples", "24", "--out", str(files[2]), "--seed", "5",
        "--set", "mesh_cells=8", "--no-progress", ranks=2,
    )  # fmt: skip
    assert proc.returncode == 0 and "14 samples" in proc.stdout, proc.stdout + proc.stderr
    for key, value in h5_arrays(files[2]).items():
        np.testing.assert_array_equal(value, one[key], err_msg=key)


@dataclass
class ToyConfig(Validated):
    size: int = 3


class NumpyToy(Problem):
    """A problem without FEniCSx: targets = random vectors, inputs = their cumulative sums."""

    name = "numpy_toy"
    config_class = ToyConfig
    cells = np.array([[0, 1, 2]])

    def sample_fields(self) -> dict:
        n = self.config.size
        return {"inputs": ((n,), "f8"), "targets": ((n,), "f8")}

    def metadata(self) -> dict:
        coords = np.eye(self.config.size, 2)
        return {"mesh": {"coordinates": coords, "cells": self.cells}}

    def sample(self, rng: np.random.Generator) -> dict:
        t = rng.standard_normal(self.config.size)
        return {"inputs": np.cumsum(t), "targets": t}

    def versions(self) -> dict:
        return {"numpy": np.__version__}


class BadMesh(NumpyToy):
    cells = np.array([[0, 1, 7]])  # a vertex the mesh does not have


def test_writer_checks_an_own_problem_against_the_format(tmp_path: Path) -> None:
    from pde_data.generate import GenerationError, generate

    summary = generate(NumpyToy, 6, tmp_path / "toy.h5", 1, {"size": 3}, progress=False)
    assert summary.complete and fmt.check_file(tmp_path / "toy.h5").ok
    with pytest.raises(GenerationError, match="vertices outside 0..2"):
        generate(BadMesh, 6, tmp_path / "bad.h5", 1, progress=False)
    assert not list(tmp_path.glob("bad.h5*"))  # nothing left behind
    with pytest.raises(ConfigError, match="size: expected an integer"):
        generate(NumpyToy, 6, tmp_path / "x.h5", 1, {"size": "3"}, progress=False)


def test_problem_lookup_names_what_is_wrong(tmp_path: Path) -> None:
    assert get_problem(NumpyToy) is NumpyToy
    assert get_problem(f"{__name__}:NumpyToy") is NumpyToy
    with pytest.raises(ValueError, match="no 'Nope'"):
        get_problem(f"{__name__}:Nope")
    with pytest.raises(ValueError, match="cannot import the problem module no_such_module"):
        get_problem("no_such_module:Problem")
    with pytest.raises(ValueError, match="does not exist"):
        get_problem(str(tmp_path / "missing.py") + ":P")
    with pytest.raises(ValueError, match="not a pde_data.problem.Problem subclass"):
        get_problem("pathlib:Path")
