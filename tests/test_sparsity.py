"""Exact zeros from the L1 term: a proximal (soft-thresholding) step after each optimizer step.

On a lasso with an orthogonal design the minimizer is known in closed form, w = soft(X^T y /
n, alpha): proximal gradient descent must reach it, zeros included, with plain SGD and with
Adam (whose prox is taken in the metric Adam steps in, so its fixed points are the same).
"""

from __future__ import annotations

import pytest
import torch

from sciml_grow.objective import soft_threshold_


def lasso(n: int = 64, d: int = 8, alpha: float = 0.3):
    """min 1/(2n) |X w - y|^2 + alpha |w|_1 with X^T X = n I: w* = soft(X^T y / n, alpha)."""
    q, _ = torch.linalg.qr(torch.randn(n, d, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64))  # fmt: skip
    X = q * n**0.5
    w_true = torch.tensor([2.0, -1.5, 0.2, -0.1, 0.0, 0.05, 1.0, 0.0], dtype=torch.float64)
    y = X @ w_true + 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(1),
                                       dtype=torch.float64)  # fmt: skip
    z = X.T @ y / n
    exact = torch.sign(z) * torch.clamp(z.abs() - alpha, min=0)
    return X, y, alpha, exact


@pytest.mark.parametrize(("name", "lr", "steps"), [("sgd", 0.5, 400), ("adam", 0.01, 6000)])
def test_proximal_steps_solve_the_lasso_with_exact_zeros(name, lr, steps) -> None:
    X, y, alpha, exact = lasso()
    assert (exact == 0).sum() >= 3  # the closed form has zeros to find
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr) if name == "sgd" else torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * ((X @ w - y) ** 2).mean()  # the smooth part only
        loss.backward()
        opt.step()
        soft_threshold_(opt, alpha)
    torch.testing.assert_close(w.detach(), exact, rtol=0, atol=1e-6)
    assert torch.equal(w.detach() == 0, exact == 0)  # exact zeros, exactly where they belong


def test_threshold_leaves_frozen_parameters_alone() -> None:
    a = torch.nn.Parameter(torch.tensor([0.001, -0.5], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([0.001, -0.5], dtype=torch.float64), requires_grad=False)
    opt = torch.optim.SGD([a, b], lr=0.1)
    soft_threshold_(opt, 0.05)  # t = lr * alpha = 0.005
    assert a.tolist() == [0.0, pytest.approx(-0.495)] and b.tolist() == [0.001, -0.5]


def test_layerwise_proximal_mode_makes_exact_zeros_where_the_subgradient_makes_none(
    heat_train_file, tmp_path
) -> None:
    from sciml_grow.data.dataset import Dataset
    from sciml_grow.training.rundir import RunDir
    from sciml_grow.training.trainer import Trainer

    from .conftest import quick_config

    zeros = {}
    for mode in ("proximal", "subgradient"):
        cfg = quick_config(
            strategy="layerwise", epochs=30, **{"layerwise.alpha": 3e-3,
            "layerwise.prune_tol": 0.0, "layerwise.l1_mode": mode, "layerwise.gamma": 0.0},
        )  # fmt: skip
        data = Dataset(heat_train_file, cfg.data)
        final = Trainer(cfg, data, RunDir(None), progress=False).run_training()
        zeros[mode] = final["zero_weight_fraction"]
        assert final["n_nonzero_params"] == round((1 - zeros[mode]) * final["n_params"])
    assert zeros["subgradient"] < 0.01 and zeros["proximal"] > 0.3, zeros
