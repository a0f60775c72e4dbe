"""Image classification: importing data sets (digits, local MNIST and CIFAR-10 files), and a
growing CNN trained with cross-entropy whose run files report accuracy."""

from __future__ import annotations

import gzip
import json
import pickle
import struct

import h5py
import numpy as np
import pytest

from sciml_grow.data.dataset import DataConfig, Dataset
from sciml_grow.data.imports import DataImportError, import_dataset

from .conftest import run_cli


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes, gzipped when the name ends in .gz."""
    head = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = head + array.astype(np.uint8).tobytes()
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw)
    path.write_bytes(raw)


def test_digits_round_trip(tmp_path):
    from sklearn.datasets import load_digits

    out = import_dataset("digits", tmp_path / "digits.h5")
    data = Dataset(out, DataConfig())
    ref = load_digits()
    assert data.task == "classification" and data.classes == 10 and data.in_shape == [1, 8, 8]
    np.testing.assert_allclose(data.x.numpy(), ref.data / 16.0, rtol=1e-6)
    assert data.y.tolist() == ref.target.tolist()
    x, y = data.tensors("train")
    assert y.dtype.is_floating_point is False and x.shape[1] == 64


def test_mnist_idx_files_are_read_in_order(tmp_path):
    rng = np.random.default_rng(0)
    parts = {}
    for part, n in (("train", 5), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = rng.integers(0, 10, n)
        write_idx(tmp_path / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte", labels)
        parts[part] = (images, labels)
    out = import_dataset("mnist", tmp_path / "mnist.h5", str(tmp_path))
    with h5py.File(out) as f:
        x, y = f["inputs"][()], f["targets"][()]
        assert list(f["inputs"].attrs["image_shape"]) == [1, 28, 28]
    images = np.concatenate([parts["train"][0], parts["t10k"][0]]).reshape(8, -1) / 255.0
    np.testing.assert_allclose(x, images, rtol=1e-6)
    assert y.tolist() == np.concatenate([parts["train"][1], parts["t10k"][1]]).tolist()


def test_cifar_batches_are_read(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        batch = {b"data": rng.integers(0, 256, (2, 3072)).astype(np.uint8), b"labels": [k, 9 - k]}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    out = import_dataset("cifar10", tmp_path / "cifar.h5", str(tmp_path))
    data = Dataset(out, DataConfig())
    assert data.in_shape == [3, 32, 32] and len(data.x) == 12
    assert data.y[:4].tolist() == [0, 9, 1, 8]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["mnist"], "pass --path"),
        (["mnist", "--path", "/nonexistent"], "no such folder"),
        (["cifar10", "--path", "/tmp"], "missing CIFAR-10 batch files"),
        (["imagenet"], "unknown data set"),
    ],
)
def test_bad_imports_are_one_line_errors(tmp_path, args, fragment):
    r = run_cli("import", *args, "--out", str(tmp_path / "x.h5"))
    assert r.returncode == 2 and fragment in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.h5").exists()


def test_garbage_idx_file_is_refused(tmp_path):
    for part in ("train", "t10k"):
        (tmp_path / f"{part}-images-idx3-ubyte").write_bytes(b"not an idx file")
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte", np.zeros(3))
    with pytest.raises(DataImportError, match="not an IDX file"):
        import_dataset("mnist", tmp_path / "m.h5", str(tmp_path))


def test_growing_cnn_learns_digits_and_reports_accuracy(tmp_path):
    data = import_dataset("digits", tmp_path / "digits.h5")
    out = tmp_path / "run"
    sets = {
        "model.kind": "cnn",
        "model.width": 16,
        "growth.every": 10,
        "growth.min_phase_epochs": 5,
        "growth.max_blocks": 3,
        "optim.lr": 0.003,
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    r = run_cli(
        "train", "--data", str(data), "--out", str(out), "--epochs", "30", "--no-progress", *args
    )
    assert r.returncode == 0, r.stderr
    final = json.loads((out / "final.json").read_text())
    assert final["task"] == "classification" and final["test"]["accuracy"] > 0.9
    assert final["insertions"] >= 1 and final["architecture"]["kind"] == "cnn"
    assert "test accuracy" in r.stdout
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert "val_accuracy" in header
