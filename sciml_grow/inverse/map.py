"""Classical reference: the maximum a posteriori estimate of each sample's parameter field.

    m_MAP = argmin_m  1/2 sum_k ((B F(m) - y)_k / sigma)^2  +  1/2 |R (m - m0)|^2

with F the file's torch forward operator and precision R^T R the prior the samples were drawn
from, by L-BFGS (strong Wolfe line search) per sample. This is the estimate an inverse-map
network amortizes; its error and time per sample sit beside the networks' in a comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np
import torch

from sciml_grow import format as fmt
from sciml_grow.data.dataset import relative_errors
from sciml_grow.format import DatasetError
from sciml_grow.inverse.forward import load_forward


@dataclass
class MapResult:
    fields: torch.Tensor  # (S, n) MAP estimates
    seconds_per_sample: float
    iterations: list[int]


def map_estimate(
    observe: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    noise_std: torch.Tensor,
    precision_factor: torch.Tensor,
    prior_mean: torch.Tensor,
    max_iter: int = 500,
    tol: float = 1e-9,
) -> MapResult:
    """MAP estimates for observations ``y`` (S, k) with per-sample noise std (S,).

    ``observe`` maps fields (B, n) to observations (B, k); the prior has mean ``prior_mean``
    (n,) and precision R^T R with R = ``precision_factor`` (dense or sparse, (n, n)).
    """
    # prior-whitened coordinates m = m0 + R^{-1} z: the prior term is |z|^2 / 2 and the
    # Hessian is I + (data term), far better conditioned for L-BFGS than in m itself
    R = precision_factor.to_dense() if precision_factor.is_sparse else precision_factor
    R_inv_t = torch.linalg.inv(R).T
    fields, iters = [], []
    start = time.perf_counter()
    for s in range(len(y)):
        z = torch.zeros(1, len(prior_mean), dtype=prior_mean.dtype, requires_grad=True)
        opt = torch.optim.LBFGS(
            [z],
            lr=1.0,
            max_iter=max_iter,
            max_eval=4 * max_iter,
            tolerance_grad=tol,
            tolerance_change=1e-15,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure(s: int = s, z: torch.Tensor = z, opt: torch.optim.LBFGS = opt) -> torch.Tensor:
            opt.zero_grad()
            m = prior_mean + z @ R_inv_t
            misfit = ((observe(m)[0] - y[s]) / noise_std[s]).pow(2).sum()
            value = 0.5 * (misfit + z.pow(2).sum())
            value.backward()
            return value

        opt.step(closure)
        iters.append(int(opt.state[opt._params[0]]["n_iter"]))
        fields.append((prior_mean + z.detach() @ R_inv_t)[0])
    seconds = (time.perf_counter() - start) / max(1, len(y))
    return MapResult(torch.stack(fields), seconds, iters)


@dataclass
class InverseProblem:
    """What a sample-wise Bayesian estimate needs from a dataset file: the forward operator,
    the prior (mean m0, precision factor R) and the chosen samples' data and truth."""

    forward: torch.nn.Module
    y: torch.Tensor
    noise_std: torch.Tensor
    truth: torch.Tensor
    precision_factor: torch.Tensor
    prior_mean: torch.Tensor

    @classmethod
    def read(cls, path: str | Path, indices: np.ndarray) -> InverseProblem:
        forward = load_forward(path)
        if forward is None:
            raise DatasetError(f"{path}: stores no forward operator this toolkit knows")
        with fmt.open_file(path) as f:  # a complete sciml_grow dataset, or DatasetError
            m0, factor = fmt.read_prior(f, path)
            y, std, truth = (
                torch.from_numpy(f[name][()][indices])
                for name in (fmt.INPUTS, fmt.NOISE_STD, fmt.TARGETS)
            )
        return cls(forward, y, std, truth, torch.from_numpy(factor.toarray()), torch.from_numpy(m0))

    def map(self) -> MapResult:
        return map_estimate(
            self.forward.observe, self.y, self.noise_std, self.precision_factor, self.prior_mean
        )


def map_for_dataset(path: str | Path, indices: np.ndarray) -> tuple[MapResult, torch.Tensor]:
    """MAP estimates of the samples ``indices`` of a dataset file, and their relative errors."""
    problem = InverseProblem.read(path, indices)
    result = problem.map()
    return result, relative_errors(result.fields, problem.truth)
