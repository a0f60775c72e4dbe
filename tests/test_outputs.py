"""Nothing lost: what --force may replace, atomic replacement, outputs that are inputs, free
space, locks, resume checks and strict JSON (issue 12, items 1-4 and 7-10)."""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from pde_data.generate import generate
from sciml_grow.cli import main
from sciml_grow.outputs import OutputError, OutputLock, json_text

from .conftest import CLI, needs_fenicsx, run_cli

QUICK = ["--no-progress", "--epochs", "2"]


def train(data: Path, out: Path, *extra: str) -> int:
    return main(["train", "--data", str(data), "--out", str(out), *QUICK, *extra])


@pytest.fixture()
def folder(tmp_path, heat_file) -> Path:
    shutil.copy(heat_file, tmp_path / "heat.h5")
    return tmp_path


# 1. --force replaces only what the toolkit made
def test_force_never_deletes_a_folder_holding_the_data(folder, capsys):
    d = folder / "d"
    d.mkdir()
    shutil.copy(folder / "heat.h5", d / "heat.h5")
    assert train(d / "heat.h5", d, "--force") == 2
    assert (d / "heat.h5").exists()
    assert "input" in capsys.readouterr().err


def test_force_replaces_a_run_that_holds_only_run_files(folder):
    run = folder / "run"
    assert train(folder / "heat.h5", run) == 0
    before = json.loads((run / "final.json").read_text())
    assert train(folder / "heat.h5", run, "--force", "--strategy", "net2deeper") == 0
    after = json.loads((run / "final.json").read_text())
    assert (before["strategy"], after["strategy"]) == ("td", "net2deeper")
    assert sorted(p.name for p in folder.iterdir()) == ["heat.h5", "run"]  # nothing left over


# 2. validation first; a failed replacement leaves the old result intact
def test_failed_run_replacement_keeps_the_finished_run(folder, monkeypatch):
    run = folder / "run"
    assert train(folder / "heat.h5", run) == 0
    final = (run / "final.json").read_bytes()

    from sciml_grow.training.trainer import Trainer

    def crash(self, resume=False):
        self.run.create()
        (self.run.path / "config.json").write_text("{}")
        raise RuntimeError("power cut")

    monkeypatch.setattr(Trainer, "run_training", crash)
    with pytest.raises(RuntimeError):
        train(folder / "heat.h5", run, "--force")
    assert (run / "final.json").read_bytes() == final


def test_failed_dataset_replacement_keeps_the_old_file(folder):
    keep = folder / "heat.h5"
    original = keep.read_bytes()
    # setup fails (sensor outside the domain): nothing replaced, nothing left beside it
    assert main(["generate", "heat", "--samples", "5", "--out", str(keep), "--force",
                 "--set", "sensors.points=[[2,2]]", "--no-progress"]) == 2  # fmt: skip
    assert keep.read_bytes() == original
    # a sample fails (non-finite) after the staging file was created: old file intact
    assert main(["generate", "heat", "--samples", "5", "--out", str(keep), "--force",
                 "--set", "source=1e308", "--no-progress"]) == 2  # fmt: skip
    assert keep.read_bytes() == original
    assert sorted(p.name for p in folder.iterdir()) == ["heat.h5"]


@needs_fenicsx
def test_dataset_replacement_is_staged_and_renamed_when_complete(folder):
    keep = folder / "heat.h5"
    generate("heat", 6, keep, seed=1, progress=False, force=True)
    with h5py.File(keep) as f:
        assert (int(f.attrs["n_samples"]), int(f.attrs["seed"])) == (6, 1) and f.attrs["complete"]
    assert sorted(p.name for p in folder.iterdir()) == ["heat.h5"]


def test_force_refuses_foreign_and_damaged_files(folder):
    for name, content in (("notes.h5", b"not hdf5"), ("other.h5", None)):
        path = folder / name
        if content is None:
            with h5py.File(path, "w") as f:
                f["x"] = 1
        else:
            path.write_bytes(content)
        before = path.read_bytes()
        assert main(["generate", "heat", "--samples", "3", "--out", str(path), "--force"]) == 2
        assert path.read_bytes() == before


# 3. predict, map, import: no silent overwrite, never an input
def test_predict_refuses_to_overwrite_and_never_writes_an_input(folder, capsys):
    run = folder / "run"
    assert train(folder / "heat.h5", run) == 0
    data = folder / "heat.h5"
    original = data.read_bytes()
    args = ["predict", "--run", str(run), "--data", str(data), "--out"]
    assert main([*args, str(data)]) == 2 and main([*args, str(data), "--force"]) == 2
    assert data.read_bytes() == original
    out = folder / "p.h5"
    assert main([*args, str(out)]) == 0
    stamp = out.read_bytes()
    assert main([*args, str(out)]) == 2 and out.read_bytes() == stamp
    assert main([*args, str(out), "--force"]) == 0
    with h5py.File(out) as f:
        assert f.attrs["format"] == "sciml_grow.predictions"
    assert "exists; pass --force" in capsys.readouterr().err


