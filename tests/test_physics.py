"""The torch forward operator rebuilt from the file: FEniCSx's states, and exact gradients."""

from __future__ import annotations

import h5py
import pytest
import torch

from sciml_grow.inverse.forward import load_forward, noise_weighted_misfit


@pytest.mark.parametrize("which", ["heat_file", "heat_robin_file"])
def test_torch_forward_reproduces_fenics_states(which, request):
    path = request.getfixturevalue(which)
    op = load_forward(path)
    with h5py.File(path) as f:
        m = torch.from_numpy(f["targets"][()])
        y = torch.from_numpy(f["samples/state"][()])
        clean = torch.from_numpy(f["samples/obs_clean"][()])
    with torch.no_grad():
        states = op(m)
        rel = (states - y).norm(dim=1) / y.norm(dim=1)
        assert float(rel.max()) < 1e-10
        torch.testing.assert_close(op.observe(m), clean, rtol=1e-10, atol=1e-12)


def test_gradient_of_the_observation_misfit_matches_finite_differences(heat_file):
    op = load_forward(heat_file)
    with h5py.File(heat_file) as f:
        m0 = torch.from_numpy(f["targets"][:2])
        obs = torch.from_numpy(f["inputs"][:2])
        std = torch.from_numpy(f["samples/noise_std"][:2])
    m = (m0 + 0.3 * torch.randn_like(m0)).requires_grad_(True)

    def misfit(field: torch.Tensor) -> torch.Tensor:
        return noise_weighted_misfit(op.observe(field), obs, std).sum()

    (grad,) = torch.autograd.grad(misfit(m), m)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        v = torch.randn(m.shape, generator=gen, dtype=m.dtype)
        h = 1e-5
        with torch.no_grad():
            fd = (misfit(m + h * v) - misfit(m - h * v)) / (2 * h)
        assert float((grad * v).sum()) == pytest.approx(float(fd), rel=1e-6)


def test_misfit_is_about_one_for_the_true_field(heat_file):
    op = load_forward(heat_file)
    with h5py.File(heat_file) as f:
        m = torch.from_numpy(f["targets"][()])
        obs = torch.from_numpy(f["inputs"][()])
        std = torch.from_numpy(f["samples/noise_std"][()])
    with torch.no_grad():
        value = float(noise_weighted_misfit(op.observe(m), obs, std).mean())
    assert 0.7 < value < 1.3  # chi-square with 10 x 48 degrees of freedom, divided by them


@pytest.mark.parametrize("which", ["heat_file", "heat_robin_file", "heat_target_file"])
def test_the_banded_solve_without_autograd_equals_the_dense_cholesky(which, request):
    """Evaluating predictions (no autograd, CPU) solves K(m) y = f by a banded Cholesky in
    reverse Cuthill-McKee order; it must give the differentiable dense solve's states, and NaN
    where exp(m) overflows, as that one does."""
    path = request.getfixturevalue(which)
    forward = load_forward(path)
    with h5py.File(path) as f:
        m = torch.from_numpy(f["targets"][()])
    m = torch.cat([m, 3 * m[:2]])  # rougher fields too
    dense = forward(m.clone().requires_grad_(True)).detach()
    with torch.no_grad():
        banded = forward(m)
        overflow = forward(torch.full_like(m[:1], 800.0))
    scale = dense.abs().amax(dim=1, keepdim=True)
    assert float(((banded - dense).abs() / scale).max()) < 1e-12
    assert bool(overflow[:, forward.free].isnan().all())  # (Dirichlet dofs stay 0)
    assert forward._banded[1] < forward.nf // 2  # a band, not the whole matrix
