"""Bad input through the command line: one line naming the culprit, exit 2, nothing written.

Every case runs ``sciml-grow`` (in-process, which is the same code path as the console script)
in a folder holding a dataset, a finished run, damaged files and a lock held by "another
process"; the folder's files are fingerprinted before and after, so a case that creates,
changes or removes anything fails.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
import shutil

import h5py
import numpy as np
import pytest

from sciml_grow.cli import main
from sciml_grow.outputs import OutputLock

from .conftest import needs_fenicsx

QUICK = ["--no-progress", "--epochs", "2"]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, size and content hash."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_dir():
            out[str(p.relative_to(root))] = ("dir",)
        else:
            out[str(p.relative_to(root))] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def edited_copy(src: Path, dst: Path, edit) -> None:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)


def complex_inputs(f: h5py.File) -> None:
    x = f["inputs"][()]
    del f["inputs"]
    f["inputs"] = x.astype(np.complex128)


def group_inputs(f: h5py.File) -> None:
    del f["inputs"]
    f.create_group("inputs")


def no_samples(f: h5py.File) -> None:
    for name in ("inputs", "targets"):
        shape = f[name].shape
        del f[name]
        f.create_dataset(name, shape=(0, *shape[1:]), dtype="f8")
    f.attrs["n_samples"] = 0


def nan_target(f: h5py.File) -> None:
    f["targets"][3, 0] = np.nan


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, heat_file) -> Path:
    """A user's folder: data, a finished run, damaged files, foreign files."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(heat_file, root / "heat.h5")
    assert main(["train", "--data", str(root / "heat.h5"), "--out", str(root / "run"), *QUICK]) == 0
    edited_copy(heat_file, root / "complex.h5", complex_inputs)
    edited_copy(heat_file, root / "group.h5", group_inputs)
    edited_copy(heat_file, root / "empty.h5", no_samples)
    edited_copy(heat_file, root / "nan.h5", nan_target)
    edited_copy(heat_file, root / "nsamples.h5", lambda f: f.attrs.__setitem__("n_samples", 7))
    edited_copy(heat_file, root / "nodone.h5", lambda f: f.__delitem__("samples/done"))
    edited_copy(heat_file, root / "nocomplete.h5", lambda f: f.attrs.__delitem__("complete"))
    with h5py.File(root / "foreign.h5", "w") as f:
        f["x"] = np.arange(3)
    (root / "folder").mkdir()
    (root / "notes.txt").write_text("a user's file\n")
    (root / "mixed").mkdir()  # a run directory someone added a file to
    for name in ("config.json", "final.json"):
        shutil.copy(root / "run" / name, root / "mixed" / name)
    (root / "mixed" / "thesis.tex").write_text("precious\n")
    (root / "cfg.yaml").write_text("epochs: 3\n")
    return root


