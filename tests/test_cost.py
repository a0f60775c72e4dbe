"""What a run costs: training and decision FLOPs against torch's counter and a hand count."""

from __future__ import annotations

import csv

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from sciml_grow.data.dataset import Dataset
from sciml_grow.nets import BlockSpec, GrowableMLP
from sciml_grow.training import cost
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.trainer import Trainer

from .conftest import quick_config


def mlp_step_flops(n_in: int, width: int, depth: int, n_out: int) -> int:
    """Forward + backward FLOPs of one sample through an MLP by hand: a product of an a x b
    matrix with a vector is 2ab; backward needs the weight gradient (2ab) of every layer and
    the input gradient (2ab) of every layer but the first (the data needs none)."""
    first, rest = n_in * width, depth * width * width + width * n_out
    return 2 * first * 2 + 2 * rest * 3


def test_hand_count_equals_torchs_counter_for_an_mlp_step():
    net = GrowableMLP(7, 5, 6, [BlockSpec() for _ in range(3)]).double()
    x, y = torch.randn(11, 7, dtype=torch.float64), torch.randn(11, 5, dtype=torch.float64)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.mse_loss(net(x), y).backward()
    assert counter.get_total_flops() == 11 * mlp_step_flops(7, 6, 3, 5)


def test_eigensolves_are_counted():
    a = torch.randn(4, 10, 10, dtype=torch.float64)
    a = a + a.transpose(1, 2)
    with cost.counter() as vectors:
        torch.linalg.eigh(a)
    assert vectors.get_total_flops() == 4 * 9 * 1000
    with cost.counter() as values:  # torch may compute the vectors anyway: at most as many
        torch.linalg.eigvalsh(a)
    assert int(4 * 4 / 3 * 1000) <= values.get_total_flops() <= 4 * 9 * 1000
    with FlopCounterMode(display=False) as plain:  # what torch alone would count
        torch.linalg.eigh(a)
    assert plain.get_total_flops() == 0


@pytest.fixture(scope="module")
def grown(tmp_path_factory, heat_train_file):
    """A net2deeper run (it grows by identity blocks: no decision work) and a td run."""
    out = {}
    for strategy in ("net2deeper", "td"):
        cfg = quick_config(strategy=strategy, epochs=40)
        cfg.optim.batch_size = 50  # batches of unequal size: the last one is smaller
        data = Dataset(heat_train_file, cfg.data)
        run = RunDir(tmp_path_factory.mktemp("cost") / strategy)
        Trainer(cfg, data, run, progress=False).run_training()
        out[strategy] = (run, data)
    return out


def test_training_flops_are_the_hand_count_through_every_growth_phase(grown):
    run, data = grown["net2deeper"]
    final = run.read_json("final.json")
    with open(run.path / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    n_train = len(data.splits["train"])
    expected, depths = 0, set()
    for row in rows:  # the depth an epoch trained at
        depth = int(row["depth"])
        depths.add(depth)
        expected += n_train * mlp_step_flops(data.in_dim, 12, depth, data.out_dim)
        assert float(row["train_flops"]) == pytest.approx(expected, rel=1e-12)
    assert len(depths) >= 3  # it grew at least twice
    assert final["training_flops"] == pytest.approx(expected, rel=1e-12)
    # an identity block costs no arithmetic: its growth steps are the two passes over the
    # training set that log the training loss before and after each insertion
    with open(run.path / "growth_events.csv", newline="") as fh:
        events = list(csv.DictReader(fh))
    forward = 2 * (data.in_dim * 12 + 12 * data.out_dim)
    passes = sum(
        n_train * (2 * forward + 2 * 12 * 12 * (2 * int(e["depth_after"]) - 1)) for e in events
    )
    assert all(e["inserted"] == "1" for e in events)
    assert final["decision_flops"] == passes
    assert final["peak_memory_mb"] > 0 and final["peak_memory_kind"] == "process_rss"


def test_td_decisions_cost_at_least_their_q_blocks_and_eigensolves(grown):
    run, data = grown["td"]
    final = run.read_json("final.json")
    with open(run.path / "growth_events.csv", newline="") as fh:
        events = [e for e in csv.DictReader(fh)]
    n_train, w = len(data.splits["train"]), 12
    # per decision, every candidate depth l = 0..depth: the Q blocks (w blocks of (w+1)^2
    # entries, a multiply-add per sample) and w eigenvalue problems of size w + 1
    floor = sum(
        (int(e["depth_after"]) - int(e["inserted"]) + 1)
        * (2 * n_train * w * (w + 1) ** 2 + w * 4 / 3 * (w + 1) ** 3)
        for e in events
    )
    assert events and final["decision_flops"] >= floor
    assert final["decision_flops"] < 50 * floor  # and the same order: nothing else dominates


class _NoCounter:
    """Stands for torch's counter: counts nothing and touches nothing."""

    def __enter__(self) -> _NoCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get_total_flops(self) -> int:
        return 0


@pytest.mark.parametrize("strategy", ["td", "sensli"])
def test_counting_flops_never_changes_a_runs_numbers(heat_train_file, monkeypatch, strategy):
    """The counter's hooks can make autograd sum in another order: counted work runs on
    copies, so a run is bitwise the run made without any counting."""
    cfg = quick_config(strategy=strategy, epochs=40, dtype="float32")
    data = Dataset(heat_train_file, cfg.data)
    counted = Trainer(cfg, data, RunDir(None), progress=False)
    counted.run_training()
    monkeypatch.setattr(cost, "counter", _NoCounter)
    plain = Trainer(cfg, data, RunDir(None), progress=False)
    plain.run_training()
    assert plain.state.train_flops == 0 and counted.state.train_flops > 0
    a, b = counted.predictor.bundle()["model"], plain.predictor.bundle()["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert counted.state.decision_flops > 0
