"""Dataset file -> tensors: a fixed train/validation/test split and standardization.

The split depends only on ``split_seed`` and the file, never on the strategy or training seed,
so every strategy of a comparison sees the same samples; the test part is touched only by the
final evaluation. Inputs and (for regression) targets are standardized per feature with
training statistics, which are stored with the model.

Regression maps inputs to a field; classification (integer targets, e.g. the digits data set)
maps them to class scores, trained with cross-entropy. Image inputs, for CNNs and ViTs, keep
their (channels, height, width) shape in ``in_shape``: from the file's ``image_shape``
attribute, the array's own shape, or a square single-channel image when the flat length is a
perfect square.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
from dataclasses import dataclass
import functools
import hashlib
import math
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from sciml_grow import format as fmt
from sciml_grow.config import MAX_SEED, Validated, check
from sciml_grow.data.rows import (
    FileRows,
    RowsDataset,
    StandardizedRows,
    extreme_scale,
    mean_std,
)
from sciml_grow.format import DatasetError, check_array, open_file
from sciml_grow.resources import available_memory, check_memory


@dataclass
class DataConfig(Validated):
    """How the file's samples are split."""

    test_fraction: float = 0.1
    val_fraction: float = 0.1
    split_seed: int = 0
    max_train: int | None = None  # train on N samples of the training split (few-shot)
    max_val: int | None = None  # validate on N samples of the validation split
    subset_seed: int | None = None  # which N (None: a fixed draw; the test split never moves)
    inputs: str = fmt.INPUTS  # what the network maps from, e.g. "samples/wT_grid" (the field)
    targets: str = fmt.TARGETS
    in_memory: bool | None = None  # None: load the arrays if they fit (see Dataset)

    def validate(self) -> None:
        check(0 < self.test_fraction < 1, "data.test_fraction", "must lie in (0, 1)")
        check(0 < self.val_fraction < 1, "data.val_fraction", "must lie in (0, 1)")
        check(self.max_train is None or self.max_train > 0, "data.max_train", "must be > 0")
        check(self.max_val is None or self.max_val > 0, "data.max_val", "must be > 0")
        check(0 <= self.split_seed <= MAX_SEED, "data.split_seed", f"must lie in 0..{MAX_SEED}")
        check(
            self.subset_seed is None or 0 <= self.subset_seed <= MAX_SEED,
            "data.subset_seed",
            f"must lie in 0..{MAX_SEED}",
        )


class Standardizer(nn.Module):
    """(v - mean) / std per feature; the statistics travel with the model as buffers."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    @classmethod
    def fit(cls, values: torch.Tensor | FileRows) -> Standardizer:
        """Per-feature statistics of a tensor, or of file rows read in blocks."""
        if isinstance(values, FileRows):
            mean, std = mean_std(values)
        else:
            mean, std = values.mean(dim=0), values.std(dim=0)
            scale = extreme_scale(values.abs().amax(dim=0))
            if (scale != 1).any():  # values near 1e160 or 1e-160: squares would overflow or
                # underflow, so those features are scaled first (the others stay as they were)
                if not torch.isfinite(mean).all():
                    mean = (values / scale).mean(dim=0) * scale
                std = torch.where(scale != 1, ((values - mean) / scale).std(dim=0) * scale, std)
        return cls(mean, torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return (v - self.mean) / self.std

    def inverse(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.std + self.mean


def split_sizes(n: int, cfg: DataConfig, stored: np.ndarray | None = None) -> dict[str, int]:
    """How many of ``n`` samples the whole ``train``, ``val`` and ``test`` parts hold (before
    ``max_train`` / ``max_val``), or DatasetError if one would be empty. A split ``stored`` in
    the file (0 train, 1 val, 2 test per sample) decides where there is one."""
    if stored is not None:
        return {part: int(np.count_nonzero(stored == i)) for i, part in enumerate(fmt.SPLIT_PARTS)}
    n_test = max(1, round(cfg.test_fraction * n))
    n_val = max(1, round(cfg.val_fraction * (n - n_test)))
    if n - n_test - n_val < 1:
        raise DatasetError(
            f"{n} samples are too few for a train/validation/test split (data.test_fraction "
            f"{cfg.test_fraction}, data.val_fraction {cfg.val_fraction})"
        )
    return {"train": n - n_test - n_val, "val": n_val, "test": n_test}


def split_indices(
    n: int, cfg: DataConfig, stored: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Disjoint sorted index sets ``train``, ``val``, ``test`` of a file with ``n`` samples:
    drawn by ``data.split_seed``, or the split ``stored`` in the file (0 train, 1 val, 2 test
    per sample). Either way ``max_train`` / ``max_val`` take a seeded subset of the training
    and validation parts only; the test part never moves."""
    perm = np.random.default_rng(cfg.split_seed).permutation(n)
    if stored is None:
        split_sizes(n, cfg)  # refuses a split with an empty part
        stored = fmt.seeded_parts(n, cfg.test_fraction, cfg.val_fraction, cfg.split_seed)
    # the parts, each in the order of the seeded permutation
    test, val, train = (perm[stored[perm] == i] for i in (2, 1, 0))
    if cfg.subset_seed is not None:  # another draw of the few samples, same test split
        rng = np.random.default_rng([cfg.split_seed, cfg.subset_seed])
        train, val = rng.permutation(train), rng.permutation(val)
    if cfg.max_train is not None:
        train = train[: cfg.max_train]
    if cfg.max_val is not None:
        val = val[: cfg.max_val]
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (prediction, target) -> J


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - target) ** 2)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, labels)


