"""Residual MLP of fixed width that can grow in depth.

    x_1     = act_lift(W_lift x_0 + b_lift)
    x_{t+1} = x_t + sigma_t(W_t x_t + b_t)      (or sigma_t(...) alone for a non-residual block)
    y_hat   = W_out x_T + b_out

The architecture is a plain dict (``spec``) saved with every checkpoint, so a grown network is
rebuilt exactly (no size mismatch) and a baseline can be given the final architecture of a
grown run. Hidden state l (0 = after lifting, t = after block t) is where a block inserted at
position l reads its input.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from sciml_grow.nets.activations import get_activation


@dataclass
class BlockSpec:
    """One hidden block: its activation, whether it adds a skip connection, whether it trains,
    and which strategy put it there (for reports)."""

    activation: str = "tanh"
    residual: bool = True
    trainable: bool = True
    origin: str = "initial"


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


class GrowableMLP(nn.Module):
    """Lifting layer, a list of blocks that can grow, linear head."""

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
        self.lift.requires_grad_(lift_trainable)
        self.lift_act = get_activation(lift_activation).fn
        self.blocks = nn.ModuleList(Block(width, b) for b in (blocks or []))
        self.head = nn.Linear(width, out_dim)
        self.head.requires_grad_(head_trainable)

    # --- architecture ---------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of hidden blocks."""
        return len(self.blocks)

    def spec(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture (weights not included)."""
        return {
            "kind": self.kind,
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "width": self.width,
            "lift_activation": self.lift_activation,
            "lift_trainable": self.lift.weight.requires_grad,
            "head_trainable": self.head.weight.requires_grad,
            "blocks": [asdict(b.spec) for b in self.blocks],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> GrowableMLP:
        spec = copy.deepcopy(spec)
        if spec.pop("kind", cls.kind) != cls.kind:
            raise ValueError("architecture spec is not an MLP")
        spec["blocks"] = [BlockSpec(**b) for b in spec["blocks"]]
        return cls(**spec)

    def insert_block(self, position: int, spec: BlockSpec) -> Block:
        """Insert a new block reading hidden state ``position`` (0..depth); returns it.

        Its parameters start at zero (with sigma(0) = 0 a residual block is then the identity);
        callers set them. Existing parameters keep their identity, so optimizer state survives.
        """
        if not 0 <= position <= self.depth:
            raise ValueError(f"insert position {position} outside 0..{self.depth}")
        ref = self.head.weight
        block = Block(self.width, spec).to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            block.linear.weight.zero_()
            block.linear.bias.zero_()
        self.blocks.insert(position, block)
        return block

    def set_head(self, head: nn.Linear) -> None:
        """Replace the output layer (Forward Thinking trains a fresh one per layer)."""
        self.head = head

    def freeze_trunk(self) -> None:
        """Freeze the lifting layer and every existing block."""
        self.lift.requires_grad_(False)
        for b in self.blocks:
            b.spec.trainable = False
            b.linear.requires_grad_(False)

    def freeze(self) -> None:
        """Freeze everything, output layer included."""
        self.freeze_trunk()
        self.head.requires_grad_(False)

    def layers(self) -> dict[str, nn.Linear]:
        """Every linear layer by a readable name: lift, block1.., head."""
        out = {"lift": self.lift}
        out.update({f"block{i + 1}": b.linear for i, b in enumerate(self.blocks)})
        out["head"] = self.head
        return out

    # --- evaluation -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, states: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Output; if ``states`` is a list, the hidden states x_1..x_T are appended to it."""
        h = self.lift_act(self.lift(x))
        if states is not None:
            states.append(h)
        for block in self.blocks:
            h = block(h)
            if states is not None:
                states.append(h)
        return self.head(h)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
