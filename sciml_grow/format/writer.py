"""Writing a dataset file: chunking, the header, sparse matrices, metadata trees, the split."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

from sciml_grow.format.names import FORMAT_NAME, FORMAT_VERSION, SPLIT, SPLIT_PARTS

CHUNK_BYTES = 64 << 10  # per-sample datasets: whole samples per chunk, at most 64 KiB
# (a larger sample is one chunk: a minibatch reads chunks whole, so a 196 KB field in 1 MiB
# chunks read 5x its bytes, 11.5 ms per 64-sample minibatch against 7.8 ms, measured)


def sample_chunks(shape: tuple, dtype: str | np.dtype) -> tuple[int, ...]:
    """Chunk shape of a per-sample dataset of ``shape``: whole samples, as many as fit in
    CHUNK_BYTES (at least one), so a reader of any sample subset (a minibatch of a file larger
    than memory) touches only those samples' chunks."""
    row = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    rows = max(1, min(shape[0], CHUNK_BYTES // max(row, 1)))
    return (rows, *shape[1:])


def write_header(
    f: h5py.File,
    *,
    problem: str,
    n_samples: int,
    seed: int,
    config: str,
    versions: dict[str, str],
    complete: bool,
    description: str | None = None,
) -> None:
    """The root attributes every dataset file carries (``config`` is JSON text)."""
    f.attrs.update(
        {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "problem": problem,
            "n_samples": n_samples,
            "seed": seed,
            "config": config,
            "versions": json.dumps(versions, sort_keys=True),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "complete": complete,
            "runs": "[]",
        }
    )
    if description is not None:
        f.attrs["description"] = description


def write_csr(group: h5py.Group, name: str, matrix: sp.spmatrix | sp.sparray) -> None:
    """Store a sparse matrix as CSR arrays in a subgroup ``name``."""
    csr = sp.csr_array(matrix)
    csr.sort_indices()
    sub = group.create_group(name)
    sub.create_dataset("data", data=csr.data)
    sub.create_dataset("indices", data=csr.indices.astype(np.int64))
    sub.create_dataset("indptr", data=csr.indptr.astype(np.int64))
    sub.attrs["shape"] = np.asarray(csr.shape, dtype=np.int64)
    sub.attrs["sparse"] = "csr"


def write_tree(group: h5py.Group, tree: dict[str, Any]) -> None:
    """Write a nested dict: dicts become groups, sparse matrices CSR groups, arrays datasets,
    and scalars or strings attributes of ``group``."""
    for key, value in tree.items():
        if isinstance(value, dict):
            write_tree(group.require_group(key), value)
        elif sp.issparse(value):
            write_csr(group, key, value)
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value)
        elif isinstance(value, list | tuple):
            group.create_dataset(key, data=np.asarray(value))
        else:
            group.attrs[key] = value


def part_sizes(n: int, test_fraction: float, val_fraction: float) -> tuple[int, int, int]:
    """(training, validation, test) sample counts of :func:`seeded_parts`, without drawing it."""
    n_test = max(1, round(test_fraction * n))
    n_val = max(1, round(val_fraction * (n - n_test)))
    return n - n_test - n_val, n_val, n_test


def seeded_parts(n: int, test_fraction: float, val_fraction: float, seed: int = 0) -> np.ndarray:
    """The split every reader draws for a file that stores none, as ``/split`` values: a
    permutation by ``seed``; its first round(test_fraction n) samples test, the next
    round(val_fraction (n - n_test)) validation, the rest training (each part at least one)."""
    _, n_val, n_test = part_sizes(n, test_fraction, val_fraction)
    perm = np.random.default_rng(seed).permutation(n)
    parts = np.zeros(n, dtype=np.int8)
    parts[perm[:n_test]] = 2
    parts[perm[n_test : n_test + n_val]] = 1
    return parts


def write_split(f: h5py.File, parts: np.ndarray) -> None:
    """Store a fixed split: ``parts[i]`` is 0 (train), 1 (validation) or 2 (test)."""
    ds = f.create_dataset(SPLIT, data=np.asarray(parts, dtype=np.int8))
    ds.attrs["parts"] = ",".join(SPLIT_PARTS)
