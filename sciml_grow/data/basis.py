"""A reduced output basis: the network predicts the coefficients of the leading POD (PCA)
modes of the standardized training targets, and the model maps them back to fields.

The modes are the right singular vectors of the training split's standardized targets
``Y`` (N x d): ``Y = U S V^T``. Coefficients are ``c = y_std V_r`` and fields ``y_std = c
V_r^T``, so a network needs an r-wide head instead of a d-wide one (PCA-Net; the output side
of derivative-informed projected networks). The basis depends on the training split alone,
travels with the model as the target standardizer's ``modes`` buffer, and its own error on the
test targets is the floor a reduced network can reach.
"""

from __future__ import annotations

from typing import Any

import torch

from sciml_grow.data.dataset import Standardizer
from sciml_grow.data.rows import FileRows

RANDOMIZED_RANK = 512  # a file read on demand: the modes of a rank-512 randomized SVD at most
OVERSAMPLE = 16


class PodStandardizer(Standardizer):
    """Standardize, then project on orthonormal modes (d, r): fields <-> coefficients."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, modes: torch.Tensor):
        super().__init__(mean, std)
        self.register_buffer("modes", modes.clone())

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return super().forward(v) @ self.modes.to(v.dtype)

    def inverse(self, c: torch.Tensor) -> torch.Tensor:
        return super().inverse(c @ self.modes.T.to(c.dtype))


def scaler_from_state(state: dict[str, Any]) -> Standardizer:
    """A target standardizer from its saved state (with ``modes``: a reduced basis)."""
    if "modes" in state:
        return PodStandardizer(state["mean"], state["std"], state["modes"])
    return Standardizer(state["mean"], state["std"])


def choose_rank(energy: torch.Tensor, modes: float) -> int:
    """How many modes: ``modes`` itself if it is a count (>= 1), else the fewest whose share
    of the variance ``energy`` (squared singular values, decreasing) reaches ``modes``."""
    if modes >= 1:
        return min(int(modes), len(energy))
    share = torch.cumsum(energy, 0) / energy.sum()
    return min(
        len(energy), int(torch.searchsorted(share, torch.tensor(modes, dtype=share.dtype))) + 1
    )


def pod_modes(
    y: torch.Tensor | FileRows, scaler: Standardizer, modes: float, seed: int = 0
) -> tuple[torch.Tensor, float]:
    """Orthonormal modes (d, r) of the standardized rows ``y`` and the share of their variance
    the modes hold: an exact SVD of a tensor; for rows read on demand a two-pass randomized SVD
    (Halko, Martinsson, Tropp 2011), streamed in blocks."""
    if isinstance(y, FileRows):
        vt, energy, total = _randomized(y, scaler, modes, seed)
    else:
        ys = scaler(y.double())
        _, s, vt = torch.linalg.svd(ys, full_matrices=False)
        energy, total = s**2, float((ys**2).sum())
    r = choose_rank(energy, modes)
    v = vt[:r].T.contiguous()
    # a sign per mode that does not depend on the solver: its largest entry positive
    signs = torch.sign(v.gather(0, v.abs().argmax(dim=0, keepdim=True)))
    share = float(energy[:r].sum()) / total if total > 0 else 1.0
    return v * signs, min(share, 1.0)


def _randomized(
    y: FileRows, scaler: Standardizer, modes: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    n, d = y.shape
    rank = int(modes) if modes >= 1 else RANDOMIZED_RANK
    k = min(n, d, rank + OVERSAMPLE)
    gen = torch.Generator().manual_seed(seed)
    omega = torch.randn(n, k, generator=gen, dtype=torch.float64)
    z = torch.zeros(d, k, dtype=torch.float64)
    total = 0.0
    for where, block in y.blocks():  # pass 1: the range of Y^T, and Y's squared norm
        ys = scaler(block.double())
        z += ys.T @ omega[where]
        total += float((ys**2).sum())
    q, _ = torch.linalg.qr(z)
    b = torch.cat([scaler(block.double()) @ q for _, block in y.blocks()])  # pass 2: Y Q
    _, s, wt = torch.linalg.svd(b, full_matrices=False)
    return wt @ q.T, s**2, total


def projection_errors(y: torch.Tensor, scaler: PodStandardizer) -> torch.Tensor:
    """Relative L2 errors of the fields ``y`` (original units) projected on the modes."""
    y = y.double()
    return (scaler.inverse(scaler(y)) - y).norm(dim=1) / y.norm(dim=1).clamp_min(1e-300)
