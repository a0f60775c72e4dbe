"""The Bayes floor: posterior means by MCMC, with the diagnostics that say they converged.

No estimator of the parameter field from the observations has a lower mean squared error than
the posterior mean E[m | y]; its error is the floor a network (or MAP) is measured against.
For each observation vector the posterior

    pi(z | y) ~ exp(-1/2 |z|^2 - 1/2 sum_k ((B F(m(z)) - y)_k / sigma)^2),   m = m0 + R^{-1} z

(prior-whitened coordinates, as the MAP uses) is sampled by Hamiltonian Monte Carlo with
the Gauss-Newton Hessian at the start point (the MAP) as mass matrix,

    H = I + J^T J / sigma^2   (J: the observations' Jacobian there),

so the trajectories move as far in the directions the data inform as in those only the prior
does; a Metropolis test on the energy keeps every chain exact. Several chains start from
overdispersed points of the Laplace approximation N(z_MAP, H^{-1}); each chain's leapfrog step
is tuned during warm-up to a mean acceptance near 0.75, then fixed (and jittered by +-20 % per
trajectory). A chain started in the far tail shrinks its own step until it moves. (Precondi-
tioned MALA with the same H, tried first on the heat fixture, reached an ESS of about 10 per
1,000 steps, HMC about 400 per 1,000 trajectories of 12 gradients: 3-4x more per gradient.)
Draws are added until every coordinate has split R-hat < ``rhat`` and effective sample size
>= ``ess`` (Vehtari et al. 2021: split chains, Geyer's initial monotone sequence), or the
budget ends; the diagnostics are returned with the means, whether or not they were met. The
means use every draw; the diagnostics use at most 2 x 1000 draws per chain, thinned evenly as
the chains grow (thinning does not raise the effective sample size, so the bar is conservative).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
import time

import numpy as np
import torch

from sciml_grow.config import Validated, check

Observe = Callable[[torch.Tensor], torch.Tensor]
KEEP = 1000  # draws per chain stored for the diagnostics (thinned as the chains grow)


@dataclass
class McmcConfig(Validated):
    """Sampler settings: chains per observation, warm-up and draw budget, convergence bar."""

    chains: int = 4
    warmup: int = 500
    draws: int = 1000  # per chain, before the diagnostics are first checked
    max_draws: int = 20000  # per chain, the most the bar may ask for
    ess: float = 400.0
    rhat: float = 1.01
    leapfrog: int = 12  # steps per trajectory
    target_acceptance: float = 0.75
    seed: int = 0

    def validate(self) -> None:
        check(self.chains >= 2, "mcmc.chains", "must be >= 2 (R-hat compares chains)")
        check(self.warmup >= 0, "mcmc.warmup", "must be >= 0")
        check(self.draws >= 4, "mcmc.draws", "must be >= 4")
        check(self.max_draws >= self.draws, "mcmc.max_draws", "must be >= mcmc.draws")
        check(self.leapfrog >= 1, "mcmc.leapfrog", "must be >= 1")
        check(0 < self.target_acceptance < 1, "mcmc.target_acceptance", "must lie in (0, 1)")


@dataclass
class Posterior:
    """Per observation vector: the posterior mean and std of the field, and the diagnostics."""

    mean: torch.Tensor  # (S, n)
    std: torch.Tensor  # (S, n)
    rhat: np.ndarray  # (S,) the largest split R-hat over the field's coordinates
    ess: np.ndarray  # (S,) the smallest effective sample size over them
    acceptance: np.ndarray  # (S,) after warm-up
    step: np.ndarray  # (S,) the tuned leapfrog step, averaged over the chains
    converged: np.ndarray  # (S,) whether each sample met the bar it was run with
    draws_per_chain: int
    seconds_per_sample: float

    def diagnostics(self) -> dict:
        return {
            "rhat_max": self.rhat.tolist(),
            "ess_min": self.ess.tolist(),
            "acceptance": self.acceptance.tolist(),
            "step": self.step.tolist(),
            "draws_per_chain": self.draws_per_chain,
            "converged": self.converged.tolist(),
        }


def split_rhat_ess(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split R-hat and effective sample size per coordinate of ``draws`` (chains, n, d)."""
    chains, n, d = draws.shape
    half = n // 2
    x = np.concatenate([draws[:, :half], draws[:, half : 2 * half]])  # (2 chains, half, d)
    m, n = x.shape[0], half
    means = x.mean(axis=1)
    W = x.var(axis=1, ddof=1).mean(axis=0)
    B = n * means.var(axis=0, ddof=1)
    var_plus = (n - 1) / n * W + B / n
    W = np.where(W > 0, W, np.finfo(float).tiny)
    rhat = np.sqrt(var_plus / W)
    # autocovariances of every chain by FFT, combined over chains
    centred = x - means[:, None]
    spectrum = np.fft.rfft(centred, n=2 * n, axis=1)
    acov = np.fft.irfft(spectrum * spectrum.conj(), n=2 * n, axis=1)[:, :n] / n
    rho = 1 - (W - acov.mean(axis=0)) / np.where(var_plus > 0, var_plus, 1.0)  # (n, d)
    rho[0] = 1.0
    pairs = rho[: 2 * (n // 2)].reshape(n // 2, 2, d).sum(axis=1)  # Geyer's pair sums
    positive = np.cumprod(pairs > 0, axis=0).astype(bool)  # up to the first non-positive
    pairs = np.minimum.accumulate(np.where(positive, pairs, 0.0), axis=0)  # monotone
    tau = np.maximum(-1 + 2 * pairs.sum(axis=0), 1 / math.log10(max(m * n, 10)))
    return rhat, m * n / tau


def sample_posterior_means(
    observe: Observe,
    y: torch.Tensor,
    noise_std: torch.Tensor,
    precision_factor: torch.Tensor,
    prior_mean: torch.Tensor,
    start: torch.Tensor,
    cfg: McmcConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> Posterior:
    """Posterior means of the fields behind observations ``y`` (S, k), per-sample noise std
    (S,), prior N(``prior_mean``, (R^T R)^{-1}) with R = ``precision_factor`` (n, n); chains
    start around ``start`` (S, n), e.g. the MAP estimates. All samples' chains run as one
    batch through ``observe`` ((B, n) -> (B, k))."""
    cfg = cfg or McmcConfig()
    began = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    R = precision_factor.to_dense() if precision_factor.is_sparse else precision_factor
    R_inv_t = torch.linalg.inv(R).T
    S, n = start.shape
    C = cfg.chains
    sigma = noise_std[:, None, None]

    def field(z: torch.Tensor) -> torch.Tensor:
        return prior_mean + z @ R_inv_t

    def log_post(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = z.detach().requires_grad_(True)
        obs = observe(field(z).reshape(S * C, n)).reshape(S, C, -1)
        lp = -0.5 * ((((obs - y[:, None]) / sigma) ** 2).sum(-1) + (z**2).sum(-1))
        (grad,) = torch.autograd.grad(lp.sum(), z)
        return lp.detach(), grad

    # Gauss-Newton Hessian at the start points, in whitened coordinates: I + J^T J / sigma^2
    z0 = torch.linalg.solve(R_inv_t.T, (start - prior_mean).T).T.detach().requires_grad_(True)
    obs0 = observe(field(z0))
    J = torch.stack(
        [
            torch.autograd.grad(obs0[:, j].sum(), z0, retain_graph=True)[0]
            for j in range(obs0.shape[1])
        ],
        dim=1,
    )  # (S, k, n)
    H = torch.eye(n, dtype=start.dtype) + J.transpose(1, 2) @ J / noise_std[:, None, None] ** 2
    L = torch.linalg.cholesky(H)  # C = H^{-1} = L^{-T} L^{-1}

    # coordinates w = L^T z, in which the Laplace approximation is N(L^T z0, I): Hamiltonian
    # dynamics with an identity mass there is HMC with mass matrix H in z
    def to_z(w: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve_triangular(
            L.transpose(1, 2), w.transpose(1, 2), upper=True
        ).transpose(1, 2)

    def grad_w(g: torch.Tensor) -> torch.Tensor:  # d/dw = L^{-1} d/dz
        return torch.linalg.solve_triangular(L, g.transpose(1, 2), upper=False).transpose(1, 2)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=start.dtype)

    w0 = z0.detach()[:, None] @ L  # (S, 1, n): L^T z0 as rows
    w = w0 + 2.0 * normal(S, C, n)  # overdispersed Laplace draws
    lp, grad = log_post(to_z(w))
    for spread in (1.0, 0.5, 0.0):  # where the forward failed (lp nan), start closer
        bad = ~torch.isfinite(lp)
        if not bad.any():
            break
        w = torch.where(bad[..., None], w0 + spread * normal(S, C, n), w)
        lp, grad = log_post(to_z(w))
    grad = grad_w(grad)
    log_eps = torch.full((S, C, 1), math.log(0.5), dtype=start.dtype)  # a step per chain
    accepted = torch.zeros(S, dtype=start.dtype)
    total_field = torch.zeros(S, n, dtype=start.dtype)
    total_square = torch.zeros(S, n, dtype=start.dtype)
    kept: list[torch.Tensor] = []  # thinned draws for the diagnostics, at most 2 KEEP
    thin, drawn = 1, 0
    rhat = ess = np.zeros(S)
    for step in range(cfg.warmup + cfg.max_draws):
        # cfg.leapfrog steps of the tuned size, jittered against periodic orbits
        eps = log_eps.exp() * (0.8 + 0.4 * torch.rand(S, C, 1, generator=gen, dtype=start.dtype))
        p = normal(S, C, n)
        w_new, lp_new, g_new = w, lp, grad
        energy = lp - 0.5 * (p**2).sum(-1)
        for _ in range(cfg.leapfrog):
            p = p + eps / 2 * g_new
            w_new = w_new + eps * p
            lp_new, g_new = log_post(to_z(w_new))
            g_new = grad_w(g_new)
            p = p + eps / 2 * g_new
        log_alpha = lp_new - 0.5 * (p**2).sum(-1) - energy
        accept = torch.log(torch.rand(S, C, generator=gen, dtype=start.dtype)) < log_alpha
        w = torch.where(accept[..., None], w_new, w)
        lp = torch.where(accept, lp_new, lp)
        grad = torch.where(accept[..., None], g_new, grad)
        z = to_z(w)
        rate = log_alpha.clamp(max=0).exp().nan_to_num(0.0)  # acceptance probability
        if step < cfg.warmup:  # Robbins-Monro on each chain's log eps towards the target
            gain = 2.0 / (step + 10) ** 0.6
            log_eps += gain * (rate - cfg.target_acceptance)[..., None]
            continue
        accepted += rate.mean(dim=1)
        m = field(z)
        total_field += m.sum(dim=1)
        total_square += (m**2).sum(dim=1)
        drawn += 1
        if drawn % thin == 0:
            kept.append(m)
            if len(kept) == 2 * KEEP:  # halve the stored draws: every other one
                kept, thin = kept[::2], 2 * thin
        if drawn % cfg.draws == 0 or drawn == cfg.max_draws:
            rhat, ess = _diagnose(kept)
            if progress is not None:
                progress(
                    f"{drawn} draws per chain: R-hat <= {rhat.max():.4f}, ESS >= {ess.min():.0f}"
                )
            if np.all(rhat < cfg.rhat) and np.all(ess >= cfg.ess):
                break
    mean = total_field / (C * drawn)
    return Posterior(
        mean=mean,
        std=(total_square / (C * drawn) - mean**2).clamp(min=0).sqrt(),
        rhat=rhat,
        ess=ess,
        acceptance=(accepted / drawn).numpy(),
        step=log_eps.exp().mean(dim=(1, 2)).numpy(),
        converged=(rhat < cfg.rhat) & (ess >= cfg.ess),
        draws_per_chain=drawn,
        seconds_per_sample=(time.perf_counter() - began) / S,
    )


def _diagnose(kept: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the largest R-hat and the smallest ESS over the field's coordinates."""
    draws = torch.stack(kept, dim=2).numpy()  # (S, C, draws, n)
    out = [split_rhat_ess(d) for d in draws]
    return np.array([r.max() for r, _ in out]), np.array([e.min() for _, e in out])
