"""Fine-tuning a pretrained run: what each method freezes and trains, the shared parameter
budget of the adapter methods, the TD insertion's loss decrease, and bad input."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from sciml_grow.training.rundir import RunDir

from .conftest import QUICK, run_cli

ADAPTERS = ["td-adapters", "random-init-adapters", "random-adapters"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, heat_train_file):
    out = tmp_path_factory.mktemp("ft") / "pre"
    r = run_cli(
        "train", "--data", str(heat_train_file), "--out", str(out), "--epochs", "40", *QUICK
    )
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def target(heat_target_file):
    return heat_target_file


@pytest.fixture(scope="module")
def tuned(pretrained, target, tmp_path_factory):
    root = tmp_path_factory.mktemp("tuned")
    for method in [*ADAPTERS, "head", "full"]:
        r = run_cli(
            "finetune",
            "--run",
            str(pretrained),
            "--data",
            str(target),
            "--method",
            method,
            "--samples",
            "40",
            "--epochs",
            "15",
            "--out",
            str(root / method),
            *QUICK,
        )
        assert r.returncode == 0, (method, r.stderr)
    return root


def _weights(run, name: str) -> dict[str, torch.Tensor]:
    return RunDir(run).load(name)["model"]


def test_frozen_parts_keep_the_pretrained_weights(pretrained, tuned):
    before = _weights(pretrained, "best.pt")
    for method in [*ADAPTERS, "head"]:
        after = _weights(tuned / method, "best.pt")
        spec = json.loads((tuned / method / "final.json").read_text())["architecture"]
        new = [i for i, b in enumerate(spec["blocks"]) if b["origin"].endswith("adapter")]
        assert len(new) == (2 if method in ADAPTERS else 0)
        old = [i for i in range(len(spec["blocks"])) if i not in new]
        for k, (i_old, i_new) in enumerate(zip(range(len(old)), old, strict=True)):
            for p in ("weight", "bias"):
                a = before[f"blocks.{i_old}.linear.{p}"].double()
                b = after[f"blocks.{i_new}.linear.{p}"].double()
                assert torch.equal(a, b), (method, k)
        assert torch.equal(before["lift.weight"].double(), after["lift.weight"].double())
        assert not torch.equal(before["head.weight"].double(), after["head.weight"].double())


def test_adapter_methods_train_the_same_number_of_parameters(tuned):
    counts = {}
    for method in [*ADAPTERS, "head", "full"]:
        final = json.loads((tuned / method / "final.json").read_text())
        counts[method] = final["n_trainable"]
    assert len({counts[m] for m in ADAPTERS}) == 1
    assert counts["head"] < counts["td-adapters"] < counts["full"]


def test_full_finetuning_changes_the_trunk(pretrained, tuned):
    before, after = _weights(pretrained, "best.pt"), _weights(tuned / "full", "best.pt")
    assert not torch.equal(before["lift.weight"].double(), after["lift.weight"].double())


def test_td_adapters_lower_the_target_training_loss_at_insertion(pretrained, target, tmp_path):
    from sciml_grow.config import from_dict
    from sciml_grow.data.dataset import Dataset
    from sciml_grow.growth import get_strategy
    from sciml_grow.nets import build
    from sciml_grow.training.config import TrainConfig
    from sciml_grow.training.trainer import starting_point

    cfg = from_dict(
        TrainConfig,
        {
            "strategy": "finetune",
            "finetune": {"pretrained": str(pretrained), "method": "td-adapters"},
            "data": {"max_train": 40, "max_val": 40},
        },
    )
    data = Dataset(target, cfg.data)
    strategy = get_strategy("finetune", starting_point(cfg))
    strategy.prepare(data, cfg)
    base = build(strategy.bundle["spec"]).double()
    base.load_state_dict(strategy.bundle["model"])
    net = strategy.initial_model(data, cfg)
    x, y = data.tensors("train", torch.float64)
    with torch.no_grad():
        assert float(data.loss_fn(net(x), y)) < float(data.loss_fn(base(x), y))
    assert net.depth == base.depth + 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--run", "/nonexistent"], "not a finished training run"),
        (["--samples", "0"], "--samples must be positive"),
        (["--method", "magic"], "finetune.method: 'magic' is not one of"),
    ],
)
def test_bad_finetune_input(pretrained, target, tmp_path, args, fragment):
    base = {"--run": str(pretrained), "--data": str(target), "--out": str(tmp_path / "r")}
    for k in args[::2]:
        base.pop(k, None)
    flat = [a for kv in base.items() for a in kv]
    r = run_cli("finetune", *flat, *args)
    assert r.returncode == 2 and fragment in r.stderr, r.stderr


def test_target_of_another_shape_is_refused(pretrained, heat_robin_file, tmp_path):
    r = run_cli(
        "finetune",
        "--run",
        str(pretrained),
        "--data",
        str(heat_robin_file),
        "--out",
        str(tmp_path / "r"),
    )
    assert r.returncode == 2 and "pretrained network maps" in r.stderr, r.stderr


def test_transfer_grid_writes_table_plot_and_skips_finished_runs(pretrained, target, tmp_path):
    args = ["transfer", "--run", str(pretrained), "--data", str(target), "--out", str(tmp_path)]
    args += ["--samples", "10,20", "--seeds", "1", "--epochs", "5", "--methods", "head,scratch"]
    r = run_cli(*args, *QUICK[:-1])
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "table.md").read_text()
    assert "| head |" in text and "| scratch |" in text and "pretrained, no tuning" in text
    assert "N = 10" in text and "N = 20" in text
    assert "Against scratch (paired difference" in text
    with open(tmp_path / "stats.csv") as fh:
        rows = [(r["strategy"], r["against"], r["train_size"]) for r in csv.DictReader(fh)]
    assert rows == [("head", "scratch", "10"), ("head", "scratch", "20")]
    assert (tmp_path / "transfer.png").stat().st_size > 10_000
    final = json.loads((tmp_path / "runs" / "head-n10-seed0" / "final.json").read_text())
    config = json.loads((tmp_path / "runs" / "head-n10-seed0" / "config.json").read_text())
    assert config["split_sizes"]["train"] == 10 and config["split_sizes"]["val"] == 10
    stamp = (tmp_path / "runs" / "head-n10-seed0" / "final.json").stat().st_mtime_ns
    assert run_cli(*args, *QUICK[:-1]).returncode == 0
    assert (tmp_path / "runs" / "head-n10-seed0" / "final.json").stat().st_mtime_ns == stamp
    assert final["n_trainable"] < final["n_params"]


def test_transfer_rejects_unknown_methods(pretrained, target, tmp_path):
    r = run_cli(
        "transfer",
        "--run",
        str(pretrained),
        "--data",
        str(target),
        "--out",
        str(tmp_path),
        "--methods",
        "head,magic",
    )
    assert r.returncode == 2 and "unknown magic" in r.stderr


def test_subset_seed_draws_other_few_samples_but_keeps_the_test_split():
    from sciml_grow.data.dataset import DataConfig, split_indices

    a = split_indices(500, DataConfig(max_train=30, max_val=30, subset_seed=0))
    b = split_indices(500, DataConfig(max_train=30, max_val=30, subset_seed=1))
    full = split_indices(500, DataConfig())
    assert a["test"].tolist() == b["test"].tolist() == full["test"].tolist()
    assert set(a["train"]) != set(b["train"]) and len(a["train"]) == len(b["train"]) == 30
    assert set(a["train"]) <= set(full["train"]) and set(a["val"]) <= set(full["val"])
