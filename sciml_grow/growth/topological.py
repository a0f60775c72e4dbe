"""Topological derivative of the loss for inserting a residual block (method notes, section 2).

Inserting z = x_l + sigma(eps (Phi x_l + beta)) after hidden state x_l, with sigma(0) = sigma'(0)
= 0, changes the loss by

    J(eps) - J(0) = -(eps^2 / 2) phi^T Q_l phi + O(eps^3),     phi = vec([Phi, beta]), |phi| = 1,

    Q_l = sigma''(0) blockdiag_r( sum_s p_r^(s) xt^(s) xt^(s)^T ),   xt = [x_l; 1],

where p = -dJ/dx_l is the costate of x_l in the current network (at eps = 0 the new block's
output is x_l). One forward and one backward pass give all states and costates; each Q_l is n
symmetric blocks of size n+1, built by one matrix product per sample chunk and solved by one
batched eigh, never as the dense n(n+1) x n(n+1) matrix. Everything here runs in float64.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
from dataclasses import dataclass

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Sensitivity:
    """Scores of every candidate depth and the eigenvectors at the best one."""

    scores: torch.Tensor  # (L,) lambda_max(Q_l), l = 0..depth
    eigenvalues: torch.Tensor  # (L, n) top eigenvalue of each neuron block
    eigenvectors: torch.Tensor  # (n, n+1) matching unit eigenvectors at the best depth

    @property
    def best(self) -> int:
        return int(torch.argmax(self.scores))


def states_and_costates(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> tuple[list[torch.Tensor], list[torch.Tensor], float]:
    """Hidden states x_l and costates p_l = -dJ/dx_l over the whole set, and J."""
    states: list[torch.Tensor] = []
    loss = loss_fn(model(x, states=states), y)
    grads = torch.autograd.grad(loss, states)
    return [s.detach() for s in states], [-g for g in grads], float(loss.detach())


def q_blocks(
    state: torch.Tensor, costate: torch.Tensor, d2: float, chunk: int = 256
) -> torch.Tensor:
    """The n blocks sigma''(0) sum_s p_r^(s) xt^(s) xt^(s)^T, shape (n, n+1, n+1).

    One batched matrix product per chunk of samples: (n, n+1, c) @ (c, n+1); the chunk bounds
    the memory of the weighted copy to n (n+1) c numbers.
    """
    m, n = state.shape
    xt = torch.cat([state, torch.ones(m, 1, dtype=state.dtype, device=state.device)], dim=1)
    q = torch.zeros(n, n + 1, n + 1, dtype=state.dtype, device=state.device)
    for i in range(0, m, chunk):
        xs, ps = xt[i : i + chunk], costate[i : i + chunk]
        q += (ps.T[:, None, :] * xs.T[None, :, :]) @ xs
    return d2 * 0.5 * (q + q.transpose(1, 2))


def sensitivity(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, d2: float
) -> tuple[Sensitivity, float]:
    """Scores of inserting a block (activation with sigma''(0) = d2) after every hidden state.

    Every depth needs only its eigenvalues; the eigenvectors are computed for the best one.
    """
    model64 = copy.deepcopy(model).double()
    states, costates, loss = states_and_costates(model64, x.double(), y.double(), loss_fn)
    values, best_q = [], None
    for s, p in zip(states, costates, strict=True):
        q = q_blocks(s, p, d2)
        values.append(torch.linalg.eigvalsh(q)[:, -1])
        if best_q is None or values[-1].max() > max(v.max() for v in values[:-1]):
            best_q = q
    evals, evecs = torch.linalg.eigh(best_q)
    top = torch.stack(values)
    return Sensitivity(top.max(dim=1).values, top, evecs[:, :, -1]), loss


def direction(sens: Sensitivity, mode: str, ratio: float = 0.5) -> torch.Tensor:
    """Unit init direction phi at the best depth as an (n, n+1) array [Phi | beta].

    ``top1``: the top eigenvector of the best neuron block (one active neuron).
    ``within``: the sum of the top eigenvectors of every block whose eigenvalue is at least
    ``ratio`` times the largest (several active neurons), normalized.
    """
    lam, vec = sens.eigenvalues[sens.best], sens.eigenvectors
    phi = torch.zeros_like(vec)
    if mode == "top1":
        r = int(torch.argmax(lam))
        phi[r] = vec[r]
    elif mode == "within":
        keep = lam >= ratio * lam.max()
        phi[keep] = vec[keep]
    else:
        raise ValueError(f"unknown td init mode {mode!r} (top1 or within)")
    return phi / phi.norm()


def quadratic_form(sens: Sensitivity, phi: torch.Tensor) -> float:
    """phi^T Q phi at the best depth for a direction built from its block eigenvectors."""
    lam, vec = sens.eigenvalues[sens.best], sens.eigenvectors
    coeff = (phi * vec).sum(dim=1)  # phi's component along each block's top eigenvector
    return float((lam * coeff**2).sum())


def set_block_params(block: nn.Module, phi: torch.Tensor, eps: float) -> None:
    """W = eps Phi, b = eps beta for phi = [Phi | beta]."""
    lin = block.linear
    with torch.no_grad():
        lin.weight.copy_(eps * phi[:, :-1].to(lin.weight))
        lin.bias.copy_(eps * phi[:, -1].to(lin.bias))


@torch.no_grad()
def line_search(
    evaluate: Callable[[], float],
    set_eps: Callable[[float], None],
    step: float,
    max_steps: int,
    loss0: float | None = None,
    max_halvings: int = 8,
) -> tuple[float, float, list[tuple[float, float]]]:
    """Try eps = step, 2 step, ... until the loss rises; set and return the best (eps, loss).

    If ``loss0`` (the loss at eps = 0) is given and the first step already does worse, the
    step is halved until it does better (a positive score guarantees that small eps do).
    """
    trials: list[tuple[float, float]] = []
    for k in range(1, max_steps + 1):
        set_eps(k * step)
        trials.append((k * step, evaluate()))
        if len(trials) > 1 and trials[-1][1] > trials[-2][1]:
            break
    if loss0 is not None and trials[0][1] >= loss0:
        eps = step
        for _ in range(max_halvings):
            eps /= 2
            set_eps(eps)
            trials.append((eps, evaluate()))
            if trials[-1][1] < loss0:
                break
    eps, loss = min(trials, key=lambda t: t[1])
    set_eps(eps)
    return eps, loss, trials
