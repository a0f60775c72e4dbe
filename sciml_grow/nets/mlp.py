"""Residual MLP of fixed width that can grow in depth.

x_1     = act_lift(W_lift x_0 + b_lift)
x_{t+1} = x_t + sigma_t(W_t x_t + b_t)      (or sigma_t(...) alone for a non-residual block)
y_hat   = W_out x_T + b_out
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sciml_grow.nets.activations import get_activation
from sciml_grow.nets.base import BlockSpec, GrowableNet


class Block(nn.Module):
    """x -> x + sigma(W x + b) (residual) or sigma(W x + b)."""

    def __init__(self, width: int, spec: BlockSpec):
        super().__init__()
        self.spec = spec
        self.linear = nn.Linear(width, width)
        self.act = get_activation(spec.activation).fn
        self.linear.requires_grad_(spec.trainable)

    @property
    def layer(self) -> nn.Linear:
        """The parametrized operation (what growth initializes and sparsity prunes)."""
        return self.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.act(self.linear(x))
        return x + z if self.spec.residual else z


class GrowableMLP(GrowableNet):
    """Dense lifting layer, residual dense blocks that can grow, linear head."""

    kind = "mlp"

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int,
        blocks: list[BlockSpec] | None = None,
        lift_activation: str = "tanh",
        lift_trainable: bool = True,
        head_trainable: bool = True,
    ):
        super().__init__()
        self.in_dim, self.out_dim, self.width = in_dim, out_dim, width
        self.lift_activation = lift_activation
        self.lift = nn.Linear(in_dim, width)
        self.lift_act = get_activation(lift_activation).fn
        self.blocks = nn.ModuleList(self.make_block(b) for b in (blocks or []))
        self.head = nn.Linear(width, out_dim)
        self.set_trainable(lift_trainable, head_trainable)

    def make_block(self, spec: BlockSpec) -> Block:
        return Block(self.width, spec)

    def make_head(self) -> nn.Linear:
        return nn.Linear(self.width, self.out_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.lift_act(self.lift(x))

    def arguments(self) -> dict[str, Any]:
        return {
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "width": self.width,
            "lift_activation": self.lift_activation,
        }

    def direction_shape(self) -> torch.Size:
        return torch.Size((self.width, self.width + 1))
