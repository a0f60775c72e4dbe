"""MAP estimation against the closed-form posterior mean of a linear-Gaussian problem."""

from __future__ import annotations

import numpy as np
import torch

from sciml_grow.format import read_metadata
from sciml_grow.inverse.map import map_estimate, map_for_dataset


def test_map_equals_the_posterior_mean_of_a_linear_gaussian_problem():
    gen = torch.Generator().manual_seed(0)
    n, k, s = 30, 8, 4
    G = torch.randn(k, n, generator=gen, dtype=torch.float64)
    R = torch.eye(n, dtype=torch.float64) * 2 + 0.3 * torch.randn(
        n, n, generator=gen, dtype=torch.float64
    )
    m0 = torch.randn(n, generator=gen, dtype=torch.float64)
    y = torch.randn(s, k, generator=gen, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.5, 1.0, 0.05], dtype=torch.float64)
    result = map_estimate(lambda m: m @ G.T, y, sigma, R, m0)
    C = torch.linalg.inv(R.T @ R)  # prior covariance
    for i in range(s):
        noise = sigma[i] ** 2 * torch.eye(k, dtype=torch.float64)
        gain = C @ G.T @ torch.linalg.inv(G @ C @ G.T + noise)
        exact = m0 + gain @ (y[i] - G @ m0)
        torch.testing.assert_close(result.fields[i], exact, rtol=1e-6, atol=1e-7)


def test_map_on_the_heat_problem_beats_the_prior_mean(heat_file):
    result, rel = map_for_dataset(heat_file, np.arange(3))
    vertices = len(read_metadata(heat_file).mesh.coordinates)
    assert result.fields.shape == (3, vertices) and result.seconds_per_sample > 0
    assert float(rel.mean()) < 1.0  # better than guessing the prior mean (error about 1)
    assert all(it > 1 for it in result.iterations)