@needs_fenicsx
# 4. free space checked before the file is created
def test_generate_checks_free_space_first(folder, capsys):
    code = main(["generate", "heat", "--samples", "10000000000000", "--out",
                 str(folder / "huge.h5")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "PiB" in err and "free" in err
    assert sorted(p.name for p in folder.iterdir()) == ["heat.h5"]


@needs_fenicsx
# 7. strict JSON: undefined numbers are null
def test_undefined_numbers_are_null_in_run_files(tmp_path):
    path = tmp_path / "noise_free.h5"
    generate("heat", 30, path, seed=2, config={"noise": {"relative_level": 0.0}}, progress=False)
    run = tmp_path / "run"
    one_test_sample = ["--set", "data.test_fraction=0.02"]
    assert main(["train", "--data", str(path), "--out", str(run), *QUICK, *one_test_sample]) == 0
    text = (run / "final.json").read_text()
    final = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in final.json"))
    assert final["obs_misfit"] is None  # no noise: the noise-weighted misfit is undefined
    assert final["test"]["n_samples"] == 1 and final["test"]["rel_l2_std"] is None
    assert json_text({"a": [float("nan"), float("inf"), 1.5]}) == (
        '{\n  "a": [\n    null,\n    null,\n    1.5\n  ]\n}\n'
    )


# 8. resume: same data (content), same settings unless explicitly changed
def interrupted_run(folder: Path) -> Path:
    run = folder / "run"
    assert train(folder / "heat.h5", run) == 0
    (run / "final.json").unlink()  # as if killed after the last checkpoint
    return run


def test_resume_refuses_other_data_and_changed_settings(folder, capsys):
    run = interrupted_run(folder)
    other = folder / "other.h5"
    shutil.copy(folder / "heat.h5", other)
    with h5py.File(other, "r+") as f:
        f["inputs"][0, 0] += 1.0
    assert main(["train", "--resume", str(run), "--data", str(other)]) == 2
    assert "not the data this run began on" in capsys.readouterr().err
    with h5py.File(folder / "heat.h5", "r+") as f:  # the same path, edited since
        f["targets"][1, 1] += 1.0
    assert main(["train", "--resume", str(run)]) == 2
    for flag in (["--set", "optim.lr=0.1"], ["--strategy", "baseline"], ["--seed", "3"]):
        assert main(["train", "--resume", str(run), *flag]) == 2
        assert flag[0] in capsys.readouterr().err
    assert not (run / "final.json").exists()


def test_resume_applies_a_new_epoch_budget_and_says_so(folder, capsys):
    run = interrupted_run(folder)
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-progress"]) == 0
    assert "epochs: 2 -> 4" in capsys.readouterr().out
    assert json.loads((run / "final.json").read_text())["epochs"] == 4
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 4


# 9. one writer per output
def test_lock_is_exclusive_names_its_holder_and_is_removed(tmp_path):
    target = tmp_path / "out.h5"
    with OutputLock(target) as lock:
        assert lock.path.exists()
        with pytest.raises(OutputError, match=f"pid {os.getpid()}"):
            OutputLock(target).acquire()
    assert not lock.path.exists()
    OutputLock(target).acquire().release()  # free again


def paused_when_locked(cmd: list[str], lock: Path) -> subprocess.Popen:
    """Start ``cmd`` and stop it (SIGSTOP) as soon as it holds its output's lock."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not lock.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGSTOP)
    return proc


def finish(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def test_second_train_into_the_same_directory_is_refused(folder):
    """Two real processes: the second gets one line naming the first, which finishes."""
    out = folder / "run"
    args = ["train", "--data", str(folder / "heat.h5"), "--out", str(out), "--no-progress"]
    first = paused_when_locked([*CLI, *args, "--epochs", "300"], folder / "run.lock")
    second = run_cli(*args, "--epochs", "2")
    finish(first)
    assert second.returncode == 2
    assert len(second.stderr.strip().splitlines()) == 1
    assert "another sciml-grow process (pid" in second.stderr
    assert json.loads((out / "final.json").read_text())["epochs"] == 300


@needs_fenicsx
def test_two_generates_into_one_new_file(tmp_path):
    out = tmp_path / "heat.h5"
    args = ["generate", "heat", "--samples", "500", "--out", str(out), "--no-progress"]
    first = paused_when_locked([*CLI, *args], tmp_path / "heat.h5.lock")
    second = run_cli(*args)
    finish(first)
    assert second.returncode == 2 and "another sciml-grow process" in second.stderr
    with h5py.File(out) as f:
        assert f.attrs["complete"] and np.isfinite(f["targets"][()]).all()


# 10. predict reads what the run was trained on
def test_predict_uses_the_runs_data_config(folder, capsys):
    data = folder / "heat.h5"
    with h5py.File(data, "r+") as f:  # a second field of the samples as the input
        f["samples/state_copy"] = f["samples/state"][()]
    run = folder / "run"
    assert train(data, run, "--set", "data.inputs=samples/state_copy") == 0
    out = folder / "pred.h5"
    capsys.readouterr()
    assert main(["predict", "--run", str(run), "--data", str(data), "--out", str(out)]) == 0
    assert "relative L2 error" in capsys.readouterr().out
    with h5py.File(out) as f, h5py.File(data) as g:
        assert f["predictions"].shape == g["targets"].shape
        assert f.attrs["inputs"] == "samples/state_copy"


def test_crash_under_mpiexec_exits_1_with_its_line_and_interrupt_130(tmp_path):
    from .conftest import mpiexec

    code = (
        "from mpi4py import MPI\n"
        "from sciml_grow.cli.common import exit_rank as _exit_rank\n"
        "import sys\n"
        "comm = MPI.COMM_WORLD\n"
        "if comm.rank == 1:\n"
        "    try:\n"
        "        raise {exc}\n"
        "    except BaseException as e:\n"
        "        _exit_rank(comm, e)\n"
        "comm.Barrier()\n"
    )
    # races with mpiexec, each seen here: a plain exit against its SIGKILL of the waiting rank
    # (status 9 about once in 50 runs; in CI), an abort against its forwarding of the error
    # line (cut about once in 3 runs on busy cores); repeat both so that a regression shows
    cases = [("RuntimeError('solver exploded')", 1)] * 4 + [("KeyboardInterrupt", 130)] * 8
    for exc, status in cases:
        r = subprocess.run(
            [mpiexec(), "-n", "2", sys.executable, "-c", code.format(exc=exc)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == status, r.stderr
        assert "Abort" not in r.stderr
        if status == 1:
            assert r.stderr.strip().splitlines()[-1].endswith("RuntimeError: solver exploded")
        else:
            assert r.stderr.strip() == ""


def test_interrupted_replacement_keeps_the_old_run_and_resumes_into_its_place(folder, monkeypatch):
    from sciml_grow.training.trainer import Trainer

    run = folder / "run"
    assert train(folder / "heat.h5", run) == 0
    old = (run / "final.json").read_bytes()
    epoch = Trainer._train_epoch

    def interrupted(self):
        if self.state.epoch == 3:
            raise KeyboardInterrupt
        return epoch(self)

    monkeypatch.setattr(Trainer, "_train_epoch", interrupted)
    args = ["--force", "--strategy", "net2deeper", "--set", "checkpoint_every=1"]
    assert main(["train", "--data", str(folder / "heat.h5"), "--out", str(run),
                 "--no-progress", "--epochs", "6", *args]) == 130  # fmt: skip
    staging = folder / "run.replacing"
    assert (run / "final.json").read_bytes() == old and (staging / "checkpoint.pt").exists()
    monkeypatch.setattr(Trainer, "_train_epoch", epoch)
    assert main(["train", "--resume", str(staging), "--no-progress"]) == 0
    final = json.loads((run / "final.json").read_text())
    assert (final["strategy"], final["epochs"]) == ("net2deeper", 6)
    assert sorted(p.name for p in folder.iterdir()) == ["heat.h5", "run"]


def test_a_user_error_under_mpiexec_is_said_once(tmp_path):
    """An error every rank hits (a refused card, a bad config) gets one line, not one per
    rank; an error only rank 1 hits is still said."""
    from .conftest import mpiexec

    code = (
        "from mpi4py import MPI\n"
        "from sciml_grow.cli.common import exit_rank\n"
        "from sciml_grow.errors import InputError\n"
        "comm = MPI.COMM_WORLD\n"
        "if comm.rank in {ranks}:\n"
        "    try:\n"
        "        raise InputError('bad value')\n"
        "    except InputError as e:\n"
        "        exit_rank(comm, e)\n"
        "comm.Barrier()\n"
    )
    for ranks in ("(0, 1)", "(0, 1)", "(1,)"):
        r = subprocess.run(
            [mpiexec(), "-n", "2", sys.executable, "-c", code.format(ranks=ranks)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("sciml-grow: error: bad value") == 1, r.stderr