MEMORY_SHARE = 0.25  # load the arrays when they take at most this share of free memory


class Dataset:
    """Inputs and targets of one file (float64, original units; integer class labels for
    classification), split and standardizers.

    ``x`` and ``y`` are tensors when the arrays fit in memory, else :class:`FileRows` that read
    the samples asked for (``data.in_memory``; by default the arrays are loaded when, as
    float64, they take at most a quarter of the available memory). Either way ``x[idx]`` is a
    tensor, and statistics, checks and the fingerprint are the same (streamed in blocks)."""

    def __init__(self, path: str | Path, cfg: DataConfig):
        self.path = Path(path)
        with open_file(self.path, require_tag=False) as f:
            raw_x, raw_y = (check_array(f, k, self.path) for k in (cfg.inputs, cfg.targets))
            problem = fmt.shape_problem(raw_x, raw_y, cfg.inputs, cfg.targets)
            if problem:
                raise DatasetError(f"{self.path}: {problem}")
            # the file's noisy observations (what forward operators and references compare
            # predictions with), or another field chosen by data.inputs
            self.inputs_are_observations = cfg.inputs == fmt.INPUTS
            self.task = "classification" if raw_y.dtype.kind in "iu" else "regression"
            self.in_shape = _image_shape(raw_x)
            labels = self.task == "classification"
            check_data_memory(raw_x, raw_y, self.path)
            size = 8 * (raw_x.size + raw_y.size)
            self.in_memory = cfg.in_memory
            if self.in_memory is None:
                self.in_memory = size <= MEMORY_SHARE * available_memory()
            if self.in_memory:
                self.x = torch.from_numpy(np.asarray(raw_x[()], dtype=np.float64))
                dtype = np.int64 if labels else np.float64
                self.y = torch.from_numpy(np.asarray(raw_y[()], dtype=dtype))
            else:
                self.x = FileRows(self.path, cfg.inputs)
                self.y = FileRows(self.path, cfg.targets, labels=labels)
            if labels:
                top = self.y.max() if self.in_memory else _streamed_max(self.y)
                self.classes = int(raw_y.attrs.get("classes", int(top) + 1))
            else:
                self.classes = 0
            self.problem = str(f.attrs.get("problem", "unknown"))
            self.stored_split = fmt.read_split(f, self.path)  # None: a seeded split
            self.noise_std = (  # per-sample observation noise, where the file states it
                torch.from_numpy(f[fmt.NOISE_STD][()]) if fmt.NOISE_STD in f else None
            )
        for name, v in zip(cfg_keys := (cfg.inputs, cfg.targets), (self.x, self.y), strict=True):
            bad, top = _nonfinite_rows(v)
            if len(bad):
                raise DatasetError(
                    f"{self.path}: '{name}' has NaN or inf in {len(bad)} samples "
                    f"(first: sample {int(bad[0])})"
                )
            if name == cfg_keys[1] and not labels and top > fmt.MAX_TARGET:
                raise DatasetError(f"{self.path}: '{name}' {fmt.target_scale_problem(top)}")
        if self.in_memory:
            self.x = self.x.reshape(len(self.x), -1)
            self.y = self.y.reshape(len(self.y), -1) if not labels else self.y.reshape(-1)
        if self.task == "classification":
            low = self.y.min() if self.in_memory else -_streamed_max(self.y, sign=-1)
            high = self.y.max() if self.in_memory else _streamed_max(self.y)
            if int(low) < 0 or int(high) >= self.classes:
                raise DatasetError(f"{self.path}: class labels must lie in 0..{self.classes - 1}")
        self.keys = (cfg.inputs, cfg.targets)
        self._bases: dict[tuple, tuple[torch.Tensor, float]] = {}  # reduced bases by split
        self._fit_split(cfg)

    def _fit_split(self, cfg: DataConfig) -> None:
        """Split the samples and fit the standardizers on the training part."""
        self.config = cfg
        self.splits = split_indices(len(self.x), cfg, self.stored_split)
        train = torch.from_numpy(self.splits["train"])
        rows = self.x.subset if isinstance(self.x, FileRows) else self.x.__getitem__
        self.x_scaler = Standardizer.fit(rows(train))
        if self.task == "classification":
            ones = torch.ones(self.classes, dtype=torch.float64)
            self.y_scaler = Standardizer(0 * ones, ones)  # the network's logits, as they are
        else:
            self.y_scaler = Standardizer.fit(
                self.y.subset(train) if isinstance(self.y, FileRows) else self.y[train]
            )

    def resplit(self, cfg: DataConfig) -> Dataset:
        """The same arrays under another split (a training subset, another draw), without
        reading the file again: what a comparison's runs share."""
        if (cfg.inputs, cfg.targets) != self.keys:
            raise ValueError(f"resplit keeps the arrays {self.keys}, not {cfg.inputs, cfg.targets}")
        _ = self.fingerprint  # hashed once here, shared by every copy (each run records it)
        other = copy.copy(self)
        other._fit_split(cfg)
        return other

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of what training reads (the chosen inputs and targets, as loaded): a run
        records it, and resuming on another file's content is refused."""
        h = hashlib.sha256()
        for t in (self.x, self.y):
            if isinstance(t, FileRows):  # the same bytes, in blocks
                dtype = torch.int64 if t.labels else torch.float64
                h.update(f"{dtype}{tuple(t.shape)}".encode())
                for _, block in t.blocks():
                    h.update(block.contiguous().numpy().tobytes())
            else:
                h.update(f"{t.dtype}{tuple(t.shape)}".encode())
                h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()

    @property
    def meta(self) -> fmt.Metadata:
        """The file's typed metadata (problem, mesh, sensors, noise, prior, operators, config,
        versions), read once per process."""
        return fmt.read_metadata(self.path)

    @property
    def in_dim(self) -> int:
        """What a network reads: the input values, or a reduced basis' coefficients."""
        modes = getattr(self.x_scaler, "modes", None)
        return self.x.shape[1] if modes is None else modes.shape[1]

    @property
    def out_dim(self) -> int:
        """What a network predicts: class scores, field values, or a reduced basis' coefficients."""
        if self.task == "classification":
            return self.classes
        modes = getattr(self.y_scaler, "modes", None)
        return self.y.shape[1] if modes is None else modes.shape[1]

    def with_output_basis(self, modes: float, whiten: bool = False) -> Dataset:
        """The same data, whose targets, as training reads them, are the coefficients of the
        POD modes of the training split's standardized targets (:mod:`sciml_grow.data.basis`):
        ``modes`` of them, or as many as hold that share of the variance; ``whiten``: divided
        by their standard deviations, the loss weighing them back (field space)."""
        if self.task != "regression":
            raise DatasetError(
                f"{self.path}: model.output_basis = pod needs field targets, not class labels"
            )
        other = copy.copy(self)
        other.y_scaler, other.basis_energy = self._pod("y", modes, whiten)
        return other

    def with_prior_basis(self) -> Dataset:
        """The same data, whose targets, as training reads them, are the coefficients of the
        prior's own basis stated in the file (:class:`sciml_grow.data.basis.PriorBasis`);
        ``basis_energy``: the share of the training targets' variance in its span."""
        from sciml_grow.data.basis import PriorBasis

        if self.task != "regression":
            raise DatasetError(
                f"{self.path}: model.output_basis = prior needs field targets, not class labels"
            )
        mean, basis = fmt.read_prior_basis(self.path)
        other = copy.copy(self)
        other.y_scaler = PriorBasis.of(torch.from_numpy(mean), torch.from_numpy(basis))
        train = torch.from_numpy(self.splits["train"])
        y = (self.y.subset(train) if isinstance(self.y, FileRows) else self.y[train]).double()
        centred = y - y.mean(0)
        rest = y - other.y_scaler.inverse(other.y_scaler(y))
        total = float((centred**2).sum())
        other.basis_energy = 1.0 - float((rest**2).sum()) / total if total > 0 else 1.0
        return other

    def with_input_basis(self, modes: float) -> Dataset:
        """The same data, whose inputs, as a network reads them, are the coefficients of the
        POD modes of the training split's standardized inputs."""
        other = copy.copy(self)
        other.x_scaler, other.input_energy = self._pod("x", modes)
        other.in_shape = None  # a vector of coefficients, not an image
        return other

    def _pod(self, which: str, modes: float, whiten: bool = False) -> tuple[torch.nn.Module, float]:
        """The standardizer of ``x`` or ``y`` that also projects on the POD modes of the
        training split, and their share of its variance; computed once per split and process
        (resplit copies share it: a comparison's runs of one split)."""
        from sciml_grow.data.basis import PodStandardizer, pod_modes

        values, scaler = (self.x, self.x_scaler) if which == "x" else (self.y, self.y_scaler)
        train = torch.from_numpy(self.splits["train"])
        key = (which, hashlib.sha256(self.splits["train"].tobytes()).hexdigest(), float(modes))
        if key not in self._bases:
            rows = values.subset(train) if isinstance(values, FileRows) else values[train]
            self._bases[key] = pod_modes(rows, scaler, modes)
        v, share, scale = self._bases[key]
        return PodStandardizer(scaler.mean, scaler.std, v, scale if whiten else None), share

    @property
    def loss_fn(self) -> LossFn:
        """The data misfit: MSE of standardized fields (of their POD coefficients, whitened
        ones weighed back), or cross-entropy of class scores."""
        if self.task == "classification":
            return cross_entropy
        scale = getattr(self.y_scaler, "scale", None)
        if scale is not None:
            from sciml_grow.data.basis import WeightedMSE

            return WeightedMSE(scale)
        return mse

    def tensors(
        self, split: str, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardized x and the targets (standardized fields or class labels) of a split;
        for a file read on demand, :class:`StandardizedRows` that read them batch by batch."""
        idx = torch.from_numpy(self.splits[split])
        if not self.in_memory:
            y_scaler = None if self.task == "classification" else self.y_scaler
            return (
                StandardizedRows(self.x.subset(idx), self.x_scaler, dtype, device),
                StandardizedRows(self.y.subset(idx), y_scaler, dtype, device),
            )
        x = self.x_scaler(self.x[idx]).to(device=device, dtype=dtype)
        if self.task == "classification":
            return x, self.y[idx].to(device)
        return x, self.y_scaler(self.y[idx]).to(device=device, dtype=dtype)

    def torch_dataset(
        self, split: str, dtype: torch.dtype = torch.float32
    ) -> torch.utils.data.Dataset:
        """A ``torch.utils.data.Dataset`` of a split's standardized (x, y) pairs, for a
        DataLoader in a user's own loop."""
        if not self.in_memory:
            return RowsDataset(*self.tensors(split, dtype))
        return torch.utils.data.TensorDataset(*self.tensors(split, dtype))


def _nonfinite_rows(v: torch.Tensor | FileRows) -> tuple[np.ndarray, float]:
    """Indices of the samples with a NaN or inf (read in blocks from a file), and the largest
    magnitude of the blocks without any."""
    blocks = v.blocks() if isinstance(v, FileRows) else [(slice(0, len(v)), v)]
    bad, top = [], 0.0
    for where, block in blocks:
        flat = block.reshape(len(block), -1) if block.ndim > 1 else block.reshape(-1, 1)
        rows = torch.nonzero(~torch.isfinite(flat).all(dim=1)).reshape(-1).numpy()
        bad.append(rows + where.start)
        if not len(rows) and flat.numel():  # no copy of the values: max and -min
            top = max(top, float(flat.max()), -float(flat.min()))
    return (np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)), top


