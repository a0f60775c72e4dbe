"""Layerwise training and sequential residual learning (Krishnanunni & Bui-Thanh;
docs/method.md, sections 4 and 5), as two strategies of the common interface.

``layerwise``: start with lifting + one ELU block + output (weights N(0, 0.05^2), biases 0).
Each growth step prunes the layers it is about to freeze (|w| <= tol -> 0; they stay zero since
they never train again), freezes them, and appends a zero block before the output (the function
is unchanged; ELU has sigma'(0) = 1, so the zero block still trains). Only the new block and the
output layer train, under data misfit + alpha_l Phi_s + gamma_l Phi_m + tau_l Phi_p.

``layerwise+srl``: when adding layers stops paying off (a phase without validation gain, or
the maximum depth), freeze the whole network and add small fresh networks one at a time, each
fitting what is left (their sum is the prediction); stop when a stage brings no validation gain.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sciml_grow.growth.strategies import GrowthContext, GrowthEvent, Strategy
from sciml_grow.nets import BlockSpec, GrowableMLP, SumNet, gaussian_init
from sciml_grow.objective import ManifoldGraph, RegularizedObjective, physics_term


@torch.no_grad()
def prune(net: GrowableMLP, tol: float, only_trainable: bool) -> None:
    """Set weights and biases with |w| <= tol to zero (in trainable layers only, if asked)."""
    for layer in net.layers().values():
        if only_trainable and not layer.weight.requires_grad:
            continue
        for p in (layer.weight, layer.bias):
            p.masked_fill_(p.abs() <= tol, 0.0)


def sparsity(net: nn.Module) -> dict[str, float]:
    """Fraction of exactly-zero weights and biases per layer of the base MLP."""
    base = net.members[0] if isinstance(net, SumNet) else net
    out = {}
    for name, layer in base.layers().items():
        n = layer.weight.numel() + layer.bias.numel()
        zeros = int((layer.weight == 0).sum() + (layer.bias == 0).sum())
        out[name] = zeros / n
    return out


class Layerwise(Strategy):
    """Grow one frozen layer at a time under sparsity, manifold and physics regularization."""

    name = "layerwise"

    def initial_model(self, data: Any, cfg: Any) -> GrowableMLP:
        net = GrowableMLP(data.in_dim, data.out_dim, cfg.model.width, [BlockSpec("elu")], "elu")
        gaussian_init(net, cfg.layerwise.init_std)
        return net

    def objective(
        self, data: Any, cfg: Any, dtype: torch.dtype, device: Any
    ) -> RegularizedObjective:
        lw = cfg.layerwise
        rng = torch.Generator().manual_seed(cfg.seed + 104729)
        idx = torch.from_numpy(data.splits["train"])
        x_raw, y_raw = data.x[idx], data.y[idx]
        std = data.noise_std[idx] if data.noise_std is not None else None
        graph = None
        copies = lw.gamma > 0 and lw.graph == "copies"
        if copies:  # each input k more times with relative noise; a group per original
            k = lw.copies
            noise = torch.randn((k, *x_raw.shape), generator=rng, dtype=x_raw.dtype)
            x_raw = torch.cat([x_raw, (x_raw + lw.copy_noise * x_raw.abs() * noise).flatten(0, 1)])
            y_raw = y_raw.repeat(k + 1, *([1] * (y_raw.ndim - 1)))
            std = std.repeat(k + 1) if std is not None else None
            graph = ManifoldGraph(groups=torch.arange(len(idx)).repeat(k + 1).to(device))
        x = data.x_scaler(x_raw).to(device=device, dtype=dtype)
        if data.task == "classification":
            y = y_raw.to(device)
        else:
            y = data.y_scaler(y_raw).to(device=device, dtype=dtype)
        if lw.gamma > 0 and lw.graph == "kmeans":
            graph = ManifoldGraph.kmeans(x, lw.clusters, rng)
        elif lw.gamma > 0 and lw.graph == "knn":
            graph = ManifoldGraph.knn(x, lw.neighbors)
        physics = None
        if lw.tau > 0 or cfg.optim.physics > 0:
            key = "layerwise.tau" if lw.tau > 0 else "optim.physics"
            physics = physics_term(data, x_raw, std, device, key)
        return RegularizedObjective(
            x, y, lw, graph, physics, group_batches=copies, loss_fn=data.loss_fn
        )

    def finalize(self, net: nn.Module, cfg: Any) -> None:
        base = net.members[0] if isinstance(net, SumNet) else net
        prune(base, cfg.layerwise.prune_tol, only_trainable=False)

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        return self._add_layer(ctx)

    def _add_layer(self, ctx: GrowthContext) -> GrowthEvent:
        net = ctx.model
        prune(net, ctx.cfg.layerwise.prune_tol, only_trainable=True)
        event = GrowthEvent(True, "layer added", stage="layer", sparsity=sparsity(net))
        net.freeze_trunk()
        pos = net.depth
        net.insert_block(pos, BlockSpec("elu", origin=self.name))
        event.position, event.eps = pos, 0.0
        return event


class LayerwiseSRL(Layerwise):
    """Layerwise training, then sequential residual learning past saturation."""

    name = "layerwise+srl"

    def grow(self, ctx: GrowthContext) -> GrowthEvent:
        in_srl = isinstance(ctx.model, SumNet)
        if not in_srl and not (ctx.at_max_depth or ctx.stalled):
            return self._timed(ctx)  # still adding layers
        if in_srl and ctx.stalled:
            return GrowthEvent(False, "residual learning stopped improving", stage="srl")
        if in_srl and ctx.model.stages >= ctx.cfg.layerwise.srl_max_stages:
            return GrowthEvent(False, "maximum residual stages reached", stage="srl")
        return self._timed(ctx)

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        in_srl = isinstance(ctx.model, SumNet)
        if not in_srl and not (ctx.at_max_depth or ctx.stalled):
            return self._add_layer(ctx)
        cfg, net = ctx.cfg, ctx.model
        if not in_srl:
            prune(net, cfg.layerwise.prune_tol, only_trainable=True)
            net.freeze()
            net = SumNet([net])
        for member in net.members:
            member.freeze()
        ref = net.members[0].head.weight
        stage = GrowableMLP(
            net.in_dim,
            ref.shape[0],
            cfg.layerwise.srl_width,
            [BlockSpec("elu", origin="srl")],
            "elu",
        ).to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():  # fresh hidden layers, zero output: the sum is unchanged at first
            for p in (stage.lift.weight, stage.blocks[0].linear.weight):
                p.normal_(0.0, 1.0 / p.shape[1] ** 0.5, generator=ctx.rng)
            for p in (
                stage.lift.bias,
                stage.blocks[0].linear.bias,
                stage.head.weight,
                stage.head.bias,
            ):
                p.zero_()
        net.members.append(stage)
        ctx.model = net
        return GrowthEvent(
            True,
            "residual stage added",
            position=net.stages,
            eps=0.0,
            stage="srl",
            sparsity=sparsity(net),
        )
