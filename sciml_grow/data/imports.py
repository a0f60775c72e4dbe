"""Image-classification data sets written as sciml_grow dataset files (``sciml-grow import``).

- ``digits``: scikit-learn's 8 x 8 handwritten digits (1,797 images, shipped with the package,
  no download).
- ``mnist``: the MNIST (or Fashion-MNIST) IDX files in a local folder: train-images-idx3-ubyte,
  train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally gzipped.
- ``cifar10``: the CIFAR-10 python batches in a local folder (data_batch_1..5, test_batch).

Nothing is downloaded. The file holds ``inputs`` (N, C H W) scaled to [0, 1] with an
``image_shape`` attribute, integer ``targets`` with a ``classes`` attribute, and the usual
format tag and provenance; the original train/test files are concatenated (the toolkit makes
its own seeded split).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
import pickle
from typing import Any

import numpy as np

from sciml_grow import format as fmt
from sciml_grow._version import __version__
from sciml_grow.errors import DataImportError, arg
from sciml_grow.outputs import OutputLock, atomic_h5, check_file_output


def load_digits() -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """scikit-learn's digits: images (N, 1, 8, 8) in [0, 1], labels, provenance."""
    try:
        import sklearn
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise DataImportError(
            "the digits data set ships with scikit-learn, which is not installed "
            "(pip install scikit-learn, or run 'make setup')"
        ) from None
    d = sk_digits()
    images = d.images[:, None, :, :] / 16.0
    return (
        images,
        d.target,
        {"source": "sklearn.datasets.load_digits", "sklearn": sklearn.__version__},
    )


def _idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format: big-endian magic, dimensions, unsigned bytes)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataImportError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(dims):
        raise DataImportError(f"{path}: {data.size} values for dimensions {dims.tolist()}")
    return data.reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).exists():
            return folder / name
    raise DataImportError(f"{folder}: no {stem}[.gz]")


def load_mnist(folder: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """MNIST-style IDX files in ``folder``: images (N, 1, 28, 28) in [0, 1], labels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataImportError(f"{folder}: no such folder (MNIST IDX files expected there)")
    images, labels = [], []
    for part in ("train", "t10k"):
        x = _idx(_find(folder, f"{part}-images-idx3-ubyte"))
        y = _idx(_find(folder, f"{part}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DataImportError(f"{folder}: {part} images {x.shape} and labels {y.shape} differ")
        images.append(x[:, None] / 255.0)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels), {"source": f"IDX files in {folder}"}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, numbers, bytes and numpy arrays, nothing else: a CIFAR-10 batch
    is a pickle, and any other global in one (a function to call) is refused, never run."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in a protocol-2 pickle written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}: it would run code")
        return super().find_class(module, name)


def load_cifar10(folder: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """CIFAR-10 python batches in ``folder``: images (N, 3, 32, 32) in [0, 1], labels."""
    folder = Path(folder)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise DataImportError(f"{folder}: missing CIFAR-10 batch files {', '.join(missing)}")
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as fh:
            try:
                batch = _ArraysOnly(fh, encoding="bytes").load()
                if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
                    raise ValueError("no data and labels")
            except Exception as exc:
                raise DataImportError(f"{folder / name}: not a CIFAR-10 batch ({exc})") from None
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32) / 255.0)
        labels.append(np.asarray(batch[b"labels"]))
    return (
        np.concatenate(images),
        np.concatenate(labels),
        {"source": f"CIFAR-10 batches in {folder}"},
    )


LOADERS = {"digits": load_digits, "mnist": load_mnist, "cifar10": load_cifar10}


def import_dataset(
    name: str, out: str | Path, path: str | None = None, force: bool = False
) -> Path:
    """Write data set ``name`` (from ``path`` for local files) to the dataset file ``out``
    (a new file, or with ``force`` one this toolkit wrote; see :mod:`sciml_grow.outputs`)."""
    if name not in LOADERS:
        raise DataImportError(f"unknown data set {name!r} (available: {', '.join(LOADERS)})")
    if name != "digits" and path is None:
        raise DataImportError(f"{name} is read from local files: pass {arg('path')} FOLDER")
    out = check_file_output(out, force=force, inputs=[path] if path else [])
    images, labels, provenance = LOADERS[name]() if name == "digits" else LOADERS[name](path)
    n = len(labels)
    try:
        with OutputLock(out), atomic_h5(out, "dataset") as f:
            fmt.write_header(
                f,
                problem=name,
                n_samples=n,
                seed=0,
                config=json.dumps(provenance, sort_keys=True),
                versions={"sciml_grow": __version__, "numpy": np.__version__},
                complete=True,
                description=f"{name}: inputs = images scaled to [0, 1] (flat, channels x "
                "height x width), targets = class labels",
            )
            flat, classes = images.reshape(n, -1).astype(np.float32), labels.astype(np.int64)
            for name, values in ((fmt.INPUTS, flat), (fmt.TARGETS, classes)):
                chunks = fmt.sample_chunks(values.shape, values.dtype)
                f.create_dataset(name, data=values, chunks=chunks)
            x, y = f[fmt.INPUTS], f[fmt.TARGETS]
            x.attrs["image_shape"] = np.asarray(images.shape[1:], dtype=np.int64)
            y.attrs["classes"] = int(labels.max()) + 1
            f.create_dataset(fmt.DONE, data=np.ones(n, dtype=np.uint8))
            fmt.check_open(f, fmt.CheckReport(out)).raise_if_invalid()
    except OSError as exc:
        raise DataImportError(f"cannot write {out}: {exc}") from None
    return out
