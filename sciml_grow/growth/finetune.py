"""Transfer learning from a pretrained run, with few target samples (docs/method.md, section 6).

Methods, all on the same trainer, run directory and validation-based selection:

- ``td-adapters``: freeze the pretrained network, compute the topological derivative on the
  target training set, insert a block at the most sensitive depth initialized along its
  eigenvectors (eps by line search), repeat for ``adapters`` blocks; train only the new blocks
  and the head.
- ``random-init-adapters``: the same depths and eps, random directions (is TD's init worth it?).
- ``random-adapters``: random depths and random directions (is TD's placement worth it?).
- ``head``: train the output layer only.
- ``full``: train every parameter.

The adapter methods train exactly the same number of parameters. The network keeps the
pretrained run's standardization of inputs and outputs (it was trained to expect it).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from sciml_grow.data.basis import scaler_from_state
from sciml_grow.errors import InputError
from sciml_grow.growth import topological as td
from sciml_grow.growth.strategies import (
    GrowthContext,
    Strategy,
    random_direction,
    random_placement,
    searched_insert,
    td_sensitivity,
)
from sciml_grow.nets import GrowableNet, build


class FineTune(Strategy):
    """Start from a pretrained run's best network and adapt it (no growth while training)."""

    name: ClassVar[str] = "finetune"
    grows = False
    decides_at_start = True  # where the adapters go

    def prepare(self, data: Any, cfg: Any) -> None:
        """Take the pretrained bundle and give the data its standardization."""
        if self.start.pretrained is None:
            raise ValueError("finetune needs the pretrained run's bundle (Start.pretrained)")
        self.bundle = self.start.pretrained
        x_st, y_st = self.bundle["x_scaler"], self.bundle["y_scaler"]
        if len(x_st["mean"]) != data.in_dim or len(y_st["mean"]) != data.out_dim:
            raise InputError(
                f"the pretrained network maps {len(x_st['mean'])} -> {len(y_st['mean'])} values, "
                f"the target data {data.in_dim} -> {data.out_dim}"
            )
        data.x_scaler = scaler_from_state(x_st)
        data.y_scaler = scaler_from_state(y_st)  # with a reduced basis, the pretrained one

    def initial_model(self, data: Any, cfg: Any) -> GrowableNet:
        net = build(self.bundle["spec"]).double()  # before loading: no float32 round trip
        if not isinstance(net, GrowableNet):
            raise InputError("finetune needs a growable network (not a sum of networks)")
        net.load_state_dict(self.bundle["model"])
        method = cfg.finetune.method
        if method == "full":
            for b in net.blocks:
                b.spec.trainable = True
            net.requires_grad_(True)
            return net
        net.freeze()
        net.head.requires_grad_(True)
        if method != "head":
            self._insert_adapters(net, data, cfg, method)
        return net

    def _insert_adapters(self, net: GrowableNet, data: Any, cfg: Any, method: str) -> None:
        g = cfg.growth
        rng = torch.Generator().manual_seed(cfg.seed + 7919)
        ctx = GrowthContext(net, *data.tensors("train", torch.float64), data.loss_fn, cfg, rng)
        origin = method.removesuffix("s")
        for _ in range(cfg.finetune.adapters):
            if method == "random-adapters":
                pos, phi = random_placement(net, rng)
            else:
                sens = td_sensitivity(ctx)
                pos, phi = sens.best, td.direction(sens, g.td_init, g.td_ratio)
            block, eps = searched_insert(ctx, pos, phi, origin, ctx.train_loss())
            if method == "random-init-adapters":  # TD's depth and eps, a random direction
                td.set_block_params(block, random_direction(phi.shape, rng), eps)
