"""Strategy search (Optuna): trials on the run's own split, selection on validation, budgets
by trials and by the compute of another run, and resumption after kill -9."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time

import pytest

from sciml_grow.cli import main
from sciml_grow.data.dataset import Dataset
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.search import space, trial_config

from .conftest import CLI, QUICK, quick_config, run_cli


def trials(run: RunDir) -> list[dict[str, str]]:
    with open(run.path / "search.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def train(out, data, *more: str, epochs: int = 30) -> int:
    args = ["train", "--data", str(data), "--out", str(out), "--epochs", str(epochs)]
    return main([*args, *QUICK, "--strategy", "search", *more])


@pytest.fixture(scope="module")
def searched(tmp_path_factory, heat_train_file):
    out = tmp_path_factory.mktemp("search") / "run"
    assert train(out, heat_train_file, "--set", "search.trials=6") == 0
    return RunDir(out)


def test_the_search_keeps_the_trial_best_on_validation(searched, heat_train_file):
    rows = trials(searched)
    assert len(rows) == 6 and {r["state"] for r in rows} <= {"complete", "pruned"}
    complete = [r for r in rows if r["state"] == "complete"]
    best = min(complete, key=lambda r: float(r["best_val_loss"]))
    final = searched.read_json("final.json")
    s = final["search"]
    assert s["best_trial"] == int(best["trial"]) and s["trials"] == 6
    kept = RunDir(searched.path / "trials" / f"{s['best_trial']:04d}").read_json("final.json")
    assert final["test"] == kept["test"] and final["best_val_loss"] == float(best["best_val_loss"])
    assert final["architecture"] == kept["architecture"]
    assert final["final_depth"] == int(best["depth"])
    # its cost is the sum over every trial, pruned ones too
    assert final["training_flops"] == pytest.approx(sum(float(r["training_flops"]) for r in rows))
    # every trial trained on the run's own split (seed 0), one fixed network each
    sizes = {
        json.dumps(RunDir(p).read_json("config.json")["split_sizes"])
        for p in (searched.path / "trials").iterdir()
    }
    assert len(sizes) == 1
    assert sizes == {json.dumps(searched.read_json("config.json")["split_sizes"])}
    # the kept network predicts as the kept trial's
    data = Dataset(heat_train_file, quick_config().data)
    x = data.x[:5]
    a = Predictor.from_run(searched.path).predict(x)
    b = Predictor.from_run(searched.path / "trials" / f"{s['best_trial']:04d}").predict(x)
    assert (a == b).all()


def test_the_default_space_contains_what_growth_ends_with():
    cfg = quick_config(strategy="search")
    sp = space(cfg)
    assert sp["depth"] == (cfg.model.initial_blocks, cfg.growth.max_blocks)
    assert cfg.model.width in sp["width"] and sp["lr"][0] < cfg.optim.lr < sp["lr"][1]
    params = {"depth": 3, "width": 24, "lr": 0.01, "weight_decay": 1e-4}
    t = trial_config(cfg, params)
    assert (t.strategy, t.baseline_blocks, t.model.width, t.optim.lr) == ("baseline", 3, 24, 0.01)
    assert t.seed == cfg.seed and t.data == cfg.data and t.epochs == cfg.epochs


def test_a_matched_budget_spends_the_other_runs_compute(tmp_path, heat_train_file):
    td = tmp_path / "td"
    args = ["train", "--data", str(heat_train_file), "--out", str(td), "--epochs", "30"]
    assert main([*args, *QUICK, "--strategy", "td"]) == 0
    td_final = RunDir(td).read_json("final.json")
    budget = 2 * (td_final["training_flops"] + td_final["decision_flops"])
    out = tmp_path / "search"
    assert (
        train(
            out, heat_train_file,
            "--set", "search.budget=match:td", "--set", "search.factor=2",
            "--set", f"search.match_run={td}",
        )
        == 0
    )  # fmt: skip
    run = RunDir(out)
    final, rows = run.read_json("final.json"), trials(run)
    assert final["search"]["budget_flops"] == pytest.approx(budget)
    spent = [float(r["training_flops"]) for r in rows]
    assert sum(spent) >= budget and sum(spent[:-1]) < budget  # it stopped once it got there
    last = RunDir(out / "trials" / f"{len(rows) - 1:04d}").read_json("final.json")
    assert last["growth_stop"].endswith("search budget reached")
    per_epoch = float(last["training_flops"]) / last["epochs"]
    assert sum(spent) < budget + per_epoch  # ... within the epoch that reached it
    # a budget without the run to match is refused before anything is written
    bad = tmp_path / "bad"
    assert train(bad, heat_train_file, "--set", "search.budget=match:td") == 2
    assert not bad.exists()


def test_a_killed_search_resumes_keeping_every_finished_trial(tmp_path, heat_train_file):
    out = tmp_path / "killed"
    args = ["train", "--data", str(heat_train_file), "--strategy", "search", "--epochs", "60"]
    args += ["--set", "search.trials=8", "--set", "search.pruner=none", *QUICK]
    proc = subprocess.Popen(
        CLI + args + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (out / "trials" / "0003" / "checkpoint.pt").exists():  # in trial 3, 0-2 finished
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "final.json").exists(), "the kill came too late to test anything"
    finished = {
        p.name: (p / "final.json").stat().st_mtime_ns
        for p in (out / "trials").iterdir()
        if (p / "final.json").exists()
    }
    assert len(finished) >= 3
    r = run_cli("train", "--resume", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = trials(RunDir(out))
    assert sum(r["state"] == "complete" for r in rows) == 8
    for name, mtime in finished.items():  # not trained again
        assert (out / "trials" / name / "final.json").stat().st_mtime_ns == mtime
    # the resumed search is the uninterrupted one: trials, parameters, cost, choice
    whole = tmp_path / "whole"
    r = run_cli(*args, "--out", str(whole))  # in a process of its own, as the other
    assert r.returncode == 0, r.stderr
    same = ("trial", "state", "depth", "width", "lr", "weight_decay", "best_val_loss", "epochs",
            "training_flops")  # fmt: skip
    assert [[r[k] for k in same] for r in rows] == [[r[k] for k in same] for r in trials(
        RunDir(whole))]  # fmt: skip
    a, b = (json.loads((d / "final.json").read_text()) for d in (out, whole))
    assert a["search"] == b["search"] and a["training_flops"] == b["training_flops"]
    assert a["test"]["rel_l2_mean"] == b["test"]["rel_l2_mean"]


def test_a_damaged_or_foreign_journal_is_refused_untouched(tmp_path, heat_train_file, capsys):
    from .test_bad_input import snapshot

    out = tmp_path / "s"
    assert train(out, heat_train_file, "--set", "search.trials=2", epochs=4) == 0
    (out / "final.json").unlink()  # as if killed before its end
    journal = (out / "search.journal").read_bytes()
    for text in (
        journal[:-7],  # cut off in its last record
        journal + b"garbage\n",
        b'{"op_code": 0, "study_name": "theirs", "directions": [1]}\n',
    ):
        (out / "search.journal").write_bytes(text)
        before = snapshot(tmp_path)
        capsys.readouterr()
        assert main(["train", "--resume", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "search.journal" in err[0], err
        assert snapshot(tmp_path) == before


def test_an_empty_search_range_is_refused_not_narrowed(tmp_path, heat_train_file, capsys):
    from .test_bad_input import snapshot

    for settings, key in (
        (["search.depth_min=4", "search.depth_max=2"], "search.depth_min"),
        (["search.lr_min=0.5", "search.lr_max=0.1"], "search.lr_min"),
        (["search.lr_min=5"], "search.lr_min"),  # beyond the default lr_max (10 x optim.lr)
    ):
        capsys.readouterr()
        sets = [a for s in settings for a in ("--set", s)]
        assert train(tmp_path / "r", heat_train_file, *sets) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and key in err[0], err
        assert snapshot(tmp_path) == {}


def test_compare_runs_searches_at_equal_and_double_compute_beside_growth(tmp_path, heat_train_file):
    import sciml_grow as sg
    from sciml_grow.config import apply_overrides
    from sciml_grow.study.compare import read_results, read_stats

    from .conftest import QUICK_SETTINGS, set_args

    config = apply_overrides({}, set_args(QUICK_SETTINGS)[1::2])
    config["search"] = {"budget": "match:td"}
    config["variants"] = {"search-2x": {"strategy": "search", "search": {"factor": 2}}}
    out = tmp_path / "cmp"
    result = sg.compare(
        heat_train_file, ["baseline", "td", "search", "search-2x"], out=out, seeds=2,
        config=config, epochs=30, reference_samples=0,
    )  # fmt: skip
    rows = read_results(out / "results.csv")
    assert [r["strategy"] for r in rows].count("search-2x") == 2
    for k in range(2):
        td = RunDir(out / "runs" / f"td-seed{k}").read_json("final.json")
        td_cost = td["training_flops"] + td["decision_flops"]
        for name, factor in (("search", 1), ("search-2x", 2)):
            run = RunDir(out / "runs" / f"{name}-seed{k}")
            cfg = run.read_json("config.json")["config"]
            assert cfg["strategy"] == "search" and cfg["search"]["factor"] == factor
            assert cfg["search"]["match_run"] == str(out / "runs" / f"td-seed{k}")
            assert run.read_json("final.json")["search"]["budget_flops"] == factor * td_cost
        # the baseline reaches its own best validation loss at its best epoch
        base = RunDir(out / "runs" / f"baseline-seed{k}")
        best = base.read_json("final.json")["best_epoch"]
        at = float(base.read_csv("metrics.csv")[best - 1]["train_flops"])
        row = next(r for r in rows if r["strategy"] == "baseline" and r["seed"] == k)
        assert row["flops_to_reference"] == at
    stats = [p for p in read_stats(out / "stats.csv") if p.against == "baseline"]
    assert {p.strategy for p in stats} == {"td", "search", "search-2x", "linear (ridge)"}
    assert {p.family_size for p in stats} == {4}
    assert "cost (FLOPs)" in result.table and "FLOPs to baseline's val. loss" in result.table
    assert "Family: 4 comparisons against baseline" in result.table
    assert (out / "cost.png").exists()


@pytest.mark.mpi
def test_mpi_ranks_share_one_search(tmp_path, heat_train_file):
    out = tmp_path / "shared"
    r = run_cli(
        "train", "--data", str(heat_train_file), "--strategy", "search", "--out", str(out),
        "--epochs", "30", "--set", "search.trials=4", "--set", "search.pruner=none", *QUICK,
        ranks=2,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("search seed 0:") == 1  # rank 0 speaks for the run
    rows = trials(RunDir(out))
    assert [r["state"] for r in rows] == ["complete"] * 4
    assert len({r["worker"] for r in rows}) == 2  # both ranks ran trials
    final = RunDir(out).read_json("final.json")
    assert final["search"]["trials"] == 4
    assert final["training_flops"] == pytest.approx(sum(float(r["training_flops"]) for r in rows))


def test_a_diverged_trial_fails_and_the_search_goes_on(tmp_path, heat_train_file, monkeypatch):
    from sciml_grow.training.trainer import Trainer

    real = Trainer._train_epoch

    def epoch(self) -> float:  # trial 1 diverges in its fifth epoch
        loss = real(self)
        return float("nan") if self.run.path.name == "0001" and self.state.epoch == 4 else loss

    monkeypatch.setattr(Trainer, "_train_epoch", epoch)
    out = tmp_path / "diverging"
    assert train(out, heat_train_file, "--set", "search.trials=3") == 0
    rows = trials(RunDir(out))
    assert [r["state"] for r in rows] == ["complete", "fail", "complete"]
    assert rows[1]["epochs"] == "4" and float(rows[1]["training_flops"]) > 0
    final = RunDir(out).read_json("final.json")
    assert final["search"]["best_trial"] in (0, 2)
    assert final["training_flops"] == pytest.approx(sum(float(r["training_flops"]) for r in rows))


def test_a_search_resumed_inside_compare_is_the_uninterrupted_one(
    tmp_path, heat_train_file, monkeypatch
):
    """A compare killed during a search trial, run again: the same results as a compare that
    was never interrupted (the interrupted trial's process is gone: its pid is dead)."""
    import socket

    import sciml_grow as sg
    from sciml_grow.training import search

    dead = subprocess.Popen(["true"])
    dead.wait()
    config = {"search": {"trials": 4, "pruner": "none"}, "model": {"width": 8}}
    kw = dict(seeds=1, epochs=6, reference_samples=0, plots=False, config=config)
    whole = sg.compare(heat_train_file, "baseline,search", out=tmp_path / "whole", **kw)
    real, calls = search.Trainer, {"n": 0}

    class Killed(real):
        def run_training(self, resume=False):
            calls["n"] += 1
            if calls["n"] == 3:  # the third trial
                raise KeyboardInterrupt
            return super().run_training(resume)

    monkeypatch.setattr(search, "Trainer", Killed)
    monkeypatch.setattr(search, "_worker", lambda: f"{socket.gethostname()}:{dead.pid}")
    with pytest.raises(KeyboardInterrupt):
        sg.compare(heat_train_file, "baseline,search", out=tmp_path / "killed", **kw)
    monkeypatch.setattr(search, "Trainer", real)
    resumed = sg.compare(heat_train_file, "baseline,search", out=tmp_path / "killed", **kw)
    keys = ("strategy", "rel_l2_mean", "training_flops", "final_depth", "n_params")
    assert [[r[k] for k in keys] for r in resumed.rows] == [
        [r[k] for k in keys] for r in whole.rows
    ]
    a, b = (json.loads((d / "runs" / "search-seed0" / "final.json").read_text())
            for d in (tmp_path / "killed", tmp_path / "whole"))  # fmt: skip
    assert a["search"] == b["search"] and a["search"]["trials"] == 4
