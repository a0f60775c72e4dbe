"""Learning-rate schedules: torch's schedulers stepped per epoch, what an insertion does to
the schedule and to the optimizer's state, bitwise resumption, and convergence as a stop."""

from __future__ import annotations

import math

import pytest
import torch

from sciml_grow.data.dataset import Dataset
from sciml_grow.errors import UserError
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.schedule import make_scheduler, step
from sciml_grow.training.trainer import Trainer

from .conftest import quick_config, resumed_after_crash


def rates(run: RunDir) -> list[float]:
    return [float(r["lr"]) for r in run.read_csv("metrics.csv")]


def test_the_schedules_follow_their_closed_forms():
    """Cosine from lr to min_lr_ratio lr over the epochs; warmup from warmup_start lr up to lr
    in warmup_epochs, then the cosine over the rest; plateau halves after its patience."""
    lr, epochs = 0.1, 20
    for schedule, extra in (
        ("cosine", {}),
        ("warmup-cosine", {"optim.warmup_epochs": 5, "optim.warmup_start": 0.1}),
    ):
        cfg = quick_config(
            epochs=epochs,
            **{
                "optim.lr": lr,
                "optim.schedule": schedule,
                "optim.min_lr_ratio": 0.01,
                **extra,
            },  # fmt: skip
        )
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = make_scheduler(opt, cfg)
        seen = []
        for _ in range(epochs):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            step(sched, 0.0)
        w = extra.get("optim.warmup_epochs", 0)
        expected = [lr * (0.1 + 0.9 * e / w) for e in range(w)] + [
            lr * (0.01 + 0.99 * (1 + math.cos(math.pi * e / (epochs - w))) / 2)
            for e in range(epochs - w)
        ]
        assert seen == pytest.approx(expected, rel=1e-9), schedule
    cfg = quick_config(**{"optim.lr": lr, "optim.schedule": "plateau",
                          "optim.plateau_patience": 2})  # fmt: skip
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_scheduler(opt, cfg)
    for val in (1.0, 0.5, 0.5, 0.5, 0.5):  # improves once, then 3 stale epochs > patience 2
        opt.step()
        step(sched, val)
    assert opt.param_groups[0]["lr"] == pytest.approx(lr / 2)


@pytest.mark.parametrize(
    "settings",
    [
        {"optim.schedule": "cosine"},
        {"optim.schedule": "warmup-cosine", "optim.warmup_epochs": 10},
        {"optim.schedule": "cosine", "optim.on_insert": "restart", "optim.insert_state": "reset"},
        {"optim.schedule": "plateau", "optim.plateau_patience": 3},
    ],
    ids=["cosine", "warmup-cosine", "restart-reset", "plateau"],
)
def test_a_scheduled_run_resumes_bitwise(heat_train_file, tmp_path, monkeypatch, settings):
    """Killed after insertions and a checkpoint, resumed: the same rates, losses, events and
    network as the uninterrupted run."""
    cfg = quick_config(strategy="td", epochs=50, checkpoint_every=7, **settings)
    data = Dataset(heat_train_file, cfg.data)
    Trainer(cfg, data, RunDir(tmp_path / "ref"), progress=False).run_training()
    resumed_after_crash(cfg, data, tmp_path / "cut", monkeypatch, at=33)
    ref, cut = RunDir(tmp_path / "ref"), RunDir(tmp_path / "cut")
    assert ref.read_json("final.json")["insertions"] >= 2
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    for name in ("metrics.csv", "growth_events.csv"):
        assert strip(ref.read_csv(name)) == strip(cut.read_csv(name)), name
    a, b = ref.read_json("final.json"), cut.read_json("final.json")
    assert a["test"] == b["test"] and a["architecture"] == b["architecture"]
    if settings["optim.schedule"] != "plateau":
        assert len(set(rates(ref))) > 10  # the rate did move


def test_an_insertion_continues_or_restarts_the_schedule(heat_train_file, tmp_path):
    """continue: the rates are the cosine over the whole run, insertions or not; restart:
    at every insertion the rate jumps back to lr and decays over the epochs left."""
    base = {"optim.schedule": "cosine", "optim.lr": 3e-3}
    runs = {}
    for policy in ("continue", "restart"):
        cfg = quick_config(strategy="td", epochs=50, **base, **{"optim.on_insert": policy})
        data = Dataset(heat_train_file, cfg.data)
        Trainer(cfg, data, RunDir(tmp_path / policy), progress=False).run_training()
        runs[policy] = RunDir(tmp_path / policy)
    cosine = [3e-3 * (1 + math.cos(math.pi * e / 50)) / 2 for e in range(50)]
    assert rates(runs["continue"]) == pytest.approx(cosine, rel=1e-9)
    grown = [int(e["epoch"]) for e in runs["restart"].read_csv("growth_events.csv")
             if e["inserted"] == "1"]  # fmt: skip
    assert grown
    r = rates(runs["restart"])
    first = grown[0]
    assert r[:first] == pytest.approx(cosine[:first], rel=1e-9)
    assert r[first] == pytest.approx(3e-3)  # epoch first + 1 starts the new schedule
    left = 50 - first
    after = [3e-3 * (1 + math.cos(math.pi * e / left)) / 2 for e in range(left)]
    end = grown[1] if len(grown) > 1 else 50
    assert r[first:end] == pytest.approx(after[: end - first], rel=1e-9)


