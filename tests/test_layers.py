"""The import layers hold (import-linter's contracts in pyproject.toml) and would catch a
module that imports upward."""

from __future__ import annotations

import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def lint(where: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_repository_keeps_every_layer_contract():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # a strategy reading run directories: growth -> training
        ("sciml_grow/growth/strategies.py", "from sciml_grow.training import rundir", "Layers"),
        # the version from the package's front door
        ("sciml_grow/data/imports.py", "from sciml_grow import __version__", "front door"),
        # a generator importing the torch half
        ("pde_data/observe.py", "import sciml_grow.nets", "torch-free"),
        # the torch half importing the generators
        ("sciml_grow/data/dataset.py", "import pde_data.generate", "without FEniCSx"),
        # inside a package: the trainer reaching up to the run lifecycle
        ("sciml_grow/training/trainer.py", "import sciml_grow.training.lifecycle", "training/"),
    ],
)
def test_an_upward_import_breaks_a_contract(tmp_path, module, line, contract):
    for name in ("sciml_grow", "pde_data"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    done = lint(tmp_path)
    assert done.returncode == 1, done.stdout[-2000:]
    assert broken(done.stdout) and any(contract in name for name in broken(done.stdout)), (
        done.stdout
    )


def broken(report: str) -> list[str]:
    """The names of the contracts lint-imports reports broken (long names wrap over lines)."""
    listing = report.split("dependencies.")[-1].split("Contracts:")[0]
    pairs = re.findall(r"(.*?)\s(KEPT|BROKEN)\b", " ".join(listing.split()))
    return [name.strip(" -") for name, verdict in pairs if verdict == "BROKEN"]
