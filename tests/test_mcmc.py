"""The MCMC posterior means against the closed form of a linear-Gaussian problem, and the
convergence diagnostics against chains whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sciml_grow.inverse.map import map_estimate
from sciml_grow.inverse.mcmc import McmcConfig, sample_posterior_means, split_rhat_ess


def linear_gaussian(seed: int = 0, n: int = 12, k: int = 5, samples: int = 3):
    """y = A m + noise, m ~ N(m0, (R^T R)^{-1}): the posterior is Gaussian with
    precision P = R^T R + A^T A / sigma^2 and mean P^{-1} (R^T R m0 + A^T y / sigma^2)."""
    rng = np.random.default_rng(seed)
    A = torch.from_numpy(rng.standard_normal((k, n)))
    R = torch.from_numpy(np.eye(n) * 1.5 + np.triu(rng.standard_normal((n, n)) * 0.2, 1))
    m0 = torch.from_numpy(rng.standard_normal(n))
    sigma = torch.full((samples,), 0.3, dtype=torch.float64)
    truth = m0 + torch.linalg.solve(R, torch.from_numpy(rng.standard_normal((n, samples)))).T
    y = truth @ A.T + sigma[:, None] * torch.from_numpy(rng.standard_normal((samples, k)))
    P = R.T @ R + A.T @ A / 0.09
    exact_mean = torch.linalg.solve(P, (R.T @ R @ m0)[:, None] + A.T @ y.T / 0.09).T
    exact_std = torch.linalg.inv(P).diagonal().sqrt()
    return (lambda m: m @ A.T), y, sigma, R, m0, exact_mean, exact_std


def test_posterior_means_match_the_closed_form_within_their_monte_carlo_error():
    observe, y, sigma, R, m0, exact_mean, exact_std = linear_gaussian()
    start = map_estimate(observe, y, sigma, R, m0).fields
    torch.testing.assert_close(start, exact_mean, rtol=1e-6, atol=1e-6)  # MAP = mean here
    post = sample_posterior_means(observe, y, sigma, R, m0, start, McmcConfig(draws=500, seed=1))
    assert post.converged.all() and (post.rhat < 1.01).all() and (post.ess >= 400).all()
    # a mean over ESS >= 400 draws: the error is about std / 20; 5 of those bound every
    # coordinate of every sample with room (36 coordinates)
    err = (post.mean - exact_mean).abs() / exact_std
    assert err.max() < 5 / np.sqrt(post.ess.min())
    torch.testing.assert_close(post.std, exact_std.expand_as(post.std), rtol=0.15, atol=0)


def test_split_rhat_and_ess_on_chains_with_known_answers():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal((4, 2000, 3))
    rhat, ess = split_rhat_ess(iid)
    assert np.all(np.abs(rhat - 1) < 0.01)
    assert np.all((ess > 0.8 * 8000) & (ess < 1.2 * 8000))  # independent draws: ESS ~ N
    # AR(1) with coefficient phi: ESS = N (1 - phi) / (1 + phi)
    phi, chain = 0.9, np.zeros((4, 20000, 1))
    noise = rng.standard_normal(chain.shape)
    for t in range(1, chain.shape[1]):
        chain[:, t] = phi * chain[:, t - 1] + noise[:, t]
    _, ess = split_rhat_ess(chain)
    assert ess[0] == pytest.approx(80000 * (1 - phi) / (1 + phi), rel=0.2)
    # chains around different means: R-hat far above 1
    shifted = iid + np.arange(4)[:, None, None]
    assert split_rhat_ess(shifted)[0].min() > 1.5
