"""The second fuzz pass: what a new user or an adversary tried, kept as a table of cases.

Each case failed before its fix. Command-line cases run ``sciml-grow`` in-process in a folder
fingerprinted before and after: a refusal is one line naming the culprit, a non-zero exit that
is not 130, and nothing written. Python API cases expect the toolkit's own error types
(:class:`sciml_grow.errors.UserError`) with messages in Python terms.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
from pathlib import Path
import shutil
import sys
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

import sciml_grow as sg
from sciml_grow.cli import main
from sciml_grow.errors import UserError

from .conftest import needs_fenicsx
from .test_bad_input import snapshot
from .test_bench import SMALL

QUICK = ["--no-progress", "--epochs", "2"]


def plain(path: Path, x: np.ndarray, y: np.ndarray, **attrs) -> Path:
    """A user's own file: only inputs and targets (no format tag)."""
    with h5py.File(path, "w") as f:
        f["inputs"] = x
        f["targets"] = y
        for k, v in attrs.items():
            f["inputs"].attrs[k] = v
    return path


class Marker:
    """Unpickling this writes ``path``: the code a hostile model file would run."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def root(tmp_path_factory, heat_file) -> Path:
    """A user's folder: data, a finished run, hostile and damaged run files."""
    d = tmp_path_factory.mktemp("fuzz2")
    shutil.copy(heat_file, d / "heat.h5")
    assert main(["train", "--data", str(d / "heat.h5"), "--out", str(d / "run"), *QUICK]) == 0
    with h5py.File(d / "heat.h5") as f:
        x, y = f["inputs"][()], f["targets"][()]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, len(x))
    plain(d / "labels2.h5", x, np.stack([labels, labels], axis=1))
    plain(d / "labels.h5", x, labels)
    plain(d / "big.h5", x * 1e160, y)
    plain(d / "bigy.h5", x, y * 1e160)
    plain(d / "noy.h5", x, y)
    with h5py.File(d / "noy.h5", "a") as f:
        del f["targets"]
    xn = x.copy()
    xn[5, 2] = np.nan
    plain(d / "nanx.h5", xn, y)
    plain(d / "flat.h5", x[:, 0], y)
    plain(d / "strshape.h5", x, y, image_shape="abc")
    with h5py.File(d / "scalar.h5", "w") as f:
        f["inputs"] = 1.0
        f["targets"] = y
    with h5py.File(d / "dangling.h5", "w") as f:
        f["inputs"] = h5py.ExternalLink("missing.h5", "/x")
        f["targets"] = y
    with h5py.File(d / "wide.h5", "w") as f:  # 300 x 1e9 features, nothing stored
        f.create_dataset("inputs", shape=(300, 10**9), dtype="f8", chunks=(1, 2**20))
        f["targets"] = np.zeros((300, 4))
    with h5py.File(d / "tall.h5", "w") as f:  # 1e10 samples, nothing stored
        f.create_dataset("inputs", shape=(10**10, 3), dtype="f8", chunks=(2**16, 3))
        f.create_dataset("targets", shape=(10**10, 2), dtype="f8", chunks=(2**16, 2))
    crun = ["train", "--data", str(d / "labels.h5"), "--out", str(d / "crun"), *QUICK]
    assert main(crun) == 0  # a classification run
    # hostile and damaged copies of the finished run
    for name in ("evil", "truncated", "foreign", "badjson", "unfinished", "evilck", "badcsv"):
        shutil.copytree(d / "run", d / name)
    torch.save({"spec": Marker(d / "MARKER"), "model": {}}, d / "evil" / "best.pt")
    best = (d / "run" / "best.pt").read_bytes()
    (d / "truncated" / "best.pt").write_bytes(best[: len(best) // 2])
    torch.save({"weights": torch.zeros(3)}, d / "foreign" / "best.pt")
    (d / "badjson" / "config.json").write_text('{"config": ')
    for name in ("unfinished", "evilck", "badcsv"):
        (d / name / "final.json").unlink()
    torch.save({"spec": Marker(d / "MARKER"), "state": {}}, d / "evilck" / "checkpoint.pt")
    with open(d / "badcsv" / "metrics.csv", "a") as fh:
        fh.write("not,a,row,of,numbers\n")
    (d / "dup.json").write_text('{"epochs": 2, "epochs": 3}')
    (d / "cfg.TOML").write_text("epochs = 2\n")
    return d


def refused(root: Path, command: str, culprit: str, capsys) -> str:
    """Run ``command`` (``{d}`` is the folder): exit 2, one line naming ``culprit``, nothing
    written anywhere in the folder."""
    capsys.readouterr()
    before = snapshot(root)
    code = main(command.format(d=root).split())
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("sciml-grow: error: "), err
    assert culprit in lines[0], lines[0]
    assert snapshot(root) == before
    assert not (root / "MARKER").exists()
    return lines[0]


# --- 1. a model file runs no code --------------------------------------------------------
SECURITY = [
    ("predict --run {d}/evil --data {d}/heat.h5", "best.pt"),
    ("finetune --run {d}/evil --data {d}/heat.h5 --out {d}/ft --epochs 1", "best.pt"),
    ("train --resume {d}/evilck --no-progress", "checkpoint.pt"),
    ("predict --run {d}/foreign --data {d}/heat.h5", "not a sciml-grow model file"),
]


@pytest.mark.parametrize("command, culprit", SECURITY, ids=[c[:40] for c, _ in SECURITY])
def test_a_model_file_that_would_run_code_is_refused_by_the_command(root, command, culprit, capsys):
    refused(root, command, culprit, capsys)


def test_a_model_file_that_would_run_code_is_refused_by_the_api(root):
    for path in (root / "evil" / "best.pt", root / "evil"):
        with pytest.raises(UserError, match="best.pt"):
            sg.Predictor.load(path)
    with pytest.raises(UserError, match="checkpoint.pt"):
        sg.resume(root / "evilck", progress=False)
    assert not (root / "MARKER").exists()


def test_a_plain_pickle_file_is_refused(root, tmp_path):
    import pickle

    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"spec": Marker(root / "MARKER")}))
    with pytest.raises(UserError, match="model.pt"):
        sg.Predictor.load(path)
    assert not (root / "MARKER").exists()


