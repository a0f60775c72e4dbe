"""The SPDE Matérn prior: sample statistics and the stored precision factor."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import k1

from pde_data.fem import canonical_permutation
from pde_data.heat import HeatModel
from pde_data.prior import MaternPriorConfig, MaternSPDEPrior


def matern_correlation(r: np.ndarray, rho: float) -> np.ndarray:
    """Matérn nu = 1 correlation with kappa = sqrt(8)/rho."""
    x = np.sqrt(8.0) * r / rho
    return np.where(x > 0, x * k1(np.maximum(x, 1e-300)), 1.0)


@pytest.fixture(scope="module")
def prior_and_samples():
    model = HeatModel(32)
    perm = canonical_permutation(model.V)
    cfg = MaternPriorConfig(mean=0.5, std=0.7, correlation_length=0.3)
    prior = MaternSPDEPrior(model.V, cfg, perm)
    rng = np.random.default_rng(123)
    white = rng.standard_normal((4000, perm.size))
    samples = np.array([prior.sample(w) for w in white])
    coords = np.empty((perm.size, 2))
    coords[perm] = model.V.tabulate_dof_coordinates()[:, :2]
    return prior, cfg, samples, white, coords


def test_precision_factor_whitens_the_samples_exactly(prior_and_samples):
    prior, _, samples, white, _ = prior_and_samples
    recovered = (samples[:20] - prior.mean) @ prior.precision_factor.T
    np.testing.assert_allclose(recovered, white[:20], atol=1e-9)


def test_mean_and_marginal_std(prior_and_samples):
    _, cfg, samples, _, _ = prior_and_samples
    n = len(samples)
    assert abs(samples.mean() - cfg.mean) < 4 * cfg.std / np.sqrt(n)
    std = samples.std(axis=0)
    # each vertex: the sample std of n normals has a relative standard error 1/sqrt(2n)
    assert np.abs(std / cfg.std - 1).max() < 5 / np.sqrt(2 * n)


def test_correlation_length_matches_matern(prior_and_samples):
    _, cfg, samples, _, coords = prior_and_samples
    z = (samples - samples.mean(0)) / samples.std(0)
    centre = np.argmin(np.linalg.norm(coords - 0.5, axis=1))
    corr = z.T @ z[:, centre] / len(z)
    dist = np.linalg.norm(coords - coords[centre], axis=1)
    for frac in (0.25, 0.5, 1.0):
        ring = np.abs(dist - frac * cfg.correlation_length) < 0.02
        expected = matern_correlation(frac * cfg.correlation_length, cfg.correlation_length)
        assert abs(corr[ring].mean() - expected) < 0.06, (frac, corr[ring].mean(), expected)
    # and beyond ~2 correlation lengths the field is essentially uncorrelated
    assert abs(corr[dist > 2 * cfg.correlation_length].mean()) < 0.05


def test_unnormalized_prior_is_close_to_the_requested_std_in_the_interior():
    """Without the exact normalization the Robin-damped SPDE alone gives about the right std."""
    model = HeatModel(32)
    perm = canonical_permutation(model.V)
    cfg = MaternPriorConfig(std=1.0, correlation_length=0.2, normalize_variance=False)
    prior = MaternSPDEPrior(model.V, cfg, perm)
    std = np.sqrt(np.diag(prior.covariance()))
    coords = np.empty((perm.size, 2))
    coords[perm] = model.V.tabulate_dof_coordinates()[:, :2]
    interior = np.all((coords > 0.3) & (coords < 0.7), axis=1)
    assert np.abs(std[interior] - 1.0).max() < 0.15


def test_kl_prior_with_coefficient_targets_is_self_consistent(tmp_path):
    """The layerwise paper's regime: 12-term KL of the Matérn covariance on a 9 x 9 mesh,
    coefficients as targets, 5 % noise relative to each sample's spread of observations."""
    import h5py
    import torch

    from pde_data.generate import generate
    from sciml_grow.inverse.forward import load_forward
    from sciml_grow.inverse.map import map_for_dataset

    path = tmp_path / "kl.h5"
    cfg = {
        "mesh_cells": 9,
        "targets": "coefficients",
        "prior": {"kind": "kl", "terms": 12, "mean": 1.0, "correlation_length": 0.5},
        "noise": {"relative_level": 0.05, "reference": "std"},
    }
    generate("heat", 20, path, seed=3, config=cfg, progress=False)
    with h5py.File(path) as f:
        xi, field = f["targets"][()], f["samples/field"][()]
        modes, lam = f["prior/modes"][()], f["prior/eigenvalues"][()]
        mean = f["prior/field_mean"][()]
        clean, noisy, std = f["samples/obs_clean"][()], f["inputs"][()], f["samples/noise_std"][()]
        captured = f["prior"].attrs["variance_captured"]
    assert xi.shape == (20, 12) and field.shape == (20, 100)
    np.testing.assert_allclose(field, mean + xi @ modes.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(modes.T @ modes, np.diag(lam), atol=1e-12)  # orthogonal modes
    assert np.all(np.diff(lam) <= 0) and 0.5 < captured < 1
    np.testing.assert_allclose(std, 0.05 * clean.std(axis=1), rtol=1e-12)
    z = (noisy - clean) / std[:, None]  # 200 standard normal draws
    assert 0.8 < z.std() < 1.2 and abs(z.mean()) < 0.25
    forward = load_forward(path)  # acts on the coefficients through the stored map
    sim = forward.observe(torch.from_numpy(xi)).numpy()
    np.testing.assert_allclose(sim, clean, rtol=1e-8, atol=1e-10)
    _, rel = map_for_dataset(path, np.arange(5))  # MAP over xi with the N(0, I) prior
    assert float(rel.mean()) < 0.9  # the prior mean (xi = 0) has relative error 1


def test_kl_config_is_checked():
    from pde_data.heat import HeatConfig
    from sciml_grow.config import ConfigError, from_dict

    with pytest.raises(ConfigError, match="targets"):
        from_dict(HeatConfig, {"targets": "coefficients"})
    with pytest.raises(ConfigError, match="prior.terms"):
        from_dict(HeatConfig, {"prior": {"kind": "kl", "terms": 0}})


def test_kl_modes_do_not_depend_on_rounding():
    """Each KL mode's sign is fixed by a rule that rounding cannot flip: on a symmetric mesh an
    antisymmetric mode has two entries of equal largest magnitude and opposite sign, so a rule
    that picks the largest entry gave another machine's data other modes (and other inputs
    for the same coefficients)."""
    from types import SimpleNamespace

    from pde_data.prior import KLPrior

    model = HeatModel(9)
    perm = canonical_permutation(model.V)
    full = MaternSPDEPrior(model.V, MaternPriorConfig(correlation_length=0.5), perm)
    C = full.covariance()
    reference = KLPrior(full, 12).modes
    rng = np.random.default_rng(0)
    for _ in range(8):  # another machine's rounding: a relative change of 1e-13
        E = rng.standard_normal(C.shape)
        perturbed = SimpleNamespace(
            cfg=full.cfg, mean=full.mean, covariance=lambda E=E: C * (1 + 1e-13 * (E + E.T))
        )
        modes = KLPrior(perturbed, 12).modes
        np.testing.assert_allclose(modes, reference, atol=1e-6 * np.abs(reference).max())
