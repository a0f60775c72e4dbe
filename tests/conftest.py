"""Shared fixtures: small generated datasets and helpers to run the CLI (also under mpiexec)."""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

BIN = Path(sys.executable).parent
CLI = [sys.executable, "-m", "sciml_grow.cli"]
FIXTURES = Path(__file__).parent / "fixtures"  # committed data: tests/fixtures/regenerate.sh


def fenicsx_available() -> bool:
    try:
        from mpi4py import MPI  # noqa: F401
        import dolfinx  # noqa: F401
    except ImportError:
        return False
    return True


# tests that generate data with FEniCSx; `make test-torch` runs the rest without it
needs_fenicsx = pytest.mark.skipif(not fenicsx_available(), reason="needs FEniCSx (dolfinx)")
# modules about the generators themselves (they import dolfinx at the top)
FENICSX_MODULES = [
    "test_generate.py",
    "test_heat_physics.py",
    "test_navier_stokes.py",
    "test_prior.py",
    "test_wind.py",
]
collect_ignore = [] if fenicsx_available() else FENICSX_MODULES


def mpiexec() -> str:
    """The mpiexec matching this interpreter's MPI (the FEniCSx wheel puts it in the venv)."""
    found = BIN / "mpiexec" if (BIN / "mpiexec").exists() else shutil.which("mpiexec")
    if not found:
        pytest.skip("no mpiexec")
    return str(found)


def run_cli(*args: str, ranks: int | None = None, timeout: float = 300, **kw):
    """Run ``sciml-grow ARGS`` in a subprocess (under mpiexec -n ranks if given)."""
    cmd = ([mpiexec(), "-n", str(ranks)] if ranks else []) + CLI + list(args)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


@pytest.fixture(scope="session")
def heat_file(tmp_path_factory) -> Path:
    """A small complete heat dataset (48 samples, 8 x 8 mesh; committed, see FIXTURES)."""
    return _copy(tmp_path_factory, "heat.h5")


def _copy(tmp_path_factory, name: str) -> Path:
    """A private copy of a committed fixture file (tests write beside their data)."""
    path = tmp_path_factory.mktemp("data") / name
    shutil.copy(FIXTURES / name, path)
    return path


@pytest.fixture(scope="session")
def heat_target_file(tmp_path_factory) -> Path:
    """A transfer target like heat_train_file with a shorter correlation length (committed)."""
    return _copy(tmp_path_factory, "heat_target.h5")


@pytest.fixture(scope="session")
def heat_robin_file(tmp_path_factory) -> Path:
    """A small heat dataset with the Robin condition on the top side (generated)."""
    if not fenicsx_available():
        pytest.skip("needs FEniCSx (dolfinx) to generate")
    from pde_data.generate import generate

    path = tmp_path_factory.mktemp("data") / "heat_robin.h5"
    cfg = {"top_boundary": "robin", "robin_coefficient": 2.5, "mesh_cells": 12}
    generate("heat", 8, path, seed=1, config=cfg, progress=False)
    return path


@pytest.fixture(scope="session")
def heat_train_file(tmp_path_factory) -> Path:
    """A heat dataset big enough to train on (240 samples, 8 x 8 mesh; committed)."""
    return _copy(tmp_path_factory, "heat_train.h5")


# Small, fast training settings under which every strategy grows a few times.
QUICK_SETTINGS = {
    "model.width": 12,
    "growth.min_phase_epochs": 8,
    "growth.every": 12,
    "growth.max_blocks": 5,
    "optim.lr": 3e-3,
    "dtype": "float64",
    "optim.batch_size": 32,
    "growth.stop_on_stall": False,
}


def set_args(settings: dict) -> list[str]:
    """``--set key=value`` arguments for a settings dict."""
    return [a for k, v in settings.items() for a in ("--set", f"{k}={json.dumps(v)}")]


QUICK = [*set_args(QUICK_SETTINGS), "--no-progress"]


def quick_config(**extra: object):
    """The quick settings as a TrainConfig, with ``extra`` keys (dotted) on top."""
    from sciml_grow.config import apply_overrides, from_dict
    from sciml_grow.training.config import TrainConfig

    settings = {**QUICK_SETTINGS, **extra}
    return from_dict(TrainConfig, apply_overrides({}, set_args(settings)[1::2]))


def resumed_after_crash(cfg, data, path: Path, monkeypatch, at: int) -> None:
    """Train ``cfg`` on ``data`` into ``path``, die (KeyboardInterrupt) at the ``at``-th epoch,
    then resume the run from its checkpoint to the end."""
    from sciml_grow.training.rundir import RunDir
    from sciml_grow.training.trainer import Trainer

    crashing = Trainer(cfg, data, RunDir(path), progress=False)
    real_epoch, calls = crashing._train_epoch, {"n": 0}

    def epoch_then_crash():
        calls["n"] += 1
        if calls["n"] == at:
            raise KeyboardInterrupt
        return real_epoch()

    monkeypatch.setattr(crashing, "_train_epoch", epoch_then_crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.run_training()
    assert not RunDir(path).finished()
    Trainer(cfg, data, RunDir(path), progress=False).run_training(resume=True)