def test_a_saved_predictor_still_loads_and_predicts_the_same(root, tmp_path):
    model = sg.Predictor.load(root / "run")
    x = np.random.default_rng(1).normal(size=(4, model.net.in_dim))
    model.save(tmp_path / "m.pt")
    np.testing.assert_array_equal(sg.Predictor.load(tmp_path / "m.pt").predict(x), model.predict(x))


def test_cifar_batches_are_read_without_running_their_code(tmp_path):
    import pickle

    from sciml_grow.data.imports import load_cifar10

    marker = tmp_path / "MARKER"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": Marker(marker)}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    with pytest.raises(UserError, match="data_batch_1"):
        load_cifar10(tmp_path)
    assert not marker.exists()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:  # real batches load
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    images, labels, _ = load_cifar10(tmp_path)
    assert images.shape == (12, 3, 32, 32) and labels.tolist() == [0, 1] * 6


# --- 2. nothing silently wrong -----------------------------------------------------------
CASES = [
    # (command, culprit)
    ("train --data {d}/labels2.h5 --out {d}/r", "targets"),
    ("predict --run {d}/run --data {d}/labels.h5", "class labels"),
    ("predict --run {d}/crun --data {d}/heat.h5", "classification run"),
    ("predict --run {d}/run --data {d}/nanx.h5", "NaN"),
    ("train --data {d}/bigy.h5 --out {d}/r", "targets"),
    ("compare --data {d}/heat.h5 --out {d}/c --train-sizes 5000 --seeds 1", "5000"),
    ("transfer --run {d}/run --data {d}/heat.h5 --out {d}/t --samples 100000", "100000"),
    ("transfer --run {d}/run --data {d}/heat.h5 --out {d}/t --samples 20,20", "20,20"),
    # 3. resources checked before starting
    ("train --data {d}/wide.h5 --out {d}/r", "memory"),
    ("train --data {d}/tall.h5 --out {d}/r", "memory"),
    ("compare --data {d}/heat.h5 --out {d}/c --set model.width=100000 --seeds 1", "model.width"),
    ("predict --run {d}/run --data {d}/wide.h5", "memory"),
    # 4. tracebacks
    ("train --data {d}/heat.h5 --out {d}/" + "x" * 300, "too long"),
    ("train --data {d}/heat.h5 --out /proc/sciml_run", "/proc"),
    ("compare --data {d}/heat.h5 --out {d}/c --train-sizes 1 --seeds 1", "--train-sizes"),
    ("train --resume {d}/unfinished_trunc", "checkpoint.pt"),
    ("train --data {d}/dangling.h5 --out {d}/r", "inputs"),
    # 5. refusals leave nothing
    ("compare --data {d}/heat.h5 --out {d}/c --set optim.lr=-1 --seeds 1", "optim.lr"),
    ("compare --data {d}/nanx.h5 --out {d}/c --seeds 1", "NaN"),
    ("compare --data {d}/heat.h5 --out {d}/c --strategies finetune --seeds 1", "finetune"),
    (
        "compare --data {d}/heat.h5 --out {d}/c --strategies layerwise --set model.kind=cnn",
        "layerwise",
    ),
    ("compare --data {d}/heat.h5 --out {d}/c --set data.test_fraction=0.999", "few"),
    ("compare --data {d}/flat.h5 --out {d}/c --seeds 1", "inputs"),
    ("transfer --run {d}/run --data {d}/heat.h5 --out {d}/t --set optim.lr=-1", "optim.lr"),
    ("transfer --run {d}/run --data {d}/nanx.h5 --out {d}/t --samples 5,10", "NaN"),
    # 6. messages that name the key or file
    ("train --data {d}/heat.h5 --out {d}/r --set data.split_seed=-1", "data.split_seed"),
    ("predict --run {d}/truncated --data {d}/heat.h5", "best.pt"),
    ("predict --run {d}/badjson --data {d}/heat.h5", "config.json"),
    ("train --resume {d}/badcsv", "metrics.csv"),
    ("train --data {d}/strshape.h5 --out {d}/r --set model.kind=cnn", "image_shape"),
    ("train --data {d}/heat.h5 --out {d}/r --config {d}/dup.json", "epochs"),
    ("train --data {d}/flat.h5 --out {d}/r", "(N, 1)"),
    # 8. friction
    ("train --data {d}/heat.h5 --out {d}/run/inside", "run directory"),
    ("train --resume {d}/run --epochs 7", "--epochs"),
]


@pytest.fixture(scope="module")
def root_with_truncated_checkpoint(root) -> Path:
    shutil.copytree(root / "run", root / "unfinished_trunc")
    (root / "unfinished_trunc" / "final.json").unlink()
    ck = root / "unfinished_trunc" / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:100])
    return root


@pytest.mark.parametrize("command, culprit", CASES, ids=[c[:60] for c, _ in CASES])
def test_refused_with_one_line_and_nothing_written(
    root_with_truncated_checkpoint, command, culprit, capsys
):
    refused(root_with_truncated_checkpoint, command, culprit, capsys)


def test_check_says_what_training_would_refuse(root):
    for name, text in (
        ("labels2.h5", "targets"),
        ("flat.h5", "(N, 1)"),
        ("scalar.h5", "inputs"),
        ("strshape.h5", "image_shape"),
        ("dangling.h5", "inputs"),
    ):
        report = sg.check(root / name)
        assert not report.ok and text in report.errors[0], (name, report.errors)


def test_check_reads_a_huge_file_in_bounded_blocks_and_quickly(root):
    """A file declaring 300 x 1e9 and 1e10 x 3 values, nothing stored: checked in seconds
    and under 512 MiB (before: 1.09 TiB asked for, or minutes of reading)."""
    import subprocess
    import sys

    code = (
        "import re, sys, time; from sciml_grow.format import check_file; "
        "t = time.perf_counter(); r = [check_file(p).ok for p in sys.argv[1:]]; "
        "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(r, time.perf_counter() - t, peak)"  # VmHWM: this process's peak (KiB)
    )
    files = [str(root / "wide.h5"), str(root / "tall.h5")]
    out = subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True)
    ok, seconds, kib = out.stdout.rsplit(maxsplit=2)
    assert ok == "[True, True]", out.stdout + out.stderr
    assert float(seconds) < 20 and int(kib) < 2**19, out.stdout