def check_data_memory(x: h5py.Dataset, y: h5py.Dataset, path: Path) -> None:
    """Refuse a file whose arrays cannot be handled here, before reading any of it: the index
    arrays of its split (8 bytes a sample, a few times over) and a minibatch of 64 samples
    read on demand (float64) must fit in the available memory."""
    row = int(np.prod(x.shape[1:], dtype=np.int64)) + int(np.prod(y.shape[1:], dtype=np.int64))
    need = 4 * 8 * len(x) + 64 * 8 * row
    check_memory(need, f"{path} ({len(x)} samples of {row} values)")


def _streamed_max(v: FileRows, sign: int = 1) -> int:
    """The largest (sign -1: minus the smallest) label, read in blocks."""
    return max(int((sign * block).max()) for _, block in v.blocks())


def _image_shape(inputs: h5py.Dataset) -> list[int] | None:
    """(channels, height, width) of image inputs, or None."""
    if "image_shape" in inputs.attrs:
        return [int(v) for v in inputs.attrs["image_shape"]]
    shape = inputs.shape[1:]
    if len(shape) == 3:
        return list(shape)
    if len(shape) == 2:
        return [1, *shape]
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    return [1, side, side] if side > 1 and side * side == shape[0] else None


def relative_errors(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per-sample relative L2 error |pred - true| / |true| (vector norms over the field); a
    sample of huge or tiny values is scaled by its largest magnitude first, so its norms
    neither overflow nor underflow."""
    scale = extreme_scale(true.abs().amax(dim=1, keepdim=True))
    return ((pred - true) / scale).norm(dim=1) / (true / scale).norm(dim=1).clamp_min(1e-300)
