"""`sciml-grow compare`: fairness, resume, rank invariance, and the table."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from sciml_grow.data.dataset import DataConfig, Dataset
from sciml_grow.study.compare import read_results, write_results
from sciml_grow.study.report import table
from sciml_grow.training.rundir import RunDir

from .conftest import QUICK_SETTINGS, run_cli, set_args

ARGS = [
    "--strategies",
    "baseline,td,net2deeper",
    "--seeds",
    "2",
    "--epochs",
    "40",
    "--reference-samples",
    "4",
    *set_args(
        {**QUICK_SETTINGS, "growth.max_blocks": 4, "optim.batch_size": 64, "dtype": "float32"}
    ),
]


def results(path) -> list[dict]:
    with open(path / "results.csv") as fh:
        return [
            {k: v for k, v in r.items() if "seconds" not in k and "memory" not in k}
            for r in csv.DictReader(fh)
        ]


@pytest.fixture(scope="module")
def serial(tmp_path_factory, heat_train_file):
    out = tmp_path_factory.mktemp("cmp") / "serial"
    r = run_cli("compare", "--data", str(heat_train_file), "--out", str(out), *ARGS)
    assert r.returncode == 0, r.stderr
    return out, r.stdout


def test_compare_writes_results_table_and_plots(serial, heat_train_file):
    out, stdout = serial
    rows = results(out)
    whole = str(len(Dataset(heat_train_file, DataConfig()).splits["train"]))
    assert {r["train_size"] for r in rows} == {whole}  # the whole training split
    with open(out / "stats.csv") as fh:
        assert [(r["strategy"], r["against"]) for r in csv.DictReader(fh)] == [
            ("td", "baseline"),
            ("net2deeper", "baseline"),
            ("linear (ridge)", "baseline"),  # what the networks' nonlinearity buys
        ]
    linear = json.loads((out / "linear.json").read_text())
    assert [(r["seed"], r["train_size"]) for r in linear] == [(0, int(whole)), (1, int(whole))]
    assert json.loads((out / "compare.json").read_text())["against"] == "baseline"
    assert [(r["strategy"], r["seed"]) for r in rows] == [
        ("td", "0"),
        ("td", "1"),
        ("net2deeper", "0"),
        ("net2deeper", "1"),
        ("baseline", "0"),
        ("baseline", "1"),
    ]
    text = (out / "table.md").read_text()
    assert "| td |" in text and "MAP (L-BFGS)" in text and "table.md" in stdout
    assert "vs baseline [95 % CI]" in stdout and "MAP (L-BFGS):" in stdout  # the short one
    assert "| linear (ridge) |" in text
    for name in ("learning_curves.png", "td_sensitivity.png", "errors.png", "fields.png"):
        assert (out / name).stat().st_size > 10_000, name


def test_runs_are_fair(serial):
    out, _ = serial
    records = [RunDir(p).read_json("config.json") for p in sorted((out / "runs").iterdir())]
    configs = [r["config"] for r in records]
    for c in configs:
        c.pop("strategy"), c.pop("seed"), c.pop("baseline_from")
    assert all(c == configs[0] for c in configs)  # same split, budget, optimizer, growth rules
    assert len({json.dumps(r["split_sizes"]) for r in records}) == 1
    for p in (out / "runs").iterdir():
        assert len(RunDir(p).read_csv("metrics.csv")) == 40
    # each baseline trained the architecture td kept for the same seed
    for seed in (0, 1):
        td = RunDir(out / "runs" / f"td-seed{seed}").read_json("final.json")["architecture"]
        base = RunDir(out / "runs" / f"baseline-seed{seed}").read_json("final.json")
        assert [b["activation"] for b in base["architecture"]["blocks"]] == [
            b["activation"] for b in td["blocks"]
        ]


@pytest.mark.mpi
def test_two_ranks_give_the_serial_results(serial, heat_train_file, tmp_path):
    out, _ = serial
    r = run_cli(
        "compare", "--data", str(heat_train_file), "--out", str(tmp_path / "p2"), *ARGS, ranks=2
    )
    assert r.returncode == 0, r.stderr
    assert results(tmp_path / "p2") == results(out)
    assert (
        json.loads((tmp_path / "p2" / "reference.json").read_text())["rel_l2_mean"]
        == (json.loads((out / "reference.json").read_text())["rel_l2_mean"])
    )


def test_interrupted_compare_resumes_and_skips_finished_runs(serial, heat_train_file, tmp_path):
    out, _ = serial
    cut = tmp_path / "cut"
    shutil.copytree(out, cut)
    # as if killed: one run unfinished (checkpoint only), one never started, no summary yet
    (cut / "runs" / "net2deeper-seed1" / "final.json").unlink()
    shutil.rmtree(cut / "runs" / "baseline-seed1")
    for name in ("results.csv", "table.md"):
        (cut / name).unlink()
    finished = cut / "runs" / "td-seed0" / "final.json"
    stamp = finished.stat().st_mtime_ns
    r = run_cli("compare", "--data", str(heat_train_file), "--out", str(cut), *ARGS, "--no-plots")
    assert r.returncode == 0, r.stderr
    assert finished.stat().st_mtime_ns == stamp  # skipped
    assert results(cut) == results(out)


def test_table_from_a_fixture_results_file(tmp_path):
    rows = [
        {
            "strategy": s,
            "seed": k,
            "train_size": 50,
            "rel_l2_mean": e,
            "rel_l2_median": e,
            "mse": 2 * e,
            "obs_misfit": 3.0,
            "final_depth": d,
            "srl_stages": 0,
            "n_params": 100 * d,
            "zero_weight_fraction": 0.0,
            "insertions": d - 2,
            "wall_seconds": 1.0 + k,
            "inference_seconds_per_sample": 1e-5,
            "rel_l2_on_reference_samples": e,
        }
        for s, errs, d in (("td", (0.30, 0.40), 4), ("baseline", (0.50, 0.60), 4))
        for k, e in enumerate(errs)
    ]
    (tmp_path / "reference.json").write_text(
        json.dumps(
            {
                "name": "map",
                "label": "MAP (L-BFGS)",
                "short": "MAP",
                "indices": [1, 2],
                "rel_l2_mean": 0.25,
                "rel_l2_std": 0.01,
                "rel_l2_median": 0.25,
                "seconds_per_sample": 0.1,
            }
        )
    )
    write_results(tmp_path, rows)
    back = read_results(tmp_path / "results.csv")
    assert [r["rel_l2_mean"] for r in back] == [0.30, 0.40, 0.50, 0.60]
    text = table(back, json.loads((tmp_path / "reference.json").read_text()))
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "0.3500 ± 0.0707" in lines["td"]  # mean ± sample std
    assert "0.5500 ± 0.0707" in lines["baseline"]
    assert "**" not in text  # two seeds cannot resolve a best
    assert "No strategy is best at 95 %" in text and "With 2 seeds no verdict is possible" in text
    assert "| -36.4 % [-36.4, -36.4] | no difference (p = 0.5" in lines["td"]
    assert "| 1.400 |" in lines["td"]  # 0.35 / MAP's 0.25
    assert "| 1.0e-04 |" in lines["td"]  # inference 1e-5 s vs MAP's 0.1 s
    assert "0.2500 ± 0.0100" in lines["MAP (L-BFGS)"]
    # with the floor: its row, and every error over the floor's on the floor's samples
    for r in back:
        r["rel_l2_on_floor_samples"] = r["rel_l2_mean"] - 0.05
    ref = {**json.loads((tmp_path / "reference.json").read_text()), "rel_l2": [0.24, 0.26]}
    floor = {**ref, "name": "floor", "label": "posterior mean (MCMC)", "short": "floor",
             "indices": [2], "rel_l2_mean": 0.2, "rel_l2": [0.2], "rel_l2_std": 0.0,
             "details": {"all_converged": True, "mcmc": {"chains": 4, "rhat": 1.01, "ess": 400},
                         "per_rank": [{"rhat_max": [1.004], "ess_min": [512.0]}]}}  # fmt: skip
    text = table(back, ref, floor=floor)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert lines["strategy"].rstrip().endswith("| error / floor |")
    assert lines["td"].rstrip().endswith("| 1.500 |")  # (0.35 - 0.05) / 0.2
    assert lines["MAP (L-BFGS)"].rstrip().endswith("| 1 | 1 | 1.300 |")  # its 0.26 on sample 2
    assert lines["posterior mean (MCMC)"].rstrip().endswith("|  |  | 1 |")
    assert "all converged" in text and "R-hat 1.0040, ESS 512" in text


def test_compare_rejects_bad_input(heat_train_file, tmp_path):
    r = run_cli(
        "compare",
        "--data",
        str(heat_train_file),
        "--out",
        str(tmp_path / "x"),
        "--strategies",
        "td,grow-fast",
    )
    assert r.returncode == 2 and "unknown grow-fast" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli(
        "compare", "--data", str(heat_train_file), "--out", str(tmp_path / "x"), "--seeds", "0"
    )
    assert r.returncode == 2 and "--seeds must be an integer >= 1" in r.stderr


def test_classification_table_marks_the_highest_accuracy():
    rows = [
        {
            "strategy": s,
            "seed": k,
            "train_size": 50,
            "rel_l2_mean": None,
            "accuracy": a,
            "cross_entropy": 1 - a,
            "final_depth": 3,
            "n_params": 100,
            "wall_seconds": 1.0,
            "inference_seconds_per_sample": 1e-5,
            "rel_l2_on_reference_samples": None,
        }
        for s, accs in (("td", (0.95, 0.97)), ("baseline", (0.90, 0.92)))
        for k, a in enumerate(accs)
    ]
    text = table(rows)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "test accuracy" in lines["strategy"] and "rel. L2" not in lines["strategy"]
    assert "0.9600 ± 0.0141" in lines["td"] and "**" not in text  # 2 seeds: no verdict
    assert "-55.6 %" in lines["td"]  # error rate 0.04 against the baseline's 0.09
    assert "Obs. misfit" not in text and "test error rate" in text


def test_compare_on_another_input_dataset_draws_its_fields(heat_train_file, tmp_path):
    """data.inputs picks the full state (289 values) instead of the 10 sensor values: the
    plots must feed the networks what they were trained on."""
    args = ["--strategies", "td", "--seeds", "1", "--epochs", "3", "--reference-samples", "0"]
    args += set_args({**QUICK_SETTINGS, "data.inputs": "samples/state"})
    r = run_cli("compare", "--data", str(heat_train_file), "--out", str(tmp_path), *args)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "fields.png").stat().st_size > 10_000
    config = json.loads((tmp_path / "runs" / "td-seed0" / "config.json").read_text())
    assert config["config"]["data"]["inputs"] == "samples/state"


def test_training_size_sweep_pairs_subsets_by_seed(heat_train_file, tmp_path):
    """--train-sizes: a run per (strategy, size, seed); seed k draws the same N training and
    validation samples for every strategy, another draw for another seed; the test split and
    the reference are shared; results carry train_size, stats a row per size."""
    from sciml_grow.config import from_dict
    from sciml_grow.data.dataset import Dataset
    from sciml_grow.training.config import TrainConfig

    args = ["--strategies", "td,net2deeper", "--seeds", "2", "--epochs", "3"]
    args += ["--train-sizes", "30,all", "--reference-samples", "0", "--against", "td"]
    args += set_args(QUICK_SETTINGS)
    r = run_cli("compare", "--data", str(heat_train_file), "--out", str(tmp_path), *args)
    assert r.returncode == 0, r.stderr
    rows = results(tmp_path)
    whole = str(len(Dataset(heat_train_file, DataConfig()).splits["train"]))
    assert sorted({r["train_size"] for r in rows}, key=int) == ["30", whole]
    assert len(rows) == 8 and (tmp_path / "sweep.png").stat().st_size > 10_000
    with open(tmp_path / "stats.csv") as fh:
        stats = [(s["strategy"], s["against"], s["train_size"]) for s in csv.DictReader(fh)]
    lin = "linear (ridge)"  # fitted per size and seed on the same subsets
    assert stats == [
        ("net2deeper", "td", "30"),
        (lin, "td", "30"),
        ("net2deeper", "td", whole),
        (lin, "td", whole),
    ]
    linear = json.loads((tmp_path / "linear.json").read_text())
    assert [(r["train_size"], r["seed"]) for r in linear] == [
        (30, 0),
        (30, 1),
        (int(whole), 0),
        (int(whole), 1),
    ]
    assert linear[0]["rel_l2_mean"] != linear[1]["rel_l2_mean"]  # seed k's own subset

    def splits(name: str) -> dict:
        cfg = json.loads((tmp_path / "runs" / name / "config.json").read_text())["config"]
        return Dataset(heat_train_file, from_dict(TrainConfig, cfg).data).splits

    a, b, c = splits("td-n30-seed0"), splits("net2deeper-n30-seed0"), splits("td-n30-seed1")
    assert len(a["train"]) == 30 and len(a["val"]) == 5  # validation scales: 30 / 9, >= 5
    for key in ("train", "val", "test"):
        assert (a[key] == b[key]).all(), key
    assert not (a["train"] == c["train"]).all() and (a["test"] == c["test"]).all()


def test_seed_k_starts_every_growing_strategy_from_the_same_weights(heat_file, tmp_path):
    """The paired design: seed k gives td, random-1, random-2, net2deeper and
    forward-thinking identical starting networks (here with model.init_std, the papers'
    N(0, 0.01^2) initialization: weights of that spread, zero biases)."""
    import torch

    from sciml_grow.config import from_dict
    from sciml_grow.data.dataset import Dataset
    from sciml_grow.training.config import TrainConfig
    from sciml_grow.training.trainer import Trainer

    starts = {}
    for strategy in ("td", "random-1", "random-2", "net2deeper", "forward-thinking"):
        cfg = from_dict(TrainConfig, {"strategy": strategy, "seed": 3, "model": {"init_std": 0.01}})
        trainer = Trainer(cfg, Dataset(heat_file, cfg.data), RunDir(tmp_path / strategy))
        trainer._fresh()
        starts[strategy] = trainer.model.state_dict()
    first = starts["td"]
    for name, state in starts.items():
        assert state.keys() == first.keys() and all(
            torch.equal(state[k], first[k]) for k in first
        ), name
    weights = torch.cat([v.flatten() for k, v in first.items() if not k.endswith("bias")])
    assert 0.009 < float(weights.std()) < 0.011
    assert all(float(v.abs().max()) == 0 for k, v in first.items() if k.endswith("bias"))


def test_field_plots_of_a_reference_kept_without_its_fields(serial, heat_train_file, tmp_path):
    """A comparison folder whose reference.json came without reference_fields.npy (copied
    from another run to skip an expensive MAP) still gets its field plot."""
    from sciml_grow.study.plots import fields

    out = tmp_path / "copy"
    shutil.copytree(serial[0], out)
    (out / "reference_fields.npy").unlink()
    assert fields(out, heat_train_file).exists()
