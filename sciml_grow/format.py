"""The dataset file: the contract between ``pde_data`` (writer) and ``sciml_grow`` (reader).

One HDF5 file per dataset::

    /inputs            (N, ...)  what a network maps from (noisy observations)
    /targets           (N, ...)  what it maps to (the parameter field)
    /samples/<name>    (N, ...)  other per-sample arrays (clean observations, states, noise std)
    /samples/done      (N,)      1 once sample i is written (resume bookkeeping)
    /mesh, /observation, /prior, /operators, ...   problem metadata and discrete operators
    attrs: format, format_version, problem, n_samples, seed, config (JSON), versions (JSON),
           complete (False until every sample is written)

Sparse matrices are groups holding CSR ``data``, ``indices``, ``indptr`` and a ``shape`` attr.
This module needs only numpy, scipy and h5py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.sparse as sp

FORMAT_NAME = "sciml_grow.dataset"
FORMAT_VERSION = 1


class DatasetError(Exception):
    """The file is missing, foreign, damaged or incomplete; the message says which."""


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


def read_csr(group: h5py.Group, name: str) -> sp.csr_array:
    """Read a sparse matrix written by :func:`write_csr`."""
    sub = group[name]
    return sp.csr_array(
        (sub["data"][()], sub["indices"][()], sub["indptr"][()]), shape=tuple(sub.attrs["shape"])
    )


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


def open_dataset(
    path: str | Path, require_complete: bool = True, require_tag: bool = True
) -> h5py.File:
    """Open a dataset read-only after checking it is readable, ours (or, with ``require_tag``
    False, any HDF5 file with ``inputs`` and ``targets``) and, if ours, complete."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged") from None
    try:
        tagged = check_format(f, path, require_tag)
        if tagged and require_complete and not bool(f.attrs["complete"]):
            done = int(np.count_nonzero(f["samples/done"][()]))
            raise DatasetError(
                f"{path}: incomplete ({done} of {int(f.attrs['n_samples'])} samples); "
                "re-run the generate command that made it to finish it"
            )
    except BaseException:
        f.close()
        raise
    return f


def check_format(f: h5py.File, path: str | Path, require_tag: bool = True) -> bool:
    """Raise DatasetError unless ``f`` is a sciml_grow dataset of a version we can read (or,
    without ``require_tag``, has ``inputs`` and ``targets``); returns whether it is tagged."""
    tagged = f.attrs.get("format") == FORMAT_NAME
    if require_tag and not tagged:
        raise DatasetError(f"{path}: not a sciml_grow dataset (no '{FORMAT_NAME}' format tag)")
    version = int(f.attrs.get("format_version", -1))
    if tagged and version > FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format version {version} is newer than this sciml_grow reads "
            f"({FORMAT_VERSION}); upgrade sciml_grow"
        )
    for name in ("inputs", "targets"):
        if name not in f:
            raise DatasetError(f"{path}: has no '{name}' dataset")
        check_array(f, name, path)
    if len(f["targets"]) != len(f["inputs"]):
        raise DatasetError(
            f"{path}: 'inputs' has {len(f['inputs'])} samples, 'targets' {len(f['targets'])}"
        )
    if tagged:
        for key in ("n_samples", "complete"):
            if key not in f.attrs:
                raise DatasetError(f"{path}: damaged, the '{key}' attribute is missing")
        n = int(f.attrs["n_samples"])
        if n != len(f["inputs"]):
            raise DatasetError(
                f"{path}: damaged, attribute n_samples = {n} but 'inputs' holds "
                f"{len(f['inputs'])} samples"
            )
        done = f.get("samples/done")
        if not isinstance(done, h5py.Dataset) or done.shape != (n,):
            raise DatasetError(f"{path}: damaged, 'samples/done' is missing or not ({n},)")
    return tagged


def check_array(f: h5py.File, name: str, path: str | Path) -> h5py.Dataset:
    """``f[name]`` if it is a non-empty array of real numbers (N, ...), else DatasetError."""
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise DatasetError(f"{path}: '{name}' is a group, not an array")
    if obj.ndim == 0 or len(obj) == 0:
        raise DatasetError(f"{path}: '{name}' holds no samples (shape {obj.shape})")
    if obj.dtype.kind not in "fiu":
        raise DatasetError(
            f"{path}: '{name}' has dtype {obj.dtype}; sciml_grow needs real numbers (float or "
            "integer)"
        )
    return obj


def attr_json(f: h5py.File, name: str) -> Any:
    """Decode a JSON-valued file attribute (config, versions)."""
    return json.loads(f.attrs[name])