GEN = "generate heat --samples 5 --out {d}/new.h5 --no-progress"
TRAIN = "train --data {d}/heat.h5 --out {d}/r"
PREDICT = "predict --run {d}/run --data {d}/heat.h5"
# (arguments with {d} for the folder, text the one error line must contain)
CASES = [
    # generate
    (GEN + " --seed 99999999999999999999999", "--seed"),
    (GEN + " --set prior.correlation_length=1e-300", "prior.correlation_length"),
    (GEN + " --set prior.correlation_length=1e300", "prior.correlation_length"),
    (GEN + " --set mesh_cells=100000", "mesh_cells"),
    ("generate heat --samples 10000000000000 --out {d}/new.h5", "free"),
    (GEN + " --set source=1e308", "source"),
    (GEN + " --set prior.mean=1e5", "prior.mean"),
    (GEN + " --set prior.std=1000", "prior.std"),
    ('generate wind --samples 1 --out {d}/new.h5 --set hills=[{{"x":1000}}]', "hills[0]"),
    ("generate wind --samples 1 --out {d}/new.h5 --set alpha_v=0", "alpha_v"),
    ("generate heat --samples 5 --out {d}/folder --force", "directory"),
    ("generate heat --samples 5 --out {d}/foreign.h5 --force", "not a sciml_grow dataset"),
    (
        "generate heat --samples 5 --out {d}/heat.h5 --force --set sensors.points=[[2,2]]",
        "sensors.points",
    ),
    ("generate heat --samples 5 --out {d}/locked.h5", "another sciml-grow process"),
    (GEN + " --config {d}/cfg.yaml", "YAML"),
    # train and finetune
    (TRAIN + " --set optim.lr=1e308", "optim.lr"),
    (TRAIN + " --set model.width=100000", "model.width"),
    (TRAIN + " --strategy baseline --set baseline_spec=5", "baseline_spec"),
    (TRAIN + " --set growth.min_phase_epochs=-5", "growth.min_phase_epochs"),
    (TRAIN + " --seed 99999999999999999999999", "seed"),
    ("train --data {d}/empty.h5 --out {d}/r", "empty.h5"),
    ("train --data {d}/group.h5 --out {d}/r", "group"),
    ("train --data {d}/complex.h5 --out {d}/r", "complex"),
    ("train --data {d}/nsamples.h5 --out {d}/r", "n_samples"),
    ("train --data {d}/nan.h5 --out {d}/run --force", "NaN"),
    ("train --data {d}/heat.h5 --out {d}/notes.txt", "notes.txt"),
    ("train --data {d}/heat.h5 --out {d}/heat.h5", "input"),
    ("train --data {d}/heat.h5 --out {d} --force", "input"),
    ("train --data {d}/heat.h5 --out {d}/mixed --force", "thesis.tex"),
    ("train --data {d}/heat.h5 --out {d}/run", "--force"),
    ("train --data {d}/heat.h5 --out {d}/locked", "another sciml-grow process"),
    ("train --resume {d}/run --set optim.lr=1", "--set"),
    ("finetune --run {d}/run --data {d}/heat.h5 --out {d}/f --adapters 1000", "finetune.adapters"),
    ("finetune --run {d}/run --data {d}/heat.h5 --out {d}/run", "input"),
    # predict, map, import, compare, info
    (PREDICT + " --out {d}/folder", "directory"),
    (PREDICT + " --out {d}/notes.txt/p.h5", "not a directory"),
    (PREDICT + " --out {d}/heat.h5 --force", "input"),
    (PREDICT + " --out {d}/foreign.h5 --force", "not written by sciml-grow"),
    (PREDICT + " --out {d}/nan.h5", "--force"),
    ("map --data {d}/heat.h5 --samples -1", "--samples"),
    ("map --data {d}/heat.h5 --out {d}/folder", "directory"),
    ("map --data {d}/heat.h5 --out {d}/heat.h5 --force", "input"),
    ("import digits --out {d}/heat.h5", "--force"),
    ("import digits --out {d}/foreign.h5 --force", "not written by sciml-grow"),
    ("compare --data {d}/heat.h5 --out {d}/notes.txt --seeds 1", "notes.txt"),
    ("compare --data {d}/heat.h5 --out {d}/folder2 --reference-samples -5", "--reference-samples"),
    ("compare --data {d}/heat.h5 --out {d}/run --seeds 1", "no comparison"),
    ("info {d}/nodone.h5", "samples/done"),
    ("info {d}/nocomplete.h5", "complete"),
    ("info {d}/foreign.h5", "not a sciml_grow dataset"),
    (TRAIN + " --strategy nope", "nope"),
    ("generate heat", "--samples"),
]


def _params(cases: list[tuple[str, str]]) -> list:
    """The cases as test parameters; those of ``generate`` need FEniCSx to reach the check."""
    return [
        pytest.param(c, k, id=c[:60], marks=needs_fenicsx if c.startswith("generate") else ())
        for c, k in cases
    ]


@pytest.mark.parametrize("command, culprit", _params(CASES))
def test_bad_input_gets_one_line_and_writes_nothing(workdir, command, culprit, capsys):
    capsys.readouterr()
    before = snapshot(workdir)
    argv = command.format(d=workdir).split()
    with OutputLock(workdir / "locked.h5"), OutputLock(workdir / "locked"):  # "another process"
        code = main(argv)
    out, err = capsys.readouterr()
    assert code not in (0, 130), (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sciml-grow: error: ") and "sciml-grow: error: sciml-grow" not in err
    assert culprit in lines[0], lines[0]
    assert "Traceback" not in err + out
    assert snapshot(workdir) == before


def test_every_case_of_the_issue_list_is_covered():
    """The cases name every key of the issue's list (a guard against dropping one)."""
    text = " ".join(c for c, _ in CASES)
    for key in ("--seed 9999", "correlation_length=1e-300", "correlation_length=1e300",
                "mesh_cells=100000", 'hills=[{{"x"', "optim.lr=1e308", "model.width=100000",
                "baseline_spec=5", "empty.h5", "group.h5", "nodone.h5", "nocomplete.h5",
                "--out {d}/folder", "notes.txt", "--adapters 1000", "--samples -1",
                "--reference-samples -5", "min_phase_epochs=-5", "nsamples.h5", "alpha_v=0",
                "complex.h5"):  # fmt: skip
        assert key in text, key


def test_json_files_of_a_run_are_strict(workdir):
    for name in ("config.json", "final.json"):
        json.loads((workdir / "run" / name).read_text(), parse_constant=_refuse)


def _refuse(token: str) -> None:
    raise AssertionError(f"non-JSON constant {token}")