def test_insert_state_reset_forgets_the_old_moments(heat_train_file, tmp_path, monkeypatch):
    """keep: the old parameters' Adam moments survive an insertion; reset: none does."""
    seen = {}
    for state in ("keep", "reset"):
        cfg = quick_config(strategy="td", epochs=30, **{"optim.insert_state": state})
        data = Dataset(heat_train_file, cfg.data)
        trainer = Trainer(cfg, data, RunDir(None), progress=False)
        real = trainer._rebuild_optimizer

        def spy(real=real, trainer=trainer, state=state):
            before = {id(p) for p in trainer.opt.state}
            real()
            seen.setdefault(state, []).append(before & {id(p) for p in trainer.opt.state})

        monkeypatch.setattr(trainer, "_rebuild_optimizer", spy)
        trainer.run_training()
    assert seen["keep"] and all(seen["keep"]) and not any(seen["reset"])


def test_convergence_stops_a_run_and_says_so(heat_train_file, tmp_path):
    cfg = quick_config(strategy="baseline", epochs=400, early_stopping=5,
                       early_stopping_delta=0.05, **{"optim.lr": 1e-2})  # fmt: skip
    data = Dataset(heat_train_file, cfg.data)
    final = Trainer(cfg, data, RunDir(tmp_path / "r"), progress=False).run_training()
    assert final["converged"] and final["epochs"] < 400 and final["budget_epochs"] == 400
    rows = RunDir(tmp_path / "r").read_csv("metrics.csv")
    vals = [float(r["val_loss"]) for r in rows]
    best = min(vals[:-5])
    assert all(v >= best * (1 - 0.05) for v in vals[-5:])  # no 5 % gain in the last 5 epochs
    assert final["best_val_loss"] == min(vals)  # the best network is kept
    cfg = quick_config(strategy="baseline", epochs=20)
    final = Trainer(cfg, data, RunDir(tmp_path / "b"), progress=False).run_training()
    assert not final["converged"] and final["epochs"] == 20


@pytest.mark.parametrize(
    "key, value",
    [
        ("optim.schedule", "linear"),
        ("optim.min_lr_ratio", 2),
        ("optim.warmup_epochs", 5),  # without warmup-cosine
        ("optim.plateau_factor", 1),
        ("optim.on_insert", "jump"),
        ("early_stopping_delta", -1),
    ],
)
def test_bad_schedule_settings_name_their_key(key, value):
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        quick_config(**{key: value})


def test_a_budget_read_off_a_trajectory_equals_a_run_stopped_at_it(heat_train_file, tmp_path):
    """budgets: the best-validation network seen within each FLOP budget, tested; the same
    number as a separate run stopped there (max_flops); a budget beyond the run's compute is
    its final result; recording budgets changes nothing of the run itself."""
    cfg = quick_config(strategy="td", epochs=40)
    data = Dataset(heat_train_file, cfg.data)
    plain = Trainer(cfg, data, RunDir(None), progress=False).run_training()
    total = plain["training_flops"] + plain["decision_flops"]
    budgets = [0.3 * total, 0.6 * total, 2 * total]
    traced = Trainer(quick_config(strategy="td", epochs=40, budgets=budgets), data,
                     RunDir(tmp_path / "t"), progress=False).run_training()  # fmt: skip
    assert traced["test"] == plain["test"] and traced["architecture"] == plain["architecture"]
    assert [b["reached"] for b in traced["budgets"]] == [True, True, False]
    assert traced["budgets"][2]["rel_l2_mean"] == plain["test"]["rel_l2_mean"]
    assert traced["budgets"][0]["rel_l2_mean"] > traced["budgets"][1]["rel_l2_mean"]
    for at, budget in zip(traced["budgets"][:2], budgets[:2], strict=True):
        cut = Trainer(quick_config(strategy="td", epochs=40, max_flops=budget), data,
                      RunDir(None), progress=False).run_training()  # fmt: skip
        assert cut["test"]["rel_l2_mean"] == at["rel_l2_mean"]
        assert cut["best_epoch"] == at["best_epoch"] and cut["epochs"] == at["epochs"]
        assert cut["training_flops"] + cut["decision_flops"] > budget  # the crossing epoch ran
        assert not cut["converged"] and "FLOP budget" in cut["growth_stop"]


