"""The rules a dataset file follows, written once.

Each rule returns what a file breaks, in one line, or nothing. The reader
(:mod:`sciml_grow.format.reader`) raises the first problem of the rules it needs; the checker
(:mod:`sciml_grow.format.checker`, ``sciml-grow check``) reports every one, so both say the
same thing of a file.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from sciml_grow.format.names import (
    DONE,
    FORMAT_VERSION,
    INPUTS,
    JSON_ATTRS,
    SPLIT,
    SPLIT_PARTS,
    TARGETS,
)

# Targets beyond this magnitude are refused: squared errors (the loss of a test summary,
# MSE) would overflow float64 (about 1.8e308); inputs of any finite size are standardized.
MAX_TARGET = 1e150


def target_scale_problem(top: float) -> str | None:
    """Float targets whose largest magnitude is ``top`` must stay below MAX_TARGET."""
    if top <= MAX_TARGET:
        return None
    return (
        f"holds values up to {top:.3g}; their squared errors would overflow float64, rescale "
        f"them (to at most {MAX_TARGET:.0e})"
    )


def outside_problem(f: h5py.File) -> str | None:
    """Where ``f`` would read another file: an external link, a virtual dataset or a dataset
    whose raw storage is an external file. The toolkit reads one file at a time and records
    its SHA-256, which covers none of those, so such a file is refused, not followed."""

    def visit(name: str, link: Any) -> str | None:
        if isinstance(link, h5py.ExternalLink):
            return f"'{name}' is a link to another file ({link.filename}:{link.path})"
        if not isinstance(link, h5py.HardLink):
            return None  # a soft link: its target is visited where it lives
        obj = f.get(name)
        if isinstance(obj, h5py.Dataset):
            if obj.is_virtual:
                return f"'{name}' is a virtual dataset (its values live in other files)"
            if obj.external:
                return f"'{name}' stores its values in an external file ({obj.external[0][0]})"
        return None

    problem = f.visititems_links(visit)
    return (
        None
        if problem is None
        else (
            f"{problem}; a file that reads other files is refused (copy the values into it, "
            "e.g. with h5py or h5copy)"
        )
    )


def opened(f: h5py.File, name: str) -> tuple[Any, str | None]:
    """``(f[name], None)``, or ``(None, why)`` if it is missing or cannot be opened (a dangling
    external link)."""
    if name not in f:
        return None, f"has no '{name}' dataset"
    try:
        return f[name], None
    except (KeyError, OSError) as exc:
        link = f.get(name, getlink=True)
        what = f"a link to {link.filename}:{link.path}" if hasattr(link, "filename") else "it"
        return None, f"'{name}' cannot be opened ({what}: {exc})"


def array_problem(f: h5py.File, name: str) -> str | None:
    """``f[name]`` must be a non-empty array of real numbers, one entry per sample."""
    obj, problem = opened(f, name)
    if problem:
        return problem
    if not isinstance(obj, h5py.Dataset):
        return f"'{name}' is a group, not an array"
    if obj.ndim == 0 or len(obj) == 0:
        return f"'{name}' holds no samples (shape {obj.shape})"
    if obj.dtype.kind not in "fiu":
        return f"'{name}' has dtype {obj.dtype}; real numbers (float or integer) are needed"
    return None


def shape_problem(
    x: h5py.Dataset, y: h5py.Dataset, inputs: str = INPUTS, targets: str = TARGETS
) -> str | None:
    """What keeps inputs ``x`` and targets ``y`` from training together."""
    if len(y) != len(x):
        return f"'{inputs}' has {len(x)} samples, '{targets}' {len(y)}"
    if x.ndim < 2:
        return (
            f"'{inputs}' has shape {x.shape}, one value per sample; store it as (N, 1) "
            "(one feature per sample) or (N, ...)"
        )
    if y.dtype.kind in "iu" and int(np.prod(y.shape[1:], dtype=np.int64)) != 1:
        return (
            f"'{targets}' holds integers of shape {y.shape}: class labels must be one per "
            "sample, (N,); store the values as floats for regression"
        )
    if y.dtype.kind == "f" and y.ndim < 2:
        return f"'{targets}' has shape {y.shape}, one value per sample; store it as (N, 1)"
    if "image_shape" in x.attrs:
        shape = np.asarray(x.attrs["image_shape"])
        size = int(np.prod(x.shape[1:], dtype=np.int64))
        if (
            shape.dtype.kind not in "iu"
            or shape.shape != (3,)
            or (shape <= 0).any()
            or int(np.prod(shape, dtype=np.int64)) != size
        ):
            return (
                f"'{inputs}' attribute image_shape must be 3 positive integers (channels, "
                f"height, width) holding its {size} values per sample, got {shape.tolist()!r}"
            )
    return None


def header_problems(f: h5py.File, n: int, keys: tuple[str, ...]) -> list[str]:
    """The header of a tagged file with ``n`` samples: the attributes ``keys`` present, a
    format version this code reads, valid JSON, ``n_samples`` = n and ``samples/done`` (n,)."""
    a = f.attrs
    problems = []
    missing = [k for k in keys if k not in a]
    if missing:
        problems.append(f"damaged, header attribute(s) missing: {', '.join(missing)}")
    version = a.get("format_version")
    if version is not None and int(version) > FORMAT_VERSION:
        problems.append(
            f"format version {int(version)} is newer than this sciml_grow reads "
            f"({FORMAT_VERSION}); upgrade sciml_grow"
        )
    for key in JSON_ATTRS:
        if key in a:
            try:
                json.loads(a[key])
            except (TypeError, ValueError):
                problems.append(f"damaged, attribute '{key}' is not valid JSON")
    if "n_samples" in a and int(a["n_samples"]) != n:
        problems.append(
            f"damaged, attribute n_samples = {int(a['n_samples'])} but '{INPUTS}' holds {n} samples"
        )
    done = f.get(DONE)
    if not isinstance(done, h5py.Dataset) or done.shape != (n,):
        problems.append(f"damaged, '{DONE}' is missing or not ({n},)")
    return problems


def split_problem(f: h5py.File, n: int) -> str | None:
    """A stored split labels every sample 0 (train), 1 (val) or 2 (test), none empty."""
    if SPLIT not in f:
        return None
    obj, problem = opened(f, SPLIT)
    if problem:
        return problem
    if not isinstance(obj, h5py.Dataset) or obj.shape != (n,) or obj.dtype.kind not in "iu":
        shape = getattr(obj, "shape", "a group")
        return f"'{SPLIT}' must hold one integer part per sample ({n},), has {shape}"
    parts = obj[()]
    bad = ~np.isin(parts, (0, 1, 2))
    if bad.any():
        return (
            f"'{SPLIT}' holds {parts[bad][0]} (sample {int(np.flatnonzero(bad)[0])}): parts are "
            "0 (train), 1 (val), 2 (test)"
        )
    for value, part in enumerate(SPLIT_PARTS):
        if not (parts == value).any():
            return f"'{SPLIT}' leaves the {part} part empty"
    return None