def test_inputs_scaled_by_1e160_train_as_the_unscaled_ones(root):
    cfg = sg.TrainConfig(strategy="baseline", epochs=3, dtype="float64")
    a = sg.fit(root / "heat.h5", cfg, progress=False)
    b = sg.fit(root / "big.h5", cfg, progress=False)
    assert math.isclose(
        a.final["test"]["rel_l2_mean"], b.final["test"]["rel_l2_mean"], rel_tol=1e-6
    )
    from sciml_grow.data.dataset import Standardizer

    x = torch.randn(20, 3, dtype=torch.float64)
    for scale in (1e-160, 1e160):
        s = Standardizer.fit(x * scale)
        torch.testing.assert_close(s(x * scale), (x - x.mean(0)) / x.std(0), rtol=1e-12, atol=1e-12)


def test_relative_errors_of_huge_and_tiny_fields_are_finite():
    from sciml_grow.data.dataset import relative_errors

    t = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    p = torch.tensor([[3.0, 5.0]], dtype=torch.float64)
    for s in (1e-200, 1.0, 1e200):
        torch.testing.assert_close(relative_errors(p * s, t * s), torch.tensor([0.2]).double())


def test_predict_scores_only_what_matches_and_needs_no_targets(root, capsys):
    capsys.readouterr()
    assert main(["predict", "--run", str(root / "run"), "--data", str(root / "noy.h5")]) == 0
    out = capsys.readouterr().out
    assert "48 samples" in out and "no targets" in out


def test_the_train_sizes_and_transfer_sizes_are_checked_against_the_file(root):
    with pytest.raises(UserError, match="train_sizes: 5000 is more than the 39"):
        sg.compare(root / "heat.h5", ["baseline"], out=root / "c", train_sizes=[5000], seeds=1)
    for sizes, text in (([40], "40 is more than the 39"), ([5, 5], "distinct"), ([1], ">= 2")):
        with pytest.raises(UserError, match=text):
            sg.transfer(root / "run", root / "heat.h5", out=root / "t", sizes=sizes)
    assert not (root / "c").exists() and not (root / "t").exists()


def test_a_file_being_written_by_another_process_is_named_so(root, tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "busy.h5"
    shutil.copy(root / "heat.h5", path)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import h5py, time; f = h5py.File({str(path)!r}, 'a'); "
         "print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(UserError, match="another process"):
            sg.load(path)
        report = sg.check(path)
        assert any("another process" in w for w in report.warnings + report.errors), report.text()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)


# --- 3. full disk ------------------------------------------------------------------------
def test_a_full_disk_mid_run_is_one_line_with_a_next_step(root, tmp_path, monkeypatch, capsys):
    from sciml_grow.training import rundir

    real = rundir.atomic_write_bytes

    def full(path, data):
        if path.name == "best.pt":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(rundir, "atomic_write_bytes", full)
    out = tmp_path / "r"
    capsys.readouterr()
    code = main(["train", "--data", str(root / "heat.h5"), "--out", str(out), *QUICK])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "No space left" in err[0], err
    assert "Traceback" not in "".join(err)
    # the next step the line names works: no loop between --resume and --out
    monkeypatch.setattr(rundir, "atomic_write_bytes", real)
    if "--resume" in err[0]:
        assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    else:
        assert not out.exists()
        assert main(["train", "--data", str(root / "heat.h5"), "--out", str(out), *QUICK]) == 0
    assert (out / "final.json").exists()
    assert not list(tmp_path.glob("*.replacing"))


def test_a_run_without_checkpoint_is_no_loop(root, tmp_path, capsys):
    """--resume of a run that has no checkpoint names the command that restarts it, and that
    command works."""
    run = tmp_path / "r"
    shutil.copytree(root / "run", run)
    for name in ("final.json", "checkpoint.pt", "best.pt"):
        (run / name).unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--force" in err
    argv = ["train", "--data", str(root / "heat.h5"), "--out", str(run), "--force", *QUICK]
    assert main(argv) == 0


# --- 4./5. API refusals leave nothing ----------------------------------------------------
def test_compare_with_a_bad_seed_count_writes_nothing(root, tmp_path):
    for seeds in (1.5, 0, True):
        with pytest.raises(UserError, match="seeds"):
            sg.compare(root / "heat.h5", ["baseline"], out=tmp_path / "c", seeds=seeds)
    assert not (tmp_path / "c").exists()


def test_out_under_a_parent_that_cannot_hold_files(root, tmp_path, capsys):
    refused(root, "predict --run {d}/run --data {d}/heat.h5 --out /proc/p.h5", "/proc", capsys)


# --- 7. the Python API speaks Python ------------------------------------------------------
def test_predictor_load_of_damaged_or_foreign_files(root):
    with pytest.raises(UserError, match="best.pt"):
        sg.Predictor.load(root / "truncated" / "best.pt")
    with pytest.raises(UserError, match="not a sciml-grow model file"):
        sg.Predictor.load(root / "foreign" / "best.pt")
    with pytest.raises(UserError, match="no such file"):
        sg.Predictor.load(root / "nothing.pt")


def test_predict_refuses_empty_and_complex_input(root):
    model = sg.Predictor.load(root / "run")
    with pytest.raises(UserError, match="no samples"):
        model.predict(np.zeros((0, model.net.in_dim)))
    with pytest.raises(UserError, match="complex"):
        model.predict(np.zeros((2, model.net.in_dim), dtype=complex))
    with pytest.raises(UserError, match="NaN"):
        model.predict(np.full((2, model.net.in_dim), np.nan))
    with pytest.raises(UserError, match="array of numbers"):
        model.predict(np.array([["a"] * model.net.in_dim]))