def test_compare_at_equal_compute(heat_train_file, tmp_path, capsys):
    """--budgets: a row per run and budget (the budget's error equals the run's own record),
    paired verdicts per (size, budget) corrected over the whole table, the table and the
    terminal say so, and cost.png draws the means at each budget."""
    import csv
    import json

    import sciml_grow as sg
    from sciml_grow.cli import main
    from sciml_grow.study import plots
    from sciml_grow.study.stats import error_of

    out = tmp_path / "c"
    argv = ["compare", "--data", str(heat_train_file), "--out", str(out), "--strategies",
            "td,baseline", "--seeds", "3", "--epochs", "20", "--reference-samples", "0",
            "--budgets", "2e6,6e6,1e12", "--set", "model.width=8"]  # fmt: skip
    assert main(argv) == 0
    said = capsys.readouterr().out
    assert "## At equal compute" in said and "2e+06 FLOPs" in said
    with open(out / "budgets.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 3 * 3
    for r in rows:
        final = json.loads((out / "runs" / f"{r['strategy']}-seed{r['seed']}" / "final.json")
                           .read_text())  # fmt: skip
        mine = next(b for b in final["budgets"] if b["flops"] == float(r["flops"]))
        assert float(r["rel_l2_mean"]) == mine["rel_l2_mean"]
        if float(r["flops"]) == 1e12:  # beyond every run: its final error
            assert r["reached"] == "0" and float(r["rel_l2_mean"]) == final["test"]["rel_l2_mean"]
    with open(out / "budget_stats.csv", newline="") as fh:
        stats = list(csv.DictReader(fh))
    assert len(stats) == 3 and {s["family_size"] for s in stats} == {"3"}
    assert "At equal compute" in (out / "table.md").read_text()
    fig = plots._draw_cost(out)
    td = next(line for line in fig.axes[0].get_lines() if line.get_label() == "td")
    means = [sum(error_of({"rel_l2_mean": float(r["rel_l2_mean"])}) for r in rows
                 if r["strategy"] == "td" and float(r["flops"]) == b) / 3
             for b in (2e6, 6e6, 1e12)]  # fmt: skip
    assert list(td.get_ydata()) == pytest.approx(means, rel=1e-12)
    # the same study run again with other budgets: its finished runs are not reused silently
    with pytest.raises(sg.UserError, match="other settings.*budgets"):
        sg.compare(heat_train_file, "td,baseline", out=out, seeds=3, epochs=20,
                   reference_samples=0, budgets=[1e6], config={"model": {"width": 8}})  # fmt: skip


def test_budgets_as_shares_of_the_reference_are_read_off_each_trajectory(heat_train_file, tmp_path):
    """--budgets 0.3x,1x,4x: trajectory.csv holds the test error of every new best network with
    the FLOPs spent; a share of the reference's FLOPs (same seed and size) is read off it, and
    equals what a run records for that many FLOPs itself; the reference at 1x is its final
    error."""
    import csv
    import json

    import sciml_grow as sg

    out = tmp_path / "c"
    sg.compare(heat_train_file, "td,baseline", out=out, seeds=2, epochs=20,
               reference_samples=0, budgets=["0.3x", "1x", "4x"],
               config={"model": {"width": 8}}, plots=False)  # fmt: skip
    with open(out / "budgets.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["budget"] for r in rows} == {"0.3x baseline", "1x baseline", "4x baseline"}
    finals = {(s, k): json.loads((out / "runs" / f"{s}-seed{k}" / "final.json").read_text())
              for s in ("td", "baseline") for k in (0, 1)}  # fmt: skip
    for r in rows:
        if r["strategy"] == "baseline" and r["budget"] != "0.3x baseline":
            final = finals[("baseline", int(r["seed"]))]
            assert float(r["rel_l2_mean"]) == final["test"]["rel_l2_mean"]
    # a share read off the trajectory equals a run's own record at that many FLOPs
    r = next(r for r in rows if r["strategy"] == "td" and r["budget"] == "0.3x baseline")
    from sciml_grow.config import from_dict
    from sciml_grow.training.config import TrainConfig

    raw = RunDir(out / "runs" / f"td-seed{r['seed']}").read_json("config.json")["config"]
    cfg = from_dict(TrainConfig, {**raw, "budgets": [float(r["flops"])], "trace_test": False})
    own = Trainer(cfg, Dataset(heat_train_file, cfg.data), RunDir(None),
                  progress=False).run_training()["budgets"][0]  # fmt: skip
    assert own["rel_l2_mean"] == float(r["rel_l2_mean"])
