"""One run over 2 processes (torchrun, DistributedDataParallel, gloo on CPU) against the same
run in one process: the same growth decisions (epoch, position, eps) and the same numbers up
to the order of the sums (each rank sums its half of every batch and of the training split;
the all-reduce adds the halves), and a DDP run resumed from its checkpoint."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

SCRIPT = Path(__file__).with_name("ddp_run.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")
TOL = 1e-10  # relative: round-off of float64 sums in another order, over 40 epochs


def run(data: Path, out: Path, strategy: str, epochs: int, ranks: int, resume: bool = False):
    args = [str(data), str(out), strategy, str(epochs)] + (["resume"] if resume else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), *args]
    if ranks > 1:
        cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node", str(ranks), *cmd[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def record(out: Path) -> tuple[dict, list[dict]]:
    with open(out / "growth_events.csv", newline="") as fh:
        events = list(csv.DictReader(fh))
    return json.loads((out / "final.json").read_text()), events


def same(a: Path, b: Path) -> None:
    (fa, ea), (fb, eb) = record(a), record(b)
    assert [(e["epoch"], e["position"], e["eps"]) for e in ea] == [
        (e["epoch"], e["position"], e["eps"]) for e in eb
    ]
    assert len([e for e in ea if e["inserted"] == "1"]) >= 2  # growth happened
    for e, f in zip(ea, eb, strict=True):
        for key in ("train_loss_before", "train_loss_after", "val_loss_after"):
            assert float(f[key]) == pytest.approx(float(e[key]), rel=TOL), key
    assert fb["final_depth"] == fa["final_depth"]
    assert fb["test"]["rel_l2_mean"] == pytest.approx(fa["test"]["rel_l2_mean"], rel=TOL)
    assert fb["best_epoch"] == fa["best_epoch"]


@pytest.mark.mpi
@pytest.mark.parametrize("strategy", ["td", "net2deeper", "td:pod"])
def test_two_processes_grow_like_one(heat_train_file, tmp_path, strategy):
    run(heat_train_file, tmp_path / "one", strategy, 40, ranks=1)
    run(heat_train_file, tmp_path / "two", strategy, 40, ranks=2)
    same(tmp_path / "one", tmp_path / "two")
    # rank 0 alone wrote the run directory: the same files as one process
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )


@pytest.mark.mpi
def test_a_ddp_run_resumes_from_its_checkpoint(heat_train_file, tmp_path):
    run(heat_train_file, tmp_path / "one", "td", 40, ranks=1)
    run(heat_train_file, tmp_path / "cut", "td", 40, ranks=2)
    # as if stopped after epoch 20: the checkpoint of a 20-epoch budget, then resumed to 40
    run(heat_train_file, tmp_path / "twice", "td", 20, ranks=2)
    run(heat_train_file, tmp_path / "twice", "td", 40, ranks=2, resume=True)
    same(tmp_path / "one", tmp_path / "twice")


@pytest.mark.mpi
def test_torchrun_runs_the_command_line_train(heat_train_file, tmp_path):
    """``torchrun --nproc_per_node 2 sciml-grow train``: one run directory, one summary line,
    the one-process result."""
    cli = str(Path(sys.executable).with_name("sciml-grow"))
    args = ["train", "--data", str(heat_train_file), "--strategy", "td", "--epochs", "30"]
    args += ["--no-progress", "--set", "model.width=12", "--set", 'dtype="float64"']
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = []
    for ranks in (1, 2):
        out = tmp_path / f"r{ranks}"
        launch = [str(TORCHRUN), "--standalone", "--nproc_per_node", "2"] if ranks > 1 else []
        done = subprocess.run(
            [*launch, cli, *args, "--out", str(out)], capture_output=True, text=True, env=env,
            timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("td seed 0: test relative L2 error") == 1
        outs.append(out)
    same_final = [json.loads((o / "final.json").read_text()) for o in outs]
    assert same_final[1]["test"]["rel_l2_mean"] == pytest.approx(
        same_final[0]["test"]["rel_l2_mean"], rel=TOL
    )
