"""Training objectives: what the one training loop minimizes, over which samples, in which
batches.

The plain objective is the mean squared misfit on the standardized training split. Layerwise
training (docs/method.md, section 4) adds, with per-layer weights,

    alpha_l Phi_s   L1 norm of the trainable weights and biases (sparsity),
    gamma_l Phi_m   manifold regularization of the newest block's output over a graph,
    tau_l   Phi_p   physics: the predicted field's re-simulated observations against the
                    observed ones, noise-weighted (through the file's torch forward operator),

where weight_l = weight * factor^l for the l-th added layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from sciml_grow.data.dataset import LossFn, mse
from sciml_grow.errors import InputError
from sciml_grow.inverse.forward import load_forward, noise_weighted_misfit


class Objective:
    """The data misfit (MSE, or cross-entropy for classes) over the training samples, in
    shuffled minibatches."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn = mse):
        self.x, self.y = x, y
        self.loss_fn = loss_fn  # the data misfit on (prediction, target), used by growth
        self.layer = 0
        self.l1 = 0.0  # optim.l1: a proximal L1 weight for any strategy
        self.physics: PhysicsTerm | None = None  # optim.physics: Phi_p for any strategy
        self.physics_weight = 0.0

    def prox_weight(self) -> float:
        """Weight of the L1 term applied by a proximal step after each optimizer step."""
        return self.l1

    def set_layer(self, layer: int) -> None:
        """Number of layers added so far (per-layer weight schedules)."""
        self.layer = layer

    def batches(self, rng: torch.Generator, batch_size: int) -> Iterator[torch.Tensor]:
        n = len(self.x)
        perm = torch.randperm(n, generator=rng).to(self.x.device)
        step = batch_size or n
        for i in range(0, n, step):
            yield perm[i : i + step]

    def loss(self, model: nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        pred = model(self.x[idx])
        value = self.loss_fn(pred, self.y[idx])
        parts = {"data": float(value.detach())}
        return self.add_physics(value, parts, pred, idx, self.physics_weight), parts

    def add_physics(
        self,
        total: torch.Tensor,
        parts: dict[str, float],
        pred: torch.Tensor,
        idx: torch.Tensor,
        weight: float,
    ) -> torch.Tensor:
        """total + weight Phi_p(pred) (reported in ``parts``), if there is a physics term."""
        if weight <= 0 or self.physics is None:
            return total
        phi_p = self.physics.misfit(pred, idx)
        parts["physics"] = float(phi_p.detach())
        return total + weight * phi_p.to(total.dtype)


@torch.no_grad()
def soft_threshold_(opt: torch.optim.Optimizer, weight: float) -> None:
    """The proximal step of ``weight * |w|_1`` after an optimizer step, on every trainable
    parameter the optimizer holds: w <- sign(w) max(|w| - t, 0), which makes exact zeros.

    For SGD t = lr * weight (proximal gradient descent). Adam steps in the metric
    diag(sqrt(v_hat) + eps) / lr, and the prox is taken in the same metric: t is per
    coordinate lr * weight / (sqrt(v_hat) + eps). A fixed point is then a minimizer of the
    smooth loss + weight |w|_1, whatever the metric (tested on a lasso against its closed form).
    """
    for group in opt.param_groups:
        lr = group["lr"]
        for p in group["params"]:
            if not p.requires_grad:
                continue
            state = opt.state.get(p, {})
            t = lr * weight
            if "exp_avg_sq" in state:  # Adam / AdamW
                step = float(state["step"])
                v_hat = state["exp_avg_sq"] / (1 - group["betas"][1] ** step)
                t = t / (v_hat.sqrt() + group["eps"])
            p.copy_(torch.sign(p) * torch.clamp(p.abs() - t, min=0))


class ManifoldGraph:
    """Weights beta_ij linking training samples whose hidden features should stay close.

    Group graphs (noisy copies of one input, k-means clusters) link members of a group with
    weight 1; the k-nearest-neighbour graph uses Gaussian-kernel weights.
    """

    def __init__(self, groups: torch.Tensor | None = None, weights: sp.csr_array | None = None):
        if (groups is None) == (weights is None):
            raise ValueError("a manifold graph needs either groups or weights")
        self.groups, self.weights = groups, weights

    @property
    def n_nodes(self) -> int:
        return len(self.groups) if self.groups is not None else self.weights.shape[0]

    def beta(self, idx: torch.Tensor) -> torch.Tensor:
        """Dense (B, B) weights among the samples ``idx`` of a weighted graph (a group graph
        never needs them: ``penalty`` sums over groups)."""
        rows = idx.cpu().numpy()
        return torch.from_numpy(self.weights[rows][:, rows].toarray())

    def penalty(self, h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(1/B^2) sum_ij beta_ij |h_i - h_j|^2 over the batch.

        For a group graph the sum over a group g of n_g members is 2 n_g sum_i |h_i - mean_g|^2:
        O(B) instead of the (B, B) matrix, which dominated layerwise epochs with noisy copies."""
        if self.groups is not None:
            _, inv, counts = torch.unique(self.groups[idx], return_inverse=True, return_counts=True)
            inv = inv.to(h.device)
            n = counts.to(device=h.device, dtype=h.dtype)
            means = torch.zeros(len(counts), h.shape[1], dtype=h.dtype, device=h.device)
            means = means.index_add(0, inv, h) / n[:, None]
            spread = ((h - means[inv]) ** 2).sum(dim=1)
            return 2.0 * (n[inv] * spread).sum() / len(idx) ** 2
        beta = self.beta(idx).to(device=h.device, dtype=h.dtype)
        sq = (h * h).sum(dim=1)
        dist2 = (sq[:, None] + sq[None, :] - 2.0 * h @ h.T).clamp_min(0.0)
        return (beta * dist2).sum() / len(idx) ** 2

    @classmethod
    def kmeans(
        cls, x: torch.Tensor, k: int, rng: torch.Generator, iters: int = 50
    ) -> ManifoldGraph:
        centers = x[torch.randperm(len(x), generator=rng)[:k].to(x.device)].clone()
        for _ in range(iters):
            labels = torch.cdist(x, centers).argmin(dim=1)
            for c in range(k):
                members = x[labels == c]
                if len(members):
                    centers[c] = members.mean(dim=0)
        return cls(groups=torch.cdist(x, centers).argmin(dim=1))

    @classmethod
    def knn(cls, x: torch.Tensor, k: int) -> ManifoldGraph:
        xs = x.detach().double().cpu()
        rows, cols, dists = [], [], []
        for i in range(0, len(xs), 1024):
            d = torch.cdist(xs[i : i + 1024], xs)
            val, nbr = d.topk(k + 1, largest=False)  # the first neighbour is the point itself
            rows.append(np.repeat(np.arange(i, i + len(d)), k))
            cols.append(nbr[:, 1:].reshape(-1).numpy())
            dists.append(val[:, 1:].reshape(-1).numpy())
        r, c, dist = np.concatenate(rows), np.concatenate(cols), np.concatenate(dists)
        bandwidth = np.median(dist) or 1.0
        w = sp.csr_array((np.exp(-(dist**2) / (2 * bandwidth**2)), (r, c)), shape=(len(xs),) * 2)
        return cls(weights=sp.csr_array(w.maximum(w.T)))


@dataclass
class PhysicsTerm:
    """Phi_p on predictions in standardized units: the noise-weighted misfit of the predicted
    field's re-simulated observations (a file with a forward operator: heat, Navier–Stokes),
    or the relative violation of the discrete constraints it should satisfy (wind: weak
    divergence and flow through the ground, :mod:`sciml_grow.inverse.constraints`)."""

    y_mean: torch.Tensor  # target standardization, to turn predictions into fields
    y_std: torch.Tensor
    forward: nn.Module | None = None  # m (B, n) -> observations (B, n_sensors), float64
    observed: torch.Tensor | None = None  # noisy observations in raw units (M, n_sensors)
    noise_std: torch.Tensor | None = None  # (M,)
    constraint: nn.Module | None = None  # fields (B, n) -> per-sample violation (B,)

    def misfit(self, pred: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if self.constraint is not None:  # a relative measure: the network's precision will do
            field = pred * self.y_std.to(pred.dtype) + self.y_mean.to(pred.dtype)
            return self.constraint.penalty(field).mean()
        field = pred.double() * self.y_std + self.y_mean
        sim = self.forward.observe(field)
        return noise_weighted_misfit(sim, self.observed[idx], self.noise_std[idx]).mean()


def physics_term(
    data: Any, x_raw: torch.Tensor, std: torch.Tensor | None, device: Any, key: str
) -> PhysicsTerm:
    """The physics term the file supports, for training rows with raw inputs ``x_raw`` and
    noise std ``std``: the observation misfit through its forward operator, else its
    constraints; ValueError naming the config ``key`` if it has neither."""
    from sciml_grow.inverse.constraints import load_constraint

    if hasattr(data.y_scaler, "modes"):
        raise InputError(f"{key} > 0 with an output basis (pod, prior) is not supported yet")
    scale = (data.y_scaler.mean.to(device), data.y_scaler.std.to(device))
    forward = load_forward(data.path)
    if forward is not None and data.inputs_are_observations and std is not None:
        return PhysicsTerm(*scale, forward.to(device), x_raw.to(device), std.to(device))
    constraint = load_constraint(data.path)
    if constraint is not None:
        return PhysicsTerm(*scale, constraint=constraint.to(device))
    raise InputError(
        f"{key} > 0 needs a forward operator (with the observations as inputs and their "
        f"noise std) or constraint operators in {data.path}; it has neither"
    )


class RegularizedObjective(Objective):
    """Data misfit + alpha_l Phi_s + gamma_l Phi_m + tau_l Phi_p (see the module docstring)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        cfg: object,  # LayerwiseConfig
        graph: ManifoldGraph | None = None,
        physics: PhysicsTerm | None = None,
        group_batches: bool = False,
        loss_fn: LossFn = mse,
    ):
        super().__init__(x, y, loss_fn)
        self.cfg, self.graph, self.physics = cfg, graph, physics
        self.group_batches = group_batches

    def weights(self) -> tuple[float, float, float]:
        c, layer = self.cfg, self.layer
        return (
            c.alpha * c.alpha_factor**layer,
            c.gamma * c.gamma_factor**layer,
            c.tau * c.tau_factor**layer,
        )

    def prox_weight(self) -> float:
        alpha = self.weights()[0] if self.cfg.l1_mode == "proximal" else 0.0
        return self.l1 + alpha

    def batches(self, rng: torch.Generator, batch_size: int) -> Iterator[torch.Tensor]:
        if not (self.group_batches and self.graph is not None and self.graph.groups is not None):
            yield from super().batches(rng, batch_size)
            return
        # whole groups per batch, so that every noisy copy meets its siblings
        groups = self.graph.groups
        order = torch.randperm(int(groups.max()) + 1, generator=rng).to(groups.device)
        members = torch.argsort(torch.argsort(order)[groups], stable=True)
        per_group = len(groups) // (int(groups.max()) + 1)
        step = max(per_group, (batch_size or len(groups)) // per_group * per_group)
        for i in range(0, len(members), step):
            yield members[i : i + step]

    def loss(self, model: nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        alpha, gamma, tau = self.weights()
        net = getattr(model, "module", model)  # under DDP, the wrapped network
        use_graph = gamma > 0 and self.graph is not None and hasattr(net, "blocks")
        states: list[torch.Tensor] | None = [] if use_graph else None
        pred = model(self.x[idx], states=states) if use_graph else model(self.x[idx])
        data = self.loss_fn(pred, self.y[idx])
        total, parts = data, {"data": float(data.detach())}
        if alpha > 0 and self.cfg.l1_mode == "subgradient":
            l1 = sum(p.abs().sum() for p in model.parameters() if p.requires_grad)
            total = total + alpha * l1
            parts["sparsity"] = float(l1.detach())
        elif alpha > 0:  # applied by the proximal step; reported here
            with torch.no_grad():
                parts["sparsity"] = float(
                    sum(p.abs().sum() for p in model.parameters() if p.requires_grad)
                )
        if use_graph:
            phi_m = self.graph.penalty(states[-1], idx)
            total = total + gamma * phi_m
            parts["manifold"] = float(phi_m.detach())
        total = self.add_physics(total, parts, pred, idx, tau + self.physics_weight)
        return total, parts
