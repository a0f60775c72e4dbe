"""Your own arrays as a dataset file (``import arrays``, ``sg.from_arrays``), and a split stored
in the file honoured by training, prediction, a comparison and a sweep."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
import pickle

import h5py
import numpy as np
import pytest
import scipy.io

import sciml_grow as sg
from sciml_grow.cli import main

from .test_fuzz import refused

N, N_TEST, D_IN, D_OUT = 90, 15, 4, 3


class Hostile:
    """Unpickling this writes a marker file: a loader that runs it would be caught."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


@pytest.fixture(scope="module")
def arrays(tmp_path_factory) -> Path:
    """One data set in every supported kind of file, plus broken ones."""
    d = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N + N_TEST, D_IN))
    y = np.tanh(x @ rng.normal(size=(D_IN, D_OUT))) + 0.01 * rng.normal(size=(N + N_TEST, D_OUT))
    xs, ys, xt, yt = x[:N], y[:N], x[N:], y[N:]
    np.save(d / "x.npy", xs)
    np.save(d / "y.npy", ys)
    np.savez(d / "train.npz", obs=xs, field=ys)
    np.savetxt(d / "x_test.csv", xt, delimiter=",", header="a,b,c,d", comments="")
    np.savetxt(d / "y_test.txt", yt)
    scipy.io.savemat(d / "data.mat", {"X": xs, "Y": ys})
    with h5py.File(d / "other.h5", "w") as f:
        f["group/obs"] = xs
        f["group/par"] = ys
    labels = np.array(["train"] * 60 + ["val"] * 15 + ["test"] * 15)
    np.savetxt(d / "split.txt", labels, fmt="%s")
    parts = np.array([{"train": 0, "val": 1, "test": 2}[w] for w in labels])
    np.savetxt(d / "split_digits.csv", parts, fmt="%d", header="part", comments="")
    np.save(d / "x_all.npy", x[:N])
    # broken inputs
    (d / "cell.csv").write_text("1,2,3,4\n5,six,7,8\n")
    (d / "ragged.csv").write_text("a,b,c,d\n1,2,3,4\n5,6,7\n")
    np.save(d / "nan.npy", np.where(np.arange(N)[:, None] == 7, np.nan, xs))
    np.save(d / "inf.npy", np.where(np.arange(N)[:, None] == 3, np.inf, xs))
    np.save(d / "complex.npy", xs.astype(np.complex128))
    np.save(d / "empty.npy", np.zeros((0, D_IN)))
    np.save(d / "short.npy", ys[:-1])
    np.save(d / "text.npy", np.array(["a", "b"] * (N // 2)))
    np.save(d / "wide_test.npy", np.zeros((N_TEST, D_IN + 1)))
    np.savetxt(d / "no_test.txt", np.array(["train"] * 80 + ["val"] * 10), fmt="%s")
    np.savetxt(d / "bad_label.txt", np.array(["train"] * 89 + ["tset"]), fmt="%s")
    np.savetxt(d / "few_labels.txt", np.array(["train"] * 10), fmt="%s")
    with open(d / "hostile.npy", "wb") as fh:  # an object array: a pickle inside .npy
        np.save(fh, np.array([Hostile(d / "MARKER")], dtype=object), allow_pickle=True)
    (d / "evil.csv.pkl").write_bytes(pickle.dumps(Hostile(d / "MARKER")))
    return d


def read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    with h5py.File(path, "r") as f:
        split = f["split"][()] if "split" in f else None
        return f["inputs"][()], f["targets"][()], split, json.loads(f.attrs["config"])


def test_every_kind_of_file_gives_the_same_complete_file(arrays, tmp_path, capsys):
    d = arrays
    made = []
    for k, (xs, ys) in enumerate(
        [
            ("x.npy", "y.npy"),
            ("train.npz:obs", "train.npz:field"),
            ("data.mat:X", "data.mat:Y"),
            ("other.h5:group/obs", "other.h5:group/par"),
        ]
    ):
        out = tmp_path / f"f{k}.h5"
        code = main(["import", "arrays", "--inputs", str(d / xs), "--targets", str(d / ys),
                     "--test-inputs", str(d / "x_test.csv"), "--test-targets",
                     str(d / "y_test.txt"), "--out", str(out)])  # fmt: skip
        assert code == 0
        made.append(read(out))
        report = sg.check(out)
        assert report.ok and any("fixed split" in line for line in report.supports)
        assert "split       stored in the file" in capsys.readouterr().out
    x0, y0, split0, cfg0 = made[0]
    for x, y, split, _ in made[1:]:
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)
        np.testing.assert_array_equal(split, split0)
    # the training arrays, then the published test set, bit for bit
    np.testing.assert_array_equal(x0[:N], np.load(d / "x.npy"))
    np.testing.assert_allclose(x0[N:], np.loadtxt(d / "x_test.csv", delimiter=",", skiprows=1))
    assert (split0[N:] == 2).all() and (split0[:N] != 2).all()
    assert np.count_nonzero(split0 == 1) == round(0.1 * N)  # validation drawn from training
    # provenance: every source's path and SHA-256
    src = cfg0["sources"]["inputs"]
    assert src["sha256"] == hashlib.sha256((d / "x.npy").read_bytes()).hexdigest()
    assert Path(src["path"]) == (d / "x.npy").resolve()


def test_from_arrays_in_python_writes_labels_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    labels = (x[:, 0] > 0).astype(np.int64)
    coords = rng.random((5, 2))
    cells = np.array([[0, 1, 2], [2, 3, 4]])
    split = [0] * 30 + [1] * 5 + [2] * 5
    out = sg.from_arrays(x, labels, out=tmp_path / "c.h5", split=split, mesh_points=coords,
                         mesh_cells=cells, sensor_points=coords[:2])  # fmt: skip
    meta = sg.read_metadata(out)
    assert meta.split == {"train": 30, "val": 5, "test": 5}
    assert meta.mesh.cell_type == "triangle" and meta.mesh.cells.tolist() == cells.tolist()
    np.testing.assert_array_equal(meta.sensors.points, coords[:2])
    ds = sg.load(out)
    assert ds.task == "classification" and ds.classes == 2
    assert ds.splits["test"].tolist() == [35, 36, 37, 38, 39]
    # 1-D float targets are one value per sample, (N, 1)
    out2 = sg.from_arrays(x, x[:, 1], out=tmp_path / "r.h5")
    assert sg.load(out2).out_dim == 1 and sg.read_metadata(out2).split is None


@pytest.fixture(scope="module")
def with_split(arrays, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split") / "data.h5"
    sg.from_arrays(arrays / "x_all.npy", arrays / "y.npy", split=arrays / "split.txt", out=out)
    return out


def test_a_split_file_of_part_numbers_with_a_header_is_the_same_split(arrays, with_split):
    other = sg.from_arrays(arrays / "x_all.npy", arrays / "y.npy", out=with_split.with_name(
        "digits.h5"), split=arrays / "split_digits.csv")  # fmt: skip
    np.testing.assert_array_equal(read(other)[2], read(with_split)[2])


def test_a_stored_split_decides_every_part_and_max_train_only_subsamples_training(with_split):
    ds = sg.load(with_split)
    assert ds.splits["train"].tolist() == list(range(60))
    assert ds.splits["val"].tolist() == list(range(60, 75))
    assert ds.splits["test"].tolist() == list(range(75, 90))
    for seed in (None, 3):
        few = sg.load(with_split, max_train=20, max_val=5, subset_seed=seed)
        assert len(few.splits["train"]) == 20 and set(few.splits["train"]) <= set(range(60))
        assert set(few.splits["val"]) <= set(range(60, 75)) and len(few.splits["val"]) == 5
        assert few.splits["test"].tolist() == ds.splits["test"].tolist()
    # the split's fractions and seed no longer move anything but the subsets
    other = sg.load(with_split, test_fraction=0.5, split_seed=9)
    assert other.splits["test"].tolist() == ds.splits["test"].tolist()


def test_training_and_predict_use_the_stored_test_part(with_split, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(with_split), "--out", str(run), "--epochs", "3",
                 "--no-progress", "--set", "model.width=8"]) == 0  # fmt: skip
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["split_sizes"] == {"train": 60, "val": 15, "test": 15}
    final = json.loads((run / "final.json").read_text())
    pred, summary = sg.predict_file(run, with_split, split="test")
    assert pred.shape == (15, D_OUT)
    assert summary["rel_l2_mean"] == pytest.approx(final["test"]["rel_l2_mean"], rel=1e-9)
    capsys.readouterr()
    assert main(["predict", "--run", str(run), "--data", str(with_split), "--split", "test"]) == 0
    assert capsys.readouterr().out.startswith("15 test samples")


def test_compare_and_a_sweep_honour_the_stored_split(with_split, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", str(with_split), "--out", str(out), "--strategies",
                 "baseline", "--seeds", "2", "--train-sizes", "12,all", "--epochs", "3",
                 "--set", "model.width=8", "--no-plots"]) == 0  # fmt: skip
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 4
    for run in runs:
        sizes = json.loads((run / "config.json").read_text())["split_sizes"]
        assert sizes["test"] == 15
        assert sizes["train"] == (12 if "-n12-" in run.name else 60)
        # every run's test error is the error on exactly the stored test samples
        final = json.loads((run / "final.json").read_text())
        _, summary = sg.predict_file(run, with_split, split="test")
        assert summary["rel_l2_mean"] == pytest.approx(final["test"]["rel_l2_mean"], rel=1e-9)
    # the ridge reference pairs with the same parts
    linear = json.loads((out / "linear.json").read_text())
    assert sorted({r["train_size"] for r in linear}) == [12, 60]
    assert "12 training samples" in capsys.readouterr().out


def test_a_broken_stored_split_is_refused_by_check_and_readers(with_split, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(with_split.read_bytes())
    with h5py.File(bad, "r+") as f:
        f["split"][3] = 5
    report = sg.check(bad)
    assert not report.ok and "'split' holds 5 (sample 3)" in report.errors[0]
    with pytest.raises(sg.DatasetError, match="'split' holds 5"):
        sg.load(bad)
    with h5py.File(bad, "r+") as f:
        parts = f["split"][()]
        f["split"][()] = np.where((parts == 1) | (parts == 5), 0, parts)
    with pytest.raises(sg.DatasetError, match="val part empty"):
        sg.load(bad)


BAD = [
    ("--inputs {d}/x.npy --targets {d}/short.npy", "90 samples"),
    ("--inputs {d}/cell.csv --targets {d}/y.npy", "line 2, column 2 is not a number"),
    ("--inputs {d}/ragged.csv --targets {d}/y.npy", "line 3 has 3 values, not 4"),
    ("--inputs {d}/nan.npy --targets {d}/y.npy", "NaN or inf in sample 7"),
    ("--inputs {d}/inf.npy --targets {d}/y.npy", "NaN or inf in sample 3"),
    ("--inputs {d}/complex.npy --targets {d}/y.npy", "complex"),
    ("--inputs {d}/text.npy --targets {d}/y.npy", "real numbers"),
    ("--inputs {d}/empty.npy --targets {d}/y.npy", "empty"),
    ("--inputs {d}/hostile.npy --targets {d}/y.npy", "Python objects"),
    ("--inputs {d}/x.npy --targets {d}/y.npy --split {d}/no_test.txt", "test part"),
    ("--inputs {d}/x.npy --targets {d}/y.npy --split {d}/bad_label.txt", "'tset'"),
    ("--inputs {d}/x.npy --targets {d}/y.npy --split {d}/few_labels.txt", "10 labels"),
    (
        "--inputs {d}/x.npy --targets {d}/y.npy --test-inputs {d}/wide_test.npy "
        "--test-targets {d}/y_test.txt",
        "--test-inputs",
    ),  # fmt: skip
    ("--inputs {d}/x.npy --targets {d}/y.npy --test-inputs {d}/x_test.csv", "--test-targets"),
    ("--inputs {d}/train.npz --targets {d}/y.npy", "--inputs"),
    ("--inputs {d}/data.mat:Z --targets {d}/y.npy", "'Z'"),
    ("--inputs {d}/evil.csv.pkl --targets {d}/y.npy", "unknown kind of file"),
    ("--inputs {d}/missing.npy --targets {d}/y.npy", "no such file"),
    ("--inputs {d}/x.npy --targets {d}/y.npy --out {d}/x.npy", "x.npy"),
]


@pytest.mark.parametrize("flags, culprit", BAD, ids=[c for _, c in BAD])
def test_bad_arrays_are_refused_with_one_line_and_nothing_written(arrays, flags, culprit, capsys):
    command = "import arrays " + flags
    if "--out" not in flags:
        command += " --out {d}/new.h5"
    refused(arrays, command, culprit, capsys)
