"""The trainer and `sciml-grow train/predict`: growth behaviour, resume, fairness, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import torch

from sciml_grow.cli import main
from sciml_grow.data.dataset import Dataset
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.trainer import Trainer

from .conftest import CLI, QUICK, quick_config, resumed_after_crash, run_cli

STRATEGIES = [
    "td",
    "sensli",
    "periodic",
    "random-1",
    "random-2",
    "net2deeper",
    "forward-thinking",
    "layerwise",
    "layerwise+srl",
    "baseline",
]


def train(tmp_path, data, strategy: str, *more: str, epochs: int = 60) -> RunDir:
    out = tmp_path / strategy
    args = [
        "train",
        "--data",
        str(data),
        "--strategy",
        strategy,
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        *QUICK,
        *more,
    ]
    assert main(args) == 0
    return RunDir(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, heat_train_file):
    """One finished run per strategy on the same file (baseline gets td's architecture)."""
    base = tmp_path_factory.mktemp("runs")
    out = {s: train(base, heat_train_file, s) for s in STRATEGIES if s != "baseline"}
    out["baseline"] = train(
        base, heat_train_file, "baseline", "--baseline-from", str(out["td"].path)
    )
    return out


@pytest.mark.parametrize("strategy", ["td", "sensli"])
def test_td_and_sensli_insertions_lower_the_loss(runs, strategy):
    """Each insertion lowers the training loss at once (the objective the eigenproblem or the
    gradient and the line search optimize), barely moves the validation loss, and the phase it
    starts brings the validation loss below where it stood before the insertion."""
    run = runs[strategy]
    events = [e for e in run.read_csv("growth_events.csv") if e["inserted"] == "1"]
    val = {int(r["epoch"]): float(r["val_loss"]) for r in run.read_csv("metrics.csv")}
    assert len(events) >= 2
    bounds = [int(e["epoch"]) for e in events] + [max(val)]
    for e, end in zip(events, bounds[1:], strict=True):
        before = float(e["val_loss_before"])
        assert float(e["train_loss_after"]) < float(e["train_loss_before"])
        assert abs(float(e["val_loss_after"]) - before) < 0.01 * before
        assert min(val[k] for k in range(int(e["epoch"]) + 1, end + 1)) < before
        assert float(e["predicted_change"]) < 0 and float(e["eps"]) > 0
        scores = [float(v) for v in e["scores"].split(";")]
        assert len(scores) == int(e["depth_after"])  # every candidate of the network before
        assert int(e["position"]) == int(np.argmax(scores))


def test_every_strategy_sees_the_same_split_and_budget(runs):
    records = {s: r.read_json("config.json") for s, r in runs.items()}
    sizes = {json.dumps(r["split_sizes"]) for r in records.values()}
    assert len(sizes) == 1
    for s, r in runs.items():
        assert len(r.read_csv("metrics.csv")) == 60, s
        final = r.read_json("final.json")
        assert final["epochs"] == 60 and final["strategy"] == s
        assert 0 < final["test"]["rel_l2_mean"] < 1.5
        assert final["obs_misfit"] > 0 and 0 <= final["zero_weight_fraction"] < 1


def test_strategies_grow_as_specified(runs):
    def blocks(s: str) -> list[dict]:
        return torch.load(runs[s].path / "checkpoint.pt", weights_only=False)["spec"]["blocks"]

    assert [b["origin"] for b in blocks("net2deeper")][:2] == ["initial", "initial"]
    assert all(b["residual"] for b in blocks("net2deeper"))
    ft = blocks("forward-thinking")
    assert any(not b["residual"] for b in ft)
    assert all(not b["trainable"] for b in ft[:-1]) and ft[-1]["trainable"]
    td_events = runs["td"].read_csv("growth_events.csv")
    r1_events = runs["random-1"].read_csv("growth_events.csv")
    assert r1_events[0]["position"] == td_events[0]["position"]  # td's place...
    assert r1_events[0]["eps"] == td_events[0]["eps"]  # ...and td's norm
    base = runs["baseline"].read_json("final.json")["architecture"]
    td_arch = runs["td"].read_json("final.json")["architecture"]
    assert [b["activation"] for b in base["blocks"]] == [b["activation"] for b in td_arch["blocks"]]
    assert runs["baseline"].read_csv("growth_events.csv") == []
    assert {b["activation"] for b in blocks("sensli")} == {"tanh"}  # sigma'(0) = 1
    assert "sensli" in {b["origin"] for b in blocks("sensli")}


def test_periodic_grows_on_its_schedule_at_random_depths(runs):
    """Every growth.every = 12 epochs (plateau or not; the config says plateau), at random
    depths, until growth.max_blocks = 5: the AutoGrow-style baseline."""
    events = runs["periodic"].read_csv("growth_events.csv")
    assert runs["periodic"].read_json("config.json")["config"]["growth"]["trigger"] == "plateau"
    assert [int(e["epoch"]) for e in events] == [12, 24, 36, 48][: len(events)]
    inserted = [e for e in events if e["inserted"] == "1"]
    assert len(inserted) == 3 and events[-1]["reason"] == "maximum depth 5 reached"
    assert len({e["position"] for e in inserted}) > 1
    # a random block changes the function (unlike td's, sensli's or net2deeper's)
    assert all(e["train_loss_after"] != e["train_loss_before"] for e in inserted)


def test_net2deeper_and_td_insertions_keep_the_function(heat_train_file, tmp_path):
    data = Dataset(heat_train_file, quick_config().data)
    for strategy in ("net2deeper", "td"):
        cfg = quick_config(strategy=strategy, epochs=10)
        trainer = Trainer(cfg, data, RunDir(tmp_path / strategy), progress=False)
        trainer.run_training()
        lift_state = trainer.opt.state[trainer.model.lift.weight]
        before = trainer.model(trainer.x_val).detach()
        trainer.state.growing = True
        event = trainer._grow(trainer._val_loss())
        after = trainer.model(trainer.x_val).detach()
        assert event.inserted
        if strategy == "net2deeper":
            assert torch.equal(before, after)
        else:  # a new function, chosen by the line search to lower the training loss
            assert not torch.equal(before, after) and event.eps > 0
            assert event.train_loss_after < event.train_loss_before
        # existing parameters keep their AdamW moments; the new block starts fresh
        assert trainer.opt.state[trainer.model.lift.weight] is lift_state
        new = trainer.model.blocks[event.position].linear.weight
        assert new not in trainer.opt.state


def test_forward_thinking_leaves_frozen_layers_bitwise_unchanged(runs, heat_train_file, tmp_path):
    cfg = quick_config(strategy="forward-thinking", epochs=30)
    trainer = Trainer(
        cfg, Dataset(heat_train_file, cfg.data), RunDir(tmp_path / "ft"), progress=False
    )
    trainer.run_training()
    frozen = [b for b in trainer.model.blocks if not b.spec.trainable]
    assert frozen
    snapshot = [b.linear.weight.detach().clone() for b in frozen]
    for _ in range(3):
        trainer._train_epoch()
    for b, w in zip(frozen, snapshot, strict=True):
        assert torch.equal(b.linear.weight, w)


def test_resume_reproduces_the_uninterrupted_run(heat_train_file, tmp_path, monkeypatch):
    cfg = quick_config(strategy="td", epochs=50, checkpoint_every=7)
    data = Dataset(heat_train_file, cfg.data)
    Trainer(cfg, data, RunDir(tmp_path / "ref"), progress=False).run_training()

    # dies mid-run, after a growth event and a checkpoint
    resumed_after_crash(cfg, data, tmp_path / "cut", monkeypatch, at=33)
    ref, cut = RunDir(tmp_path / "ref"), RunDir(tmp_path / "cut")
    a, b = ref.read_json("final.json"), cut.read_json("final.json")
    assert a["test"] == b["test"] and a["architecture"] == b["architecture"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    for name in ("metrics.csv", "growth_events.csv"):
        assert strip(ref.read_csv(name)) == strip(cut.read_csv(name)), name


def test_cli_resume_after_kill(heat_train_file, tmp_path):
    out = tmp_path / "killed"
    args = [
        "train",
        "--data",
        str(heat_train_file),
        "--strategy",
        "td",
        "--epochs",
        "300",
        "--set",
        "checkpoint_every=5",
        *QUICK,
    ]
    proc = subprocess.Popen(
        CLI + args + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "checkpoint.pt").exists() and len(RunDir(out).read_csv("metrics.csv")) > 40:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "final.json").exists(), "the kill came too late to test anything"
    r = run_cli("train", "--resume", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = RunDir(out).read_csv("metrics.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 301))  # nothing lost or repeated


def test_predict_rebuilds_the_grown_network(runs, heat_train_file, tmp_path):
    run = runs["td"]
    final = run.read_json("final.json")
    assert final["final_depth"] > 2
    out = tmp_path / "pred.h5"
    r = run_cli(
        "predict", "--run", str(run.path), "--data", str(heat_train_file), "--out", str(out)
    )
    assert r.returncode == 0, r.stderr
    predictor = Predictor.from_run(run.path)
    data = Dataset(heat_train_file, quick_config().data)
    with h5py.File(out) as f:
        pred = torch.from_numpy(f["predictions"][()])
    test = torch.from_numpy(data.splits["test"])
    rel = (pred[test] - data.y[test]).norm(dim=1) / data.y[test].norm(dim=1)
    assert float(rel.mean()) == pytest.approx(final["test"]["rel_l2_mean"], rel=1e-9)
    assert torch.allclose(predictor(data.x[test]), pred[test])


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sciml-grow: error: "), err
    return err[0]


def test_bad_training_input(heat_train_file, tmp_path, capsys):
    out = str(tmp_path / "run")
    no_targets = tmp_path / "no_targets.h5"
    with h5py.File(no_targets, "w") as f:
        f["inputs"] = np.zeros((10, 3))
    with_nan = tmp_path / "nan.h5"
    with h5py.File(with_nan, "w") as f:
        f["inputs"] = np.ones((20, 3))
        f["targets"] = np.ones((20, 2))
        f["targets"][5, 1] = np.nan
    cases = [
        (["--data", str(tmp_path / "missing.h5")], "no such file"),
        (["--data", str(no_targets)], "has no 'targets'"),
        (["--data", str(with_nan)], "NaN or inf in 1 samples (first: sample 5)"),
        (["--data", str(heat_train_file), "--strategy", "grow-fast"], "'grow-fast' is not one of"),
        (["--data", str(heat_train_file), "--set", "optim.lr=-1"], "optim.lr: must lie in (0, 10]"),
        (["--data", str(heat_train_file), "--set", "model.activation=gelu"], "model.activation"),
        (["--data", str(heat_train_file), "--device", "tpu"], "--device must be cpu or cuda"),
        (["--data", str(heat_train_file), "--epochs", "0"], "epochs: must be positive"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--data", str(heat_train_file), "--device", "cuda"], "CUDA is not"))
    for args, fragment in cases:
        assert main(["train", "--out", out, *args]) == 2, args
        assert fragment in _error(capsys), args
        assert not (tmp_path / "run").exists()
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in _error(capsys)


def test_existing_run_directory_is_not_overwritten(runs, heat_train_file, capsys):
    args = ["train", "--data", str(heat_train_file), "--out", str(runs["td"].path)]
    assert main(args) == 2
    assert "holds a finished run; pass --force" in _error(capsys)
