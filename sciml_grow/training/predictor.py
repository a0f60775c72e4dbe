"""A trained network bundled with its standardization: raw observations in, raw field out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sciml_grow.data.dataset import Standardizer
from sciml_grow.nets import build
from sciml_grow.training.rundir import RunDir


class Predictor(nn.Module):
    """x_scaler -> network -> inverse y_scaler, rebuilt from an architecture spec."""

    def __init__(self, net: nn.Module, x_scaler: Standardizer, y_scaler: Standardizer):
        super().__init__()
        self.net, self.x_scaler, self.y_scaler = net, x_scaler, y_scaler
        # what the training run produced (set by the trainer; empty for a loaded bundle)
        self.final: dict[str, Any] = {}  # final.json: test metrics, architecture, timing
        self.history: list[dict[str, str]] = []  # metrics.csv: a row per epoch
        self.events: list[dict[str, str]] = []  # growth_events.csv: a row per decision
        self.run_dir: Path | None = None

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Fields (or class scores) for raw inputs (N, ...) in the file's units; float64."""
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
        t = t.reshape(len(t), -1)
        if t.shape[1] != self.net.in_dim:
            raise ValueError(
                f"inputs have {t.shape[1]} features per sample, the network expects "
                f"{self.net.in_dim}"
            )
        device = next(self.net.parameters()).device
        return self(t.to(device)).cpu().numpy()

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
        return cls.from_bundle(torch.load(path, map_location=device, weights_only=False), device)

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
        }

    @classmethod
    def from_bundle(cls, bundle: dict[str, Any], device: str | torch.device = "cpu") -> Predictor:
        net = build(bundle["spec"]).to(dtype=getattr(torch, bundle["dtype"]))
        net.load_state_dict(bundle["model"])
        scalers = []
        for key in ("x_scaler", "y_scaler"):
            st = bundle[key]
            scalers.append(Standardizer(st["mean"], st["std"]))
        return cls(net, *scalers).to(device).eval()

    @classmethod
    def from_run(cls, run: str | Path, device: str | torch.device = "cpu") -> Predictor:
        rd = RunDir(run)
        if not (rd.path / "best.pt").exists():
            raise FileNotFoundError(f"{rd.path}: no best.pt (not a finished training run)")
        predictor = cls.from_bundle(rd.load("best.pt", device), device)
        if rd.finished():  # what the run recorded, as fit() returns it
            predictor.final = rd.read_json("final.json")
            predictor.history = rd.read_csv("metrics.csv")
            predictor.events = rd.read_csv("growth_events.csv")
            predictor.run_dir = rd.path
        return predictor
