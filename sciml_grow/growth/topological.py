"""Topological derivative of the loss for inserting a residual block (docs/method.md, section 2).

Inserting z = x_l + sigma(eps (Phi x_l + beta)) after hidden state x_l, with sigma(0) = sigma'(0)
= 0, changes the loss by

    J(eps) - J(0) = -(eps^2 / 2) phi^T Q_l phi + O(eps^3),     phi = vec([Phi, beta]), |phi| = 1,

    Q_l = sigma''(0) blockdiag_r( sum_s p_r^(s) xt^(s) xt^(s)^T ),   xt = [x_l; 1],

where p = -dJ/dx_l is the costate of x_l in the current network (at eps = 0 the new block's
output is x_l). One forward and one backward pass give all states and costates; each Q_l is n
symmetric blocks of size n+1, built by one matrix product per sample chunk and solved by one
batched eigh, never as the dense n(n+1) x n(n+1) matrix. Q and its eigenproblems are in
float64; states and costates in the network's precision (a float32 network's are float32).

The same formula serves every growable network through its ``td_rows(state, costate)``: a row
is one place the new block's weights act on, with its input features u and the costates p of
its outputs. MLP: one row per sample (u = x_l). CNN (block x + sigma(K * x), same padding): one
row per sample and pixel, u = the im2col patch (C k k values), p = the costates of the C output
channels there; Q is block diagonal over output channels. ViT token-wise path: one row per
sample and token. Q_l = sigma''(0) blockdiag_r(sum_rows p_r u~ u~^T), u~ = [u; 1].
J is a mean over samples, so the costates of a chunk of samples are those of the whole set
(scaled by the chunk's share): states and costates are computed chunk by chunk and never held
for the whole set at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import copy
from dataclasses import dataclass

import torch
from torch import nn

from sciml_grow.data.dataset import LossFn
from sciml_grow.errors import InputError


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
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, share: float = 1.0
) -> tuple[list[torch.Tensor], list[torch.Tensor], float]:
    """Hidden states x_l and costates p_l = -dJ/dx_l of a set of samples, and J; ``share``
    scales J when the set is a chunk of a larger one (J is a mean over samples)."""
    states: list[torch.Tensor] = []
    loss = share * loss_fn(model(x, states=states), y)
    grads = torch.autograd.grad(loss, states)
    return [s.detach() for s in states], [-g for g in grads], float(loss.detach())


def q_blocks(
    rows: torch.Tensor, costate: torch.Tensor, d2: float, chunk: int | None = None
) -> torch.Tensor:
    """The blocks sigma''(0) sum_i p_ir u~_i u~_i^T, shape (n_out, n_in+1, n_in+1), for rows
    u (R, n_in) and costates p (R, n_out).

    One batched matrix product per chunk of rows: (n_out, n_in+1, c) @ (c, n_in+1); the chunk
    bounds the weighted copy to about 4 M numbers.
    """
    m, n_in = rows.shape
    n_out = costate.shape[1]
    chunk = chunk or max(64, (1 << 22) // (n_out * (n_in + 1)))
    ut = torch.cat([rows, torch.ones(m, 1, dtype=rows.dtype, device=rows.device)], dim=1)
    q = torch.zeros(n_out, n_in + 1, n_in + 1, dtype=rows.dtype, device=rows.device)
    for i in range(0, m, chunk):
        us, ps = ut[i : i + chunk], costate[i : i + chunk]
        q += (ps.T[:, None, :] * us.T[None, :, :]) @ us
    return d2 * 0.5 * (q + q.transpose(1, 2))


def _rows_by_depth(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    chunk: int,
    max_rows: int = 0,
    rng: torch.Generator | None = None,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor, float]]:
    """(depth, rows u, costates p, this chunk's share of J) for every chunk of samples and
    every hidden state: what both the second-order (td) and the first-order (sensli) scores
    sum over. With ``max_rows`` > 0, a uniformly random subset of about that many rows per
    depth, the costates rescaled so that sums over it estimate the full sums without bias."""
    # states and costates in the network's own precision (float64 convolutions are several
    # times slower than float32 on a CPU); the sums that use them in float64. Frozen layers
    # too need gradients for the costates to flow through them: only the copy is touched.
    net = copy.deepcopy(model).requires_grad_(True)
    dtype = next(net.parameters()).dtype
    if hasattr(y, "block_rows"):  # read on demand: chunks of at most 8 blocks (32 MB of y)
        chunk = min(chunk, 8 * y.block_rows)
    for i in range(0, len(x), chunk):  # x, y may be read on demand: one chunk at a time
        xb, yb = x[i : i + chunk].to(dtype), y[i : i + chunk]
        yb = yb.to(dtype) if torch.is_floating_point(yb) else yb  # class labels stay integers
        states, costates, part = states_and_costates(net, xb, yb, loss_fn, share=len(xb) / len(x))
        for depth, (s, p) in enumerate(zip(states, costates, strict=True)):
            keep = 1.0
            if max_rows > 0:  # the share of rows to keep: about max_rows over all of x
                keep = min(1.0, max_rows / (net.td_row_count(s) * len(x) / len(xb)))
            u, pr = net.td_sample_rows(s, p, keep, rng) if keep < 1.0 else net.td_rows(s, p)
            yield depth, u, pr, part if depth == 0 else 0.0


def _summed_by_depth(
    parts: Iterator[tuple[int, torch.Tensor, float]],
) -> tuple[list[torch.Tensor], float]:
    """Per-depth sums of the tensors ``parts`` yields, and the sum of its J shares."""
    sums: list[torch.Tensor] = []
    loss = 0.0
    for depth, value, part in parts:
        loss += part
        if depth < len(sums):
            sums[depth] += value
        else:
            sums.append(value)
    return sums, loss


def q_matrices(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    d2: float,
    chunk: int = 1024,
    max_rows: int = 0,
    rng: torch.Generator | None = None,
) -> tuple[list[torch.Tensor], float]:
    """Q_l (as blocks) after every hidden state and J, over the samples ``x`` taken ``chunk``
    at a time.

    Q_l is a sum over rows (samples x pixels for a CNN); with ``max_rows`` > 0 it is estimated
    from a uniformly random subset of about that many rows per depth, rescaled, so the
    estimate is unbiased (the cost that dominates a CNN's decision is linear in the rows).
    """
    rows = _rows_by_depth(model, x, y, loss_fn, chunk, max_rows, rng)
    return _summed_by_depth((d, q_blocks(u.double(), p.double(), d2), j) for d, u, p, j in rows)


def layer_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    d1: float,
    chunk: int = 1024,
) -> tuple[list[torch.Tensor], float]:
    """dJ/d[W | b] of a zero block z = x_l + sigma(W x_l + b) inserted after every hidden
    state (sigma'(0) = d1), each (n_out, n_in+1), and J: the first-order sensitivities of
    layer insertion (docs/method.md, section 3).

    At W = 0, b = 0 the block is the identity and its output's costate is that of x_l, so
    dJ/dW_r = -sigma'(0) sum_rows p_r u~^T: one forward and one backward pass for all depths.
    """

    def gradient(u: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        ut = torch.cat([u.double(), torch.ones(len(u), 1, dtype=torch.float64, device=u.device)], 1)
        return -d1 * p.double().T @ ut

    rows = _rows_by_depth(model, x, y, loss_fn, chunk)
    return _summed_by_depth((d, gradient(u, p), j) for d, u, p, j in rows)


def sensitivity(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    d2: float,
    chunk: int = 1024,
    max_rows: int = 0,
    rng: torch.Generator | None = None,
    reduce: Callable[[list[torch.Tensor], float], tuple[list[torch.Tensor], float]] | None = None,
) -> tuple[Sensitivity, float]:
    """Scores of inserting a block (activation with sigma''(0) = d2) after every hidden state,
    and J (arguments as for :func:`q_matrices`).

    Every depth needs only its eigenvalues; the eigenvectors are computed for the best one.
    (From a row subset the top eigenvalues are biased upwards, as a maximum of noisy
    estimates is; the decision only compares depths.) ``reduce`` turns the Q blocks and J of
    a shard into those of all samples (data-parallel training).
    """
    qs, loss = q_matrices(model, x, y, loss_fn, d2, chunk, max_rows, rng)
    if reduce is not None:  # x is one shard of the samples (DDP): the sums over all of them
        qs, loss = reduce(qs, loss)
    top = torch.stack([torch.linalg.eigvalsh(q)[:, -1] for q in qs])
    scores = top.max(dim=1).values
    _, evecs = torch.linalg.eigh(qs[int(torch.argmax(scores))])
    return Sensitivity(scores, top, evecs[:, :, -1]), loss


def direction(sens: Sensitivity, mode: str, ratio: float = 0.5) -> torch.Tensor:
    """Unit init direction phi at the best depth as an (n_out, n_in+1) array [Phi | beta].

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
        raise InputError(f"unknown td init mode {mode!r} (top1 or within)")
    return phi / phi.norm()


def quadratic_form(sens: Sensitivity, phi: torch.Tensor) -> float:
    """phi^T Q phi at the best depth for a direction built from its block eigenvectors."""
    lam, vec = sens.eigenvalues[sens.best], sens.eigenvectors
    coeff = (phi * vec).sum(dim=1)  # phi's component along each block's top eigenvector
    return float((lam * coeff**2).sum())


def predicted_change(curvature: float, eps: float) -> float:
    """The loss change of an insertion of size eps to second order: -eps^2 / 2 phi^T Q phi."""
    return -0.5 * eps**2 * curvature


def set_block_params(block: nn.Module, phi: torch.Tensor, eps: float) -> None:
    """Weights = eps Phi, bias = eps beta for phi = [Phi | beta] (n_out, n_in+1); the block's
    weight tensor may have more dimensions (a convolution's (C, C, k, k)), filled row-major
    as im2col orders a patch."""
    layer = block.layer
    with torch.no_grad():
        layer.weight.copy_(eps * phi[:, :-1].reshape(layer.weight.shape).to(layer.weight))
        layer.bias.copy_(eps * phi[:, -1].to(layer.bias))


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