def test_fit_takes_a_dict_and_compare_a_comma_list(root, tmp_path):
    model = sg.fit(root / "heat.h5", {"epochs": 2, "strategy": "baseline"}, progress=False)
    assert model.final["strategy"] == "baseline" and len(model.history) == 2
    with pytest.raises(UserError, match="strategies: unknown nope"):
        sg.compare(root / "heat.h5", "baseline,nope", out=tmp_path / "c")
    with pytest.raises(UserError) as info:
        sg.compare(root / "heat.h5", ["nope"], out=tmp_path / "c")
    assert "--" not in str(info.value)  # Python terms, not command-line flags
    for call in (
        lambda: sg.fit(root / "heat.h5", {"epochs": 2}, out=root / "run", progress=False),
        lambda: sg.resume(root / "run", epochs=7),
        lambda: sg.predict_file(root / "run", root / "heat.h5", out=root / "heat.h5"),
        lambda: sg.map_estimates(root / "heat.h5", samples=-1),
    ):
        with pytest.raises(UserError) as info:
            call()
        assert "--" not in str(info.value), str(info.value)
    with pytest.raises(UserError, match="config"):
        sg.fit(root / "heat.h5", 5, progress=False)


def test_td_decision_takes_numpy_and_refuses_nan(root):
    ds = sg.load(root / "heat.h5")
    net = sg.build_network(ds, width=6)
    x, y = ds.tensors("train")
    d = sg.td_decision(net, x.numpy(), y.numpy())
    assert d.curvature >= 0 and len(d.scores) == len(net.blocks) + 1
    xn = x.clone()
    xn[0, 0] = float("nan")
    with pytest.raises(UserError, match="NaN"):
        sg.td_decision(net, xn, y)
    for eps in (float("nan"), float("inf")):
        with pytest.raises(UserError, match="eps"):
            d.insert(net, eps)


def test_configs_take_numpy_numbers_and_any_case():
    assert sg.ModelConfig(width=np.int64(8)).width == 8
    assert type(sg.ModelConfig(width=np.int64(8)).width) is int
    assert sg.OptimConfig(lr=np.float32(0.5)).lr == 0.5
    assert sg.TrainConfig(strategy="TD").strategy == "td"


# --- 8. friction --------------------------------------------------------------------------
def test_compare_does_not_offer_finetune(root, tmp_path):
    with pytest.raises(UserError, match="choices") as info:
        sg.compare(root / "heat.h5", ["nope"], out=tmp_path / "c")
    assert "finetune" not in str(info.value).partition("choices")[2]
    with pytest.raises(UserError, match="compared by transfer"):
        sg.compare(root / "heat.h5", "td,finetune", out=tmp_path / "c")


