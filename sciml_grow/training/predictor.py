"""A trained network bundled with its standardization: raw observations in, raw field out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml_grow.data.basis import scaler_from_state
from sciml_grow.data.dataset import Standardizer
from sciml_grow.errors import InputError, ModelFileError, reason
from sciml_grow.nets import build
from sciml_grow.training.rundir import BUNDLE_KEYS, RunDir, load_torch


class Predictor(nn.Module):
    """x_scaler -> network -> inverse y_scaler, rebuilt from an architecture spec."""

    def __init__(
        self, net: nn.Module, x_scaler: Standardizer, y_scaler: Standardizer, task: str = ""
    ):
        super().__init__()
        self.net, self.x_scaler, self.y_scaler = net, x_scaler, y_scaler
        # "regression" (fields) or "classification" (class scores); "" for a bundle saved
        # before it was recorded
        self.task = task
        # what the training run produced (set by the trainer; empty for a loaded bundle)
        self.final: dict[str, Any] = {}  # final.json: test metrics, architecture, timing
        self.history: list[dict[str, str]] = []  # metrics.csv: a row per epoch
        self.events: list[dict[str, str]] = []  # growth_events.csv: a row per decision
        self.run_dir: Path | None = None

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Fields (or class scores) for raw inputs (N, ...) in the file's units; float64."""
        t = check_inputs(x, self.in_dim)
        device = next(self.net.parameters()).device
        return self(t.to(device)).cpu().numpy()

    @property
    def in_dim(self) -> int:
        """Values per raw input sample (an input basis: before its projection)."""
        return len(self.x_scaler.mean)

    def save(self, path: str | Path) -> Path:
        """Write the self-contained bundle (what ``best.pt`` holds) to ``path``."""
        path = Path(path)
        torch.save(self.bundle(), path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Predictor:
        """A predictor from a bundle file or a finished run directory."""
        path = Path(path)
        if path.is_dir():
            return cls.from_run(path, device)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
        return cls.from_bundle(load_torch(data, path, BUNDLE_KEYS, device), device, where=path)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, batch: int = 8192) -> torch.Tensor:
        dtype = next(self.net.parameters()).dtype
        out = [
            self.y_scaler.inverse(
                self.net(self.x_scaler(x[i : i + batch].double()).to(dtype)).double()
            )
            for i in range(0, len(x), batch)
        ]
        return torch.cat(out)

    def bundle(self) -> dict[str, Any]:
        """Self-contained content of ``best.pt``."""
        return {
            "spec": self.net.spec(),
            "model": self.net.state_dict(),
            "dtype": str(next(self.net.parameters()).dtype).removeprefix("torch."),
            "x_scaler": self.x_scaler.state_dict(),
            "y_scaler": self.y_scaler.state_dict(),
            "task": self.task,
        }

    @classmethod
    def from_bundle(
        cls, bundle: dict[str, Any], device: str | torch.device = "cpu", where: Any = "bundle"
    ) -> Predictor:
        """A predictor from a bundle's plain data; ModelFileError (naming ``where``) if the
        architecture, weights or standardization do not fit together."""
        try:
            dtype = getattr(torch, str(bundle["dtype"]))
            if dtype not in (torch.float32, torch.float64):
                raise ValueError(f"dtype {bundle['dtype']!r}")
            net = build(bundle["spec"]).to(dtype=dtype)
            net.load_state_dict(bundle["model"])
            scalers = [scaler_from_state(bundle[k]) for k in BUNDLE_KEYS[3:]]
        except Exception as exc:  # a plain-data file of the wrong shape: keys, types, sizes
            raise ModelFileError(f"{where}: not a sciml-grow model file ({reason(exc)})") from None
        task = str(bundle.get("task", ""))
        return cls(net, *scalers, task=task).to(device).eval()

    @classmethod
    def from_run(cls, run: str | Path, device: str | torch.device = "cpu") -> Predictor:
        rd = RunDir(run)
        if not (rd.path / "best.pt").exists():
            raise ModelFileError(f"{rd.path}: no best.pt (not a finished training run)")
        predictor = cls.from_bundle(rd.load("best.pt", device), device, rd.path / "best.pt")
        if rd.finished():  # what the run recorded, as fit() returns it
            predictor.final = rd.read_json("final.json")
            predictor.task = predictor.task or str(predictor.final.get("task", ""))
            predictor.history = rd.read_csv("metrics.csv")
            predictor.events = rd.read_csv("growth_events.csv")
            predictor.run_dir = rd.path
        return predictor


def real_tensor(x: Any, name: str = "inputs") -> torch.Tensor:
    """``x`` (a tensor or anything numpy reads) as a tensor of real numbers without NaN or
    inf, or InputError naming ``name`` and, for an array of samples, the first bad one."""
    try:
        t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{name} must be an array of numbers ({reason(exc)})") from None
    if t.is_complex() or not (t.is_floating_point() or t.dtype in _INTEGER):
        kind = "complex" if t.is_complex() else str(t.dtype).removeprefix("torch.")
        raise InputError(f"{name} must hold real numbers, got {kind} values")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        flat = t.reshape(len(t), -1) if t.ndim else t.reshape(1, 1)
        rows = torch.isfinite(flat).all(dim=1)
        first = int(torch.nonzero(~rows)[0, 0])
        raise InputError(f"{name} hold NaN or inf (first: sample {first})")
    return t


def check_inputs(x: Any, in_dim: int) -> torch.Tensor:
    """Raw inputs (N, ...) as a real tensor (N, in_dim), or InputError saying what is wrong:
    no samples, complex or non-numeric values, NaN or inf, the wrong number of features."""
    t = real_tensor(x)
    if t.ndim == 0 or len(t) == 0:
        raise InputError(f"inputs hold no samples (shape {tuple(t.shape)})")
    t = t.reshape(len(t), -1)
    if t.shape[1] != in_dim:
        raise InputError(
            f"inputs have {t.shape[1]} features per sample, the network expects {in_dim}"
        )
    return t


_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
