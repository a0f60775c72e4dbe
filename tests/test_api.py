"""The public API (``import sciml_grow as sg``) on hand-made files: no FEniCSx needed.

The command line is a thin layer over these calls, so the same seed gives the same numbers
through either; configs fail where they are built, with the command's own message.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import torch

import sciml_grow as sg
from sciml_grow.cli import main
from sciml_grow.config import ConfigError
from sciml_grow.data.dataset import mse

from .toy import write_valid

QUICK = {"epochs": 12, "model": sg.ModelConfig(width=8, initial_blocks=1)}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_valid(tmp_path_factory.mktemp("api") / "toy.h5", n=200)


def test_import_is_light_and_leaves_matplotlib_backend_alone() -> None:
    code = (
        "import sys, matplotlib; matplotlib.use('svg');"
        "import sciml_grow as sg; assert 'torch' not in sys.modules, 'torch imported';"
        "sg.fit; import sciml_grow.study.plots, sciml_grow.cli;"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend();"
        "assert set(sg.__all__) <= set(dir(sg))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("build", "argv", "message"),
    [
        (lambda: sg.TrainConfig(epochs=0), ["--epochs", "0"], "epochs: must be positive"),
        (
            lambda: sg.TrainConfig(optim=sg.OptimConfig(lr=-1.0)),
            ["--set", "optim.lr=-1"],
            "optim.lr: must lie in (0, 10]",
        ),
        (lambda: sg.ModelConfig(width="wide"), None, "width: expected an integer"),
        (lambda: sg.DataConfig(test_fraction=1.5), None, "data.test_fraction: must lie"),
    ],
)
def test_configs_fail_where_they_are_built(build, argv, message, toy, tmp_path, capsys) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert message in str(info.value)
    if argv is not None:  # the command says the same
        assert main(["train", "--data", str(toy), "--out", str(tmp_path / "r"), *argv]) == 2
        assert capsys.readouterr().err.strip() == f"sciml-grow: error: {info.value}"


def test_fit_in_memory_equals_the_command_line_run(toy: Path, tmp_path: Path) -> None:
    ds = sg.load(toy)
    assert ds.meta.problem == "toy" and ds.meta.mesh.cells.shape == (4, 3)
    model = sg.fit(ds, sg.TrainConfig(strategy="td", seed=1, **QUICK), progress=False)
    assert not any(tmp_path.iterdir())  # no run directory unless asked for
    assert len(model.history) == 12 and model.final["epochs"] == 12
    assert main(
        ["train", "--data", str(toy), "--out", str(tmp_path / "run"), "--strategy", "td",
         "--seed", "1", "--epochs", "12", "--set", "model.width=8",
         "--set", "model.initial_blocks=1", "--no-progress"]
    ) == 0  # fmt: skip
    final = json.loads((tmp_path / "run" / "final.json").read_text())
    assert final["test"] == model.final["test"]
    assert final["architecture"] == model.final["architecture"]
    loaded = sg.Predictor.load(tmp_path / "run")  # a finished run: its record comes along
    assert loaded.final == final and len(loaded.history) == 12
    np.testing.assert_array_equal(loaded.predict(ds.x[:5]), model.predict(ds.x[:5]))


def test_predictor_predicts_in_original_units_and_round_trips(toy: Path, tmp_path) -> None:
    ds = sg.load(toy, max_train=100)
    model = sg.fit(ds, strategy="baseline", progress=False, **QUICK)
    test = ds.splits["test"]
    x = ds.x[test].numpy()
    pred = model.predict(x)
    assert isinstance(pred, np.ndarray) and pred.shape == (len(test), ds.out_dim)
    rel = np.linalg.norm(pred - ds.y[test].numpy(), axis=1) / np.linalg.norm(
        ds.y[test].numpy(), axis=1
    )
    assert rel.mean() == pytest.approx(model.final["test"]["rel_l2_mean"], rel=1e-6)
    np.testing.assert_array_equal(model.predict(torch.from_numpy(x)), pred)
    model.save(tmp_path / "m.pt")
    np.testing.assert_array_equal(sg.Predictor.load(tmp_path / "m.pt").predict(x), pred)
    with pytest.raises(ValueError, match="features"):
        model.predict(x[:, :2])


def test_torch_view_is_standardized_float32_and_batches(toy: Path) -> None:
    ds = sg.load(toy)
    train = ds.torch_dataset("train")
    assert len(train) == len(ds.splits["train"])
    x, y = train[3]
    assert x.dtype == torch.float32 and x.shape == (ds.in_dim,)
    xs, ys = ds.tensors("train")
    torch.testing.assert_close(x, xs[3])
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=32)))
    assert batch[0].shape == (32, ds.in_dim)
    assert abs(float(xs.mean())) < 1e-5 and float(xs.std(dim=0).mean()) == pytest.approx(1, 1e-3)


def test_td_decision_predicts_the_loss_change_of_its_insertion(toy: Path) -> None:
    ds = sg.load(toy)
    torch.manual_seed(0)
    net = sg.build_network(ds, width=8, initial_blocks=1).double()
    x, y = ds.tensors("train", dtype=torch.float64)
    decision = sg.td_decision(net, x, y)
    assert len(decision.scores) == net.depth + 1 and decision.position == int(
        np.argmax(decision.scores)
    )
    assert decision.curvature > 0
    eps = 1e-2
    decision.insert(net, eps)
    with torch.no_grad():
        after = float(mse(net(x), y))
    # second order: J(eps) - J(0) = -eps^2 / 2 phi^T Q phi + O(eps^3)
    change = after - decision.loss
    assert change == pytest.approx(decision.predicted_change(eps), rel=0.05)


def test_compare_returns_rows_statistics_and_table(toy: Path, tmp_path: Path) -> None:
    result = sg.compare(
        toy, ["baseline", "td"], out=tmp_path / "cmp", seeds=2, epochs=6,
        config={"model": {"width": 8}}, reference_samples=0, plots=False,
    )  # fmt: skip
    assert len(result.rows) == 4 and {r["strategy"] for r in result.rows} == {"baseline", "td"}
    assert "| td |" in result.table and "| baseline |" in result.table
    assert [(p.strategy, p.against) for p in result.stats] == [
        ("td", "baseline"),
        ("linear (ridge)", "baseline"),
    ]
    with pytest.raises(ValueError, match="unknown nope"):
        sg.compare(toy, ["td", "nope"], out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_compare_with_the_bayes_floor(heat_train_file: Path, tmp_path: Path) -> None:
    """--floor-samples: a row for the posterior mean and every error over the floor's."""
    tiny = {"warmup": 50, "draws": 50, "max_draws": 100}
    result = sg.compare(
        heat_train_file, ["td"], out=tmp_path / "cmp", seeds=1, epochs=3,
        config={"model": {"width": 8}}, reference_samples=2, floor_samples=2, mcmc=tiny,
        plots=False,
    )  # fmt: skip
    lines = [line for line in result.table.splitlines() if line.startswith("| ")]
    assert lines[0].rstrip().endswith("| error / floor |")
    floor = json.loads((tmp_path / "cmp" / "floor.json").read_text())
    td = result.rows[0]["rel_l2_on_floor_samples"]
    assert f"| {td / floor['rel_l2_mean']:.3f} |" in lines[1]  # the td row
    assert any(line.startswith("| posterior mean (MCMC) |") for line in lines)
    assert "NOT all converged" in result.table  # 100 draws: said, not hidden
    with pytest.raises(ConfigError, match="mcmc.chains: must be >= 2"):
        sg.compare(heat_train_file, ["td"], out=tmp_path / "x", mcmc={"chains": 1})
    assert not (tmp_path / "x").exists()