def test_ctrl_c_says_how_to_go_on(monkeypatch, capsys):
    import sciml_grow.data.info as info

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "describe", interrupted)
    assert main(["info", "x.h5"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_outputs_in_a_new_folder_are_created(root, tmp_path):
    out = tmp_path / "new" / "deeper" / "p.h5"
    assert main(["predict", "--run", str(root / "run"), "--data", str(root / "heat.h5"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert out.exists()


def test_duplicate_keys_in_json_are_refused(tmp_path):
    from sciml_grow.config import ConfigError, apply_overrides, load_file

    (tmp_path / "c.json").write_text('{"epochs": 2, "epochs": 3}')
    with pytest.raises(ConfigError, match="epochs"):
        load_file(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="a"):
        apply_overrides({}, ['model={"a": 1, "a": 2}'])


def test_an_upper_case_toml_suffix_reads_as_toml(root):
    from sciml_grow.config import load_file

    assert load_file(root / "cfg.TOML") == {"epochs": 2}


def test_a_run_whose_test_result_is_not_finite_is_not_marked_finished(root, tmp_path, monkeypatch):
    from sciml_grow.training import trainer

    def nan_summary(*args, **kw):
        return {"rel_l2_mean": math.nan, "n_samples": 1}, None, 0.0

    monkeypatch.setattr(trainer, "test_summary", nan_summary)
    with pytest.raises(UserError, match="rel_l2_mean"):
        sg.fit(root / "heat.h5", {"epochs": 2}, out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "final.json").exists()


def test_runs_that_would_not_fit_on_the_disk_are_refused_first(root, tmp_path, monkeypatch):
    from collections import namedtuple

    from sciml_grow import resources

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda p: usage(10**6, 10**6, 1000))
    for command in (
        "train --data {d}/heat.h5 --out {t}/r",
        "compare --data {d}/heat.h5 --out {t}/c --seeds 1",
        "transfer --run {d}/run --data {d}/heat.h5 --out {t}/t --samples 5",
        "predict --run {d}/run --data {d}/heat.h5 --out {t}/p.h5",
    ):
        assert main(command.format(d=root, t=tmp_path).split()) == 2, command
    assert not list(tmp_path.iterdir())


def test_a_bundle_saved_before_the_task_was_recorded_still_loads(root, tmp_path):
    bundle = torch.load(root / "run" / "best.pt", weights_only=True)
    bundle.pop("task", None)
    torch.save(bundle, tmp_path / "old.pt")
    model = sg.Predictor.load(tmp_path / "old.pt")
    assert model.task == "" and model.predict(np.zeros((1, model.net.in_dim))).shape == (1, 81)


def test_a_full_disk_during_compare_is_one_line_and_a_rerun_finishes(
    root, tmp_path, monkeypatch, capsys
):
    from sciml_grow.training import rundir

    real = rundir.atomic_write_bytes

    def full(path, data):
        if path.name == "best.pt":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    argv = ["compare", "--data", str(root / "heat.h5"), "--out", str(tmp_path / "c"),
            "--strategies", "baseline", "--seeds", "1", "--epochs", "2", "--no-plots",
            "--reference-samples", "0"]  # fmt: skip
    monkeypatch.setattr(rundir, "atomic_write_bytes", full)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left" in err[0] and "re-run" in err[0], err
    monkeypatch.setattr(rundir, "atomic_write_bytes", real)
    assert main(argv) == 0
    assert (tmp_path / "c" / "table.md").exists()


def test_a_full_disk_while_replacing_a_run_keeps_the_old_one(root, tmp_path, monkeypatch, capsys):
    from sciml_grow.training import rundir

    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    before = snapshot(run)
    real = rundir.atomic_write_bytes

    def full(path, data):
        if path.name == "checkpoint.pt":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(rundir, "atomic_write_bytes", full)
    argv = ["train", "--data", str(root / "heat.h5"), "--out", str(run), "--force", *QUICK]
    assert main(argv) == 2
    assert "as it was" in capsys.readouterr().err
    assert snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_import_into_a_new_folder(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "a" / "b" / "digits.h5"
    assert main(["import", "digits", "--out", str(out)]) == 0
    assert sg.check(out).ok


# === the third pass ======================================================================
# --- 1. no code, no file and no path from a data file or a declaration --------------------
HOSTILE = 'open({marker!r}, "w").write("ran")\n'


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """Code a file could name: ``evil.py`` (by path) and the module ``evilmod`` (on sys.path),
    each writing MARKER when imported."""
    marker = tmp_path / "MARKER"
    for name in ("evil.py", "evilmod.py"):
        (tmp_path / name).write_text(HOSTILE.format(marker=str(marker)) + "class P: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield SimpleNamespace(marker=marker, specs=[f"{tmp_path}/evil.py:P", "evil.py:P", "evilmod:P"])
    assert not marker.exists() and "evilmod" not in sys.modules


@needs_fenicsx
def test_a_data_file_naming_code_as_its_problem_runs_nothing(root, hostile, tmp_path, capsys):
    from pde_data.generate import GenerationError, generate

    for k, spec in enumerate(hostile.specs):
        data = tmp_path / f"named{k}.h5"
        shutil.copy(root / "heat.h5", data)
        with h5py.File(data, "a") as f:
            f.attrs["problem"] = spec
        before = snapshot(tmp_path)
        capsys.readouterr()
        assert main(["generate", "heat", "--samples", "48", "--out", str(data)]) == 2
        assert "problem" in capsys.readouterr().err
        with pytest.raises(GenerationError, match="problem"):
            generate("heat", 48, data, progress=False)
        argv = ["benchmark", "run", "heat-demo", "--out", str(tmp_path / "b"), "--data", str(data)]
        assert main([*argv, "--no-plots"]) == 2
        assert snapshot(tmp_path) == before


def test_a_declaration_naming_code_as_its_problem_runs_nothing(hostile, tmp_path, capsys):
    for spec in hostile.specs:
        decl = tmp_path / "evil.toml"
        decl.write_text(f'name = "evil"\n[data]\nproblem = "{spec}"\n')
        with pytest.raises(UserError, match="data.problem"):
            sg.run_benchmark(decl, out=tmp_path / "b", plots=False)
        capsys.readouterr()
        assert main(["benchmark", "run", str(decl), "--out", str(tmp_path / "b")]) == 2
        assert "data.problem" in capsys.readouterr().err
        assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", "a/b", "..", "", "x" * 65])
def test_a_declared_name_is_a_plain_name_never_a_path(tmp_path, name):
    decl = tmp_path / "d" / "bench.toml"
    decl.parent.mkdir()
    decl.write_text(f'name = "{name}"\n')
    with pytest.raises(UserError, match="name"):
        sg.benchmark(decl)
    with pytest.raises(UserError, match="name"):
        sg.run_benchmark(decl, out=tmp_path / "d" / "out", plots=False)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bench.toml", "d"]


def test_a_users_declaration_named_like_a_builtin_is_recorded_as_the_users_file(tmp_path):
    from sciml_grow.bench import registry

    own = registry.BUILTIN["heat-demo"].read_text().replace("seeds = 10", "seeds = 2")
    decl = tmp_path / "heat-demo.toml"
    decl.write_text(own)
    mine, builtin = sg.benchmark(decl), sg.benchmark("heat-demo")
    assert (mine.name, mine.version) == (builtin.name, builtin.version)
    assert builtin.builtin and builtin.card is not None
    assert not mine.builtin and mine.card is None  # never the built-in's card
    record = mine.record()
    assert record["declaration"] == str(decl.resolve())
    assert record["declaration_sha256"] == hashlib.sha256(own.encode()).hexdigest()
    assert builtin.record()["declaration"] == "built in"


def test_cards_come_from_the_package_only(tmp_path, monkeypatch):
    from sciml_grow.bench import registry

    (tmp_path / "planted.json").write_text('{"version": 1}')
    assert registry.read_card("../../../" + str(tmp_path / "planted")) is None
    assert registry.read_card("not-a-benchmark") is None
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "heat-demo.json").write_text("[1, 2]")
    monkeypatch.setattr(registry, "HERE", tmp_path)
    with pytest.raises(UserError, match="not a JSON object"):
        registry.read_card("heat-demo")


def _outside_files(d: Path) -> dict[str, Path]:
    """Files whose 'inputs' would read another file: external raw storage, an external link,
    a virtual dataset; each beside a readable secret."""
    secret = d / "secret.bin"
    values = np.arange(48 * 4, dtype="f8")
    secret.write_bytes(values.tobytes())
    y = np.ones((48, 3))
    files = {}
    with h5py.File(d / "storage.h5", "w") as f:
        f.create_dataset("inputs", shape=(48, 4), dtype="f8",
                         external=[(str(secret), 0, values.nbytes)])  # fmt: skip
        f["targets"] = y
    with h5py.File(d / "other.h5", "w") as f:
        f["x"] = values.reshape(48, 4)
    with h5py.File(d / "link.h5", "w") as f:
        f["inputs"] = h5py.ExternalLink(str(d / "other.h5"), "/x")
        f["targets"] = y
    layout = h5py.VirtualLayout(shape=(48, 4), dtype="f8")
    layout[:] = h5py.VirtualSource(str(d / "other.h5"), "x", shape=(48, 4))
    with h5py.File(d / "vds.h5", "w") as f:
        f.create_virtual_dataset("inputs", layout)
        f["targets"] = y
    for name in ("storage", "link", "vds"):
        files[name] = d / f"{name}.h5"
    return files


def test_hdf5_files_that_read_other_files_are_refused_by_every_reader(root, tmp_path, capsys):
    files = _outside_files(tmp_path)
    for name, path in files.items():
        report = sg.check(path)
        assert not report.ok and "reads other files" in report.errors[0], (name, report.errors)
        for command in (
            f"train --data {path} --out {tmp_path}/r --no-progress --epochs 1",
            f"predict --run {root}/run --data {path}",
            f"import arrays --inputs {path}:inputs --targets {path}:targets --out {tmp_path}/i.h5",
            f"info {path}",
            f"export {path}",
            f"compare --data {path} --out {tmp_path}/c --seeds 1",
        ):
            capsys.readouterr()
            before = snapshot(tmp_path)
            assert main(command.split()) == 2, command
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "inputs" in err[0], (command, err)
            assert snapshot(tmp_path) == before
        with pytest.raises(UserError, match="inputs"):
            sg.from_arrays(f"{path}:inputs", f"{path}:targets", out=tmp_path / "i.h5")
        with pytest.raises(UserError, match="inputs"):
            sg.load(path)


# --- 2. nothing silently wrong (third pass) -----------------------------------------------
@pytest.mark.parametrize("strategy", ["td", "random-1"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "identity", "elu"])
def test_td_refuses_an_insert_activation_it_cannot_use(root, strategy, activation, capsys):
    refused(
        root,
        f"train --data {{d}}/heat.h5 --out {{d}}/r --strategy {strategy} "
        f"--set model.insert_activation={activation}",
        "model.insert_activation",
        capsys,
    )
    with pytest.raises(UserError, match="sigma''"):
        sg.TrainConfig(strategy=strategy, model=sg.ModelConfig(insert_activation=activation))
    sg.TrainConfig(strategy="net2deeper", model=sg.ModelConfig(insert_activation=activation))


def test_repeated_strategies_are_refused(root, tmp_path):
    for strategies in ("td,td", ["baseline", "td", "TD"]):
        with pytest.raises(UserError, match="given twice"):
            sg.compare(root / "heat.h5", strategies, out=tmp_path / "c", seeds=1)
    decl = tmp_path / "rep.toml"
    decl.write_text('name = "rep"\n[protocol]\nstrategies = ["td", "td"]\n')
    with pytest.raises(UserError, match="protocol.strategies: td given twice"):
        sg.benchmark(decl)
    assert not (tmp_path / "c").exists()


def test_a_study_refuses_to_resume_on_other_data(root, tmp_path, capsys):
    data = tmp_path / "data.h5"
    shutil.copy(root / "heat.h5", data)
    argv = ["compare", "--data", str(data), "--out", str(tmp_path / "c"), "--strategies",
            "baseline", "--seeds", "2", "--no-plots", "--reference-samples", "0",
            "--epochs", "2"]  # fmt: skip
    assert main(argv) == 0
    runs = sorted((tmp_path / "c" / "runs").iterdir())
    shutil.rmtree(runs[-1])  # as if killed before its last run
    with h5py.File(data, "a") as f:  # the same file regenerated with other content
        f["targets"][0] = f["targets"][0] * 2
    for setup in (True, False):  # what compare.json records, or (older studies) the runs
        if not setup:
            (tmp_path / "c" / "compare.json").unlink()
        before = snapshot(tmp_path)
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(data) in err[0] and "--out" in err[0], err
        assert snapshot(tmp_path) == before


def test_csv_import_reads_every_sample_and_says_what_it_read(tmp_path, capsys):
    """A UTF-8 byte-order mark is no data; pandas' numeric column names are neither taken
    for a sample nor guessed; the output says how many rows were read and the header."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(50, 1))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    one = "\n".join(repr(float(v)) for v in y[:, 0]) + "\n"
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + one.encode())
    (tmp_path / "bomhead.csv").write_bytes(b"\xef\xbb\xbfy\n" + one.encode())
    (tmp_path / "pandas.csv").write_text("0,1,2\n" + (tmp_path / "x.csv").read_text())
    for targets, header in (("bom.csv", "auto"), ("bomhead.csv", "auto"), ("bom.csv", "no")):
        out = tmp_path / f"{targets}-{header}.h5"
        capsys.readouterr()
        argv = ["import", "arrays", "--inputs", str(tmp_path / "x.csv"), "--targets",
                str(tmp_path / targets), "--header", header, "--out", str(out)]  # fmt: skip
        assert main(argv) == 0
        said = capsys.readouterr().out
        assert "targets from" in said and "50 rows" in said, said
        assert ("header skipped (y)" in said) == (targets == "bomhead.csv"), said
        with h5py.File(out) as f:
            np.testing.assert_array_equal(f["targets"][()], y)
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="column names .* or a sample"):
        sg.from_arrays(tmp_path / "pandas.csv", tmp_path / "bom.csv", out=tmp_path / "p.h5")
    assert snapshot(tmp_path) == before
    for header, rows in (("yes", 50), ("no", 51)):
        out = sg.from_arrays(tmp_path / "pandas.csv", y if rows == 50 else np.r_[y, y[:1]],
                             out=tmp_path / f"p{header}.h5", header=header)  # fmt: skip
        with h5py.File(out) as f:
            assert len(f["inputs"]) == rows
            np.testing.assert_array_equal(f["inputs"][-50:], x)
    with pytest.raises(UserError, match="header"):
        sg.from_arrays(tmp_path / "x.csv", y, out=tmp_path / "q.h5", header="maybe")


def test_export_pairs_each_prediction_with_its_sample(root, tmp_path, monkeypatch, capsys):
    """predict --split test writes the test samples' rows: export shows row k as sample
    indices[k]; samples without a prediction are refused; the data are found by absolute
    path from any folder, and a moved or changed data file is refused in one line."""
    import xml.etree.ElementTree as ET

    data = tmp_path / "heat.h5"
    shutil.copy(root / "heat.h5", data)
    pred = tmp_path / "p.h5"
    monkeypatch.chdir(tmp_path)  # a relative data path, as a user types it
    argv = ["predict", "--run", str(root / "run"), "--data", "heat.h5", "--split", "test"]
    assert main([*argv, "--out", str(pred)]) == 0
    said = capsys.readouterr().out
    assert "test samples: test relative L2" in said, said
    with h5py.File(pred) as f:
        indices, rows = f["indices"][()], f["predictions"][()]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # another folder: the stored path is absolute
    chosen = [int(indices[2]), int(indices[0])]
    xdmf = sg.export(pred, samples=chosen)
    tree = ET.parse(xdmf)
    for grid, sample in zip(
        [g for g in tree.iter("Grid") if g.get("GridType") == "Uniform"], chosen, strict=True
    ):
        for attr in grid.iter("Attribute"):
            slab = attr.find("DataItem")
            start = int(slab[0].text.split()[0])
            expected = list(indices).index(sample) if attr.get("Name") == "predictions" else sample
            assert start == expected, (attr.get("Name"), start, sample)
    assert {int(s.get("Value")) for s in tree.iter("Time")} == set(chosen)
    np.testing.assert_array_equal(rows[list(indices).index(chosen[0])], rows[2])
    outside = next(i for i in range(48) if i not in set(indices.tolist()))
    for samples, text in (([outside], "no prediction"), ([100], "not a sample")):
        with pytest.raises(UserError, match=text):
            sg.export(pred, samples=samples, force=True)
    # all samples: not called a test error
    capsys.readouterr()
    assert main(["predict", "--run", str(root / "run"), "--data", str(data)]) == 0
    said = capsys.readouterr().out
    assert "all 48 samples: relative L2" in said and "test" not in said, said
    # check and info say what a predictions file is
    assert "predictions (" in sg.check(pred).errors[0]
    assert main(["info", str(pred)]) == 0
    assert "predictions (" in capsys.readouterr().out
    # data changed, or gone: one line each, nothing written
    with h5py.File(data, "a") as f:
        f.attrs["description"] = "edited"
    for case in ("changed", "gone"):
        if case == "gone":
            data.unlink()
        before = snapshot(tmp_path)
        capsys.readouterr()
        assert main(["export", str(pred), "--out", str(tmp_path / "x.xdmf")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(data) in err[0] and "predict again" in err[0], err
        assert snapshot(tmp_path) == before


def test_check_and_training_agree_on_targets_too_large(root):
    report = sg.check(root / "bigy.h5")
    assert not report.ok and "overflow" in report.errors[0], report.errors
    with pytest.raises(UserError, match="overflow"):
        sg.load(root / "bigy.h5")
    assert sg.check(root / "big.h5").ok  # inputs of any finite scale train, and check


def test_more_modes_than_the_data_span_are_said_and_recorded(root, tmp_path, capsys):
    capsys.readouterr()
    cfg = {
        "epochs": 1,
        "strategy": "baseline",
        "model": {"output_basis": "pod", "output_modes": 500},
    }
    model = sg.fit(root / "heat.h5", cfg, out=tmp_path / "r", progress=False)
    basis = model.final["output_basis"]
    assert basis["asked"] == 500 and basis["modes"] < 500
    err = capsys.readouterr().err
    assert f"model.output_modes = 500, but the training split spans {basis['modes']}" in err


def _declared_huge(d: Path) -> dict[str, Path]:
    """Sources whose headers declare 10^7 x 10^6 float64 values (80 TB) and hold none."""
    huge = (10**7, 10**6)
    with open(d / "huge.npy", "wb") as fp:
        np.lib.format.write_array_header_2_0(
            fp, {"descr": "<f8", "fortran_order": False, "shape": huge}
        )
    import zipfile

    with zipfile.ZipFile(d / "huge.npz", "w") as z:
        z.write(d / "huge.npy", "x.npy")
    with h5py.File(d / "huge.h5", "w") as f:
        f.create_dataset("x", shape=huge, dtype="f8", chunks=(1, 2**16))
    (d / "junk.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 3)
    import scipy.io

    scipy.io.savemat(d / "ok.mat", {"x": np.ones((40, 3))})
    (d / "cut.mat").write_bytes((d / "ok.mat").read_bytes()[:200])
    return {k: d / k for k in ("huge.npy", "huge.npz", "huge.h5", "junk.mat", "cut.mat")}


def test_sources_declaring_huge_arrays_or_damaged_are_one_line(tmp_path, capsys):
    sources = _declared_huge(tmp_path)
    np.save(tmp_path / "y.npy", np.ones((40, 2)))
    for name, path in sources.items():
        culprit = "memory" if name.startswith("huge") else "not a readable .mat"
        before = snapshot(tmp_path)
        capsys.readouterr()
        argv = ["import", "arrays", "--inputs", str(path), "--targets", str(tmp_path / "y.npy"),
                "--out", str(tmp_path / "o.h5")]  # fmt: skip
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and culprit in err[0] and str(path) in err[0], (name, err)
        assert snapshot(tmp_path) == before


# --- 3. declarations: checked before any data, naming their own keys ---------------------
TINY = SMALL.replace("epochs = 15", "epochs = 4")  # test_bench's small benchmark, quicker

DECLARATIONS = [
    # (edit of TINY, extra command-line flags, culprit)
    (("seeds = 2", "seeds = 2\nreference_samples = 500"), "", "protocol.reference_samples"),
    (("seeds = 2", "seeds = 2\ntrain_sizes = [5000]"), "", "protocol.train_sizes"),
    (("seeds = 2", "seeds = 2\ntrain_sizes = [10, 10]"), "", "protocol.train_sizes"),
    (("epochs = 4", "epochs = 4\nstrategy = 'td'"), "", "train.strategy"),
    (("seeds = 2", "seeds = 2"), "--seeds -1", "--seeds"),
    (("seeds = 2", "seeds = 2"), "--seeds 0", "--seeds"),
    (("seeds = 2", "seeds = 2"), "--epochs 0", "--epochs"),
    (("seeds = 2", "seeds = 2"), "--train-sizes 5000", "--train-sizes"),
    (("seeds = 2", "seeds = 2"), "--strategies td,td", "--strategies"),
    (("seeds = 2", "seeds = 2"), "--strategies ,", "--strategies"),
]


@pytest.mark.parametrize("edit, flags, culprit", DECLARATIONS, ids=[c for *_, c in DECLARATIONS])
def test_a_declaration_is_checked_before_any_data(tmp_path, edit, flags, culprit, capsys):
    decl = tmp_path / "tiny.toml"
    decl.write_text(TINY.replace(*edit))
    before = snapshot(tmp_path)
    capsys.readouterr()
    argv = ["benchmark", "run", str(decl), "--out", str(tmp_path / "b"), *flags.split()]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and culprit in err[0], err
    if culprit.startswith(("protocol", "train")):  # the declaration's key, not a flag
        assert "--" not in err[0], err
    assert snapshot(tmp_path) == before


@needs_fenicsx
def test_benchmark_data_shared_into_a_new_folder(tmp_path, capsys):
    """The documented way to share data: --data a file elsewhere, --out a folder that does
    not exist yet; and a data file of another setup is refused without suggesting --force,
    which benchmark run does not have."""
    decl = tmp_path / "tiny.toml"
    decl.write_text(TINY)
    data = tmp_path / "shared" / "tiny.h5"
    argv = ["benchmark", "run", str(decl), "--data", str(data), "--seeds", "1", "--no-plots"]
    assert main([*argv, "--out", str(tmp_path / "first")]) == 0
    assert main([*argv, "--out", str(tmp_path / "new" / "deeper")]) == 0
    record = json.loads((tmp_path / "new" / "deeper" / "benchmark.json").read_text())
    assert record["declaration"] == str(decl.resolve()) and record["data"] == str(data)
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("seed = 3", "seed = 4"))
    before = snapshot(tmp_path)
    capsys.readouterr()
    argv[2] = str(other)
    assert main([*argv, "--out", str(tmp_path / "third")]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "--force" not in err, err
    assert snapshot(tmp_path) == before
    huge = tmp_path / "huge.toml"
    huge.write_text(TINY.replace("samples = 60", "samples = 1000000000000"))
    capsys.readouterr()
    assert main(["benchmark", "run", str(huge), "--out", str(tmp_path / "h")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "memory" in err[0], err
    assert not (tmp_path / "h").exists()


# --- 4. what a person sees ----------------------------------------------------------------
@pytest.fixture(scope="module")
def swept(root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("swept") / "c"
    result = sg.compare(
        root / "heat.h5", "td,baseline", out=out, seeds=2, train_sizes=[10, 20], epochs=3,
        reference_samples=3, config={"model": {"width": 6}}, plots=False,
    )  # fmt: skip
    assert result is not None and len(result.rows) == 8
    return out


def test_the_terminal_table_is_compact_and_table_md_keeps_every_column(root, swept, capsys):
    from sciml_grow.cli.common import print_study

    result = sg.compare(
        root / "heat.h5",
        "td,baseline",
        out=swept,
        seeds=2,
        train_sizes=[10, 20],
        epochs=3,
        reference_samples=3,
        config={"model": {"width": 6}},
        plots=False,
    )  # fmt: skip  (resumed: every run is there)
    capsys.readouterr()
    print_study(result)
    said = capsys.readouterr().out
    widest = max(len(line) for line in result.summary.splitlines())
    assert widest <= 110, result.summary
    for word in ("strategy", "vs baseline [95 % CI]", "verdict", "depth", "FLOPs", "MAP"):
        assert word in result.summary, word
    assert result.summary in said and "table.md" in said
    assert max(len(line) for line in result.table.splitlines()) > widest  # the full one


def test_plots_draw_the_results_with_one_colour_per_strategy(root, swept):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from sciml_grow.study import plots
    from sciml_grow.study.compare import read_results

    rows = read_results(swept / "results.csv")
    colour = plots.colours(swept)
    assert colour == {"td": "C0", "baseline": "C1"}
    sweep = plots._draw_sweep(swept)
    for line in sweep.axes[0].get_lines():
        s = line.get_label()
        if s not in colour:
            continue  # the reference line
        assert line.get_color() == colour[s]
        means = [np.mean([r["rel_l2_mean"] for r in rows if r["strategy"] == s
                          and r["train_size"] == n]) for n in (10, 20)]  # fmt: skip
        np.testing.assert_allclose(line.get_ydata(), means)
    curves = plots._draw_learning_curves(swept)
    drawn = {line.get_label(): line.get_color() for line in curves.axes[0].get_lines()}
    assert {s: drawn[s] for s in colour} == colour
    assert "N = 20" in curves.axes[0].get_title()
    spread = plots._draw_error_spread(swept)
    assert "N = 20" in spread.axes[0].get_title()
    cost = plots._draw_cost(swept)
    FigureCanvasAgg(cost).draw()
    for ax in cost.axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert 1 <= len(labels) <= 4
        boxes = [t.get_window_extent() for t in labels]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    fig = plots._draw_fields(swept, root / "heat.h5", 3, 2)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    panels = [ax for ax in fig.axes if ax not in bars and (ax.collections or ax.images)]
    # 3 samples: truth, then td, baseline and the MAP, each a field and its |error|
    assert len(panels) == 3 * 7 and [b.get_ylabel() for b in bars] == ["field", "|error|"] * 3


def test_a_transfer_study_refuses_to_resume_on_other_data(root, tmp_path, capsys):
    data = tmp_path / "data.h5"
    shutil.copy(root / "heat.h5", data)
    argv = ["transfer", "--run", str(root / "run"), "--data", str(data), "--out",
            str(tmp_path / "t"), "--samples", "5", "--seeds", "1", "--epochs", "2"]  # fmt: skip
    assert main(argv) == 0
    (tmp_path / "t" / "results.csv").unlink()  # as if killed before its summary
    with h5py.File(data, "a") as f:
        f["inputs"][0] = f["inputs"][0] * 2
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(data) in err[0], err
    assert snapshot(tmp_path) == before
